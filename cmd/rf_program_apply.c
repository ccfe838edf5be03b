/* rf_program_apply.c: `refold program apply`: validates a rules file and
 * publishes it as a ProgramConfigured event, optionally waiting for the fold
 * to accept it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_codec.h"
#include "rf_jsonl.h"
#include "rf_ledger.h"
#include "rf_producer.h"
#include "rf_program_int.h"
#include "rf_rules.h"

#define PA "refold program apply: "

/* ---- apply ----------------------------------------------------------------- */

typedef struct apply_opts {
    rf_kafka_opts_t kafka;
    const char *file, *program, *data, *topic;
    int32_t version; /* 0: from --data */
    int wait_s;      /* --wait: 0 = do not wait for the fold */
    bool dry_run, json;
} apply_opts_t;

typedef struct apply_dr {
    bool got;
    rf_err_t err;
    int32_t partition;
    int64_t offset;
    char errmsg[RF_ERRMSG_MAX];
} apply_dr_t;

/* Returns -1 to go on, or the exit status. */
static int apply_parse(apply_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->topic = RF_TOPIC_EVENTS;
    int version = 0, wait_s = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "program", &o->program, "ID", "the program", .flags = RF_OPT_REQUIRED),
        RF_OPT_INT_RANGE(0, "version", &version, 1, INT32_MAX, "N", "the version to publish",
                         .def = "the live version + 1, from --data"),
        RF_OPT_STR(0, "data", &o->data, "DIR",
                   "the fold's data directory: without --version, publish the\n"
                   "live version + 1 (1 for a program no ledger knows); with\n"
                   "it, refuse a version the fold would reject as not greater;\n"
                   "print what it changes from the live version (stderr)"),
        RF_OPT_STR(0, "brokers", &o->kafka.brokers, "HOST:PORT",
                   "Kafka bootstrap servers (required unless --dry-run)"),
        RF_CMD_OPT_X(&o->kafka),
        RF_OPT_STR(0, "topic", &o->topic, "T", "topic"),
        RF_OPT_BOOL(0, "dry-run", &o->dry_run,
                    "print the event as a JSON line ('refold emit' input);\n"
                    "publish nothing"),
        RF_OPT_INT_RANGE(0, "wait", &wait_s, 1, RF_PROGRAM_WAIT_MAX_S, "S",
                         "with --data: wait up to S seconds for the fold to reach\n"
                         "the event and print its verdict (accepted, or rejected\n"
                         "and why); exit status 1 unless accepted",
                         .def = "do not wait"),
        RF_OPT_BOOL(0, "json", &o->json,
                    "one object: {program, version, topic, partition, offset,\n"
                    "event_id} (--wait: and fold, reason)"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "program apply",
        "refold program apply FILE --program ID [--version N] [--data DIR]\n"
        "                            [--brokers HOST:PORT] [-X name=value]... [--topic T]\n"
        "                            [--dry-run] [--wait S] [--json]",
        "Validates the rules file FILE (as 'refold program validate' does), then\n"
        "publishes one ProgramConfigured event for program ID (key = ID, the framing\n"
        "of 'refold emit') and waits for the broker's delivery report. Prints the\n"
        "program, version, partition and offset. The fold applies the rules to every\n"
        "event of the program after this one, if N is greater than the live version.",
        opts,
        -1,
        .notes = {rf_kafka_forced_help(RF_KAFKA_EVENTS_PRODUCER)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    o->version = (int32_t)version;
    o->wait_s = wait_s;
    if (n != 1) {
        rf_cmd_error("program apply", o->json, RF_ERR_CONFIG, "give exactly one rules file");
        return 2;
    }
    o->file = argv[1];
    if (!o->dry_run && !o->kafka.brokers) {
        rf_cmd_error("program apply", o->json, RF_ERR_CONFIG,
                     "no brokers given (use --brokers host:port, or --dry-run)");
        return 2;
    }
    if (o->wait_s && !o->data) {
        rf_cmd_error("program apply", o->json, RF_ERR_CONFIG,
                     "--wait needs --data (the fold's data directory)");
        return 2;
    }
    if (!o->version && !o->data) {
        rf_cmd_error("program apply", o->json, RF_ERR_CONFIG,
                     "no version: give --version N, or --data DIR to publish the live "
                     "version + 1");
        return 2;
    }
    return -1;
}

/* Flattens compiled rules into out: {"caps.period": "year", "tiers[0].min_referrals": 5,
 * ...}. Recursion is as deep as the compiled rules' fixed shape (4 levels). */
static void flatten(json_t *v, const char *path, json_t *out)
{
    char sub[128];
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, key, x)
        {
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
            flatten(x, sub, out);
        }
    } else if (json_is_array(v)) { /* an empty one adds nothing: none either way */
        json_array_foreach(v, i, x)
        {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            flatten(x, sub, out);
        }
    } else {
        json_object_set(out, path, v);
    }
}

