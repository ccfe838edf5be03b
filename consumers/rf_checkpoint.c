/* rf_checkpoint.c: consistent checkpoints of every partition store, taken by
 * the command for unlocked stores and by the running workers, on request, for
 * the ones they hold (rf_checkpoint.h), and `refold checkpoint`. */
#include "rf_checkpoint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <rocksdb/c.h>

#include "rf_commands.h"
#include "rf_project.h"
#include "rf_project_int.h" /* struct rf_projection: its RocksDB handle (see report) */

#define REQUEST_FILE "checkpoint.request"
#define PATH_MAX_    4096

/* ---- adapters ---- */

rf_err_t rf_checkpoint_ledger_fn(void *ledger, const char *dir, rf_errbuf_t *eb)
{
    RF_ASSERT(ledger != NULL && dir != NULL);
    return rf_ledger_checkpoint(ledger, dir, eb);
}

rf_err_t rf_checkpoint_projection_fn(void *projection, const char *dir, rf_errbuf_t *eb)
{
    RF_ASSERT(projection != NULL && dir != NULL);
    rf_projection_t *p = projection;
    RF_ASSERT(p->db != NULL);
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(p->db, &err);
    if (!err) {
        /* 0: flush first, so the checkpoint is table files only */
        rocksdb_checkpoint_create(cp, dir, 0, &err);
        rocksdb_checkpoint_object_destroy(cp);
    }
    if (!err) return RF_OK;
    rf_errf(eb, RF_ERR_STORAGE, "cannot checkpoint projection into '%s': %s", dir, err);
    rocksdb_free(err);
    return RF_ERR_STORAGE;
}

/* ---- small file helpers ---- */

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Writes text to path atomically (tmp + rename), so a reader never sees half. */
static rf_err_t write_atomic(const char *path, const char *text, rf_errbuf_t *eb)
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

