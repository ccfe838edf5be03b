/* test_opt.c: the option parser of every command (common/rf_opt.h): each
 * kind, ranges, `--name=value`, short options, positional arguments, the
 * errors and the generated help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_opt.h"
#include "rf_testutil.h"

/* Every kind of option, the variables it sets, and a callback's log. */
typedef struct vars {
    const char *data, *name;
    int count, json, verbose, by;
    int64_t offset;
    uint64_t seed;
    bool force;
    rf_opt_list_t tags;
    char seen[256]; /* what the callback was given, in order */
} vars_t;

static rf_err_t on_x(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    vars_t *v = opt->value;
    if (!strchr(arg, '=')) return rf_errf(eb, RF_ERR_CONFIG, "-X '%s': expected name=value", arg);
    strncat(v->seen, arg, sizeof v->seen - strlen(v->seen) - 2);
    strcat(v->seen, ";");
    return RF_OK;
}

static const char *const by_names[] = {"referrals", "value", NULL};

/* One parse of the words of line (space separated) with every kind of
 * option; out and err get what the parser printed. */
typedef struct run {
    vars_t v;
    char buf[512];
    char *argv[32];
    int argc;
    char *out, *err;
    int rc;
} run_t;

static void parse(run_t *r, const char *line)
{
    memset(&r->v, 0, sizeof r->v);
    r->v.name = "anon";
    r->v.count = 3;
    r->v.offset = -1;
    r->v.seed = 1;
    vars_t *v = &r->v;
    const rf_opt_t opts[] = {
        RF_OPT_DATA(&v->data, .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('n', "name", &v->name, "NAME", "who"),
        RF_OPT_INT_RANGE('c', "count", &v->count, 1, 10, "N", "how many"),
        RF_OPT_I64_RANGE(0, "offset", &v->offset, 0, INT64_MAX, "O", "where", .def = "the first"),
        RF_OPT_U64_RANGE(0, "seed", &v->seed, 0, UINT64_MAX, "S", "PRNG seed"),
        RF_OPT_FLAG('j', "json", &v->json, "print JSON"),
        RF_OPT_SET_INT('v', "verbose", &v->verbose, 2, "say more\nmuch more"),
        RF_OPT_BOOL(0, "force", &v->force, "do it anyway"),
        RF_OPT_ENUM(0, "by", &v->by, by_names, NULL, "board"),
        RF_OPT_LIST('t', "tag", &v->tags, "T", "a tag (repeatable)"),
        RF_OPT_X(on_x, v),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {"tool",
                              "refold tool --data DIR [options] [ARG...]",
                              "Tests the option parser.",
                              opts,
                              2,
                              {"Settings forced after -X:\n  acks=all: why\n", NULL}};
    assert_true(strlen(line) < sizeof r->buf);
    strcpy(r->buf, line);
    r->argc = 0;
    r->argv[r->argc++] = "tool";
    for (char *save = NULL, *w = strtok_r(r->buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        r->argv[r->argc++] = w;
    r->argv[r->argc] = NULL;
    size_t no = 0, ne = 0;
    FILE *out = open_memstream(&r->out, &no), *err = open_memstream(&r->err, &ne);
    assert_non_null(out);
    assert_non_null(err);
    r->rc = rf_opt_parse_to(&cmd, r->argc, r->argv, out, err);
    fclose(out);
    fclose(err);
}

static void done(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void test_kinds(void **state)
{
    (void)state;
    run_t r;
    parse(&r, "--data /d --name bob --count 7 --offset 42 --seed 18446744073709551615 --json "
              "--verbose --force --by value --tag a --tag b -X acks=all -X linger.ms=5");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.v.data, "/d");
    assert_string_equal(r.v.name, "bob");
    assert_int_equal(r.v.count, 7);
    assert_int_equal(r.v.offset, 42);
    assert_true(r.v.seed == UINT64_MAX);
    assert_int_equal(r.v.json, 1);
    assert_int_equal(r.v.verbose, 2);
    assert_true(r.v.force);
    assert_int_equal(r.v.by, 1);
    assert_int_equal(r.v.tags.n, 2);
    assert_string_equal(r.v.tags.v[0], "a");
    assert_string_equal(r.v.tags.v[1], "b");
    assert_string_equal(r.v.seen, "acks=all;linger.ms=5;");
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    done(&r);

    /* defaults stay when not given; the last of a repeated option wins */
    parse(&r, "--data /d --count 2 --count 9");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.v.name, "anon");
    assert_int_equal(r.v.count, 9);
    assert_int_equal(r.v.offset, -1);
    assert_int_equal(r.v.json, 0);
    assert_false(r.v.force);
    assert_int_equal(r.v.by, 0);
    done(&r);
}

static void test_forms(void **state)
{
    (void)state;
    run_t r;
    /* --name=value, short options with the value apart, attached, grouped
     * flags, a unique prefix of a long name */
    parse(&r, "--data=/x -n alice -c5 -jv -Xa=b --forc --of=7");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.v.data, "/x");
    assert_string_equal(r.v.name, "alice");
    assert_int_equal(r.v.count, 5);
    assert_int_equal(r.v.json, 1);
    assert_int_equal(r.v.verbose, 2);
    assert_string_equal(r.v.seen, "a=b;");
    assert_true(r.v.force);
    assert_int_equal(r.v.offset, 7);
    done(&r);

    /* a value may start with '-'; "=" inside a value is kept */
    parse(&r, "--data -weird --name=a=b");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.v.data, "-weird");
    assert_string_equal(r.v.name, "a=b");
    done(&r);
}

static void test_positional(void **state)
{
    (void)state;
    run_t r;
    parse(&r, "first --data /d second");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.argv[0], "tool");
    assert_string_equal(r.argv[1], "first");
    assert_string_equal(r.argv[2], "second");
    assert_null(r.argv[3]);
    assert_string_equal(r.v.data, "/d");
    done(&r);

    /* after "--" everything is an argument; "-" alone is one */
    parse(&r, "--data /d -- --json");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.argv[1], "--json");
    assert_int_equal(r.v.json, 0);
    done(&r);
    parse(&r, "--data /d -");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.argv[1], "-");
    done(&r);

    /* at most args_max (2) */
    parse(&r, "--data /d a b c");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "refold tool: unexpected argument 'c'\n"));
    done(&r);
}