/* The compiled rules of rules_json, flattened; NULL if they do not compile. */
static json_t *flat_rules(const char *rules_json)
{
    char *eff = NULL;
    rf_errbuf_t eb = {{0}};
    if (rf_rules_effective_json(rules_json, &eff, &eb) != RF_OK) return NULL;
    json_t *root = json_loads(eff, 0, NULL), *out = json_object();
    free(eff);
    if (root && out) flatten(root, "", out);
    json_decref(root);
    return out;
}

static void print_change(const char *path, json_t *from, json_t *to)
{
    char *a = from ? json_dumps(from, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *b = to ? json_dumps(to, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    fprintf(stderr, "  %s: %s -> %s\n", path, a ? a : "(none)", b ? b : "(none)");
    free(a);
    free(b);
}

/* What publishing rules changes, as the fold compiles them (so a default
 * written out, or keys reordered, is no change), on stderr. */
static void print_changes(const char *live_rules, int32_t live_version, const char *rules)
{
    json_t *from = flat_rules(live_rules), *to = flat_rules(rules);
    const char *path;
    json_t *v;
    int n = 0;
    if (from && to) {
        json_object_foreach(from, path, v)
        {
            json_t *w = json_object_get(to, path);
            if (w && json_equal(v, w)) continue;
            if (!n++) fprintf(stderr, PA "changes from the live version %d:\n", (int)live_version);
            print_change(path, v, w);
        }
        json_object_foreach(to, path, v)
        {
            if (json_object_get(from, path)) continue;
            if (!n++) fprintf(stderr, PA "changes from the live version %d:\n", (int)live_version);
            print_change(path, NULL, v);
        }
        if (!n) fprintf(stderr, PA "note: no change from the live version %d\n", (int)live_version);
    }
    json_decref(from);
    json_decref(to);
}

/* The version to publish: --version, or the live one + 1 from --data, which
 * also refuses a --version the fold would reject. lv gets what was found. */
static int apply_version(const apply_opts_t *o, const char *rules, rf_program_live_t *lv,
                         int32_t *version)
{
    *version = o->version;
    if (!o->data) return -1;
    rf_errbuf_t eb = {{0}};
    if (rf__program_find_live(o->data, o->program, lv, &eb) != RF_OK) {
        rf_cmd_error("program apply", o->json, RF_ERR_NOT_FOUND, "%s (%s)", eb.msg,
                     o->version ? "leave out --data to publish --version unchecked"
                                : "give --version to publish anyway");
        return 1;
    }
    int32_t cur = lv->found ? lv->version : 0;
    if (o->version && o->version <= cur) {
        rf_cmd_error("program apply", o->json, RF_ERR_CONFLICT,
                     "version %d is not greater than the live version %d of program "
                     "'%s': the fold would reject it",
                     (int)o->version, (int)cur, o->program);
        return 1;
    }
    if (!o->version && cur == INT32_MAX) {
        rf_cmd_error("program apply", o->json, RF_ERR_CONFLICT,
                     "program '%s' is at the last version %d", o->program, (int)cur);
        return 1;
    }
    if (!o->version) *version = cur + 1;
    if (lv->found)
        fprintf(stderr, PA "program '%s' is live at version %d (partition %d): taking version %d\n",
                o->program, (int)cur, (int)lv->partition, (int)*version);
    else
        fprintf(stderr,
                PA "program '%s' has no rules in the fold ledgers under '%s': "
                   "taking version %d\n",
                o->program, o->data, (int)*version);
    if (lv->found) print_changes(lv->rules, cur, rules);
    return -1;
}

static void apply_on_delivery(const rf_delivery_t *d, void *opaque)
{
    apply_dr_t *r = opaque;
    r->got = true;
    r->err = d->err;
    r->partition = d->partition;
    r->offset = d->offset;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", d->errmsg ? d->errmsg : "");
}

static rf_producer_t *apply_producer(const apply_opts_t *o, apply_dr_t *r)
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka = o->kafka;
    pc.topic = o->topic;
    pc.on_delivery = apply_on_delivery;
    pc.opaque = r;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&pc, &eb);
    if (!p) rf_cmd_error("program apply", o->json, RF_ERR_KAFKA, "%s", eb.msg);
    return p;
}