static void marker_path(char *out, size_t cap, const char *dir, const char *store, int32_t p,
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
    marker_path(done, sizeof done, w->out, w->store, partition, "done");
    marker_path(bad, sizeof bad, w->out, w->store, partition, "err");
    snprintf(target, sizeof target, "%s/%s/p-%04d", w->out, w->store, (int)partition);
    /* served already (the requester removes markers once it has read them) */
    if (exists(done) || exists(bad) || exists(target)) return RF_OK;
    uint64_t t0 = rf_now_ns();
    rf_errbuf_t ceb = {{0}};
    rf_err_t err = fn(handle, target, &ceb);
    char text[RF_ERRMSG_MAX + 8];
    snprintf(text, sizeof text, "%s\n", err ? ceb.msg : "ok");
    rf_errbuf_t meb = {{0}};
    if (write_atomic(err ? bad : done, text, &meb)) rf_log(RF_LOG_ERROR, "checkpoint: %s", meb.msg);
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

/* ---- the command's side ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int list_store(const char *data, const char *store, int32_t *parts, int cap)
{
    char path[PATH_MAX_];
    snprintf(path, sizeof path, "%s/%s", data, store);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        const char *s = e->d_name;
        if (strncmp(s, "p-", 2) || strlen(s) != 6 || !isdigit((unsigned char)s[2])) continue;
        char *end = NULL;
        long p = strtol(s + 2, &end, 10);
        if (!*end && p >= 0 && p < RF_PARTITIONS_MAX) parts[n++] = (int32_t)p;
    }
    closedir(d);
    qsort(parts, (size_t)n, sizeof *parts, cmp_i32);
    return n;
}

static bool is_lock_error(const char *msg)
{
    for (const char *p = msg; *p; p++)
        if (!strncasecmp(p, "lock", 4)) return true;
    return false;
}

/* Tries to checkpoint one store itself; returns 1 when its lock is held (a
 * worker must do it), 0 when done (outcome in part). */
static int take_direct(const char *data, const char *out, rf_checkpoint_part_t *part)
{
    char target[PATH_MAX_ + 64];
    snprintf(target, sizeof target, "%s/%s/p-%04d", out, part->store, (int)part->partition);
    rf_errbuf_t eb = {{0}};
    bool fold = !strcmp(part->store, "fold");
    void *h = fold ? (void *)rf_ledger_open(data, part->partition, 0, &eb)
                   : (void *)rf_projection_open(data, part->partition, 0, &eb);
    if (!h) {
        if (is_lock_error(eb.msg)) return 1;
        part->err = RF_ERR_STORAGE;
        rf_strlcpy(part->msg, eb.msg, sizeof part->msg);
        return 0;
    }
    part->err = fold ? rf_checkpoint_ledger_fn(h, target, &eb)
                     : rf_checkpoint_projection_fn(h, target, &eb);
    rf_strlcpy(part->msg, part->err ? eb.msg : "ok", sizeof part->msg);
    if (fold)
        rf_ledger_close(h);
    else
        rf_projection_close(h);
    return 0;
}

/* Reads the worker's marker: 1 when present (outcome in part). */
static int read_marker(const char *out, rf_checkpoint_part_t *part)
{
    char done[PATH_MAX_ + 64], bad[PATH_MAX_ + 64];
    marker_path(done, sizeof done, out, part->store, part->partition, "done");
    marker_path(bad, sizeof bad, out, part->store, part->partition, "err");
    const char *which = exists(done) ? done : exists(bad) ? bad : NULL;
    if (!which) return 0;
    part->err = which == done ? RF_OK : RF_ERR_STORAGE;
    FILE *f = fopen(which, "r");
    part->msg[0] = 0;
    if (f) {
        if (!fgets(part->msg, sizeof part->msg, f)) part->msg[0] = 0;
        fclose(f);
    }
    size_t n = strlen(part->msg);
    if (n && part->msg[n - 1] == '\n') part->msg[n - 1] = 0;
    return 1;
}

static rf_err_t wait_workers(const char *data, const char *out, rf_checkpoint_result_t *res,
                             int wait_ms, rf_errbuf_t *eb)
{
    char req[PATH_MAX_ + 32], text[PATH_MAX_ + 64];
    snprintf(req, sizeof req, "%s/%s", data, REQUEST_FILE);
    snprintf(text, sizeof text, "refold-checkpoint 1\nout %s\n", out);
    rf_err_t err = write_atomic(req, text, eb);
    uint64_t deadline = rf_now_ns() + (uint64_t)wait_ms * 1000000u;
    int pending = 1;
    while (!err && pending) {
        pending = 0;
        for (int i = 0; i < res->nparts; i++) {
            rf_checkpoint_part_t *p = &res->parts[i];
            if (p->by_worker && p->err == RF_ERR_RETRY && !read_marker(out, p)) pending++;
        }
        if (pending && rf_now_ns() > deadline) break;
        if (pending) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL); /* waiting on another process's files: polling is the API */
        }
    }
    remove(req);
    for (int i = 0; i < res->nparts; i++) {
        rf_checkpoint_part_t *p = &res->parts[i];
        char marker[PATH_MAX_ + 64];
        marker_path(marker, sizeof marker, out, p->store, p->partition, "done");
        remove(marker);
        marker_path(marker, sizeof marker, out, p->store, p->partition, "err");
        remove(marker);
        if (p->err != RF_ERR_RETRY) continue;
        p->err = RF_ERR_TIMEOUT;
        snprintf(p->msg, sizeof p->msg,
                 "locked by a worker that did not answer within %d ms "
                 "(is it running a version that serves checkpoints?)",
                 wait_ms);
    }
    return err;
}

