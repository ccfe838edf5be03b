/* rf_opt.c: the table-driven option parser of every refold command (see
 * rf_opt.h): two passes over argv, the first finds --help and syntax errors
 * without storing anything, the second stores the values in order. */
#include "rf_opt.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Help layout: options indented by 2, their help from this column. */
#define HELP_COL   28
#define HELP_WIDTH 80 /* a default that would pass it goes on a line of its own */

typedef struct ctx {
    const rf_opt_cmd_t *cmd;
    FILE *out, *err;
    int pass; /* 1: check only, 2: store */
    int nopts;
    bool seen[RF_OPT_TABLE_MAX];
    char **argv;
    int npos;
} ctx_t;

static bool takes_value(const rf_opt_t *o)
{
    switch (o->kind) {
    case RF_OPT_STRING:
    case RF_OPT_INT:
    case RF_OPT_I64:
    case RF_OPT_U64:
    case RF_OPT_ENUM:
    case RF_OPT_LIST:
        return true;
    case RF_OPT_CALLBACK:
        return !(o->flags & RF_OPT_NOARG);
    default:
        return false;
    }
}

/* "--name" or "-x": how messages call an option. */
static const char *opt_name(const rf_opt_t *o, char *buf, size_t cap)
{
    if (o->long_name)
        snprintf(buf, cap, "--%s", o->long_name);
    else
        snprintf(buf, cap, "-%c", o->short_name);
    return buf;
}

static void print_usage_lines(const rf_opt_cmd_t *cmd, FILE *f)
{
    fprintf(f, "usage: %s\n", cmd->usage);
}

/* The default shown after an option's help, or "" for none. */
static void default_text(const rf_opt_t *o, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (o->flags & RF_OPT_REQUIRED) {
        snprintf(buf, cap, " (required)");
        return;
    }
    if (o->def) {
        snprintf(buf, cap, " (default: %s)", o->def);
        return;
    }
    if ((o->flags & RF_OPT_NODEFAULT) || !o->value) return;
    switch (o->kind) {
    case RF_OPT_STRING:
        if (*(const char **)o->value)
            snprintf(buf, cap, " (default: %s)", *(const char **)o->value);
        break;
    case RF_OPT_INT:
        snprintf(buf, cap, " (default: %d)", *(int *)o->value);
        break;
    case RF_OPT_I64:
        snprintf(buf, cap, " (default: %lld)", (long long)*(int64_t *)o->value);
        break;
    case RF_OPT_U64:
        snprintf(buf, cap, " (default: %llu)", (unsigned long long)*(uint64_t *)o->value);
        break;
    case RF_OPT_ENUM: {
        int i = *(int *)o->value, n = 0;
        while (o->names[n])
            n++;
        if (i >= 0 && i < n) snprintf(buf, cap, " (default: %s)", o->names[i]);
        break;
    }
    default:
        break;
    }
}

/* "-d, --data DIR", "    --by referrals|value", "-X name=value". */
static int left_text(const rf_opt_t *o, char *buf, size_t cap)
{
    int n;
    if (o->short_name && o->long_name)
        n = snprintf(buf, cap, "  -%c, --%s", o->short_name, o->long_name);
    else if (o->short_name)
        n = snprintf(buf, cap, "  -%c", o->short_name);
    else
        n = snprintf(buf, cap, "      --%s", o->long_name);
    if (!takes_value(o) || n < 0 || (size_t)n >= cap) return n;
    if (o->argh) return n + snprintf(buf + n, cap - (size_t)n, " %s", o->argh);
    if (o->kind != RF_OPT_ENUM) return n + snprintf(buf + n, cap - (size_t)n, " VALUE");
    for (int i = 0; o->names[i] && (size_t)n < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%c%s", i ? '|' : ' ', o->names[i]);
    return n;
}

static void print_option(const rf_opt_t *o, FILE *f)
{
    char left[256], def[256];
    int n = left_text(o, left, sizeof left);
    default_text(o, def, sizeof def);
    fputs(left, f);
    if (n > HELP_COL - 2)
        fprintf(f, "\n%*s", HELP_COL, "");
    else
        fprintf(f, "%*s", HELP_COL - n, "");
    const char *help = o->help ? o->help : "";
    for (const char *p = help; *p; p++) {
        fputc(*p, f);
        if (*p == '\n') fprintf(f, "%*s", HELP_COL, "");
    }
    const char *last = strrchr(help, '\n');
    size_t last_len = strlen(last ? last + 1 : help);
    if (def[0] && HELP_COL + last_len + strlen(def) > HELP_WIDTH)
        fprintf(f, "\n%*s%s\n", HELP_COL, "", def + 1);
    else
        fprintf(f, "%s\n", def);
}

static void print_options(const rf_opt_cmd_t *cmd, FILE *f)
{
    for (const rf_opt_t *o = cmd->opts; o->kind != RF_OPT_END; o++) {
        if (o->kind == RF_OPT_GROUP)
            fprintf(f, "%s\n", o->help);
        else
            print_option(o, f);
    }
}

void rf_opt_help(const rf_opt_cmd_t *cmd, FILE *f)
{
    print_usage_lines(cmd, f);
    if (cmd->desc) fprintf(f, "\n%s\n", cmd->desc);
    fprintf(f, "\n");
    print_options(cmd, f);
    for (int i = 0; i < RF_OPT_NOTES_MAX && cmd->notes[i]; i++)
        fprintf(f, "\n%s", cmd->notes[i]);
}

static int vfail(const rf_opt_cmd_t *cmd, FILE *f, const char *fmt, va_list ap)
{
    fprintf(f, "refold %s: ", cmd->name);
    vfprintf(f, fmt, ap);
    fprintf(f, "\n");
    /* the usage lines only: the option list would show values already
     * parsed as defaults; --help has it */
    print_usage_lines(cmd, f);
    fprintf(f, "(see 'refold %s --help')\n", cmd->name);
    return RF_OPT_FAILED;
}

__attribute__((format(printf, 2, 3))) static int fail(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c->cmd, c->err, fmt, ap);
    va_end(ap);
    return RF_OPT_FAILED;
}

