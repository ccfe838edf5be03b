/* rf_emit.c: `refold emit`: publish events from JSON lines, each line
 * validated in full before it is sent; by default nothing after a bad line. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_kafka.h"
#include "rf_cmd_opt.h"
#include "rf_codec.h"
#include "rf_commands.h"
#include "rf_jsonl.h"
#include "rf_producer.h"

typedef struct emit_opts {
    rf_kafka_opts_t kafka;
    const char *file; /* NULL or "-" = stdin */
    const char *topic;
    bool skip_invalid, dry_run;
} emit_opts_t;

static bool emit_json; /* --json: the summary and the errors as JSON */

typedef struct emit_counts {
    uint64_t valid, invalid, failed_reports;
} emit_counts_t;

static volatile sig_atomic_t emit_interrupted;
static void emit_on_signal(int sig)
{
    (void)sig;
    emit_interrupted = 1;
}

/* Returns -1 to go on, or the exit status. */
static int emit_parse(emit_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->topic = RF_TOPIC_EVENTS;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "brokers", &o->kafka.brokers, "HOST:PORT",
                   "Kafka bootstrap servers (required unless --dry-run)"),
        RF_CMD_OPT_X(&o->kafka),
        RF_OPT_STR(0, "file", &o->file, "F", "read F instead of stdin ('-' = stdin)"),
        RF_OPT_STR(0, "topic", &o->topic, "T", "topic"),
        RF_OPT_BOOL(0, "skip-invalid", &o->skip_invalid,
                    "report bad lines, skip them and go on (exit 0 if the\n"
                    "rest was delivered)"),
        RF_OPT_BOOL(0, "dry-run", &o->dry_run, "validate and encode only; publish nothing"),
        RF_OPT_BOOL(0, "json", &emit_json,
                    "the summary as one JSON object on stdout, each error as\n"
                    "{\"error\":{\"code\",\"message\"}} on stderr"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "emit",
        "refold emit [--brokers HOST:PORT] [-X name=value]... [--file F|-]\n"
        "                   [--topic T] [--skip-invalid] [--dry-run] [--json]",
        "Publishes refold events from JSON lines (one object per line; format in\n"
        "docs/producing.md) to Kafka with key = program id. Each line is validated in\n"
        "full before it is sent. A bad line is reported as 'line N: ...' naming the\n"
        "field; by default nothing after it is sent (lines before it were) and the exit\n"
        "status is 1. Prints 'sent N, delivered N, failed N, invalid N'; any undelivered\n"
        "event makes the exit status 1.",
        opts,
        0,
        .notes = {rf_kafka_forced_help(RF_KAFKA_EVENTS_PRODUCER)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (!o->dry_run && !o->kafka.brokers) {
        rf_cmd_error("emit", emit_json, RF_ERR_CONFIG,
                     "no brokers given (use --brokers host:port, or --dry-run)");
        return 2;
    }
    return -1;
}

static void emit_on_delivery(const rf_delivery_t *d, void *opaque)
{
    emit_counts_t *n = opaque;
    if (d->err == RF_OK) return;
    /* Every failure is reported, but not a flood when the broker is gone. */
    if (n->failed_reports++ < 100)
        rf_cmd_error("emit", emit_json, d->err, "line %ld: event %s not delivered: %s",
                     (long)(intptr_t)d->msg_opaque, d->event_id, d->errmsg);
}

/* Sends one parsed event (in a dry run: encodes it only). Bad-input codes
 * mean the line is invalid; others are fatal for the run. */
static rf_err_t emit_one(rf_producer_t *p, rf_codec_t *codec, const rf_event_t *ev, long lineno,
                         rf_errbuf_t *eb)
{
    rf_err_t err = RF_OK;
    if (!p) {
        static uint8_t buf[RF_EVENT_BYTES_MAX];
        size_t len = 0;
        return rf_codec_encode_event(codec, ev, RF_SCHEMA_ID_EVENT, buf, sizeof buf, &len, eb);
    }
    for (int tries = 0; tries < RF_PRODUCER_RETRY_MAX; tries++) {
        err = rf_producer_emit(p, ev, (void *)(intptr_t)lineno, eb);
        if (err != RF_ERR_RETRY) break;
    }
    return err;
}

/* Reads and sends line by line. Returns 0, or 1 when it stopped early
 * (bad line without --skip-invalid, read error, fatal producer error). */
static int emit_lines(const emit_opts_t *o, FILE *in, rf_producer_t *p, rf_codec_t *codec,
                      emit_counts_t *n)
{
    rf_jsonl_reader_t *r = malloc(sizeof *r);
    rf_event_t *ev = malloc(sizeof *ev);
    int status = 0;
    if (!r || !ev) {
        rf_cmd_error("emit", emit_json, RF_ERR_NOMEM, "out of memory");
        status = 1;
    } else {
        rf_jsonl_reader_init(r, in);
    }
    while (status == 0 && !emit_interrupted) {
        rf_errbuf_t eb = {{0}}, leb = {{0}};
        rf_err_t err = rf_jsonl_read(r, ev, &eb);
        if (err == RF_ERR_NOT_FOUND) break;
        if (err == RF_OK && (err = emit_one(p, codec, ev, r->lineno, &leb)) != RF_OK)
            rf_errf(&eb, err, "line %ld: %s", r->lineno, leb.msg);
        if (err == RF_OK) {
            n->valid++;
            continue;
        }
        rf_cmd_error("emit", emit_json, err, "%s", eb.msg);
        if (rf_err_class(err) != RF_ERRCLASS_BAD_INPUT) {
            status = 1;
        } else {
            n->invalid++;
            if (!o->skip_invalid) status = 1;
        }
    }
    if (emit_interrupted) {
        rf_cmd_error("emit", emit_json, RF_ERR_TIMEOUT, "interrupted after line %ld",
                     r ? r->lineno : 0L);
        status = 1;
    }
    free(ev);
    free(r);
    return status;
}

/* Waits for every delivery report (bounded by librdkafka's message timeout). */
static int emit_flush(rf_producer_t *p)
{
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_ERR_TIMEOUT;
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX && err == RF_ERR_TIMEOUT; i++)
        err = rf_producer_flush(p, 1000, &eb);
    if (err != RF_OK) rf_cmd_error("emit", emit_json, err, "%s", eb.msg);
    return err == RF_OK ? 0 : 1;
}