/* The topic's partition count from the broker, or -1 with the reason. */
static int topic_partitions(rf_producer_t *p, const char *topic, rf_errbuf_t *eb)
{
    rd_kafka_t *rk = rf_producer_kafka(p);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, RF_PROGRAM_METADATA_WAIT_MS)
                                : rd_kafka_last_error();
    if (!e && (md->topic_cnt != 1 || md->topics[0].err))
        e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    int n = e ? -1 : md->topics[0].partition_cnt;
    if (e)
        rf_errf(eb, RF_ERR_KAFKA, "cannot read the partitions of '%s': %s", topic,
                rd_kafka_err2str(e));
    if (md) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    return n;
}

/* A program that no ledger under --data knows is new only if the directory
 * holds a ledger for every partition of the topic: else its partition may be
 * folded elsewhere (another worker's data directory) and version 1 would be
 * rejected there. Returns -1 to go on, or the exit status. */
static int apply_check_cover(const apply_opts_t *o, rf_producer_t *p, const rf_program_live_t *lv)
{
    if (o->version || lv->found) return -1;
    rf_errbuf_t eb = {{0}};
    int n = topic_partitions(p, o->topic, &eb);
    if (n < 0) {
        rf_cmd_error("program apply", o->json, RF_ERR_KAFKA,
                     "%s (give --version to publish anyway)", eb.msg);
        return 1;
    }
    int covered = 0;
    for (int i = 0; i < lv->nledgers; i++)
        covered += lv->parts[i] < n;
    if (covered == n) return -1;
    rf_cmd_error("program apply", o->json, RF_ERR_NOT_FOUND,
                 "program '%s' is in no fold ledger under '%s', which has %d of the %d "
                 "partitions of %s: its partition may be folded elsewhere; give --version",
                 o->program, o->data, covered, n, o->topic);
    return 1;
}

/* Publishes ev and waits for its delivery report (as `refold emit` does, at
 * most RF_PRODUCER_RETRY_MAX x 1 s: librdkafka's message.timeout.ms). */
static int apply_publish(const apply_opts_t *o, rf_producer_t *p, const rf_event_t *ev,
                         apply_dr_t *r)
{
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_ERR_RETRY;
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX && err == RF_ERR_RETRY; i++)
        err = rf_producer_emit(p, ev, NULL, &eb);
    if (!err) err = RF_ERR_TIMEOUT;
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX && err == RF_ERR_TIMEOUT && !r->got; i++)
        err = rf_producer_flush(p, 1000, &eb);
    if (!r->got) {
        rf_cmd_error("program apply", o->json, RF_ERR_KAFKA, "%s",
                     eb.msg[0] ? eb.msg : "no delivery report");
        return 1;
    }
    if (r->err) {
        rf_cmd_error("program apply", o->json, RF_ERR_KAFKA,
                     "program '%s' version %d not delivered: %s", ev->program_id, (int)ev->version,
                     r->errmsg);
        return 1;
    }
    RF_ASSERT(r->partition >= 0 && r->offset >= 0);
    return 0;
}

/* After publishing with --data: events of the partition the fold has not
 * folded yet may configure the program too, which the version above did not
 * see. Warns, since the fold would then reject this version. */
static void apply_check_lag(const apply_opts_t *o, const apply_dr_t *r)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(o->data, r->partition, RF_LEDGER_READONLY, &eb);
    int64_t next = l ? rf_ledger_next_offset(l) : -1;
    rf_ledger_close(l);
    if (!l)
        fprintf(stderr,
                PA "warning: no fold ledger for partition %d under '%s': the version "
                   "was chosen without it\n",
                (int)r->partition, o->data);
    else if (next < r->offset)
        fprintf(stderr,
                PA "warning: the fold of partition %d is behind this event (next offset "
                   "%" PRId64 ", event at %" PRId64 "); should an unfolded event "
                   "configure '%s', this version is rejected: check with 'refold "
                   "program show'\n",
                (int)r->partition, next, r->offset, o->program);
}

