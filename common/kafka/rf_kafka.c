/* rf_kafka.c: every librdkafka client of refold, made by one policy: the
 * role's defaults, then -X, then the role's forced settings (rf_kafka.h). */
#include "rf_kafka.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_limits.h"

/* Stringizes a numeric limit for a property value. */
#define RF__STR(x)  RF__STR2(x)
#define RF__STR2(x) #x

/* Settings per role; forced ones carry the reason --help shows. */
#define ROLE_DEFAULTS_MAX 10
#define ROLE_FORCED_MAX   5

typedef struct setting {
    const char *name, *value;
    const char *why; /* forced only */
} setting_t;

typedef struct role_def {
    const char *name; /* in messages: "cannot create the fold consumer" */
    rd_kafka_type_t type;
    bool needs_brokers;
    /* group.id: spec->group forced ("why" given), or default_group by default */
    const char *group_why;
    const char *default_group;
    setting_t defaults[ROLE_DEFAULTS_MAX];
    setting_t forced[ROLE_FORCED_MAX];
} role_def_t;

/* A default and a forced setting (with the reason --help shows). */
// clang-format off
#define DFLT(n, v)       {n, v, NULL}
#define FORCE(n, v, why) {n, v, why}
// clang-format on

/* The consumer queue of the fold, the projection and replay: no 1 s fetch
 * pauses (RF_CONSUMER_QUEUE_* in rf_limits.h). */
#define QUEUE_DEFAULTS                                                                             \
    DFLT("queued.min.messages", RF_CONSUMER_QUEUE_MESSAGES),                                       \
        DFLT("queued.max.messages.kbytes", RF_CONSUMER_QUEUE_KBYTES)

/* Consumers whose offsets live in refold's own storage (the ledger, the
 * projection store): the group's committed offsets are for lag monitoring
 * only and never decide where reading starts. */
#define OFFSETS_OWNED(where)                                                                       \
    FORCE("enable.auto.commit", "false", "offsets live in " where ", committed with the state"),   \
        FORCE("enable.auto.offset.store", "false", "only offsets stored with the state count"),    \
        FORCE("auto.offset.reset", "error",                                                        \
              "an offset outside the topic is lost data: stop, never jump")

/* Producers whose loss, duplication or reordering changes the ledger. */
#define DELIVERY_EXACT                                                                             \
    FORCE("enable.idempotence", "true",                                                            \
          "retries never duplicate nor reorder a partition's records"),                            \
        FORCE("acks", "all", "nothing counts as delivered before every in-sync replica has it")

/* Readers that only look: a group they name must never move. */
#define NEVER_COMMITS                                                                              \
    FORCE("enable.auto.commit", "false", "a reading tool never moves a group's offsets")

