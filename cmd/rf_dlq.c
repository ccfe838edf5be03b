/* rf_dlq.c: `refold dlq list|show|redrive`: inspect the dead letters the fold
 * worker published to refold.events.dlq (with headers refold.reason,
 * refold.error, refold.partition, refold.offset, refold.event_id) and
 * republish chosen ones to refold.events, as they were or fixed from a JSON
 * lines file (docs/operations.md, "Dead letters"). The Kafka side is
 * consumers/fold/rf_dlq.h; this file prints. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_codec.h"
#include "rf_commands.h"
#include "rf_dlq.h"
#include "rf_jsonl.h"
#include "rf_kafka.h"

/* A dead letter's address in the DLQ topic. */
typedef rf_dlq_pos_t dlq_pos_t;

typedef struct dlq_args {
    rf_kafka_opts_t kafka;
    const char *topic_dlq, *topic_events;
    int json, all, dry_run;
    const char *fix_from;
    int npos;
    dlq_pos_t *pos; /* RF_DLQ_REDRIVE_MAX */
} dlq_args_t;

/* Reads the DLQ messages selected (pos, n) or every one (n < 0). */
static rf_err_t dlq_read(const dlq_args_t *a, const dlq_pos_t *pos, int n, rf_dlq_letter_cb_t *cb,
                         void *opaque, rf_errbuf_t *eb)
{
    return rf_dlq_read(&a->kafka, a->topic_dlq, pos, n, cb, opaque, eb);
}

/* The key as text for printing: "-" when there is none. */
static int key_len(const rf_dlq_letter_t *d)
{
    return d->key ? (int)d->key_len : 1;
}
static const char *key_str(const rf_dlq_letter_t *d)
{
    return d->key ? (const char *)d->key : "-";
}

/* A header holding a number (refold.partition, refold.offset) as a JSON
 * integer like every other number; null when absent or not a number. */
static json_t *header_int(const char *s)
{
    int64_t v = 0;
    if (rf_parse_i64(s, INT64_MIN, INT64_MAX, &v, NULL, NULL) != RF_OK) return json_null();
    return json_integer((json_int_t)v);
}

/* ---- list ---- */

static void print_json_line(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(o);
}

static int list_one(const rf_dlq_letter_t *d, void *opaque)
{
    if (*(const bool *)opaque) { /* JSON lines: one object per dead letter, as read */
        print_json_line(json_pack(
            "{s:i,s:I,s:o,s:o,s:s,s:s,s:s,s:s%,s:i}", "partition", (int)d->pos.partition, "offset",
            (json_int_t)d->pos.offset, "source_partition", header_int(d->src_part), "source_offset",
            header_int(d->src_off), "error", d->error, "reason", d->reason, "event_id", d->event_id,
            "key", d->key ? (const char *)d->key : "", d->key_len, "bytes", (int)d->len));
        return 0;
    }
    printf("%d:%-8lld source %s:%-8s %-16s %-36s %-16.*s %6zu bytes  %s\n", (int)d->pos.partition,
           (long long)d->pos.offset, d->src_part, d->src_off, d->error,
           d->event_id[0] ? d->event_id : "-", key_len(d), key_str(d), d->len, d->reason);
    return 0;
}

static int dlq_list(const dlq_args_t *a)
{
    rf_errbuf_t eb = {{0}};
    bool json = a->json;
    if (!json)
        printf("%-10s %-23s %-16s %-36s %-16s %12s  %s\n", "dlq", "source", "error", "event_id",
               "key", "size", "reason");
    rf_err_t err = dlq_read(a, NULL, -1, list_one, &json, &eb);
    if (err) {
        rf_cmd_error("dlq", json, err, "%s", eb.msg);
        return 1;
    }
    return 0;
}

/* ---- show ---- */

static void hexdump(const uint8_t *b, size_t n)
{
    if (n > RF_DLQ_SHOW_BYTES_MAX) n = RF_DLQ_SHOW_BYTES_MAX;
    for (size_t i = 0; i < n; i += 16) {
        printf("  %08zx ", i);
        for (size_t j = i; j < i + 16; j++) {
            if (j < n)
                printf(" %02x", b[j]);
            else
                printf("   ");
        }
        printf("  |");
        for (size_t j = i; j < i + 16 && j < n; j++)
            putchar(isprint(b[j]) ? b[j] : '.');
        printf("|\n");
    }
}