int rf_opt_error(const rf_opt_cmd_t *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(cmd, stderr, fmt, ap);
    va_end(ap);
    return 2;
}

rf_err_t rf_opt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                          const char *what, rf_errbuf_t *eb)
{
    RF_ASSERT(min <= max && out != NULL);
    what = what ? what : "value";
    /* strtoull accepts a sign and spaces: only digits here */
    bool digits = s && *s;
    for (const char *p = s; digits && *p; p++)
        digits = isdigit((unsigned char)*p);
    if (!digits)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: '%s' is not an integer", what, s ? s : "");
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: %s is out of range [%llu, %llu]", what, s,
                       (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)v;
    return RF_OK;
}

static rf_err_t parse_enum(const rf_opt_t *o, const char *arg, const char *name, rf_errbuf_t *eb)
{
    char list[256] = "";
    size_t n = 0;
    for (int i = 0; o->names[i]; i++) {
        if (!strcmp(o->names[i], arg)) {
            *(int *)o->value = i;
            return RF_OK;
        }
        n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s",
                              i ? ", " : "", o->names[i]);
        if (n >= sizeof list) n = sizeof list - 1;
    }
    return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: '%s' is not one of %s", name, arg, list);
}

/* Converts and stores one value (pass 2). */
static rf_err_t store(const rf_opt_t *o, const char *arg, rf_errbuf_t *eb)
{
    char name[128];
    opt_name(o, name, sizeof name);
    int64_t v = 0;
    rf_err_t err = RF_OK;
    switch (o->kind) {
    case RF_OPT_STRING:
        *(const char **)o->value = arg;
        return RF_OK;
    case RF_OPT_INT:
        RF_ASSERT(o->min >= INT32_MIN && o->max <= INT32_MAX);
        err = rf_parse_i64(arg, o->min, o->max, &v, name, eb);
        if (!err) *(int *)o->value = (int)v;
        return err;
    case RF_OPT_I64:
        return rf_parse_i64(arg, o->min, o->max, (int64_t *)o->value, name, eb);
    case RF_OPT_U64:
        RF_ASSERT(o->min >= 0);
        return rf_opt_parse_u64(arg, (uint64_t)o->min, o->umax, (uint64_t *)o->value, name, eb);
    case RF_OPT_FLAG:
        *(int *)o->value = o->set;
        return RF_OK;
    case RF_OPT_BOOL:
        *(bool *)o->value = true;
        return RF_OK;
    case RF_OPT_ENUM:
        return parse_enum(o, arg, name, eb);
    case RF_OPT_LIST: {
        rf_opt_list_t *l = o->value;
        if (l->n >= RF_OPT_LIST_MAX)
            return rf_errf(eb, RF_ERR_CONFIG, "%s: at most %d values", name, RF_OPT_LIST_MAX);
        l->v[l->n++] = arg;
        return RF_OK;
    }
    case RF_OPT_CALLBACK:
        return o->cb(o, arg, eb);
    default:
        RF_ASSERT(!"option kind without a value to store");
    }
    return RF_OK;
}

/* One option occurrence, arg NULL for those without a value. */
static int visit(ctx_t *c, const rf_opt_t *o, const char *arg)
{
    if (o->kind == RF_OPT_HELP) {
        if (c->pass == 2) return 0;
        rf_opt_help(c->cmd, c->out);
        return RF_OPT_HELP_SHOWN;
    }
    if (c->pass == 1) return 0;
    c->seen[o - c->cmd->opts] = true;
    rf_errbuf_t eb = {{0}};
    if (store(o, arg, &eb) != RF_OK) return fail(c, "%s", eb.msg);
    return 0;
}

