/* rf_opt.h: the one command-line option parser (git's parse-options): each
 * command describes its options in a table; the parser reads argv, checks
 * every value, and generates `--help` and the usage shown on errors. */
#ifndef RF_OPT_H
#define RF_OPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rf_common.h"

/* At most this many entries in one table (the parser tracks which were
 * given in a fixed array; loadgen, the largest command, has about 35). */
#define RF_OPT_TABLE_MAX 64

typedef enum rf_opt_kind {
    RF_OPT_END = 0,  /* ends the table */
    RF_OPT_STRING,   /* const char **: the argument, borrowed from argv */
    RF_OPT_INT,      /* int *: a decimal integer in [min, max] */
    RF_OPT_I64,      /* int64_t *: a decimal integer in [min, max] */
    RF_OPT_U64,      /* uint64_t *: a decimal integer in [min, umax] (min >= 0) */
    RF_OPT_FLAG,     /* int *: set to `set` (1 for RF_OPT_FLAG); takes no value */
    RF_OPT_BOOL,     /* bool *: set to true; takes no value */
    RF_OPT_ENUM,     /* int *: the index of the argument in names (NULL-terminated) */
    RF_OPT_LIST,     /* rf_opt_list_t *: every argument, in order (repeatable) */
    RF_OPT_CALLBACK, /* cb(opt, arg, eb) in command-line order; arg NULL with RF_OPT_NOARG */
    RF_OPT_GROUP,    /* no option: a heading ("output:") in the generated help */
    RF_OPT_HELP,     /* -h, --help: print the help to stdout, parse returns RF_OPT_HELP_SHOWN */
} rf_opt_kind_t;

/* rf_opt_t.flags */
#define RF_OPT_REQUIRED  0x1 /* an error when not given ("--data is required") */
#define RF_OPT_NOARG     0x2 /* a callback that takes no value */
#define RF_OPT_NODEFAULT 0x4 /* do not show the current value as the default */

typedef struct rf_opt rf_opt_t;

/* A callback option: arg is borrowed from argv (NULL with RF_OPT_NOARG).
 * Returns RF_OK, or an error with a message in eb naming the option (the
 * parser prints "refold <cmd>: <eb->msg>" and the usage). */
typedef rf_err_t(rf_opt_cb_t)(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb);

struct rf_opt {
    rf_opt_kind_t kind;
    char short_name;          /* 0: none */
    const char *long_name;    /* NULL: none (then short_name is set) */
    void *value;              /* where the value goes; type per kind */
    const char *argh;         /* the value's name in the help ("N", "DIR") */
    const char *help;         /* one or more lines ('\n'), no trailing newline */
    int flags;                /* RF_OPT_REQUIRED | RF_OPT_NOARG | RF_OPT_NODEFAULT */
    int64_t min, max;         /* RF_OPT_INT, RF_OPT_I64; min also for RF_OPT_U64 */
    uint64_t umax;            /* RF_OPT_U64 */
    int set;                  /* RF_OPT_FLAG: the value stored */
    const char *const *names; /* RF_OPT_ENUM: the allowed values, NULL-terminated */
    rf_opt_cb_t *cb;          /* RF_OPT_CALLBACK */
    const char *def;          /* the default shown in the help, instead of the current value */
};

/* A repeatable string option: every value in order, borrowed from argv. */
#define RF_OPT_LIST_MAX 64
typedef struct rf_opt_list {
    int n;
    const char *v[RF_OPT_LIST_MAX];
} rf_opt_list_t;

/* One command (or subcommand: name "dlq list") and its options. */
#define RF_OPT_NOTES_MAX 4
typedef struct rf_opt_cmd {
    const char *name;  /* after "refold ": "broker", "program apply" */
    const char *usage; /* the usage line(s) without "usage: " ("refold broker [options]"),
                          continuation lines indented as they should print */
    const char *desc;  /* paragraphs explaining the command, or NULL */
    const rf_opt_t *opts;
    int args_max; /* positional arguments allowed: 0 none, -1 any number */
    /* Paragraphs printed after the options in --help (NULL: none), e.g. the
     * Kafka settings a command's clients force (rf_kafka_forced_help). */
    const char *notes[RF_OPT_NOTES_MAX];
} rf_opt_cmd_t;