/* The fold's verdict on the published event (--wait). */
typedef enum verdict {
    V_NONE = 0,     /* not waited for */
    V_ACCEPTED,     /* a program_configured record: the version is live */
    V_REJECTED,     /* a rejected record: reason */
    V_NOT_RECORDED, /* folded without a record of it (duplicate or dead letter) */
    V_TIMEOUT,      /* the fold did not reach it in time */
    V_ERROR,        /* the ledger could not be read */
} verdict_t;

static const char *const verdict_names[] = {"",        "accepted", "rejected", "not_recorded",
                                            "timeout", "error"};

static void apply_print(const apply_opts_t *o, const rf_event_t *ev, const apply_dr_t *r,
                        verdict_t v, const char *reason)
{
    RF_ASSERT(v <= V_ERROR);
    if (o->json) {
        json_t *j =
            json_pack("{s:s, s:i, s:s, s:i, s:I, s:s}", "program", ev->program_id, "version",
                      (int)ev->version, "topic", o->topic, "partition", (int)r->partition, "offset",
                      (json_int_t)r->offset, "event_id", ev->event_id);
        if (v) json_object_set_new(j, "fold", json_string(verdict_names[v]));
        if (v && reason[0]) json_object_set_new(j, "reason", json_string(reason));
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(j);
        return;
    }
    if (!v) {
        printf(
            "program %s version %d: published to %s partition %d offset %" PRId64 " (event %s)\n",
            ev->program_id, (int)ev->version, o->topic, (int)r->partition, r->offset, ev->event_id);
        fflush(stdout); /* before a --wait */
        return;
    }
    printf("program %s version %d: %s%s%s\n", ev->program_id, (int)ev->version,
           v == V_ACCEPTED   ? "accepted by the fold: live"
           : v == V_REJECTED ? "REJECTED by the fold"
                             : "no verdict",
           reason[0] ? ": " : "", reason);
}

/* The first record of offset or after (a ledger's records are in offset
 * order): a binary search over seq, at most 64 reads. */
static rf_err_t first_at(rf_ledger_t *l, uint64_t head_seq, int64_t offset, rf_record_t *rec,
                         uint64_t *seq, rf_errbuf_t *eb)
{
    uint64_t lo = 1, hi = head_seq + 1; /* the answer is in [lo, hi]; head_seq + 1: none */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        rf_err_t err = rf_ledger_get_record(l, mid, rec, eb);
        if (err) return err;
        if (rec->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > head_seq) return RF_ERR_NOT_FOUND;
    *seq = lo;
    return rf_ledger_get_record(l, lo, rec, eb);
}

/* The fold's record of the ProgramConfigured folded at offset (maturity
 * records of the same offset may come first). */
static verdict_t fold_verdict(rf_ledger_t *l, const char *program, int64_t offset, rf_record_t *rec,
                              char *reason, size_t cap)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_head_t h;
    uint64_t seq = 0;
    rf_err_t err = rf_ledger_head(l, &h, &eb);
    if (!err) err = first_at(l, h.seq, offset, rec, &seq, &eb);
    for (int i = 0; !err && rec->offset == offset && i < RF_RECORDS_PER_EVENT_MAX; i++) {
        bool mine = !strcmp(rec->program_id, program);
        if (mine && !strcmp(rec->kind, RF_KIND_PROGRAM)) return V_ACCEPTED;
        if (mine && !strcmp(rec->kind, RF_KIND_REJECTED)) {
            const char *why = rf_record_get_fact(rec, RF_FACT_REASON);
            snprintf(reason, cap, "%s", why ? why : "");
            return V_REJECTED;
        }
        if (++seq > h.seq) break;
        err = rf_ledger_get_record(l, seq, rec, &eb);
    }
    if (err && err != RF_ERR_NOT_FOUND) snprintf(reason, cap, "%s", eb.msg);
    return err && err != RF_ERR_NOT_FOUND ? V_ERROR : V_NOT_RECORDED;
}

/* Waits (--wait) until the partition's fold ledger passed the event, then
 * reads the fold's verdict on it. */
