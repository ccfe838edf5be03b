/* rf_checkpoint_cmd.c: `refold checkpoint`: a consistent checkpoint of
 * every fold ledger and projection store of a data directory. Stores whose
 * lock is free are checkpointed here; locked ones by their workers, through
 * the request protocol of common/rf_checkpoint.h. */
#include "rf_checkpoint_take.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_opt.h"
#include "rf_fold_worker.h"
#include "rf_project.h"

/* ---- the command's side ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int list_store(const char *data, const char *store, int32_t *parts, int cap)
{
    char path[RF_CHECKPOINT_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", data, store);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        const char *s = e->d_name;
        if (strncmp(s, "p-", 2) || strlen(s) != 6 || !isdigit((unsigned char)s[2])) continue;
        int64_t p = 0;
        if (rf_parse_i64(s + 2, 0, RF_PARTITIONS_MAX - 1, &p, NULL, NULL) == RF_OK)
            parts[n++] = (int32_t)p;
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
    char target[RF_CHECKPOINT_PATH_MAX + 64];
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
    part->err = fold ? rf_ledger_checkpoint_fn(h, target, &eb)
                     : rf_projection_checkpoint_fn(h, target, &eb);
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
    char done[RF_CHECKPOINT_PATH_MAX + 64], bad[RF_CHECKPOINT_PATH_MAX + 64];
    rf_checkpoint_marker_path(done, sizeof done, out, part->store, part->partition, "done");
    rf_checkpoint_marker_path(bad, sizeof bad, out, part->store, part->partition, "err");
    const char *which = rf_checkpoint_exists(done) ? done : rf_checkpoint_exists(bad) ? bad : NULL;
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
    char req[RF_CHECKPOINT_PATH_MAX + 32], text[RF_CHECKPOINT_PATH_MAX + 64];
    snprintf(req, sizeof req, "%s/%s", data, RF_CHECKPOINT_REQUEST_FILE);
    snprintf(text, sizeof text, "refold-checkpoint 1\nout %s\n", out);
    rf_err_t err = rf_checkpoint_write_atomic(req, text, eb);
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
        char marker[RF_CHECKPOINT_PATH_MAX + 64];
        rf_checkpoint_marker_path(marker, sizeof marker, out, p->store, p->partition, "done");
        remove(marker);
        rf_checkpoint_marker_path(marker, sizeof marker, out, p->store, p->partition, "err");
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
    char path[RF_CHECKPOINT_PATH_MAX + 64];
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
    char sub[RF_CHECKPOINT_PATH_MAX + 16];
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
    char out[RF_CHECKPOINT_PATH_MAX];
    if (out_dir[0] != '/') { /* workers resolve it from their own working directory */
        char cwd[RF_CHECKPOINT_PATH_MAX / 2];
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
    char path[RF_CHECKPOINT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/checkpoint.json", out);
    rf_errbuf_t eb;
    if (s && !err) rf_checkpoint_write_atomic(path, s, &eb);
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
    const char *data = NULL, *out = NULL;
    int wait_ms = RF_CHECKPOINT_WAIT_MS, json = 0, verify = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &data, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('o', "out", &out, "DIR2", "the checkpoint's directory (new or empty)",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_INT_RANGE('w', "wait-ms", &wait_ms, 0, INT32_MAX, "N",
                         "how long to wait for running workers"),
        RF_OPT_FLAG('V', "verify", &verify, "run the ledger verify on every fold checkpoint"),
        RF_OPT_FLAG('j', "json", &json, "print the result as one JSON object"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "checkpoint",
        "refold checkpoint --data DIR --out DIR2 [--wait-ms N] [--verify] [--json]",
        "Writes a consistent RocksDB checkpoint of every fold ledger and projection store\n"
        "of DIR into DIR2 (new or empty; hard links where possible, so it is fast and\n"
        "small on the same filesystem). Stores whose lock is free are checkpointed here;\n"
        "stores held by running workers are checkpointed by those workers between two\n"
        "commits (request file DIR/checkpoint.request; waits up to --wait-ms). --verify\n"
        "runs the ledger verify on every fold checkpoint. A worker started with --data\n"
        "DIR2 resumes from the offsets stored in it. See docs/operations.md.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    rf_checkpoint_result_t *r = malloc(sizeof *r);
    if (!r) return 1;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_checkpoint_take(data, out, wait_ms, verify, r, &eb);
    if (r->nparts) print_result(r, out, json, err);
    if (err) rf_cmd_error("checkpoint", json, err, "%s", eb.msg);
    free(r);
    return err ? 1 : 0;
}