static void test_ranges(void **state)
{
    (void)state;
    run_t r;
    parse(&r, "--data /d --count 10");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.v.count, 10);
    done(&r);
    parse(&r, "--data /d --count 1");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.v.count, 1);
    done(&r);

    parse(&r, "--data /d --count 11");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "refold tool: --count: 11 is out of range [1, 10]\n"));
    done(&r);
    parse(&r, "--data /d -c 0");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "--count: 0 is out of range [1, 10]"));
    done(&r);
    parse(&r, "--data /d --count x");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "refold tool: --count: 'x' is not an integer\n"));
    done(&r);
    parse(&r, "--data /d --count 5x");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "'5x' is not an integer"));
    done(&r);
    parse(&r, "--data /d --offset -1");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "--offset: -1 is out of range"));
    done(&r);
    parse(&r, "--data /d --seed 18446744073709551616");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "--seed: 18446744073709551616 is out of range"));
    done(&r);
    parse(&r, "--data /d --seed -1");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "--seed: '-1' is not an integer"));
    done(&r);
    parse(&r, "--data /d --by votes");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "--by: 'votes' is not one of referrals, value"));
    done(&r);
    parse(&r, "--data /d -X novalue");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "refold tool: -X 'novalue': expected name=value\n"));
    done(&r);
}

static void test_errors(void **state)
{
    (void)state;
    run_t r;
    parse(&r, "--data /d --foo");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_int_equal(rf_opt_status(r.rc), 2);
    assert_non_null(strstr(r.err, "refold tool: unknown option '--foo'\n"));
    assert_non_null(strstr(r.err, "usage: refold tool --data DIR [options] [ARG...]\n"));
    assert_string_equal(r.out, "");
    done(&r);
    parse(&r, "--data /d --foo=1");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "unknown option '--foo'"));
    done(&r);
    parse(&r, "--data /d -q");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "unknown option '-q'"));
    done(&r);
    /* a unique prefix (--na: --name) that needs a value, given none */
    parse(&r, "--data /d --na");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "option '--name' requires a value"));
    done(&r);
    parse(&r, "--data /d -n");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "option '--name' requires a value"));
    done(&r);
    parse(&r, "--data /d --json=yes");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "option '--json' takes no value"));
    done(&r);
    parse(&r, "--json");
    assert_int_equal(r.rc, RF_OPT_FAILED);
    assert_non_null(strstr(r.err, "refold tool: --data is required\n"));
    done(&r);
}