static int show_one(const rf_dlq_letter_t *d, void *opaque)
{
    int json = *(int *)opaque;
    rf_errbuf_t eb = {{0}};
    rf_codec_t *c = rf_codec_new(&eb);
    rf_event_t *ev = malloc(sizeof *ev);
    char *line = malloc(RF_JSONL_OUT_MAX);
    rf_err_t derr = c && ev ? rf_codec_decode_event(c, d->payload, d->len, ev, &eb) : RF_ERR_NOMEM;
    size_t ll = 0;
    if (!derr && line && rf_jsonl_format(ev, line, RF_JSONL_OUT_MAX, &ll, &eb) == RF_OK)
        line[ll] = 0;
    else if (line)
        line[0] = 0;
    if (json) {
        json_t *o = json_pack("{s:i,s:I,s:o,s:o,s:s,s:s,s:s,s:s,s:i,s:s}", "partition",
                              (int)d->pos.partition, "offset", (json_int_t)d->pos.offset,
                              "source_partition", header_int(d->src_part), "source_offset",
                              header_int(d->src_off), "error", d->error, "reason", d->reason,
                              "event_id", d->event_id, "decode", derr ? eb.msg : "ok", "bytes",
                              (int)d->len, "event", line ? line : "");
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("dead letter %d:%lld of %s\n  source     refold.events [%s] offset %s\n"
               "  error      %s\n  reason     %s\n  event id   %s\n  key        %.*s\n"
               "  decode now %s\n",
               (int)d->pos.partition, (long long)d->pos.offset, "refold.events.dlq", d->src_part,
               d->src_off, d->error, d->reason, d->event_id[0] ? d->event_id : "-", key_len(d),
               key_str(d),
               derr ? eb.msg : "ok (the event decodes today: a redrive as is may fold it)");
        if (line && line[0]) printf("  as JSON    %s", line);
        printf("  bytes      %zu\n", d->len);
        hexdump(d->payload, d->len);
    }
    free(line);
    free(ev);
    rf_codec_destroy(c);
    return 1;
}

/* "P:O" or "O" (partition 0). */
static int parse_pos(const char *s, dlq_pos_t *p)
{
    char num[32];
    const char *colon = strchr(s, ':');
    int64_t part = 0, off = 0;
    rf_errbuf_t eb;
    if (colon) {
        size_t n = (size_t)(colon - s);
        if (n == 0 || n >= sizeof num) return -1;
        memcpy(num, s, n);
        num[n] = 0;
        if (rf_parse_i64(num, 0, RF_PARTITIONS_MAX - 1, &part, "partition", &eb)) return -1;
        s = colon + 1;
    }
    if (rf_parse_i64(s, 0, INT64_MAX, &off, "offset", &eb)) return -1;
    p->partition = (int32_t)part;
    p->offset = off;
    return 0;
}

static int dlq_show(const dlq_args_t *a, const char *which)
{
    dlq_pos_t p;
    if (parse_pos(which, &p)) {
        rf_cmd_error("dlq show", a->json, RF_ERR_CONFIG,
                     "'%s': want PARTITION:OFFSET (or OFFSET of partition 0)", which);
        return 2;
    }
    rf_errbuf_t eb = {{0}};
    int json = a->json;
    rf_err_t err = dlq_read(a, &p, 1, show_one, &json, &eb);
    if (err) {
        rf_cmd_error("dlq show", a->json, err, "%s", eb.msg);
        return 1;
    }
    return 0;
}

/* ---- redrive ---- */

/* How long the redriven events may take to be acknowledged. */
#define REDRIVE_FLUSH_MS 30000

typedef struct fix {
    char event_id[RF_UUID_STR_LEN + 1];
    char program[RF_ID_BUF];
    uint8_t *bytes;
    size_t len;
    bool used;
} fix_t;

typedef struct redrive {
    const dlq_args_t *a;
    rf_dlq_redriver_t *rd; /* NULL: dry run */
    fix_t *fixes;
    int nfixes;
    uint64_t skipped;
    rf_err_t err;
    rf_errbuf_t *eb;
} redrive_t;

