/* rf_replay_cmd.c: `refold replay` (rebuild a fresh ledger from the archive or
 * refold.events and compare heads) and `refold whatif` (price a rule change). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_hex.h"
#include "rf_commands.h"
#include "rf_finance.h"
#include "rf_replay.h"

/* Progress on a terminal only: one line rewritten in place. */
static void progress_line(const rf_replay_progress_t *p, void *opaque)
{
    (void)opaque;
    double s = (double)p->elapsed_ns / 1e9;
    double rate = s > 0 ? (double)p->events / s : 0;
    char eta[32] = "-";
    if (p->total > p->events && rate > 0)
        snprintf(eta, sizeof eta, "%.0fs", (double)(p->total - p->events) / rate);
    if (p->total)
        fprintf(stderr, "\rreplay: %5.1f%% %llu/%llu events, %.0f events/s, ETA %s   ",
                100.0 * (double)p->events / (double)p->total, (unsigned long long)p->events,
                (unsigned long long)p->total, rate, eta);
    else
        fprintf(stderr, "\rreplay: %llu events, %.0f events/s   ", (unsigned long long)p->events,
                rate);
}

static void print_stats(const rf_replay_stats_t *st, json_t *j)
{
    double s = (double)st->elapsed_ns / 1e9;
    double rate = s > 0 ? (double)st->events / s : 0;
    if (j) {
        json_t *parts = json_array();
        for (int i = 0; i < st->nparts; i++) {
            const rf_replay_part_t *p = &st->parts[i];
            json_array_append_new(
                parts,
                json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "partition", (int)p->partition,
                          "start_offset", (json_int_t)p->start_offset, "end_offset",
                          (json_int_t)p->end_offset, "events", (json_int_t)p->events, "applied",
                          (json_int_t)p->outcomes[0], "rejected", (json_int_t)p->outcomes[1],
                          "duplicate", (json_int_t)p->outcomes[2], "dead_letter",
                          (json_int_t)p->outcomes[3], "overridden", (json_int_t)p->overridden));
        }
        json_object_set_new(j, "events", json_integer((json_int_t)st->events));
        json_object_set_new(j, "elapsed_s", json_real(s));
        json_object_set_new(j, "events_per_s", json_integer((json_int_t)rate));
        json_object_set_new(j, "partitions", parts);
        return;
    }
    printf("replayed %llu events in %.2f s (%.0f events/s)\n", (unsigned long long)st->events, s,
           rate);
    printf("  %4s %10s %10s %10s %10s %9s %9s %11s\n", "part", "start", "end", "events", "applied",
           "rejected", "duplicate", "dead_letter");
    for (int i = 0; i < st->nparts; i++) {
        const rf_replay_part_t *p = &st->parts[i];
        printf("  %4d %10lld %10lld %10llu %10llu %9llu %9llu %11llu\n", (int)p->partition,
               (long long)p->start_offset, (long long)p->end_offset, (unsigned long long)p->events,
               (unsigned long long)p->outcomes[0], (unsigned long long)p->outcomes[1],
               (unsigned long long)p->outcomes[2], (unsigned long long)p->outcomes[3]);
    }
}

/* Prints the comparison; returns 1 when a partition differs or is missing. */
static int print_compare(const char *live, const char *into, json_t *j)
{
    static rf_replay_cmp_t rows[RF_PARTITIONS_MAX];
    rf_errbuf_t eb = {{0}};
    int n = rf_replay_compare(live, into, rows, RF_PARTITIONS_MAX, &eb);
    if (n < 0) {
        rf_cmd_error("replay", j != NULL, (rf_err_t)n, "compare: %s", eb.msg);
        return 1;
    }
    int bad = 0;
    json_t *arr = j ? json_array() : NULL;
    if (!j) printf("\ncompare with the live ledger '%s'\n", live);
    for (int i = 0; i < n; i++) {
        const rf_replay_cmp_t *c = &rows[i];
        char hl[65], hn[65];
        rf_hex(c->live_hash, 32, hl);
        rf_hex(c->new_hash, 32, hn);
        bad |= c->verdict == RF_REPLAY_DIFFER || c->verdict == RF_REPLAY_MISSING;
        if (j) {
            json_array_append_new(
                arr, json_pack("{s:i,s:s,s:I,s:s,s:I,s:s,s:I}", "partition", (int)c->partition,
                               "verdict", rf_replay_verdict_name(c->verdict), "live_seq",
                               (json_int_t)c->live_seq, "live_hash", hl, "replay_seq",
                               (json_int_t)c->new_seq, "replay_hash", hn, "first_diff_seq",
                               (json_int_t)c->first_diff_seq));
            continue;
        }
        printf("  partition %d: %-7s live seq %llu %.16s  replay seq %llu %.16s", (int)c->partition,
               rf_replay_verdict_name(c->verdict), (unsigned long long)c->live_seq, hl,
               (unsigned long long)c->new_seq, hn);
        if (c->verdict == RF_REPLAY_DIFFER)
            printf("  first differing seq %llu", (unsigned long long)c->first_diff_seq);
        if (c->verdict == RF_REPLAY_PREFIX)
            printf("  (live moved on; equal up to the replay's head)");
        printf("\n");
    }
    if (j)
        json_object_set_new(j, "compare", arr);
    else
        printf("%s\n", bad ? "DIFFERENT: see the partitions above" : "SAME: every head matches");
    return bad;
}