static verdict_t apply_wait(const apply_opts_t *o, const rf_event_t *ev, const apply_dr_t *r,
                            char *reason, size_t cap)
{
    rf_record_t *rec = malloc(sizeof *rec);
    if (!rec) return V_ERROR;
    verdict_t v = V_TIMEOUT;
    long polls = (long)o->wait_s * 1000 / RF_PROGRAM_WAIT_POLL_MS;
    for (long i = 0; i <= polls && v == V_TIMEOUT; i++) {
        if (i) {
            struct timespec ts = {0, RF_PROGRAM_WAIT_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        rf_errbuf_t eb = {{0}};
        rf_ledger_t *l = rf_ledger_open(o->data, r->partition, RF_LEDGER_READONLY, &eb);
        if (l && rf_ledger_next_offset(l) > r->offset)
            v = fold_verdict(l, ev->program_id, r->offset, rec, reason, cap);
        rf_ledger_close(l);
    }
    if (v == V_TIMEOUT)
        snprintf(reason, cap, "the fold of partition %d did not reach offset %" PRId64 " in %d s",
                 (int)r->partition, r->offset, o->wait_s);
    if (v == V_NOT_RECORDED)
        snprintf(reason, cap, "folded without a record of it: see 'refold dlq list'");
    free(rec);
    return v;
}

/* Builds the event and checks it encodes (size included) before anything is
 * sent or printed. */
static rf_err_t apply_event(const apply_opts_t *o, const char *rules, int32_t version,
                            rf_event_t *ev, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_program_configured(ev, o->program, version, rules, eb);
    if (err) return err;
    const char *base = strrchr(o->file, '/');
    snprintf(ev->source, sizeof ev->source, "refold program apply %s", base ? base + 1 : o->file);
    rf_codec_t *codec = rf_codec_new(eb);
    if (!codec) return RF_ERR_NOMEM;
    static uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t len = 0;
    err = rf_codec_encode_event(codec, ev, RF_SCHEMA_ID_EVENT, buf, sizeof buf, &len, eb);
    rf_codec_destroy(codec);
    return err;
}

static int apply_run(const apply_opts_t *o, char *rules, rf_program_live_t *lv, rf_event_t *ev)
{
    rf_errbuf_t eb = {{0}};
    if (rf__program_load_rules(o->file, rules, &eb) != RF_OK) {
        rf_cmd_error("program apply", o->json, RF_ERR_BAD_INPUT, "%s: %s", o->file, eb.msg);
        return 1;
    }
    int32_t version = 0;
    int rc = apply_version(o, rules, lv, &version);
    if (rc >= 0) return rc;
    if (apply_event(o, rules, version, ev, &eb) != RF_OK) {
        rf_cmd_error("program apply", o->json, RF_ERR_BAD_INPUT, "%s", eb.msg);
        return 1;
    }
    if (o->dry_run) return rf_jsonl_write(stdout, ev, &eb) == RF_OK ? 0 : 1;
    apply_dr_t r = {0};
    rf_producer_t *p = apply_producer(o, &r);
    if (!p) return 1;
    rc = o->data ? apply_check_cover(o, p, lv) : -1;
    if (rc < 0) rc = apply_publish(o, p, ev, &r);
    rf_producer_destroy(p);
    if (rc) return rc;
    if (!o->json || !o->wait_s) apply_print(o, ev, &r, V_NONE, "");
    if (!o->wait_s) {
        if (o->data) apply_check_lag(o, &r);
        return 0;
    }
    char reason[RF_ERRMSG_MAX] = "";
    verdict_t v = apply_wait(o, ev, &r, reason, sizeof reason);
    apply_print(o, ev, &r, v, reason);
    return v == V_ACCEPTED ? 0 : 1;
}

int rf__program_apply(int argc, char **argv)
{
    apply_opts_t o;
    int rc = apply_parse(&o, argc, argv);
    if (rc >= 0) return rc;
    /* about 50 KiB of buffers: on the heap, not the stack */
    char *rules = malloc(RF_RULES_MAX + 1);
    rf_program_live_t *lv = malloc(sizeof *lv);
    rf_event_t *ev = malloc(sizeof *ev);
    if (!rules || !lv || !ev) {
        rf_cmd_error("program apply", o.json, RF_ERR_NOMEM, "out of memory");
        rc = 1;
    } else {
        rc = apply_run(&o, rules, lv, ev);
    }
    free(rules);
    free(lv);
    free(ev);
    return rc;
}