/* Opens a fold checkpoint: head, and verify when asked. */
static void check_fold(const char *out, rf_checkpoint_part_t *p, bool verify)
{
    char path[PATH_MAX_ + 64];
    snprintf(path, sizeof path, "%s/fold/p-%04d", out, (int)p->partition);
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open_path(path, p->partition, RF_LEDGER_READONLY, &eb);
    rf_ledger_head_t h;
    if (!l || rf_ledger_head(l, &h, &eb)) {
        p->err = RF_ERR_STORAGE;
        rf_strlcpy(p->msg, eb.msg, sizeof p->msg);
        rf_ledger_close(l);
        return;
    }
    p->head_seq = h.seq;
    p->next_offset = h.next_offset;
    uint64_t bad = 0;
    if (verify) {
        p->err = rf_ledger_verify(l, &bad, &eb);
        p->verified = p->err == RF_OK;
        if (p->err) rf_strlcpy(p->msg, eb.msg, sizeof p->msg);
    }
    rf_ledger_close(l);
}

static rf_err_t make_out(const char *out, bool project, rf_errbuf_t *eb)
{
    if (mkdir(out, 0755) != 0) {
        DIR *d = errno == EEXIST ? opendir(out) : NULL;
        struct dirent *e;
        int entries = 0;
        while (d && (e = readdir(d)) != NULL)
            entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        if (d) closedir(d);
        if (!d || entries)
            return rf_errf(eb, RF_ERR_CONFIG, "'%s' must be a new or empty directory", out);
    }
    char sub[PATH_MAX_ + 16];
    snprintf(sub, sizeof sub, "%s/fold", out);
    if (mkdir(sub, 0755) != 0) return rf_errf(eb, RF_ERR_IO, "cannot create '%s'", sub);
    snprintf(sub, sizeof sub, "%s/project", out);
    if (project && mkdir(sub, 0755) != 0) return rf_errf(eb, RF_ERR_IO, "cannot create '%s'", sub);
    return RF_OK;
}

rf_err_t rf_checkpoint_take(const char *data_dir, const char *out_dir, int wait_ms, bool verify,
                            rf_checkpoint_result_t *res, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL && out_dir != NULL && res != NULL);
    memset(res, 0, sizeof *res);
    char out[PATH_MAX_];
    if (out_dir[0] != '/') { /* workers resolve it from their own working directory */
        char cwd[PATH_MAX_ / 2];
        if (!getcwd(cwd, sizeof cwd))
            return rf_errf(eb, RF_ERR_IO, "cannot read the working directory");
        snprintf(out, sizeof out, "%s/%s", cwd, out_dir);
    } else {
        rf_strlcpy(out, out_dir, sizeof out);
    }
    int32_t fold[RF_PARTITIONS_MAX], proj[RF_PARTITIONS_MAX];
    int nf = list_store(data_dir, "fold", fold, RF_PARTITIONS_MAX);
    int np = list_store(data_dir, "project", proj, RF_PARTITIONS_MAX);
    if (nf == 0) return rf_errf(eb, RF_ERR_NOT_FOUND, "no fold ledger under '%s/fold'", data_dir);
    rf_err_t err = make_out(out, np > 0, eb);
    if (err) return err;
    int locked = 0;
    for (int i = 0; i < nf + np; i++) {
        rf_checkpoint_part_t *p = &res->parts[res->nparts++];
        snprintf(p->store, sizeof p->store, "%s", i < nf ? "fold" : "project");
        p->partition = i < nf ? fold[i] : proj[i - nf];
        p->next_offset = -1;
        if (take_direct(data_dir, out, p)) {
            p->by_worker = true;
            p->err = RF_ERR_RETRY; /* pending */
            locked++;
        }
    }
    if (locked) err = wait_workers(data_dir, out, res, wait_ms, eb);
    for (int i = 0; i < res->nparts && !err; i++)
        if (!res->parts[i].err && !strcmp(res->parts[i].store, "fold"))
            check_fold(out, &res->parts[i], verify);
    for (int i = 0; i < res->nparts && !err; i++)
        if (res->parts[i].err)
            err = rf_errf(eb, res->parts[i].err, "%s partition %d: %s", res->parts[i].store,
                          (int)res->parts[i].partition, res->parts[i].msg);
    return err;
}