/* The entry of a long name: exact, else a unique prefix (as getopt_long). */
static int find_long(ctx_t *c, const char *name, size_t len)
{
    const rf_opt_t *opts = c->cmd->opts;
    int found = -1, nprefix = 0;
    for (int i = 0; i < c->nopts; i++) {
        const char *l = opts[i].long_name;
        if (!l || strncmp(l, name, len)) continue;
        if (!l[len]) return i;
        found = i, nprefix++;
    }
    return nprefix == 1 ? found : nprefix > 1 ? -2 : -1;
}

static int long_opt(ctx_t *c, const char *tok, int *i, int argc, char **argv)
{
    const char *eq = strchr(tok, '=');
    size_t len = eq ? (size_t)(eq - tok) : strlen(tok);
    int k = find_long(c, tok, len);
    if (k == -2) return fail(c, "ambiguous option '--%.*s'", (int)len, tok);
    if (k < 0) return fail(c, "unknown option '--%.*s'", (int)len, tok);
    const rf_opt_t *o = &c->cmd->opts[k];
    if (!takes_value(o)) {
        if (eq) return fail(c, "option '--%s' takes no value", o->long_name);
        return visit(c, o, NULL);
    }
    if (eq) return visit(c, o, eq + 1);
    if (*i + 1 >= argc) return fail(c, "option '--%s' requires a value", o->long_name);
    return visit(c, o, argv[++*i]);
}

/* "-x", "-xVALUE", "-x VALUE", "-jV" (flags grouped). */
static int short_opts(ctx_t *c, const char *tok, int *i, int argc, char **argv)
{
    for (const char *p = tok; *p; p++) {
        int k = -1;
        for (int j = 0; j < c->nopts && k < 0; j++)
            if (c->cmd->opts[j].short_name == *p) k = j;
        if (k < 0) return fail(c, "unknown option '-%c'", *p);
        const rf_opt_t *o = &c->cmd->opts[k];
        char name[128];
        int rc;
        if (!takes_value(o))
            rc = visit(c, o, NULL);
        else if (p[1])
            return visit(c, o, p + 1);
        else if (*i + 1 >= argc)
            return fail(c, "option '%s' requires a value", opt_name(o, name, sizeof name));
        else
            return visit(c, o, argv[++*i]);
        if (rc) return rc;
    }
    return 0;
}

static int walk(ctx_t *c, int argc, char **argv)
{
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        int rc = 0;
        if (only_args || tok[0] != '-' || !tok[1]) {
            if (c->pass == 2) c->argv[1 + c->npos++] = argv[i];
        } else if (!strcmp(tok, "--")) {
            only_args = true;
        } else if (tok[1] == '-') {
            rc = long_opt(c, tok + 2, &i, argc, argv);
        } else {
            rc = short_opts(c, tok + 1, &i, argc, argv);
        }
        if (rc) return rc;
    }
    return 0;
}

static int check_required(ctx_t *c)
{
    for (int i = 0; i < c->nopts; i++) {
        const rf_opt_t *o = &c->cmd->opts[i];
        char name[128];
        if ((o->flags & RF_OPT_REQUIRED) && !c->seen[i])
            return fail(c, "%s is required", opt_name(o, name, sizeof name));
    }
    return 0;
}

int rf_opt_parse_to(const rf_opt_cmd_t *cmd, int argc, char **argv, FILE *out, FILE *err)
{
    RF_ASSERT(cmd && cmd->opts && argc >= 1);
    ctx_t c = {.cmd = cmd, .out = out, .err = err, .pass = 1};
    while (cmd->opts[c.nopts].kind != RF_OPT_END)
        c.nopts++;
    RF_ASSERT(c.nopts <= RF_OPT_TABLE_MAX);
    int rc = walk(&c, argc, argv);
    if (rc) return rc;
    /* positional arguments are compacted in place from argv[1]: slot
     * 1 + npos is never ahead of the token being read, so nothing unread is
     * overwritten */
    c.pass = 2;
    c.argv = argv;
    rc = walk(&c, argc, argv);
    argv[1 + c.npos] = NULL;
    if (rc) return rc;
    if ((rc = check_required(&c)) != 0) return rc;
    if (cmd->args_max >= 0 && c.npos > cmd->args_max)
        return fail(&c, "unexpected argument '%s'", argv[1 + cmd->args_max]);
    RF_ASSERT(1 + c.npos <= argc);
    return c.npos;
}

int rf_opt_parse(const rf_opt_cmd_t *cmd, int argc, char **argv)
{
    return rf_opt_parse_to(cmd, argc, argv, stdout, stderr);
}