typedef struct replay_args {
    rf_replay_opts_t o;
    int json, compare, archive, nosync;
} replay_args_t;

static int parse_replay(int argc, char **argv, replay_args_t *a)
{
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &a->o.data_dir, "DIR", "the live data directory"),
        RF_OPT_STR('i', "into", &a->o.into_dir, "DIR2", "the fresh ledger's data directory",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_FLAG('A', "from-archive", &a->archive, "fold the live ledger's archive (in DIR)"),
        RF_OPT_STR('b', "brokers", &a->o.kafka.brokers, "B", "fold refold.events from Kafka"),
        RF_CMD_OPT_X(&a->o.kafka),
        RF_OPT_STR('T', "topic", &a->o.topic, "T", "events topic", .def = RF_TOPIC_EVENTS),
        RF_OPT_I64_RANGE('o', "from-offset", &a->o.from_offset, 0, INT64_MAX, "N",
                         "start at offset N (a partial replay)", .def = "the first"),
        RF_CMD_OPT_TIME('t', "from-time", &a->o.from_time_ms,
                        "start at the first event of time T (a partial replay)"),
        RF_OPT_SET_INT('c', "compare", &a->compare, 1, "compare the heads with the live ledger"),
        RF_OPT_SET_INT('C', "no-compare", &a->compare, 0,
                       "do not compare (default: compare full replays only)"),
        RF_OPT_INT_RANGE('J', "jobs", &a->o.jobs, 1, RF_REPLAY_JOBS_MAX, "N",
                         "partitions replayed in parallel from the archive", .def = "one per CPU"),
        RF_OPT_FLAG('S', "nosync", &a->nosync, "do not sync the new ledgers' writes"),
        RF_OPT_FLAG('j', "json", &a->json, "print one JSON object"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "replay",
        "refold replay --into DIR2 --from-archive --data DIR [--from-offset N | --from-time T]\n"
        "       refold replay --into DIR2 --brokers B [-X k=v]... [--topic T] [--data DIR]\n"
        "                     [--from-offset N | --from-time T]\n"
        "       common options: [--compare | --no-compare] [--jobs N] [--nosync] [--json]",
        "Rebuilds a fresh fold ledger in DIR2 by folding the live ledger's archive or\n"
        "refold.events (assign + seek, no consumer group; up to the end offsets at start),\n"
        "then compares each partition's head (seq, hash) with the live ledger in DIR and\n"
        "prints the first seq that differs. --from-time maps event time to offsets through\n"
        "the live archive (needs --data). A replay from an offset or time is partial: its\n"
        "records differ from the live ones, so it is compared only with --compare. Exit\n"
        "status 1 when a compared head differs. --jobs N: partitions replayed in parallel\n"
        "from the archive (default: one per CPU).\n"
        "Projections: run `refold project` on DIR2 once its records are published, or\n"
        "rebuild them by replaying refold.ledger (docs/operations.md, \"Replay\").",
        opts,
        0,
        .notes = {rf_kafka_forced_help(RF_KAFKA_REPLAY_READER)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (a->archive == (a->o.kafka.brokers != NULL))
        return rf_opt_error(&cmd, "give exactly one of --from-archive and --brokers");
    if (a->o.from_offset >= 0 && a->o.from_time_ms != INT64_MIN)
        return rf_opt_error(&cmd, "give at most one of --from-offset and --from-time");
    if (a->nosync) a->o.ledger_flags |= RF_LEDGER_NOSYNC;
    a->o.source = a->archive ? RF_REPLAY_ARCHIVE : RF_REPLAY_KAFKA;
    return -1;
}

int rf_cmd_replay(int argc, char **argv)
{
    replay_args_t a;
    memset(&a, 0, sizeof a);
    rf_replay_opts_init(&a.o);
    a.compare = -1; /* default: compare full replays only */
    int rc = parse_replay(argc, argv, &a);
    if (rc >= 0) return rc;
    if (a.compare < 0) a.compare = a.o.from_offset < 0 && a.o.from_time_ms == INT64_MIN;
    if (!a.json && isatty(2)) a.o.progress = progress_line;
    rf_replay_stats_t *st = malloc(sizeof *st);
    if (!st) return 1;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_replay_run(&a.o, st, &eb);
    if (a.o.progress) fprintf(stderr, "\n");
    if (err) {
        rf_cmd_error("replay", a.json, err, "%s", eb.msg[0] ? eb.msg : rf_err_str(err));
        free(st);
        return 1;
    }
    json_t *j = a.json ? json_object() : NULL;
    print_stats(st, j);
    rc = 0;
    if (a.compare && a.o.data_dir) rc = print_compare(a.o.data_dir, a.o.into_dir, j);
    if (j) {
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(j);
    }
    free(st);
    return rc;
}

/* ---- what-if ---- */

/* Reads FILE as JSON and returns it compact (malloc'ed), or NULL. */
static char *read_rules(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) {
        fprintf(stderr, "refold whatif: '%s' line %d: %s\n", path, jerr.line, jerr.text);
        return NULL;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (s && strlen(s) > RF_RULES_MAX) {
        fprintf(stderr, "refold whatif: '%s' is longer than %d bytes\n", path, RF_RULES_MAX);
        free(s);
        return NULL;
    }
    return s;
}

typedef struct prog_row {
    char program[RF_ID_BUF];
    char asset[RF_ASSET_MAX + 1];
    int64_t live, whatif;
} prog_row_t;

static void whatif_print(const rf_acct_t *a, uint32_t n, int all, json_t *j)
{
    /* per (program, asset) totals: accounts are sorted by program first */
    json_t *progs = j ? json_array() : NULL, *users = j ? json_array() : NULL;
    if (!j)
        printf("\nnet rewards per program (granted - voided - clawed back)\n  %-20s %-12s %14s "
               "%14s %14s\n",
               "program", "asset", "live", "what-if", "difference");
    for (uint32_t i = 0; i < n;) {
        prog_row_t t;
        memset(&t, 0, sizeof t);
        memcpy(t.program, a[i].program, sizeof t.program);
        /* one program's accounts are contiguous; sum per asset within it */
        uint32_t end = i;
        while (end < n && !strcmp(a[end].program, t.program))
            end++;
        for (uint32_t k = i; k < end; k++) {
            bool seen = false;
            for (uint32_t q = i; q < k && !seen; q++)
                seen = !strcmp(a[q].asset, a[k].asset);
            if (seen) continue;
            int64_t lv = 0, wv = 0;
            for (uint32_t q = k; q < end; q++)
                if (!strcmp(a[q].asset, a[k].asset)) lv += a[q].aux[0], wv += a[q].aux[1];
            if (j)
                json_array_append_new(progs, json_pack("{s:s,s:s,s:I,s:I,s:I}", "program",
                                                       t.program, "asset", a[k].asset, "live",
                                                       (json_int_t)lv, "whatif", (json_int_t)wv,
                                                       "difference", (json_int_t)(wv - lv)));
            else
                printf("  %-20s %-12s %14lld %14lld %+14lld\n", t.program, a[k].asset,
                       (long long)lv, (long long)wv, (long long)(wv - lv));
        }
        i = end;
    }
    if (!j)
        printf("\nper user (%s)\n  %-20s %-24s %-12s %14s %14s %14s\n",
               all ? "every user" : "users whose rewards change", "program", "user", "asset",
               "live", "what-if", "difference");
    for (uint32_t i = 0; i < n; i++) {
        if (!all && a[i].aux[0] == a[i].aux[1]) continue;
        if (j)
            json_array_append_new(users, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "program",
                                                   a[i].program, "user", a[i].owner, "asset",
                                                   a[i].asset, "live", (json_int_t)a[i].aux[0],
                                                   "whatif", (json_int_t)a[i].aux[1], "difference",
                                                   (json_int_t)(a[i].aux[1] - a[i].aux[0])));
        else
            printf("  %-20s %-24s %-12s %14lld %14lld %+14lld\n", a[i].program, a[i].owner,
                   a[i].asset, (long long)a[i].aux[0], (long long)a[i].aux[1],
                   (long long)(a[i].aux[1] - a[i].aux[0]));
    }
    if (j) {
        json_object_set_new(j, "programs", progs);
        json_object_set_new(j, "users", users);
    }
}

static int whatif_diff(const char *data, const char *into, const rf_replay_stats_t *st, int all,
                       json_t *j)
{
    static int64_t ends[RF_PARTITIONS_MAX];
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        ends[i] = -1;
    for (int i = 0; i < st->nparts; i++)
        if (st->parts[i].end_offset >= 0) ends[st->parts[i].partition] = st->parts[i].end_offset;
    rf_acct_map_t *m = rf_acct_map_new(RF_FINANCE_ACCOUNTS_MAX);
    if (!m) return 1;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_finance_sum_rewards(data, m, 0, ends, &eb);
    if (!err) err = rf_finance_sum_rewards(into, m, 1, NULL, &eb);
    if (err) {
        rf_cmd_error("whatif", j != NULL, err, "%s", eb.msg);
        rf_acct_map_free(m);
        return 1;
    }
    uint32_t n = rf_acct_map_count(m);
    whatif_print(rf_acct_map_sort(m), n, all, j);
    rf_acct_map_free(m);
    return 0;
}

/* Prints the what-if summary and the differences; returns the exit status. */
static int whatif_report(const rf_replay_opts_t *o, const char *rules, const rf_replay_stats_t *st,
                         int all, int json)
{
    uint64_t rewritten = 0;
    for (int i = 0; i < st->nparts; i++)
        rewritten += st->parts[i].overridden;
    json_t *j =
        json ? json_pack("{s:s,s:s,s:I,s:I}", "program", o->override_program, "rules", rules,
                         "events", (json_int_t)st->events, "rewritten", (json_int_t)rewritten)
             : NULL;
    if (!j)
        printf("what-if: program %s with the rules of '%s': %llu events replayed into '%s', "
               "%llu ProgramConfigured rewritten\n",
               o->override_program, rules, (unsigned long long)st->events, o->into_dir,
               (unsigned long long)rewritten);
    if (!j && rewritten == 0)
        printf("note: no ProgramConfigured event of '%s' in the archive: nothing changes\n",
               o->override_program);
    int rc = whatif_diff(o->data_dir, o->into_dir, st, all, j);
    if (j) {
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(j);
    }
    return rc;
}

int rf_cmd_whatif(int argc, char **argv)
{
    rf_replay_opts_t o;
    rf_replay_opts_init(&o);
    const char *rules = NULL;
    int json = 0, all = 0, nosync = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &o.data_dir, "DIR", "the live data directory",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('i', "into", &o.into_dir, "SCRATCH", "where the what-if ledger is built",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('p', "program", &o.override_program, "P", "the program whose rules change",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('r', "rules", &rules, "FILE.json", "the rules to try", .flags = RF_OPT_REQUIRED),
        RF_OPT_FLAG('a', "all", &all, "list every user, not only those whose rewards change"),
        RF_OPT_FLAG('S', "nosync", &nosync, "do not sync the scratch ledgers' writes"),
        RF_OPT_FLAG('j', "json", &json, "print one JSON object"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "whatif",
        "refold whatif --data DIR --program P --rules FILE.json --into SCRATCH [--all] "
        "[--nosync] [--json]",
        "Replays the live ledger's archive into SCRATCH with every ProgramConfigured of\n"
        "program P carrying the rules of FILE instead of its own, then prints the net\n"
        "rewards (granted - voided - clawed back) per program and asset and per user that\n"
        "change, live against what-if. --all lists every user. The live ledger is not\n"
        "touched. See docs/operations.md, \"What-if\".",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (nosync) o.ledger_flags |= RF_LEDGER_NOSYNC;
    char *rules_json = read_rules(rules);
    if (!rules_json) return 1;
    o.override_rules_json = rules_json;
    if (!json && isatty(2)) o.progress = progress_line;
    rf_replay_stats_t *st = malloc(sizeof *st);
    rf_errbuf_t eb = {{0}};
    rf_err_t err = st ? rf_replay_run(&o, st, &eb) : RF_ERR_NOMEM;
    if (o.progress) fprintf(stderr, "\n");
    int rc = 1;
    if (err)
        rf_cmd_error("whatif", json, err, "%s", eb.msg[0] ? eb.msg : rf_err_str(err));
    else
        rc = whatif_report(&o, rules, st, all, json);
    free(rules_json);
    free(st);
    return rc;
}
