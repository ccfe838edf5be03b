/* rf_query_follow.c: opening the projection's stores for queries (a
 * read-only snapshot, or secondary instances that follow the projection
 * worker's commits: woken by inotify on the stores' directories) and
 * closing them. The reads themselves are in rf_query.c. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rf_query_int.h"

static void rm_scratch(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path); /* only RocksDB's LOG files live here */
    }
    closedir(d);
    rmdir(dir);
}

/* The scratch dirs of secondary instances are named
 * refold-secondary-<pid>-XXXXXX: a process killed before rf_query_close
 * leaves its dirs (RocksDB's LOG files) behind, so a follower removes those
 * of processes that are gone (and untouched for RF_QUERY_SCRATCH_STALE_S: a
 * pid of another pid namespace sharing the directory is not ours to judge
 * by kill alone). Once per process. */
static void sweep_scratch(const char *tmp)
{
    static atomic_flag swept = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&swept)) return;
    DIR *d = opendir(tmp);
    if (!d) return;
    struct dirent *de;
    char path[512];
    time_t now = time(NULL);
    while ((de = readdir(d)) != NULL) {
        long pid = 0;
        int n = 0;
        struct stat st;
        if (sscanf(de->d_name, "refold-secondary-%ld-%n", &pid, &n) != 1 || n == 0 || pid <= 0 ||
            pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours */
        snprintf(path, sizeof path, "%s/%s", tmp, de->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
            now - st.st_mtime < RF_QUERY_SCRATCH_STALE_S)
            continue;
        rm_scratch(path);
    }
    closedir(d);
}

static void qpart_close(rf_query_t *q, qpart_t *qp)
{
    if (!qp) return;
    if (qp->wd >= 0 && q->ino_fd >= 0) inotify_rm_watch(q->ino_fd, qp->wd);
    rf_store_close(qp->store);
    if (qp->secondary[0]) rm_scratch(qp->secondary);
    free(qp);
}

static qpart_t *qpart_open(rf_query_t *q, int32_t partition, rf_errbuf_t *eb)
{
    char path[4200];
    qpart_t *qp = calloc(1, sizeof *qp);
    if (!qp || rf__project_part_path(q->data_dir, partition, path, sizeof path) != RF_OK) {
        free(qp);
        rf_errf(eb, RF_ERR_NOMEM, "cannot open partition %d", (int)partition);
        return NULL;
    }
    qp->partition = partition;
    qp->wd = -1;
    rf_store_open_conf_t c = {.kind = RF_STORE_PROJECTION, .mode = RF_STORE_READONLY};
    if (q->flags & RF_QUERY_FOLLOW) {
        const char *tmp = getenv("TMPDIR");
        tmp = tmp && *tmp ? tmp : "/tmp";
        sweep_scratch(tmp);
        snprintf(qp->secondary, sizeof qp->secondary, "%s/refold-secondary-%ld-XXXXXX", tmp,
                 (long)getpid());
        if (!mkdtemp(qp->secondary)) {
            qp->secondary[0] = '\0';
            rf_errf(eb, RF_ERR_IO, "cannot create a scratch dir for '%s'", path);
            qpart_close(q, qp);
            return NULL;
        }
        c.mode = RF_STORE_SECONDARY;
        c.secondary_dir = qp->secondary;
    }
    /* watched before it is opened: a commit in between is caught up later */
    if (q->ino_fd >= 0)
        qp->wd = inotify_add_watch(q->ino_fd, path, IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    if (!(qp->store = rf_store_open(rf_store_env_default(), path, &c, eb))) {
        qpart_close(q, qp);
        return NULL;
    }
    qp->db = rf_store_db(qp->store);
    return qp;
}

/* ---- following: change notification ---------------------------------------- */

/* Sets up the inotify watch of <data>/project (the partitions' directories
 * are watched as they are opened) and the wake-up eventfd. Without inotify
 * (or with too few watches) every refresh catches up every partition. */
static void follow_init(rf_query_t *q)
{
    char dir[4200];
    q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    q->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    snprintf(dir, sizeof dir, "%s/project", q->data_dir);
    if (q->ino_fd >= 0 &&
        (q->project_wd = inotify_add_watch(q->ino_fd, dir, IN_CREATE | IN_MOVED_TO)) < 0) {
        close(q->ino_fd);
        q->ino_fd = -1;
    }
}

/* Reads the pending notifications into q->changed (under refresh_mu).
 * Returns false when they cannot be trusted (the queue overflowed, a
 * partition's watch failed): catch up everything. */
static bool drain_changes(rf_query_t *q)
{
    _Alignas(struct inotify_event) char buf[8192];
    bool ok = true;
    for (;;) {
        ssize_t n = read(q->ino_fd, buf, sizeof buf);
        if (n <= 0) return ok && (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK);
        for (ssize_t off = 0; off < n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            off += (ssize_t)(sizeof *ev + ev->len);
            if (ev->mask & IN_Q_OVERFLOW) ok = false;
            if (ev->wd == q->project_wd) {
                q->rescan = true;
                continue;
            }
            for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
                const qpart_t *qp = rf__q_part(q, i);
                if (qp && qp->wd == ev->wd) {
                    q->changed[i] = true;
                    break;
                }
            }
        }
    }
}

