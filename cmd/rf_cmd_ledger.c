/* rf_cmd_ledger.c: the ledger's commands: `refold head` (head of every
 * partition ledger) and `refold verify` (the tamper check). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_checkpoint.h"
#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_hex.h"
#include "rf_ledger.h"
#include "rf_opt.h"
#include "rf_query_pages.h"
#include "rf_time.h"

typedef struct ledger_args {
    const char *data;
    const char *path;  /* one RocksDB (a checkpoint) instead of --data */
    int32_t partition; /* -1: every partition */
    int json;
} ledger_args_t;

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, ledger_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->partition = -1;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &a->data, "DIR", "data directory (ledgers under DIR/fold/p-NNNN)"),
        RF_OPT_STR('P', "path", &a->path, "DB_DIR",
                   "one partition ledger's RocksDB (e.g. a checkpoint)"),
        RF_OPT_INT_RANGE('p', "partition", &a->partition, 0, RF_PARTITIONS_MAX - 1, "N",
                         "only partition N (required with --path)", .def = "every partition"),
        RF_OPT_FLAG('j', "json", &a->json, "one JSON object per partition and line"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    bool head = !strcmp(argv[0], "head");
    char usage[256];
    snprintf(usage, sizeof usage,
             "refold %s --data DIR [--partition N] [--json]\n"
             "       refold %s --path DB_DIR --partition N [--json]",
             argv[0], argv[0]);
    const rf_opt_cmd_t cmd = {
        head ? "head" : "verify",
        usage,
        head ? "Prints one line per partition: partition, seq, hash and next offset."
             : "Checks every partition ledger: gapless seq, hash chain, postings, balances "
               "and counts.\nPrints OK with the head, or the first bad seq and why; exits "
               "1 on any fault. With --data, records the result in DIR/verify.json (time, OK "
               "or bad seq per partition) for refold serve's /v1/ops.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (!a->data == !a->path || (a->path && a->partition < 0))
        return rf_opt_error(&cmd, "need --data DIR, or --path DB_DIR with --partition N");
    return -1;
}

/* The partitions to visit; returns the count or -1 (message printed). */
static int partitions(const char *cmd, const ledger_args_t *a, int32_t *parts)
{
    if (a->partition >= 0) {
        parts[0] = a->partition;
        return 1;
    }
    int n = rf_ledger_list_partitions(a->data, parts, RF_PARTITIONS_MAX);
    if (n <= 0) {
        rf_cmd_error(cmd, a->json, RF_ERR_NOT_FOUND, "no partition ledgers under '%s/fold'",
                     a->data);
        return -1;
    }
    return n;
}

static rf_ledger_t *open_ro(const char *cmd, const ledger_args_t *a, int32_t p)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = a->path ? rf_ledger_open_path(a->path, p, RF_LEDGER_READONLY, &eb)
                             : rf_ledger_open(a->data, p, RF_LEDGER_READONLY, &eb);
    if (!l) rf_cmd_error(cmd, a->json, RF_ERR_STORAGE, "partition %d: %s", (int)p, eb.msg);
    return l;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

static void print_head(const rf_ledger_head_t *h, int json)
{
    char hex[65];
    rf_hex(h->hash, 32, hex);
    if (!json) {
        printf("partition=%d seq=%llu hash=%s next_offset=%lld\n", (int)h->partition,
               (unsigned long long)h->seq, hex, (long long)h->next_offset);
        return;
    }
    json_t *counts = json_object();
    for (int i = 0; i < RF_OUTCOME__COUNT; i++)
        json_object_set_new(counts, rf_outcome_name(i), json_integer((json_int_t)h->counts[i]));
    print_json(json_pack("{s:i, s:I, s:s, s:I, s:I, s:I, s:o}", "partition", (int)h->partition,
                         "seq", (json_int_t)h->seq, "hash", hex, "next_offset",
                         (json_int_t)h->next_offset, "event_time_ms", (json_int_t)h->event_time_ms,
                         "outbox_seq", (json_int_t)h->outbox_seq, "counts", counts));
}

int rf_cmd_head(int argc, char **argv)
{
    ledger_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    int32_t parts[RF_PARTITIONS_MAX];
    int n = partitions(argv[0], &a, parts);
    if (n < 0) return 1;
    rc = 0;
    for (int i = 0; i < n; i++) {
        rf_ledger_t *l = open_ro(argv[0], &a, parts[i]);
        rf_ledger_head_t h;
        rf_errbuf_t eb = {{0}};
        rf_err_t err;
        if (!l)
            rc = 1;
        else if ((err = rf_ledger_head(l, &h, &eb)) != RF_OK) {
            rf_cmd_error(argv[0], a.json, err, "partition %d: %s", (int)parts[i], eb.msg);
            rc = 1;
        } else
            print_head(&h, a.json);
        rf_ledger_close(l);
    }
    return rc;
}

/* One verify pass over a fresh read-only open of partition p into *err;
 * false when the ledger cannot be opened (open_ro said why). */
static bool verify_pass(const char *cmd, const ledger_args_t *a, int32_t p, rf_err_t *err,
                        uint64_t *bad, rf_ledger_head_t *h, rf_errbuf_t *eb)
{
    rf_ledger_t *l = open_ro(cmd, a, p);
    if (!l) return false;
    *err = rf_ledger_verify(l, bad, eb);
    rf_ledger_head(l, h, NULL);
    rf_ledger_close(l);
    return true;
}

/* Verifies one partition and prints its line; returns 0 when it is sound.
 * A fault is checked again on a new open before it is reported: a read-only
 * open of a store a worker is writing can race a memtable flush and see an
 * inconsistent view once; damage on disk is found again, a race is not. */
static int verify_one(const char *cmd, const ledger_args_t *a, int32_t p, json_t *res)
{
    rf_errbuf_t eb = {{0}};
    uint64_t bad = 0;
    rf_ledger_head_t h;
    memset(&h, 0, sizeof h);
    rf_err_t err = RF_OK;
    if (!verify_pass(cmd, a, p, &err, &bad, &h, &eb)) {
        json_array_append_new(res, json_pack("{s:i, s:b, s:s}", "partition", (int)p, "ok", 0,
                                             "error", "cannot open the ledger"));
        return 1;
    }
    if (err) {
        rf_errbuf_t eb2 = {{0}};
        uint64_t bad2 = 0;
        rf_err_t err2 = RF_OK;
        if (!verify_pass(cmd, a, p, &err2, &bad2, &h, &eb2)) {
            json_array_append_new(res, json_pack("{s:i, s:b, s:s}", "partition", (int)p, "ok", 0,
                                                 "error", "cannot open the ledger"));
            return 1;
        }
        if (!err2)
            fprintf(stderr,
                    "refold %s: partition %d: the first pass saw seq %llu fail (%s) and a "
                    "second open found the ledger sound: a read-only view of a store being "
                    "written raced a flush\n",
                    cmd, (int)p, (unsigned long long)bad, eb.msg);
        else if (!(err2 == err && bad2 == bad))
            fprintf(stderr, "refold %s: partition %d: first pass: seq %llu: %s\n", cmd, (int)p,
                    (unsigned long long)bad, eb.msg);
        err = err2, bad = bad2, eb = eb2;
    }
    char hex[65];
    rf_hex(h.hash, 32, hex);
    json_array_append_new(
        res,
        err ? json_pack("{s:i, s:b, s:I, s:s, s:s}", "partition", (int)p, "ok", 0, "bad_seq",
                        (json_int_t)bad, "error", rf_err_str(err), "message", eb.msg)
            : json_pack("{s:i, s:b, s:I}", "partition", (int)p, "ok", 1, "seq", (json_int_t)h.seq));
    if (a->json && !err)
        print_json(json_pack("{s:i, s:b, s:I, s:s, s:I}", "partition", (int)p, "ok", 1, "seq",
                             (json_int_t)h.seq, "hash", hex, "next_offset",
                             (json_int_t)h.next_offset));
    else if (a->json)
        print_json(json_pack("{s:i, s:b, s:I, s:s, s:s}", "partition", (int)p, "ok", 0, "bad_seq",
                             (json_int_t)bad, "error", rf_err_str(err), "message", eb.msg));
    else if (!err)
        printf("partition=%d OK seq=%llu hash=%s next_offset=%lld\n", (int)p,
               (unsigned long long)h.seq, hex, (long long)h.next_offset);
    else
        printf("partition=%d FAULT seq=%llu %s: %s\n", (int)p, (unsigned long long)bad,
               rf_err_str(err), eb.msg);
    if (err) rf_cmd_error(cmd, a->json, err, "partition %d: %s", (int)p, eb.msg);
    return err ? 1 : 0;
}

/* Writes the result to DIR/verify.json (atomically) for `refold serve`'s
 * /v1/ops. A data directory that cannot be written (a read-only backup) gets
 * a warning: the verify's own answer and exit status stand. */
static void record_result(const char *cmd, const char *data, bool ok, json_t *parts)
{
    char path[4200], at[RF_TIME_BUF];
    rf_errbuf_t eb = {{0}};
    int64_t now = rf_wall_ms();
    rf_time_format(now, at);
    json_t *o = json_pack("{s:s, s:I, s:b, s:O}", "at", at, "at_ms", (json_int_t)now, "ok", ok,
                          "partitions", parts);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    snprintf(path, sizeof path, "%s/" RF_VERIFY_RESULT_FILE, data);
    if (!text || rf_checkpoint_write_atomic(path, text, &eb) != RF_OK)
        fprintf(stderr, "refold %s: warning: cannot record the result in '%s': %s\n", cmd, path,
                text ? eb.msg : "out of memory");
    free(text);
}

int rf_cmd_verify(int argc, char **argv)
{
    ledger_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    int32_t parts[RF_PARTITIONS_MAX];
    int n = partitions(argv[0], &a, parts);
    if (n < 0) return 1;
    rc = 0;
    json_t *res = json_array();
    for (int i = 0; i < n; i++)
        rc |= verify_one(argv[0], &a, parts[i], res);
    if (a.data) record_result(argv[0], a.data, rc == 0, res);
    json_decref(res);
    return rc;
}