static rf_producer_t *emit_producer(const emit_opts_t *o, emit_counts_t *n)
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka = o->kafka;
    pc.topic = o->topic;
    pc.on_delivery = emit_on_delivery;
    pc.opaque = n;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&pc, &eb);
    if (!p) rf_cmd_error("emit", emit_json, RF_ERR_CONFIG, "%s", eb.msg);
    return p;
}

int rf_cmd_emit(int argc, char **argv)
{
    emit_opts_t o;
    emit_json = false;
    int rc = emit_parse(&o, argc, argv);
    if (rc >= 0) return rc;
    bool use_stdin = !o.file || !strcmp(o.file, "-");
    FILE *in = use_stdin ? stdin : fopen(o.file, "r");
    if (!in) {
        rf_cmd_error("emit", emit_json, RF_ERR_IO, "cannot open '%s'", o.file);
        return 1;
    }
    emit_counts_t n = {0};
    rf_errbuf_t eb = {{0}};
    rf_codec_t *codec = o.dry_run ? rf_codec_new(&eb) : NULL;
    rf_producer_t *p = o.dry_run ? NULL : emit_producer(&o, &n);
    if (o.dry_run ? !codec : !p) {
        if (o.dry_run) rf_cmd_error("emit", emit_json, RF_ERR_CONFIG, "%s", eb.msg);
        if (!use_stdin) fclose(in);
        return 1;
    }
    emit_interrupted = 0;
    struct sigaction sa = {0}, old_int;
    sa.sa_handler = emit_on_signal;
    sigaction(SIGINT, &sa, &old_int);
    int status = emit_lines(&o, in, p, codec, &n);
    if (p) {
        status |= emit_flush(p);
        rf_producer_stats_t st;
        rf_producer_stats(p, &st);
        uint64_t undelivered = st.emitted - st.delivered;
        if (emit_json)
            printf("{\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"failed\":%" PRIu64
                   ",\"invalid\":%" PRIu64 "}\n",
                   st.emitted, st.delivered, undelivered, n.invalid);
        else
            printf("sent %" PRIu64 ", delivered %" PRIu64 ", failed %" PRIu64 ", invalid %" PRIu64
                   "\n",
                   st.emitted, st.delivered, undelivered, n.invalid);
        if (undelivered) status = 1;
    } else {
        if (emit_json)
            printf("{\"dry_run\":true,\"valid\":%" PRIu64 ",\"invalid\":%" PRIu64 "}\n", n.valid,
                   n.invalid);
        else
            printf("dry run: valid %" PRIu64 ", invalid %" PRIu64 "\n", n.valid, n.invalid);
    }
    sigaction(SIGINT, &old_int, NULL);
    rf_producer_destroy(p);
    rf_codec_destroy(codec);
    if (!use_stdin) fclose(in);
    return status;
}