/* Reads the fixed events: each encoded now, keyed by event id. */
static rf_err_t load_fixes(redrive_t *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return rf_errf(r->eb, RF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    rf_jsonl_reader_t *rd = malloc(sizeof *rd);
    rf_event_t *ev = malloc(sizeof *ev);
    rf_codec_t *c = rf_codec_new(r->eb);
    uint8_t *buf = malloc(RF_EVENT_BYTES_MAX);
    r->fixes = calloc(RF_DLQ_REDRIVE_MAX, sizeof *r->fixes);
    rf_err_t err =
        rd && ev && c && buf && r->fixes ? RF_OK : rf_errf(r->eb, RF_ERR_NOMEM, "out of memory");
    if (!err) rf_jsonl_reader_init(rd, f);
    while (!err) {
        err = rf_jsonl_read(rd, ev, r->eb);
        if (err == RF_ERR_NOT_FOUND) {
            err = RF_OK;
            break;
        }
        size_t n = 0;
        if (!err && r->nfixes == RF_DLQ_REDRIVE_MAX)
            err = rf_errf(r->eb, RF_ERR_OVERSIZE, "more than %d fixed events", RF_DLQ_REDRIVE_MAX);
        if (!err)
            err = rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, buf, RF_EVENT_BYTES_MAX, &n,
                                        r->eb);
        if (err) break;
        fix_t *fx = &r->fixes[r->nfixes++];
        memcpy(fx->event_id, ev->event_id, sizeof fx->event_id);
        memcpy(fx->program, ev->program_id, sizeof fx->program);
        if (!(fx->bytes = malloc(n)))
            err = rf_errf(r->eb, RF_ERR_NOMEM, "out of memory");
        else
            memcpy(fx->bytes, buf, n), fx->len = n;
    }
    if (err && r->eb->msg[0] && !strstr(r->eb->msg, path)) {
        char m[RF_ERRMSG_MAX];
        memcpy(m, r->eb->msg, sizeof m);
        rf_errf(r->eb, err, "'%.64s': %.180s", path, m);
    }
    fclose(f);
    free(rd);
    free(ev);
    free(buf);
    rf_codec_destroy(c);
    return err;
}

static void on_delivery(const rf_dlq_delivery_t *d, void *opaque)
{
    redrive_t *r = opaque;
    if (d->err)
        fprintf(stderr, "refold dlq redrive: delivery failed: %s\n", d->errmsg);
    else if (!r->a->json)
        printf("  -> %s [%d] offset %lld\n", r->a->topic_events, (int)d->partition,
               (long long)d->offset);
}

/* The fix for a dead letter: by event id, or the only fix for the only
 * selected dead letter (an undecodable one has no event id). */
static fix_t *fix_for(redrive_t *r, const rf_dlq_letter_t *d)
{
    for (int i = 0; i < r->nfixes; i++)
        if (d->event_id[0] && !strcmp(r->fixes[i].event_id, d->event_id)) return &r->fixes[i];
    if (r->nfixes == 1 && r->a->npos == 1 && !d->event_id[0]) return &r->fixes[0];
    return NULL;
}

static int redrive_one(const rf_dlq_letter_t *d, void *opaque)
{
    redrive_t *r = opaque;
    const void *key = d->key, *val = d->payload;
    size_t klen = d->key_len, vlen = d->len;
    const char *what = "original bytes";
    if (r->a->fix_from) {
        fix_t *fx = fix_for(r, d);
        if (!fx) {
            r->skipped++;
            fprintf(stderr,
                    "refold dlq redrive: %d:%lld (event %s): no fixed event in '%s'; skipped\n",
                    (int)d->pos.partition, (long long)d->pos.offset,
                    d->event_id[0] ? d->event_id : "-", r->a->fix_from);
            return 0;
        }
        fx->used = true;
        key = fx->program, klen = strlen(fx->program); /* key = program id, as every event */
        val = fx->bytes, vlen = fx->len;
        what = "fixed event";
    }
    if (!r->a->json)
        printf("redrive dlq %d:%lld (%s, %s): %s%s\n", (int)d->pos.partition,
               (long long)d->pos.offset, d->error, d->event_id[0] ? d->event_id : "-", what,
               r->a->dry_run ? " [dry run]" : "");
    if (r->a->dry_run) return 0;
    r->err = rf_dlq_redrive(r->rd, &d->pos, key, klen, val, vlen, r->eb);
    return r->err != RF_OK;
}

