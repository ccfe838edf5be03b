/* rf_query_cmd.c: `refold balance`, `leaderboard`, `rank` and `stats`: query
 * the projection store (also while `refold project` runs); tables or --json. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_commands.h"
#include "rf_query.h"

typedef struct qopts {
    const char *data, *user, *program, *period, *by, *asset;
    int top;
    bool json;
} qopts_t;

typedef struct qcmd {
    const char *name;
    const char *usage;
    bool need_user, need_program;
} qcmd_t;

static const char common_help[] =
    "  --data DIR       data directory (required)\n"
    "  --program P      program id\n"
    "  --user U         user id\n"
    "  --period P       all (default), day[:2026-01-05], week[:2026-W02], month[:2026-01];\n"
    "                   a bare day|week|month is the one of the program's latest event\n"
    "  --by B           referrals (default) or value (net reward value)\n"
    "  --asset A        value boards: the reward asset (default: the only one)\n"
    "  --top K          entries to show (default 10, at most 1000)\n"
    "  --json           JSON instead of a table\n"
    "Amounts are integers in minor units. Readers see committed batches only.\n";

static int usage(const qcmd_t *cmd, FILE *f, int rc)
{
    fprintf(f, "usage: refold %s %s\n\n%s", cmd->name, cmd->usage, common_help);
    return rc;
}

/* Parses the options shared by the query commands; returns -1 to go on, or
 * the exit status. */
static int parse(const qcmd_t *cmd, int argc, char **argv, qopts_t *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},    {"user", required_argument, 0, 'u'},
        {"program", required_argument, 0, 'p'}, {"period", required_argument, 0, 'P'},
        {"by", required_argument, 0, 'b'},      {"asset", required_argument, 0, 'a'},
        {"top", required_argument, 0, 'k'},     {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    *o = (qopts_t){.period = "all", .by = "referrals", .top = 10};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'p':
            o->program = optarg;
            break;
        case 'P':
            o->period = optarg;
            break;
        case 'b':
            o->by = optarg;
            break;
        case 'a':
            o->asset = optarg;
            break;
        case 'k':
            o->top = (int)strtol(optarg, &end, 10);
            if (*end || o->top < 1 || o->top > RF_LEADERBOARD_TOP_MAX) {
                fprintf(stderr, "refold %s: --top must be 1..%d\n", cmd->name,
                        RF_LEADERBOARD_TOP_MAX);
                return 2;
            }
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            return usage(cmd, stdout, 0);
        default:
            return usage(cmd, stderr, 2);
        }
    }
    const char *missing = !o->data                           ? "--data"
                          : cmd->need_user && !o->user       ? "--user"
                          : cmd->need_program && !o->program ? "--program"
                                                             : NULL;
    if (optind < argc || missing) {
        if (missing)
            fprintf(stderr, "refold %s: %s is required\n", cmd->name, missing);
        else
            fprintf(stderr, "refold %s: unexpected argument '%s'\n", cmd->name, argv[optind]);
        return usage(cmd, stderr, 2);
    }
    if (strcmp(o->by, "referrals") != 0 && strcmp(o->by, "value") != 0) {
        fprintf(stderr, "refold %s: --by must be referrals or value\n", cmd->name);
        return 2;
    }
    return -1;
}

static rf_query_t *open_or_complain(const qcmd_t *cmd, const qopts_t *o)
{
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(o->data, RF_QUERY_SNAPSHOT, &eb);
    if (!q) fprintf(stderr, "refold %s: %s\n", cmd->name, eb.msg);
    return q;
}

/* Prints j as JSON or through the table printer; returns the exit status. */
static int finish(const qcmd_t *cmd, const qopts_t *o, json_t *j, rf_errbuf_t *eb,
                  void (*table)(json_t *))
{
    if (!j) {
        fprintf(stderr, "refold %s: %s\n", cmd->name, eb->msg[0] ? eb->msg : "query failed");
        return 1;
    }
    if (o->json) {
        char *s = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", s ? s : "null");
        free(s);
    } else {
        table(j);
    }
    json_decref(j);
    return 0;
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "-";
}

/* ---- balance ---- */

static void balance_row(json_t *r, const char *program)
{
    printf("%-20s %-10s %14lld %14lld %14lld %14lld\n", program, jstr(r, "asset"),
           jint(r, "pending"), jint(r, "available"), jint(r, "redeemed"), jint(r, "receivable"));
}

static void balance_table(json_t *j)
{
    size_t i;
    json_t *r;
    printf("%-20s %-10s %14s %14s %14s %14s\n", "PROGRAM", "ASSET", "PENDING", "AVAILABLE",
           "REDEEMED", "RECEIVABLE");
    json_array_foreach(json_object_get(j, "balances"), i, r) balance_row(r, jstr(r, "program"));
    json_array_foreach(json_object_get(j, "totals"), i, r) balance_row(r, "(total)");
    if (json_array_size(json_object_get(j, "balances")) == 0)
        printf("(no balances for user %s)\n", jstr(j, "user"));
}