static const role_def_t roles[RF_KAFKA_ROLE__COUNT] = {
    /* Eager assignor: a revoke reaches every member before any assignment,
     * so a partition's ledger is closed before another member opens it. A
     * 6 s session (librdkafka's default is 45 s): a crashed worker's
     * partitions move on sooner, and the embedded broker holds a group in
     * rebalance for the session timeout after its last member leaves.
     * fetch.wait.max.ms 5 (was 100): Kafka answers a fetch as soon as data
     * arrives, so this only bounds how often an idle consumer asks, but the
     * embedded broker holds an empty fetch for the whole wait and does not
     * answer early when data arrives: there the wait was added to an event's
     * latency (docs/fold-worker.md, "Batching"). The same for the projection. */
    [RF_KAFKA_FOLD_CONSUMER] = {.name = "fold consumer",
                                .type = RD_KAFKA_CONSUMER,
                                .needs_brokers = true,
                                .group_why =
                                    "--group: the group whose partitions this worker folds",
                                .defaults = {DFLT("partition.assignment.strategy", "range"),
                                             DFLT("session.timeout.ms", "6000"),
                                             DFLT("heartbeat.interval.ms", "2000"),
                                             DFLT("fetch.wait.max.ms", "5"),
                                             DFLT("enable.partition.eof", "false"), QUEUE_DEFAULTS},
                                .forced = {OFFSETS_OWNED("the ledger")}},
    /* 30 s rides out a leader election (RF_FOLD_PRODUCE_TIMEOUT_MS) */
    [RF_KAFKA_FOLD_DLQ] = {.name = "dead-letter producer",
                           .type = RD_KAFKA_PRODUCER,
                           .needs_brokers = true,
                           .defaults = {DFLT("message.timeout.ms",
                                             RF__STR(RF_FOLD_PRODUCE_TIMEOUT_MS)),
                                        DFLT("linger.ms", "0")},
                           .forced = {DELIVERY_EXACT}},
    /* Compressed: records repeat ids and keys, and the embedded broker keeps
     * only 5 MiB per partition (counted compressed). gzip because every
     * mainstream client reads it without a plugin (kafkajs needs one for lz4,
     * snappy and zstd); level 1: ~1.7 us of CPU per record against ~5.8 at
     * gzip's default level (docs/fold-worker.md). -X compression.type=lz4
     * where every reader has it. linger 1 ms (was 5): a cycle publishes
     * right after its commit, all partitions within well under a
     * millisecond, so one request still carries the whole cycle. */
    [RF_KAFKA_FOLD_OUTBOX] = {.name = "outbox producer",
                              .type = RD_KAFKA_PRODUCER,
                              .needs_brokers = true,
                              .defaults = {DFLT("message.timeout.ms",
                                                RF__STR(RF_FOLD_PRODUCE_TIMEOUT_MS)),
                                           DFLT("linger.ms", "1"), DFLT("compression.type", "gzip"),
                                           DFLT("compression.level", "1")},
                              .forced = {DELIVERY_EXACT}},
    /* offsets live in the store, so a quick failover costs nothing: a dead
     * worker's partitions move after 10 s, not librdkafka's default 45 s */
    [RF_KAFKA_PROJECT_CONSUMER] = {.name = "projection consumer",
                                   .type = RD_KAFKA_CONSUMER,
                                   .needs_brokers = true,
                                   .group_why =
                                       "--group: the group whose partitions this worker projects",
                                   .defaults = {DFLT("client.id", "refold-project"),
                                                DFLT("enable.partition.eof", "false"),
                                                DFLT("fetch.wait.max.ms", "5"), QUEUE_DEFAULTS,
                                                DFLT("session.timeout.ms", "10000")},
                                   .forced = {OFFSETS_OWNED("the projection store")}},
    /* the projection's settings: offsets live in the relay's store, committed
     * with the delivery state; a 6 s session moves a dead relay's partitions
     * soon (deliveries are at least once: the new owner resends in-flight) */
    [RF_KAFKA_WEBHOOK_CONSUMER] =
        {.name = "webhook consumer",
         .type = RD_KAFKA_CONSUMER,
         .needs_brokers = true,
         .group_why = "--group: the group whose partitions this relay delivers",
         .defaults = {DFLT("client.id", "refold-webhooks"), DFLT("enable.partition.eof", "false"),
                      DFLT("fetch.wait.max.ms", "50"), QUEUE_DEFAULTS,
                      DFLT("session.timeout.ms", "6000"), DFLT("heartbeat.interval.ms", "2000")},
         .forced = {OFFSETS_OWNED("the webhook store")}},
    /* murmur2_random: the Java client's default, so other clients put a
     * program in the same partition; large batches, fewer requests; lz4
     * costs ~35% more CPU per event for ~25% smaller batches (-X where
     * bandwidth matters more; docs/producing.md). linger 5 ms (librdkafka's
     * default; was 10): an event waits at most that long for its batch, and
     * a busy producer fills batch.num.messages long before it */
    [RF_KAFKA_EVENTS_PRODUCER] = {.name = "producer",
                                  .type = RD_KAFKA_PRODUCER,
                                  .needs_brokers = true,
                                  .defaults = {DFLT("partitioner", "murmur2_random"),
                                               DFLT("linger.ms", "5"),
                                               DFLT("batch.num.messages", "10000"),
                                               DFLT("batch.size", "1000000"),
                                               DFLT("compression.codec", "none")},
                                  .forced = {DELIVERY_EXACT}},
    /* same guarantees as the producer library: ordered, no duplicates per session */
    [RF_KAFKA_REDRIVE_PRODUCER] = {.name = "redrive producer",
                                   .type = RD_KAFKA_PRODUCER,
                                   .needs_brokers = true,
                                   .defaults = {DFLT("partitioner", "murmur2_random")},
                                   .forced = {DELIVERY_EXACT}},
    /* assign() needs a group id; it never joins the group nor commits to it */
    [RF_KAFKA_REPLAY_READER] = {.name = "replay consumer",
                                .type = RD_KAFKA_CONSUMER,
                                .needs_brokers = true,
                                .default_group = "refold-replay",
                                .defaults = {DFLT("enable.auto.offset.store", "false"),
                                             DFLT("enable.partition.eof", "false"),
                                             DFLT("fetch.message.max.bytes", "4194304"),
                                             QUEUE_DEFAULTS},
                                .forced = {NEVER_COMMITS}},
    [RF_KAFKA_DLQ_READER] = {.name = "dead-letter reader",
                             .type = RD_KAFKA_CONSUMER,
                             .needs_brokers = true,
                             .default_group = "refold-dlq-tool",
                             .defaults = {DFLT("enable.partition.eof", "false")},
                             .forced = {NEVER_COMMITS}},
    [RF_KAFKA_LAG] = {.name = "lag consumer",
                      .type = RD_KAFKA_CONSUMER,
                      .needs_brokers = true,
                      .group_why = "the group whose lag is measured",
                      .forced = {NEVER_COMMITS}},
    /* This handle only hosts the mock cluster: without the log level, every
     * start notes "No `bootstrap.servers` configured" (a notice, level 5). */
    [RF_KAFKA_MOCK_HOST] = {.name = "embedded broker",
                            .type = RD_KAFKA_PRODUCER,
                            .defaults = {DFLT("log_level", "4")}},
};