static int redrive_finish(redrive_t *r)
{
    if (r->rd) {
        rf_err_t err = rf_dlq_redriver_flush(r->rd, REDRIVE_FLUSH_MS, r->err ? NULL : r->eb);
        if (err && !r->err) r->err = err;
    }
    for (int i = 0; i < r->nfixes; i++)
        if (!r->fixes[i].used)
            fprintf(stderr,
                    "refold dlq redrive: fixed event %s matches no selected dead letter; "
                    "not published\n",
                    r->fixes[i].event_id);
    rf_dlq_counts_t n = rf_dlq_redriver_counts(r->rd);
    if (r->a->json) {
        json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:b}", "queued", (json_int_t)n.queued, "delivered",
                              (json_int_t)n.delivered, "failed", (json_int_t)n.failed, "skipped",
                              (json_int_t)r->skipped, "dry_run", r->a->dry_run);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%llu redriven, %llu delivered, %llu failed, %llu skipped\n",
               (unsigned long long)n.queued, (unsigned long long)n.delivered,
               (unsigned long long)n.failed, (unsigned long long)r->skipped);
    }
    if (r->err) fprintf(stderr, "refold dlq redrive: %s\n", r->eb->msg);
    return r->err || n.failed || r->skipped ? 1 : 0;
}

static int dlq_redrive(const dlq_args_t *a)
{
    if (!a->all && a->npos == 0) {
        fprintf(stderr, "refold dlq redrive: choose dead letters (--partition P --offset O ...) "
                        "or --all\n");
        return 2;
    }
    rf_errbuf_t eb = {{0}};
    redrive_t r = {.a = a, .err = RF_OK, .eb = &eb};
    if (a->fix_from) r.err = load_fixes(&r, a->fix_from);
    if (!r.err && !a->dry_run &&
        !(r.rd = rf_dlq_redriver_new(&a->kafka, a->topic_events, on_delivery, &r, &eb)))
        r.err = RF_ERR_KAFKA;
    if (!r.err) {
        rf_err_t err = dlq_read(a, a->pos, a->all ? -1 : a->npos, redrive_one, &r, &eb);
        if (err && !r.err) r.err = err;
    }
    int rc = redrive_finish(&r);
    rf_dlq_redriver_destroy(r.rd);
    for (int i = 0; i < r.nfixes; i++)
        free(r.fixes[i].bytes);
    free(r.fixes);
    return rc;
}

/* ---- the command ---- */

static const char dlq_desc[] =
    "Dead letters are the messages of refold.events the fold could not decode or\n"
    "place (headers refold.reason, refold.error, refold.partition, refold.offset,\n"
    "refold.event_id). PARTITION:OFFSET address a dead letter in refold.events.dlq.\n"
    "redrive republishes the chosen ones to refold.events with the program id as key:\n"
    "the original bytes, or with --fix-from the event of the JSON lines file with the\n"
    "same event_id (keep the event id: it is what makes a second redrive a duplicate).\n"
    "See docs/operations.md, \"Dead letters\".";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: refold dlq list --brokers B [-X k=v]... [--json]\n"
            "       refold dlq show PARTITION:OFFSET --brokers B [--json]\n"
            "       refold dlq redrive --brokers B (--partition P --offset O [--offset O2]... | "
            "--all)\n"
            "                          [--fix-from FILE.jsonl] [--dry-run] [--json]\n"
            "       options: [--dlq-topic T] [--events-topic T]\n\n"
            "%s\n",
            dlq_desc);
}

/* --partition P then --offset O...: each offset is in the last partition given. */
typedef struct dlq_pos_opt {
    dlq_args_t *a;
    int32_t part;
} dlq_pos_opt_t;

static rf_err_t opt_partition(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    dlq_pos_opt_t *po = opt->value;
    dlq_pos_t p;
    if (parse_pos(arg, &p) || p.offset >= RF_PARTITIONS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "bad --partition '%s'", arg);
    po->part = (int32_t)p.offset;
    return RF_OK;
}