/* What rf_opt_parse returns besides a count of positional arguments. */
#define RF_OPT_HELP_SHOWN (-1) /* --help was given and printed: exit 0 */
#define RF_OPT_FAILED     (-2) /* an error was printed with the usage: exit 2 */

/* Parses argv[1..argc-1] (argv[0] is the command's name) against cmd->opts.
 * Accepts `--name value`, `--name=value`, a unique prefix of a long name,
 * `-x value`, `-xvalue`, grouped short flags (`-jV`), and "--" to end the
 * options. Options and positional arguments may be mixed; the positional
 * ones are moved, in order, to argv[1..n] (argv[n + 1] = NULL; argv[0] is
 * kept) and n is returned. Values are stored in command-line order (the last one wins);
 * string values point into argv (borrowed: they live as long as argv).
 * --help anywhere: the help goes to stdout, nothing is stored, and
 * RF_OPT_HELP_SHOWN is returned. On the first error (unknown or ambiguous
 * option, missing value, a value that does not parse or is out of range, a
 * callback's error, a required option missing, too many arguments) prints
 * "refold <cmd>: <what>" and the usage line(s) to stderr and returns RF_OPT_FAILED;
 * values before the error may have been stored. */
int rf_opt_parse(const rf_opt_cmd_t *cmd, int argc, char **argv);

/* rf_opt_parse writing to out (help) and err (errors): for tests. */
int rf_opt_parse_to(const rf_opt_cmd_t *cmd, int argc, char **argv, FILE *out, FILE *err);

/* The exit status for a negative rf_opt_parse result: 0 after --help, 2. */
static inline int rf_opt_status(int rc)
{
    return rc == RF_OPT_HELP_SHOWN ? 0 : 2;
}

/* Prints the generated help: usage, description, then each option with its
 * help and default (the current value of its variable, or opt->def). */
void rf_opt_help(const rf_opt_cmd_t *cmd, FILE *f);

/* For errors a command finds after parsing (options that exclude each
 * other...): prints "refold <cmd>: <msg>" and the usage line(s) to stderr; returns 2,
 * the exit status. */
int rf_opt_error(const rf_opt_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a whole decimal unsigned integer in [min, max] (what names it in the
 * message), the unsigned twin of rf_parse_i64 for values above INT64_MAX. */
rf_err_t rf_opt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                          const char *what, rf_errbuf_t *eb);

/* ---- table entries (git's OPT_*); v is the variable's address, type-checked.
 * Extra designated initializers may follow: .flags = RF_OPT_REQUIRED, .def = "x". */
#define RF__OPT_PTR(type, v) (1 ? (v) : (type *)0)
/* A numeric macro as text, for .def: .def = RF_OPT_STRINGIFY(RF_HTTP_THREADS). */
#define RF__OPT_STR2(x)     #x
#define RF_OPT_STRINGIFY(x) RF__OPT_STR2(x)

#define RF_OPT_STR(s, l, v, a, h, ...)                                                             \
    {                                                                                              \
        .kind = RF_OPT_STRING, .short_name = (s), .long_name = (l),                                \
        .value = RF__OPT_PTR(const char *, v), .argh = (a), .help = (h), __VA_ARGS__               \
    }
#define RF_OPT_INT_RANGE(s, l, v, lo, hi, a, h, ...)                                               \
    {                                                                                              \
        .kind = RF_OPT_INT, .short_name = (s), .long_name = (l), .value = RF__OPT_PTR(int, v),     \
        .min = (lo), .max = (hi), .argh = (a), .help = (h), __VA_ARGS__                            \
    }
#define RF_OPT_I64_RANGE(s, l, v, lo, hi, a, h, ...)                                               \
    {                                                                                              \
        .kind = RF_OPT_I64, .short_name = (s), .long_name = (l), .value = RF__OPT_PTR(int64_t, v), \
        .min = (lo), .max = (hi), .argh = (a), .help = (h), __VA_ARGS__                            \
    }