rf_err_t rf_kafka_opts_add_x(rf_kafka_opts_t *opts, const char *nv, rf_errbuf_t *eb)
{
    if (!strchr(nv, '=') || nv[0] == '=')
        return rf_errf(eb, RF_ERR_CONFIG, "-X '%s': expected name=value", nv);
    if (opts->nx >= RF_CONF_X_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "too many -X properties (at most %d)", RF_CONF_X_MAX);
    opts->x[opts->nx++] = nv;
    return RF_OK;
}

rf_err_t rf_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                           rf_errbuf_t *eb)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "kafka property '%s': %s", name, errstr);
    return RF_OK;
}

/* librdkafka's properties for one kind of client only ("C" or "P" in its
 * property table), read once: a -X without a prefix skips the clients of
 * the other kind instead of making each of them warn "ignored by this
 * producer instance". */
static char *kind_only; /* "\nname C\nname P\n..." */
static pthread_once_t kind_once = PTHREAD_ONCE_INIT;

static void kind_load(void)
{
    char *table = NULL, *out = NULL;
    size_t tl = 0, ol = 0;
    FILE *f = open_memstream(&table, &tl), *o = open_memstream(&out, &ol);
    if (!f || !o) {
        if (f) fclose(f);
        if (o) fclose(o);
        free(table);
        free(out);
        return;
    }
    rd_kafka_conf_properties_show(f);
    fclose(f);
    fputc('\n', o);
    for (char *line = table, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        char name[128], kind[8];
        if (sscanf(line, "%127s | %7s |", name, kind) == 2 &&
            (!strcmp(kind, "C") || !strcmp(kind, "P")))
            fprintf(o, "%s %s\n", name, kind);
    }
    fclose(o);
    free(table);
    kind_only = out;
}

/* Whether a -X property (after its prefix) is for the client of type t:
 * "consumer."/"producer." name the kind; without, what librdkafka says. */
static bool x_applies(const char **name, rd_kafka_type_t t)
{
    bool consumer = t == RD_KAFKA_CONSUMER;
    if (!strncmp(*name, "consumer.", 9) || !strncmp(*name, "producer.", 9)) {
        bool for_consumer = (*name)[0] == 'c';
        *name += 9;
        return for_consumer == consumer;
    }
    pthread_once(&kind_once, kind_load);
    char key[272];
    snprintf(key, sizeof key, "\n%s %s\n", *name, consumer ? "P" : "C");
    return !kind_only || !strstr(kind_only, key);
}