/* ---- refold checkpoint ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: refold checkpoint --data DIR --out DIR2 [--wait-ms N] [--verify] [--json]\n\n"
            "Writes a consistent RocksDB checkpoint of every fold ledger and projection store\n"
            "of DIR into DIR2 (new or empty; hard links where possible, so it is fast and\n"
            "small on the same filesystem). Stores whose lock is free are checkpointed here;\n"
            "stores held by running workers are checkpointed by those workers between two\n"
            "commits (request file DIR/checkpoint.request; waits up to --wait-ms, default\n"
            "%d). --verify runs the ledger verify on every fold checkpoint. A worker started\n"
            "with --data DIR2 resumes from the offsets stored in it. See docs/operations.md.\n",
            RF_CHECKPOINT_WAIT_MS);
}

static void print_result(const rf_checkpoint_result_t *r, const char *out, bool json, rf_err_t err)
{
    json_t *arr = json_array();
    for (int i = 0; i < r->nparts; i++) {
        const rf_checkpoint_part_t *p = &r->parts[i];
        json_t *o = json_pack(
            "{s:s,s:i,s:s,s:s}", "store", p->store, "partition", (int)p->partition, "by",
            p->by_worker ? "worker" : "checkpoint command", "result", p->err ? p->msg : "ok");
        if (!strcmp(p->store, "fold") && !p->err) {
            json_object_set_new(o, "head_seq", json_integer((json_int_t)p->head_seq));
            json_object_set_new(o, "next_offset", json_integer(p->next_offset));
            json_object_set_new(o, "verified", json_boolean(p->verified));
        }
        json_array_append_new(arr, o);
    }
    json_t *top = json_pack("{s:s,s:b,s:o}", "out", out, "ok", err == RF_OK, "partitions", arr);
    char *s = json_dumps(top, JSON_COMPACT | JSON_PRESERVE_ORDER | (json ? 0 : JSON_INDENT(2)));
    if (json && s) puts(s);
    /* the manifest, for the restore runbook */
    char path[PATH_MAX_ + 32];
    snprintf(path, sizeof path, "%s/checkpoint.json", out);
    rf_errbuf_t eb;
    if (s && !err) write_atomic(path, s, &eb);
    free(s);
    json_decref(top);
    if (json) return;
    for (int i = 0; i < r->nparts; i++) {
        const rf_checkpoint_part_t *p = &r->parts[i];
        printf("  %-7s p-%04d  %-6s  %s", p->store, (int)p->partition,
               p->by_worker ? "worker" : "direct", p->err ? p->msg : "ok");
        if (!p->err && !strcmp(p->store, "fold"))
            printf("  head seq %llu, next offset %lld%s", (unsigned long long)p->head_seq,
                   (long long)p->next_offset, p->verified ? ", verified" : "");
        printf("\n");
    }
    printf("%s\n", err ? "checkpoint FAILED" : "checkpoint written");
}

int rf_cmd_checkpoint(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},
                                         {"wait-ms", required_argument, 0, 'w'},
                                         {"verify", no_argument, 0, 'V'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data = NULL, *out = NULL;
    int wait_ms = RF_CHECKPOINT_WAIT_MS, json = 0, verify = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:o:w:Vjh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'w':
            wait_ms = atoi(optarg);
            break;
        case 'V':
            verify = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!data || !out || optind != argc || wait_ms < 0) {
        usage(stderr);
        return 2;
    }
    rf_checkpoint_result_t *r = malloc(sizeof *r);
    if (!r) return 1;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_checkpoint_take(data, out, wait_ms, verify, r, &eb);
    if (r->nparts) print_result(r, out, json, err);
    if (err) fprintf(stderr, "refold checkpoint: %s\n", eb.msg);
    free(r);
    return err ? 1 : 0;
}