int rf_cmd_balance(int argc, char **argv)
{
    static const qcmd_t cmd = {"balance", "--data DIR --user U [--program P] [--json]", true,
                               false};
    qopts_t o;
    int rc = parse(&cmd, argc, argv, &o);
    if (rc >= 0) return rc;
    rf_query_t *q = open_or_complain(&cmd, &o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    json_t *j = rf_query_balance_json(q, o.user, o.program, NULL, &eb);
    rc = finish(&cmd, &o, j, &eb, balance_table);
    rf_query_close(q);
    return rc;
}

/* ---- leaderboard / rank ---- */

static void board_title(json_t *j)
{
    printf("%s: %s by %s%s%s, %lld users\n", jstr(j, "program"), jstr(j, "period"), jstr(j, "by"),
           json_object_get(j, "asset") ? " " : "",
           json_object_get(j, "asset") ? jstr(j, "asset") : "", jint(j, "users"));
}

static void top_table(json_t *j)
{
    size_t i;
    json_t *e;
    board_title(j);
    printf("%6s  %-24s %14s %12s\n", "RANK", "USER", "SCORE", "REACHED_SEQ");
    json_array_foreach(json_object_get(j, "entries"), i, e)
        printf("%6lld  %-24s %14lld %12lld\n", jint(e, "rank"), jstr(e, "user"), jint(e, "score"),
               jint(e, "reached_seq"));
}

static void rank_table(json_t *j)
{
    board_title(j);
    printf("%s: rank %lld of %lld, score %lld (reached at seq %lld)\n", jstr(j, "user"),
           jint(j, "rank"), jint(j, "users"), jint(j, "score"), jint(j, "reached_seq"));
}

static rf_board_sel_t board_sel(const qopts_t *o)
{
    return (rf_board_sel_t){.program = o->program,
                            .period = o->period,
                            .by = strcmp(o->by, "value") == 0 ? RF_BOARD_VALUE : RF_BOARD_REFERRALS,
                            .asset = o->asset};
}

int rf_cmd_leaderboard(int argc, char **argv)
{
    static const qcmd_t cmd = {"leaderboard",
                               "--data DIR --program P [--period P] [--by referrals|value]\n"
                               "                          [--asset A] [--top K] [--json]",
                               false, true};
    qopts_t o;
    int rc = parse(&cmd, argc, argv, &o);
    if (rc >= 0) return rc;
    rf_query_t *q = open_or_complain(&cmd, &o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    rf_board_sel_t sel = board_sel(&o);
    json_t *j = rf_query_top_json(q, &sel, o.top, NULL, &eb);
    rc = finish(&cmd, &o, j, &eb, top_table);
    rf_query_close(q);
    return rc;
}

int rf_cmd_rank(int argc, char **argv)
{
    static const qcmd_t cmd = {"rank",
                               "--data DIR --program P --user U [--period P]\n"
                               "                   [--by referrals|value] [--asset A] [--json]",
                               true, true};
    qopts_t o;
    int rc = parse(&cmd, argc, argv, &o);
    if (rc >= 0) return rc;
    rf_query_t *q = open_or_complain(&cmd, &o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    rf_board_sel_t sel = board_sel(&o);
    json_t *j = rf_query_rank_json(q, &sel, o.user, NULL, &eb);
    rc = finish(&cmd, &o, j, &eb, rank_table);
    rf_query_close(q);
    return rc;
}

/* ---- stats ---- */

/* Prints an object's scalars as "prefix.key value" lines, recursing into
 * objects (the per-asset maps, rates, per-currency ratios). */
static void print_flat(const char *prefix, json_t *o)
{
    const char *k;
    json_t *v;
    char name[160];
    json_object_foreach(o, k, v)
    {
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (json_is_object(v))
            print_flat(name, v);
        else if (json_is_integer(v))
            printf("  %-52s %16lld\n", name, (long long)json_integer_value(v));
        else if (json_is_string(v))
            printf("  %-52s %16s\n", name, json_string_value(v));
        else
            printf("  %-52s %16s\n", name, "-");
    }
}

static void stats_table(json_t *j)
{
    static const char *sections[] = {"funnel",          "rates", "per_currency",
                                     "referred_vs_not", "fraud", "channels"};
    printf("%s: %s\n", jstr(j, "program"), jstr(j, "period"));
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        json_t *s = json_object_get(j, sections[i]);
        printf("%s\n", sections[i]);
        if (json_object_size(s) == 0) printf("  (none)\n");
        print_flat("", s);
    }
}

int rf_cmd_stats(int argc, char **argv)
{
    static const qcmd_t cmd = {"stats", "--data DIR --program P [--period P] [--json]", false,
                               true};
    qopts_t o;
    int rc = parse(&cmd, argc, argv, &o);
    if (rc >= 0) return rc;
    rf_query_t *q = open_or_complain(&cmd, &o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    json_t *j = rf_query_stats_json(q, o.program, o.period, NULL, &eb);
    rc = finish(&cmd, &o, j, &eb, stats_table);
    rf_query_close(q);
    return rc;
}