/* bootstrap.servers, then every -X in order that applies to this client. */
static rf_err_t apply_opts(rd_kafka_conf_t *conf, const rf_kafka_opts_t *opts, rd_kafka_type_t type,
                           rf_errbuf_t *eb)
{
    rf_err_t err;
    if (opts->brokers &&
        (err = rf_kafka_conf_set(conf, "bootstrap.servers", opts->brokers, eb)) != RF_OK)
        return err;
    for (int i = 0; i < opts->nx; i++) {
        char buf[256];
        const char *eq = strchr(opts->x[i], '=');
        size_t n = (size_t)(eq - opts->x[i]);
        if (!eq || n >= sizeof buf)
            return rf_errf(eb, RF_ERR_CONFIG, "-X '%s': expected name=value", opts->x[i]);
        memcpy(buf, opts->x[i], n);
        buf[n] = '\0';
        const char *name = buf;
        if (!x_applies(&name, type)) continue;
        if ((err = rf_kafka_conf_set(conf, name, eq + 1, eb)) != RF_OK) return err;
    }
    return RF_OK;
}

/* A -X that changed a forced setting is told once per command line, not
 * once per client that forces it: the fold's three clients share one
 * rf_kafka_opts_t (the same -X strings); another command line starts over. */
static bool warn_once(const rf_kafka_opts_t *opts, const char *name)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static const rf_kafka_opts_t *last;
    static const char *last_x[RF_CONF_X_MAX];
    static int last_nx;
    static char seen[1024]; /* "\nname\nname\n" */
    char key[160];
    snprintf(key, sizeof key, "\n%s\n", name);
    pthread_mutex_lock(&mu);
    if (opts != last || opts->nx != last_nx ||
        memcmp(opts->x, last_x, sizeof last_x[0] * (size_t)opts->nx) != 0) {
        last = opts;
        last_nx = opts->nx;
        memcpy(last_x, opts->x, sizeof last_x[0] * (size_t)opts->nx);
        strcpy(seen, "\n");
    }
    bool first = !strstr(seen, key);
    if (first && strlen(seen) + strlen(key) < sizeof seen) strcat(seen, key + 1);
    pthread_mutex_unlock(&mu);
    return first;
}

/* A role's forced settings, group.id first when the role forces it. */
static int forced_list(const role_def_t *r, const rf_kafka_client_t *spec,
                       setting_t out[ROLE_FORCED_MAX + 1])
{
    int n = 0;
    if (r->group_why) out[n++] = (setting_t){"group.id", spec->group, r->group_why};
    for (int i = 0; i < ROLE_FORCED_MAX && r->forced[i].name; i++)
        out[n++] = r->forced[i];
    return n;
}

/* The value librdkafka holds for name, in its own spelling ("all" reads back
 * as "-1"), so a -X alias or synonym that changed it is seen. */
static void conf_value(rd_kafka_conf_t *conf, const char *name, char *out, size_t cap)
{
    size_t sz = cap;
    if (rd_kafka_conf_get(conf, name, out, &sz) != RD_KAFKA_CONF_OK) out[0] = '\0';
}

/* Steps 1 and 3 of the policy around step 2 (-X): forced settings are set
 * before -X too, to read back their canonical values and tell a -X that
 * changed one. */
static rf_err_t apply_policy(rd_kafka_conf_t *conf, const role_def_t *r,
                             const rf_kafka_client_t *spec, rf_errbuf_t *eb)
{
    setting_t forced[ROLE_FORCED_MAX + 1];
    char want[ROLE_FORCED_MAX + 1][512], got[512];
    int nf = forced_list(r, spec, forced);
    rf_err_t err = RF_OK;
    for (int i = 0; !err && i < ROLE_DEFAULTS_MAX && r->defaults[i].name; i++)
        err = rf_kafka_conf_set(conf, r->defaults[i].name, r->defaults[i].value, eb);
    if (!err && r->default_group) err = rf_kafka_conf_set(conf, "group.id", r->default_group, eb);
    for (int i = 0; !err && i < nf; i++)
        if (!(err = rf_kafka_conf_set(conf, forced[i].name, forced[i].value, eb)))
            conf_value(conf, forced[i].name, want[i], sizeof want[i]);
    if (!err && spec->opts) err = apply_opts(conf, spec->opts, r->type, eb);
    for (int i = 0; !err && i < nf; i++) {
        conf_value(conf, forced[i].name, got, sizeof got);
        if (strcmp(got, want[i]) != 0 && warn_once(spec->opts, forced[i].name))
            rf_log(RF_LOG_WARN, "kafka: %s: -X cannot set %s to '%s': kept %s=%s (%s)", r->name,
                   forced[i].name, got, forced[i].name, forced[i].value, forced[i].why);
        err = rf_kafka_conf_set(conf, forced[i].name, forced[i].value, eb);
    }
    return err;
}

