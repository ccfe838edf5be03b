/* rf_checkpoint.c: the checkpoint request protocol between `refold
 * checkpoint` and the running workers (rf_checkpoint.h): request file, the
 * workers' watches and their done/err markers. Knows no store: the workers
 * pass a function that checkpoints their handle. */
#include "rf_checkpoint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_FILE RF_CHECKPOINT_REQUEST_FILE
#define PATH_MAX_    RF_CHECKPOINT_PATH_MAX

/* ---- small file helpers ---- */

bool rf_checkpoint_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Writes text to path atomically (tmp + rename), so a reader never sees half. */
rf_err_t rf_checkpoint_write_atomic(const char *path, const char *text, rf_errbuf_t *eb)
{
    char tmp[PATH_MAX_ + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return rf_errf(eb, RF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return rf_errf(eb, RF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    return RF_OK;
}

void rf_checkpoint_marker_path(char *out, size_t cap, const char *dir, const char *store, int32_t p,
                               const char *ext)
{
    snprintf(out, cap, "%s/%s/p-%04d.%s", dir, store, (int)p, ext);
}

/* ---- the worker's side ---- */

struct rf_checkpoint_watch {
    char req_path[PATH_MAX_];
    char store[8];
    uint64_t next_check_ns;
    bool active;
    struct timespec mtime; /* of the request parsed */
    char out[PATH_MAX_];
};

rf_checkpoint_watch_t *rf_checkpoint_watch_new(const char *data_dir, const char *store)
{
    RF_ASSERT(data_dir != NULL && store != NULL);
    if (strcmp(store, "fold") && strcmp(store, "project")) return NULL;
    rf_checkpoint_watch_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    int n = snprintf(w->req_path, sizeof w->req_path, "%s/%s", data_dir, REQUEST_FILE);
    if (n < 0 || (size_t)n >= sizeof w->req_path - 64) {
        free(w);
        return NULL;
    }
    snprintf(w->store, sizeof w->store, "%s", store);
    return w;
}

void rf_checkpoint_watch_free(rf_checkpoint_watch_t *w)
{
    free(w);
}

/* The request: "refold-checkpoint 1\nout <dir>\n". */
static bool parse_request(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[PATH_MAX_ + 16];
    bool magic = fgets(line, sizeof line, f) && !strcmp(line, "refold-checkpoint 1\n");
    bool ok = false;
    while (magic && !ok && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        if (!strncmp(line, "out ", 4) && n - 4 < cap) {
            memcpy(out, line + 4, n - 3);
            ok = out[0] == '/';
        }
    }
    fclose(f);
    return ok;
}

static void watch_refresh(rf_checkpoint_watch_t *w)
{
    uint64_t now = rf_now_ns();
    if (now < w->next_check_ns) return;
    w->next_check_ns = now + (uint64_t)RF_CHECKPOINT_POLL_MS * 1000000u;
    struct stat st;
    if (stat(w->req_path, &st) != 0) {
        w->active = false;
        return;
    }
    if (w->active && st.st_mtim.tv_sec == w->mtime.tv_sec && st.st_mtim.tv_nsec == w->mtime.tv_nsec)
        return;
    w->active = parse_request(w->req_path, w->out, sizeof w->out);
    w->mtime = st.st_mtim;
    if (!w->active) rf_log(RF_LOG_WARN, "checkpoint: ignoring malformed '%s'", w->req_path);
}

rf_err_t rf_checkpoint_serve(rf_checkpoint_watch_t *w, int32_t partition, void *handle,
                             rf_checkpoint_fn *fn, rf_errbuf_t *eb)
{
    RF_ASSERT(w != NULL && handle != NULL && fn != NULL);
    RF_ASSERT(partition >= 0 && partition < RF_PARTITIONS_MAX);
    watch_refresh(w);
    if (!w->active) return RF_OK;
    char done[PATH_MAX_ + 64], bad[PATH_MAX_ + 64], target[PATH_MAX_ + 64];
    rf_checkpoint_marker_path(done, sizeof done, w->out, w->store, partition, "done");
    rf_checkpoint_marker_path(bad, sizeof bad, w->out, w->store, partition, "err");
    snprintf(target, sizeof target, "%s/%s/p-%04d", w->out, w->store, (int)partition);
    /* served already (the requester removes markers once it has read them) */
    if (rf_checkpoint_exists(done) || rf_checkpoint_exists(bad) || rf_checkpoint_exists(target))
        return RF_OK;
    uint64_t t0 = rf_now_ns();
    rf_errbuf_t ceb = {{0}};
    rf_err_t err = fn(handle, target, &ceb);
    char text[RF_ERRMSG_MAX + 8];
    snprintf(text, sizeof text, "%s\n", err ? ceb.msg : "ok");
    rf_errbuf_t meb = {{0}};
    if (rf_checkpoint_write_atomic(err ? bad : done, text, &meb))
        rf_log(RF_LOG_ERROR, "checkpoint: %s", meb.msg);
    rf_log(err ? RF_LOG_ERROR : RF_LOG_INFO, "checkpoint: %s partition %d into '%s': %s (%.1f ms)",
           w->store, (int)partition, target, err ? ceb.msg : "ok",
           (double)(rf_now_ns() - t0) / 1e6);
    if (err) return rf_errf(eb, err, "%s", ceb.msg);
    return RF_OK;
}

/* Watches for rf_checkpoint_serve_dir: a worker process serves a handful of
 * data directories (one per worker object), so a small table is enough. */
#define DIR_WATCHES_MAX 16

static pthread_mutex_t watches_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char data_dir[PATH_MAX_];
    char store[8];
    rf_checkpoint_watch_t *w;
} watches[DIR_WATCHES_MAX];

static rf_checkpoint_watch_t *watch_for(const char *data_dir, const char *store)
{
    rf_checkpoint_watch_t *w = NULL;
    pthread_mutex_lock(&watches_mu);
    int i = 0;
    for (; i < DIR_WATCHES_MAX && watches[i].w; i++)
        if (!strcmp(watches[i].data_dir, data_dir) && !strcmp(watches[i].store, store)) break;
    if (i < DIR_WATCHES_MAX && watches[i].w) {
        w = watches[i].w;
    } else if (i < DIR_WATCHES_MAX && (w = rf_checkpoint_watch_new(data_dir, store))) {
        rf_strlcpy(watches[i].data_dir, data_dir, sizeof watches[i].data_dir);
        rf_strlcpy(watches[i].store, store, sizeof watches[i].store);
        watches[i].w = w;
    }
    pthread_mutex_unlock(&watches_mu);
    return w;
}

void rf_checkpoint_serve_dir(const char *data_dir, const char *store, int32_t partition,
                             void *handle, rf_checkpoint_fn *fn)
{
    RF_ASSERT(data_dir != NULL && store != NULL);
    rf_checkpoint_watch_t *w = watch_for(data_dir, store);
    if (!w || !handle) return; /* table full: that worker cannot serve; the command says so */
    rf_errbuf_t eb = {{0}};
    /* one thread per worker object owns its handles; two workers on one data
     * dir in one process serve distinct partitions, so the watch's state is
     * only raced on its cache, which the lock below covers */
    pthread_mutex_lock(&watches_mu);
    rf_checkpoint_serve(w, partition, handle, fn, &eb); /* logs errors itself */
    pthread_mutex_unlock(&watches_mu);
}