static void test_ambiguous(void **state)
{
    (void)state;
    const char *a = NULL, *b = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "dry-run", &a, "X", "one"),
        RF_OPT_STR(0, "data", &b, "DIR", "two"),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {"amb", "refold amb", NULL, opts, 0, {NULL}};
    char *argv[] = {"amb", "--d", "x", NULL};
    char *err = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&err, &n);
    assert_int_equal(rf_opt_parse_to(&cmd, 3, argv, stdout, f), RF_OPT_FAILED);
    fclose(f);
    assert_non_null(strstr(err, "refold amb: ambiguous option '--d'"));
    free(err);
    /* an exact name wins over being a prefix of another */
    const rf_opt_t opts2[] = {
        RF_OPT_STR(0, "to", &a, "T", "to"),
        RF_OPT_STR(0, "topic", &b, "T", "topic"),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd2 = {"amb", "refold amb", NULL, opts2, 0, {NULL}};
    char *argv2[] = {"amb", "--to", "x", NULL};
    assert_int_equal(rf_opt_parse_to(&cmd2, 3, argv2, stdout, stderr), 0);
    assert_string_equal(a, "x");
    assert_null(b);
}

static void test_help(void **state)
{
    (void)state;
    run_t r;
    /* --help wins over a missing required option and stores nothing */
    parse(&r, "--count 4 --help");
    assert_int_equal(r.rc, RF_OPT_HELP_SHOWN);
    assert_int_equal(rf_opt_status(r.rc), 0);
    assert_int_equal(r.v.count, 3);
    assert_string_equal(r.err, "");
    const char *h = r.out;
    assert_true(strncmp(h,
                        "usage: refold tool --data DIR [options] [ARG...]\n\n"
                        "Tests the option parser.\n\n",
                        strlen("usage: refold tool --data DIR [options] [ARG...]\n\n"
                               "Tests the option parser.\n\n")) == 0);
    static const char *const lines[] = {
        "      --data DIR            data directory (required)\n",
        "  -n, --name NAME           who (default: anon)\n",
        "  -c, --count N             how many (default: 3)\n",
        "      --offset O            where (default: the first)\n",
        "      --seed S              PRNG seed (default: 1)\n",
        "  -j, --json                print JSON\n",
        "  -v, --verbose             say more\n                            much more\n",
        "      --force               do it anyway\n",
        "      --by referrals|value  board (default: referrals)\n",
        "  -t, --tag T               a tag (repeatable)\n",
        "  -X name=value             librdkafka property",
        "  -h, --help                show this help\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(h, lines[i])) fail_msg("help lacks '%s':\n%s", lines[i], h);
    /* notes come after the options, each after a blank line */
    assert_non_null(strstr(h, "show this help\n\nSettings forced after -X:\n  acks=all: why\n"));
    done(&r);

    parse(&r, "-h");
    assert_int_equal(r.rc, RF_OPT_HELP_SHOWN);
    assert_non_null(strstr(r.out, "--tag T"));
    done(&r);
}

static void test_parse_u64(void **state)
{
    (void)state;
    uint64_t v = 0;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_opt_parse_u64("0", 0, 5, &v, "n", &eb), RF_OK);
    assert_true(v == 0);
    assert_int_equal(rf_opt_parse_u64("+1", 0, 5, &v, "n", &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_opt_parse_u64(" 1", 0, 5, &v, "n", &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_opt_parse_u64("", 0, 5, &v, "n", &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_opt_parse_u64("6", 0, 5, &v, "n", &eb), RF_ERR_BAD_INPUT);
    assert_string_equal(eb.msg, "n: 6 is out of range [0, 5]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),      cmocka_unit_test(test_forms),
        cmocka_unit_test(test_positional), cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_ambiguous),
        cmocka_unit_test(test_help),       cmocka_unit_test(test_parse_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