/* Opens the partitions present under <data>/project that are not open yet. */
static rf_err_t scan_parts(rf_query_t *q, rf_errbuf_t *eb)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/project", q->data_dir);
    DIR *d = opendir(dir);
    if (!d) return rf_errf(eb, RF_ERR_NOT_FOUND, "no projection under '%s'", q->data_dir);
    struct dirent *de;
    rf_err_t err = RF_OK;
    while (err == RF_OK && (de = readdir(d)) != NULL) {
        int p, n = 0;
        if (sscanf(de->d_name, "p-%4d%n", &p, &n) != 1 || n != 6 || de->d_name[6] != '\0') continue;
        if (p < 0 || p >= RF_PARTITIONS_MAX || rf__q_part(q, p)) continue;
        qpart_t *qp = qpart_open(q, p, eb);
        if (!qp) {
            err = RF_ERR_STORAGE;
            break;
        }
        __atomic_store_n(&q->parts[p], qp, __ATOMIC_RELEASE);
    }
    closedir(d);
    return err;
}

rf_query_t *rf_query_open(const char *data_dir, int flags, rf_errbuf_t *eb)
{
    rf_query_t *q = calloc(1, sizeof *q);
    if (!q) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (rf_strlcpy(q->data_dir, data_dir, sizeof q->data_dir) != RF_OK) {
        free(q);
        rf_errf(eb, RF_ERR_CONFIG, "data directory path too long");
        return NULL;
    }
    q->flags = flags;
    q->ropts = rocksdb_readoptions_create();
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->refresh_mu, NULL);
    q->ino_fd = q->project_wd = q->wake_fd = -1;
    if (flags & RF_QUERY_FOLLOW) follow_init(q);
    if (scan_parts(q, eb) != RF_OK) {
        rf_query_close(q);
        return NULL;
    }
    int n = 0;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        n += rf__q_part(q, i) != NULL;
    if (n == 0) {
        rf_errf(eb, RF_ERR_NOT_FOUND, "no projection partitions under '%s/project'", data_dir);
        rf_query_close(q);
        return NULL;
    }
    return q;
}

void rf_query_close(rf_query_t *q)
{
    if (!q) return;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        qpart_close(q, q->parts[i]);
    if (q->ino_fd >= 0) close(q->ino_fd);
    if (q->wake_fd >= 0) close(q->wake_fd);
    rocksdb_readoptions_destroy(q->ropts);
    pthread_mutex_destroy(&q->mu);
    pthread_mutex_destroy(&q->refresh_mu);
    free(q);
}

rf_err_t rf_query_refresh(rf_query_t *q, rf_errbuf_t *eb)
{
    if (!(q->flags & RF_QUERY_FOLLOW)) return RF_OK;
    pthread_mutex_lock(&q->refresh_mu);
    uint64_t now = rf_now_ns();
    /* everything now and then all the same: a store on a filesystem whose
     * writes inotify does not see (another host's) is still followed */
    bool all = q->ino_fd < 0 || now - q->full_ns >= (uint64_t)RF_QUERY_FULL_REFRESH_MS * 1000000u;
    if (!all && !drain_changes(q)) all = true;
    if (all) {
        q->full_ns = now;
        q->rescan = true;
    }
    rf_err_t err = RF_OK;
    for (int i = 0; i < RF_PARTITIONS_MAX && err == RF_OK; i++) {
        qpart_t *qp = rf__q_part(q, i);
        char *e = NULL;
        if (!qp || !(all || q->changed[i] || qp->wd < 0)) continue;
        q->changed[i] = false;
        rocksdb_try_catch_up_with_primary(qp->db, &e);
        if (e) err = rf_store_err(eb, e, "partition %d: catch up", i);
    }
    if (err == RF_OK && q->rescan) {
        q->rescan = false;
        err = scan_parts(q, eb);
    }
    q->refreshed_ns = rf_now_ns();
    pthread_mutex_unlock(&q->refresh_mu);
    return err;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

bool rf_query_wait(rf_query_t *q, int timeout_ms)
{
    RF_ASSERT(timeout_ms >= 0);
    if (!(q->flags & RF_QUERY_FOLLOW)) return false;
    struct pollfd fds[2] = {{.fd = q->wake_fd, .events = POLLIN},
                            {.fd = q->ino_fd, .events = POLLIN}};
    /* without notification a refresh is due every RF_QUERY_REFRESH_MS */
    if (q->ino_fd < 0 && timeout_ms > RF_QUERY_REFRESH_MS) timeout_ms = RF_QUERY_REFRESH_MS;
    int n = poll(fds, q->ino_fd >= 0 ? 2 : 1, timeout_ms);
    if (n > 0 && (fds[0].revents & POLLIN)) {
        uint64_t v;
        if (read(q->wake_fd, &v, sizeof v) < 0) { /* a concurrent wait took it */
        }
        return true;
    }
    pthread_mutex_lock(&q->refresh_mu);
    uint64_t last = q->refreshed_ns, full = q->full_ns;
    pthread_mutex_unlock(&q->refresh_mu);
    uint64_t now = rf_now_ns(), gap = (uint64_t)RF_QUERY_REFRESH_MIN_MS * 1000000u;
    if (q->ino_fd < 0) return true;
    if (n <= 0) return now - full >= (uint64_t)RF_QUERY_FULL_REFRESH_MS * 1000000u;
    /* a store changed: commits come in bursts (one per partition of a
     * projection cycle), so wait out the rest of the minimum gap and catch
     * them up together */
    if (now - last < gap) sleep_ns(gap - (now - last));
    return true;
}

void rf_query_wake(rf_query_t *q)
{
    uint64_t one = 1;
    if (q && q->wake_fd >= 0 && write(q->wake_fd, &one, sizeof one) < 0) {
        /* the counter is full: a wake-up is pending anyway */
    }
}