#define RF_OPT_U64_RANGE(s, l, v, lo, hi, a, h, ...)                                               \
    {                                                                                              \
        .kind = RF_OPT_U64, .short_name = (s), .long_name = (l),                                   \
        .value = RF__OPT_PTR(uint64_t, v), .min = (lo), .umax = (hi), .argh = (a), .help = (h),    \
        __VA_ARGS__                                                                                \
    }
#define RF_OPT_SET_INT(s, l, v, val, h, ...)                                                       \
    {                                                                                              \
        .kind = RF_OPT_FLAG, .short_name = (s), .long_name = (l), .value = RF__OPT_PTR(int, v),    \
        .set = (val), .help = (h), __VA_ARGS__                                                     \
    }
#define RF_OPT_FLAG(s, l, v, h, ...) RF_OPT_SET_INT(s, l, v, 1, h, __VA_ARGS__)
#define RF_OPT_BOOL(s, l, v, h, ...)                                                               \
    {                                                                                              \
        .kind = RF_OPT_BOOL, .short_name = (s), .long_name = (l), .value = RF__OPT_PTR(bool, v),   \
        .help = (h), __VA_ARGS__                                                                   \
    }
#define RF_OPT_ENUM(s, l, v, list, a, h, ...)                                                      \
    {                                                                                              \
        .kind = RF_OPT_ENUM, .short_name = (s), .long_name = (l), .value = RF__OPT_PTR(int, v),    \
        .names = (list), .argh = (a), .help = (h), __VA_ARGS__                                     \
    }
#define RF_OPT_LIST(s, l, v, a, h, ...)                                                            \
    {                                                                                              \
        .kind = RF_OPT_LIST, .short_name = (s), .long_name = (l),                                  \
        .value = RF__OPT_PTR(rf_opt_list_t, v), .argh = (a), .help = (h), __VA_ARGS__              \
    }
#define RF_OPT_CALLBACK(s, l, v, a, fn, h, ...)                                                    \
    {                                                                                              \
        .kind = RF_OPT_CALLBACK, .short_name = (s), .long_name = (l), .value = (v), .argh = (a),   \
        .cb = (fn), .help = (h), __VA_ARGS__                                                       \
    }
#define RF_OPT_CALLBACK_NOARG(s, l, v, fn, h, ...)                                                 \
    {                                                                                              \
        .kind = RF_OPT_CALLBACK, .short_name = (s), .long_name = (l), .value = (v), .cb = (fn),    \
        .flags = RF_OPT_NOARG, .help = (h), __VA_ARGS__                                            \
    }
#define RF_OPT_GROUP(h)                                                                            \
    {                                                                                              \
        .kind = RF_OPT_GROUP, .help = (h)                                                          \
    }
#define RF_OPT_HELP()                                                                              \
    {                                                                                              \
        .kind = RF_OPT_HELP, .short_name = 'h', .long_name = "help", .help = "show this help"      \
    }
#define RF_OPT_END()                                                                               \
    {                                                                                              \
        .kind = RF_OPT_END                                                                         \
    }

/* ---- the options many commands share ---- */
#define RF_OPT_DATA(v, ...) RF_OPT_STR(0, "data", v, "DIR", "data directory", __VA_ARGS__)
#define RF_OPT_BROKERS(v, ...)                                                                     \
    RF_OPT_STR(0, "brokers", v, "HOST:PORT", "Kafka bootstrap servers", __VA_ARGS__)
#define RF_OPT_JSON(v, h) RF_OPT_FLAG(0, "json", v, h)
/* -X name=value, any librdkafka property: refold_common does not link
 * librdkafka, so the command supplies the callback (rf_kafka_opts_add_x on
 * its rf_kafka_opts_t, see cmd/rf_cmd_opt.h). */
#define RF_OPT_X(fn, v)                                                                            \
    RF_OPT_CALLBACK('X', NULL, v, "name=value", fn,                                                \
                    "librdkafka property (repeatable; overrides defaults)")

#endif
