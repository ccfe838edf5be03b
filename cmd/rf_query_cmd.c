/* rf_query_cmd.c: `refold balance`, `leaderboard`, `rank` and `stats`: query
 * the projection store (also while `refold project` runs); tables or --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_opt.h"
#include "rf_query.h"

typedef struct qopts {
    const char *data, *user, *program, *period, *asset;
    int by; /* index in board_by */
    int top;
    int json;
} qopts_t;

typedef struct qcmd {
    const char *name;
} qcmd_t;

static const char *const board_by[] = {"referrals", "value", NULL};

static const char query_desc[] =
    "Amounts are integers in minor units. Readers see committed batches only.";

/* The entries the query commands share; each command lists those it takes. */
#define Q_DATA(o) RF_OPT_DATA(&(o)->data, .flags = RF_OPT_REQUIRED)
#define Q_USER(o) RF_OPT_STR(0, "user", &(o)->user, "U", "user id", .flags = RF_OPT_REQUIRED)
#define Q_PROGRAM(o)                                                                               \
    RF_OPT_STR(0, "program", &(o)->program, "P", "program id", .flags = RF_OPT_REQUIRED)
#define Q_PERIOD(o)                                                                                \
    RF_OPT_STR(0, "period", &(o)->period, "P",                                                     \
               "all, day[:2026-01-05], week[:2026-W02], month[:2026-01];\n"                        \
               "a bare day|week|month is the one of the program's\n"                               \
               "latest event")
#define Q_BY(o)                                                                                    \
    RF_OPT_ENUM(0, "by", &(o)->by, board_by, "B", "referrals, or value (net reward value)")
#define Q_ASSET(o)                                                                                 \
    RF_OPT_STR(0, "asset", &(o)->asset, "A", "value boards: the reward asset",                     \
               .def = "the only one")
#define Q_JSON(o) RF_OPT_FLAG(0, "json", &(o)->json, "JSON instead of a table")

static void qopts_init(qopts_t *o)
{
    *o = (qopts_t){.period = "all", .by = 0, .top = 10};
}

static rf_query_t *open_or_complain(const qcmd_t *cmd, const qopts_t *o)
{
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(o->data, RF_QUERY_SNAPSHOT, &eb);
    if (!q) rf_cmd_error(cmd->name, o->json, RF_ERR_NOT_FOUND, "%s", eb.msg);
    return q;
}

/* Prints j as JSON or through the table printer; returns the exit status. */
static int finish(const qcmd_t *cmd, const qopts_t *o, json_t *j, rf_err_t err, rf_errbuf_t *eb,
                  void (*table)(json_t *))
{
    if (!j) {
        rf_cmd_error(cmd->name, o->json, err, "%s", eb->msg[0] ? eb->msg : "query failed");
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
    static const qcmd_t cmd = {"balance"};
    qopts_t o;
    qopts_init(&o);
    const rf_opt_t opts[] = {
        Q_DATA(&o),
        Q_USER(&o),
        RF_OPT_STR(0, "program", &o.program, "P", "only this program",
                   .def = "every program and the cross-program total"),
        Q_JSON(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t ocmd = {
        "balance", "refold balance --data DIR --user U [--program P] [--json]", query_desc, opts, 0,
        {NULL}};
    int rc = rf_opt_parse(&ocmd, argc, argv);
    if (rc < 0) return rf_opt_status(rc);
    rf_query_t *q = open_or_complain(&cmd, &o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    json_t *j = rf_query_balance_json(q, o.user, o.program, &err, &eb);
    rc = finish(&cmd, &o, j, err, &eb, balance_table);
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
                            .by = o->by == 1 ? RF_BOARD_VALUE : RF_BOARD_REFERRALS,
                            .asset = o->asset};
}

/* The leaderboard (top K) or one user's rank on it, printed or as JSON. */
static int board_report(const qcmd_t *cmd, qopts_t *o, bool rank)
{
    rf_query_t *q = open_or_complain(cmd, o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    rf_board_sel_t sel = board_sel(o);
    rf_err_t err = RF_OK;
    json_t *j = rank ? rf_query_rank_json(q, &sel, o->user, &err, &eb)
                     : rf_query_top_json(q, &sel, o->top, &err, &eb);
    int rc = finish(cmd, o, j, err, &eb, rank ? rank_table : top_table);
    rf_query_close(q);
    return rc;
}

int rf_cmd_leaderboard(int argc, char **argv)
{
    static const qcmd_t cmd = {"leaderboard"};
    qopts_t o;
    qopts_init(&o);
    const rf_opt_t opts[] = {
        Q_DATA(&o),
        Q_PROGRAM(&o),
        Q_PERIOD(&o),
        Q_BY(&o),
        Q_ASSET(&o),
        RF_OPT_INT_RANGE(0, "top", &o.top, 1, RF_LEADERBOARD_TOP_MAX, "K", "entries to show"),
        Q_JSON(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t ocmd = {"leaderboard",
                               "refold leaderboard --data DIR --program P [--period P] "
                               "[--by referrals|value]\n"
                               "                          [--asset A] [--top K] [--json]",
                               query_desc,
                               opts,
                               0,
                               {NULL}};
    int rc = rf_opt_parse(&ocmd, argc, argv);
    return rc < 0 ? rf_opt_status(rc) : board_report(&cmd, &o, false);
}

int rf_cmd_rank(int argc, char **argv)
{
    static const qcmd_t cmd = {"rank"};
    qopts_t o;
    qopts_init(&o);
    const rf_opt_t opts[] = {
        Q_DATA(&o),  Q_PROGRAM(&o), Q_USER(&o),    Q_PERIOD(&o), Q_BY(&o),
        Q_ASSET(&o), Q_JSON(&o),    RF_OPT_HELP(), RF_OPT_END(),
    };
    const rf_opt_cmd_t ocmd = {"rank",
                               "refold rank --data DIR --program P --user U [--period P]\n"
                               "                   [--by referrals|value] [--asset A] [--json]",
                               query_desc,
                               opts,
                               0,
                               {NULL}};
    int rc = rf_opt_parse(&ocmd, argc, argv);
    return rc < 0 ? rf_opt_status(rc) : board_report(&cmd, &o, true);
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
    static const qcmd_t cmd = {"stats"};
    qopts_t o;
    qopts_init(&o);
    const rf_opt_t opts[] = {
        Q_DATA(&o), Q_PROGRAM(&o), Q_PERIOD(&o), Q_JSON(&o), RF_OPT_HELP(), RF_OPT_END(),
    };
    const rf_opt_cmd_t ocmd = {
        "stats", "refold stats --data DIR --program P [--period P] [--json]", query_desc, opts, 0,
        {NULL}};
    int rc = rf_opt_parse(&ocmd, argc, argv);
    if (rc < 0) return rf_opt_status(rc);
    rf_query_t *q = open_or_complain(&cmd, &o);
    if (!q) return 1;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    json_t *j = rf_query_stats_json(q, o.program, o.period, &err, &eb);
    rc = finish(&cmd, &o, j, err, &eb, stats_table);
    rf_query_close(q);
    return rc;
}