static rf_err_t opt_offset(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    dlq_pos_opt_t *po = opt->value;
    dlq_pos_t p;
    if (parse_pos(arg, &p)) return rf_errf(eb, RF_ERR_CONFIG, "bad --offset '%s'", arg);
    if (po->a->npos == RF_DLQ_REDRIVE_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "more than %d offsets", RF_DLQ_REDRIVE_MAX);
    po->a->pos[po->a->npos].partition = po->part;
    po->a->pos[po->a->npos++].offset = p.offset;
    return RF_OK;
}

/* Parses the options of subcommand sub (argv[0]); returns the number of
 * positional arguments (in argv[1..]), or -1 - the exit status. */
static int parse_args(const char *sub, int argc, char **argv, dlq_args_t *a)
{
    bool redrive = !strcmp(sub, "redrive"), show = !strcmp(sub, "show");
    dlq_pos_opt_t po = {a, 0};
    enum { NREDRIVE = 5 }; /* redrive's own options come first, then everyone's */
    const rf_opt_t opts[] = {
        RF_OPT_CALLBACK('p', "partition", &po, "P", opt_partition,
                        "the partition of the --offset options after it", .def = "0"),
        RF_OPT_CALLBACK('o', "offset", &po, "O", opt_offset,
                        "a dead letter to redrive (repeatable)"),
        RF_OPT_FLAG('a', "all", &a->all, "redrive every dead letter"),
        RF_OPT_STR('F', "fix-from", &a->fix_from, "FILE.jsonl",
                   "republish the event of FILE with the same event_id"),
        RF_OPT_FLAG('n', "dry-run", &a->dry_run, "print what would be redriven; publish nothing"),
        RF_OPT_STR('b', "brokers", &a->kafka.brokers, "B", "Kafka bootstrap servers",
                   .flags = RF_OPT_REQUIRED),
        RF_CMD_OPT_X(&a->kafka),
        RF_OPT_STR('D', "dlq-topic", &a->topic_dlq, "T", "dead letter topic"),
        RF_OPT_STR('E', "events-topic", &a->topic_events, "T", "events topic"),
        RF_OPT_FLAG('j', "json", &a->json, "print JSON"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    RF_ASSERT(opts[NREDRIVE].long_name && !strcmp(opts[NREDRIVE].long_name, "brokers"));
    char name[32];
    snprintf(name, sizeof name, "dlq %s", sub);
    const rf_opt_cmd_t cmd = {
        name,
        redrive ? "refold dlq redrive --brokers B (--partition P --offset O [--offset O2]... | "
                  "--all)\n"
                  "                          [--fix-from FILE.jsonl] [--dry-run] [--json]\n"
                  "       options: [-X k=v]... [--dlq-topic T] [--events-topic T]"
        : show  ? "refold dlq show PARTITION:OFFSET --brokers B [--json]\n"
                  "       options: [-X k=v]... [--dlq-topic T] [--events-topic T]"
                : "refold dlq list --brokers B [-X k=v]... [--json]\n"
                  "       options: [--dlq-topic T] [--events-topic T]",
        dlq_desc,
        redrive ? opts : opts + NREDRIVE,
        show ? 1 : 0,
        .notes = {rf_kafka_forced_help(RF_KAFKA_DLQ_READER),
                  redrive ? rf_kafka_forced_help(RF_KAFKA_REDRIVE_PRODUCER) : NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return -1 - rf_opt_status(n);
    if (show && n != 1) return -1 - rf_opt_error(&cmd, "give one PARTITION:OFFSET");
    return n;
}

int rf_cmd_dlq(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "redrive")) {
        if (*sub)
            fprintf(stderr, "refold dlq: unknown subcommand '%s' (list, show, redrive)\n", sub);
        usage(stderr);
        return 2;
    }
    dlq_args_t a;
    memset(&a, 0, sizeof a);
    a.topic_dlq = RF_TOPIC_DLQ;
    a.topic_events = RF_TOPIC_EVENTS;
    if (!(a.pos = calloc(RF_DLQ_REDRIVE_MAX, sizeof *a.pos))) return 1;
    int n = parse_args(sub, argc - 1, argv + 1, &a), rc;
    if (n < 0)
        rc = -1 - n;
    else if (!strcmp(sub, "list"))
        rc = dlq_list(&a);
    else if (!strcmp(sub, "show"))
        rc = dlq_show(&a, argv[2]);
    else
        rc = dlq_redrive(&a);
    free(a.pos);
    return rc;
}