static void set_callbacks(rd_kafka_conf_t *conf, const rf_kafka_client_t *spec)
{
    rf_kafka_conf_set_logger(conf);
    rd_kafka_conf_set_opaque(conf, spec->opaque);
    if (spec->rebalance_cb) rd_kafka_conf_set_rebalance_cb(conf, spec->rebalance_cb);
    if (spec->offset_commit_cb) rd_kafka_conf_set_offset_commit_cb(conf, spec->offset_commit_cb);
    if (spec->dr_msg_cb) rd_kafka_conf_set_dr_msg_cb(conf, spec->dr_msg_cb);
    if (spec->error_cb) rd_kafka_conf_set_error_cb(conf, spec->error_cb);
}

rd_kafka_conf_t *rf_kafka_conf_build(const rf_kafka_client_t *spec, rf_errbuf_t *eb)
{
    RF_ASSERT(spec && spec->role >= 0 && spec->role < RF_KAFKA_ROLE__COUNT);
    const role_def_t *r = &roles[spec->role];
    RF_ASSERT(r->needs_brokers || !spec->opts);
    if (r->needs_brokers && (!spec->opts || !spec->opts->brokers || !spec->opts->brokers[0])) {
        rf_errf(eb, RF_ERR_CONFIG, "no brokers given (use --brokers host:port)");
        return NULL;
    }
    if (r->group_why && (!spec->group || !spec->group[0])) {
        rf_errf(eb, RF_ERR_CONFIG, "the %s needs a consumer group (group.id)", r->name);
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set_callbacks(conf, spec);
    if (apply_policy(conf, r, spec, eb) != RF_OK) {
        rd_kafka_conf_destroy(conf);
        if (eb) { /* which client the bad setting was for */
            char msg[RF_ERRMSG_MAX];
            memcpy(msg, eb->msg, sizeof msg);
            rf_errf(eb, RF_ERR_CONFIG, "%s: %.*s", r->name, (int)(sizeof msg - 40), msg);
        }
        return NULL;
    }
    return conf;
}

rf_err_t rf_kafka_client_new(const rf_kafka_client_t *spec, rd_kafka_t **out, rf_errbuf_t *eb)
{
    *out = NULL;
    rd_kafka_conf_t *conf = rf_kafka_conf_build(spec, eb);
    if (!conf) return RF_ERR_CONFIG;
    const role_def_t *r = &roles[spec->role];
    char errstr[512];
    if (!(*out = rd_kafka_new(r->type, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf); /* ownership passes only on success */
        return rf_errf(eb, RF_ERR_KAFKA, "cannot create the %s: %s", r->name, errstr);
    }
    return RF_OK;
}

/* ---- --help text ---- */

static char help[RF_KAFKA_ROLE__COUNT][1024];
static pthread_once_t help_once = PTHREAD_ONCE_INIT;

static void help_build(void)
{
    rf_kafka_client_t spec = {.group = "<group>"};
    for (int role = 0; role < RF_KAFKA_ROLE__COUNT; role++) {
        setting_t forced[ROLE_FORCED_MAX + 1];
        int nf = forced_list(&roles[role], &spec, forced);
        if (nf == 0) continue;
        int k0 = snprintf(help[role], sizeof help[role],
                          "Kafka settings the %s forces after -X (a -X changing one is "
                          "ignored with a warning):\n",
                          roles[role].name);
        size_t n = k0 > 0 ? (size_t)k0 : 0;
        for (int i = 0; i < nf && n < sizeof help[role]; i++) {
            int k = snprintf(help[role] + n, sizeof help[role] - n, "  %s=%s: %s\n", forced[i].name,
                             forced[i].value, forced[i].why);
            n += k > 0 ? (size_t)k : 0;
        }
    }
}

const char *rf_kafka_forced_help(rf_kafka_role_t role)
{
    RF_ASSERT(role >= 0 && role < RF_KAFKA_ROLE__COUNT);
    pthread_once(&help_once, help_build);
    return help[role];
}

/* ---- logging ---- */

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    rf_log_level_t l = level <= 3   ? RF_LOG_ERROR
                       : level <= 4 ? RF_LOG_WARN
                       : level <= 6 ? RF_LOG_INFO
                                    : RF_LOG_DEBUG;
    rf_log(l, "kafka %s: %s", fac, buf);
}

void rf_kafka_conf_set_logger(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log);
}
