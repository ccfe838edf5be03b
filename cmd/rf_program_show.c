/* rf_program_show.c: `refold program show`: the version and rules a
 * program runs under in the fold ledgers (or every program, or its history). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_ledger.h"
#include "rf_opt.h"
#include "rf_program_int.h"
#include "rf_rules.h"

#define PS "refold program show: "

/* ---- show ------------------------------------------------------------------ */

/* The rules to print: as stored, or (effective) as the fold compiles them. */
static json_t *show_rules(const char *program, const rf_program_live_t *lv, bool effective)
{
    char *eff = NULL;
    rf_errbuf_t eb = {{0}};
    if (effective && rf_rules_effective_json(lv->rules, &eff, &eb) != RF_OK) {
        /* the fold accepted these rules, so this is a damaged ledger */
        fprintf(stderr, PS "stored rules of program '%s' do not compile: %s\n", program, eb.msg);
        return NULL;
    }
    json_t *rules = json_loads(effective ? eff : lv->rules, JSON_REJECT_DUPLICATES, NULL);
    free(eff);
    if (!rules) fprintf(stderr, PS "stored rules of program '%s' are not JSON\n", program);
    return rules;
}

static int show_print(const char *program, const rf_program_live_t *lv, bool effective, bool json)
{
    json_t *rules = show_rules(program, lv, effective);
    if (!rules) return 1;
    if (json) {
        json_t *o = json_pack("{s:s, s:i, s:i, s:I, s:o}", "program", program, "version",
                              (int)lv->version, "partition", (int)lv->partition, "next_offset",
                              (json_int_t)lv->next_offset, "rules", rules);
        json_dumpf(o, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(o);
        return 0;
    }
    printf("program %s: version %d (partition %d, next offset to fold %" PRId64 ")%s\n", program,
           (int)lv->version, (int)lv->partition, lv->next_offset,
           effective ? ", effective rules" : "");
    json_dumpf(rules, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(rules);
    return 0;
}

static int show_one(const char *data, const char *program, bool effective, bool json)
{
    rf_program_live_t *lv = malloc(sizeof *lv);
    rf_errbuf_t eb = {{0}};
    rf_err_t err = lv ? rf__program_find_live(data, program, lv, &eb)
                      : rf_errf(&eb, RF_ERR_NOMEM, "no memory");
    int rc = 0;
    if (err) {
        fprintf(stderr, PS "%s\n", eb.msg);
        rc = 1;
    } else if (!lv->found) {
        fprintf(stderr, PS "program '%s' has no rules in the %d fold ledgers under '%s/fold'\n",
                program, lv->nledgers, data);
        rc = 1;
    } else {
        if (lv->nfound > 1)
            fprintf(stderr,
                    PS "program '%s' has rules in %d partitions; showing the highest "
                       "version\n",
                    program, lv->nfound);
        rc = show_print(program, lv, effective, json);
    }
    free(lv);
    return rc;
}

/* Rows of `show` without --program (every program) or with --history. */
typedef struct rows {
    const char *data;
    bool effective, history, json;
    int32_t partition; /* of the ledger being read */
    int n;
    json_t *arr; /* --json */
    rf_err_t err;
    rf_errbuf_t eb;
} rows_t;

static int on_program_row(const char *program, int32_t version, const char *rules_json,
                          void *opaque)
{
    rows_t *r = opaque;
    char *eff = NULL;
    if (r->effective && (r->err = rf_rules_effective_json(rules_json, &eff, &r->eb))) return 1;
    json_t *rules = json_loads(eff ? eff : rules_json, JSON_REJECT_DUPLICATES, NULL);
    free(eff);
    if (!rules) {
        r->err = rf_errf(&r->eb, RF_ERR_CORRUPT, "stored rules of '%s' are not JSON", program);
        return 1;
    }
    const char *name = json_string_value(json_object_get(rules, "name"));
    json_t *row = json_pack("{s:s, s:i, s:i}", "program", program, "version", (int)version,
                            "partition", (int)r->partition);
    if (r->history)
        json_object_set(row, "rules", rules);
    else
        json_object_set_new(row, "name", json_string(name ? name : ""));
    if (r->json) {
        json_array_append_new(r->arr, row);
    } else {
        char *text = r->history ? json_dumps(rules, JSON_COMPACT) : NULL;
        printf("%-24s version %-4d partition %-4d %s\n", program, (int)version, (int)r->partition,
               r->history ? (text ? text : "") : (name ? name : ""));
        free(text);
        json_decref(row);
    }
    json_decref(rules);
    r->n++;
    return 0;
}

/* Reads every partition ledger under data: all programs, or program's history. */
static rf_err_t show_rows(const char *program, rows_t *r)
{
    int32_t parts[RF_PARTITIONS_MAX];
    errno = 0;
    int n = rf_ledger_list_partitions(r->data, parts, RF_PARTITIONS_MAX);
    if (n <= 0)
        return rf_errf(&r->eb, n < 0 ? n : RF_ERR_NOT_FOUND, "no fold ledgers under '%s/fold'%s",
                       r->data, n < 0 && errno != ENOENT ? " (cannot read it)" : "");
    for (int i = 0; i < n && !r->err; i++) {
        rf_ledger_t *l = rf_ledger_open(r->data, parts[i], RF_LEDGER_READONLY, &r->eb);
        if (!l) return RF_ERR_STORAGE;
        r->partition = parts[i];
        rf_err_t err = program ? rf_rules_program_history(l, program, on_program_row, r, &r->eb)
                               : rf_rules_program_list(l, on_program_row, r, &r->eb);
        rf_ledger_close(l);
        if (err) return err;
    }
    return r->err;
}

static int show_all(const char *data, const char *program, bool history, bool effective, bool json)
{
    rows_t r = {.data = data, .effective = effective, .history = history, .json = json};
    r.arr = json ? json_array() : NULL;
    rf_err_t err = json && !r.arr ? RF_ERR_NOMEM : show_rows(history ? program : NULL, &r);
    if (err) fprintf(stderr, PS "%s\n", err == RF_ERR_NOMEM ? "out of memory" : r.eb.msg);
    if (!err && json) {
        json_dumpf(r.arr, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    }
    json_decref(r.arr);
    if (!err && r.n == 0)
        fprintf(stderr, PS "%s under '%s/fold'\n",
                history ? "no version of the program" : "no program has rules", data);
    return err || (history && r.n == 0) ? 1 : 0;
}

int rf__program_show(int argc, char **argv)
{
    const char *data = NULL, *program = NULL;
    bool json = false, effective = false, history = false;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "data", &data, "DIR",
                   "data directory of the fold workers (ledgers in DIR/fold)",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "program", &program, "ID", "the program"),
        RF_OPT_BOOL(0, "history", &history,
                    "every version the fold accepted, oldest first, one line each"),
        RF_OPT_BOOL(0, "effective", &effective,
                    "the rules as the fold compiled them: every default filled in\n"
                    "(a fraud check left out is off); parses back to the same rules"),
        RF_OPT_BOOL(0, "json", &json,
                    "one object: {program, version, partition, next_offset, rules}\n"
                    "(rules: as published, or with --effective as compiled); a\n"
                    "list: [{program, version, partition, name}]; --history:\n"
                    "[{program, version, partition, rules}]"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "program show",
        "refold program show --data DIR [--program ID [--history]] [--effective]\n"
        "                           [--json]",
        "Prints the version and rules program ID runs under: the rules the fold\n"
        "stored with its last accepted ProgramConfigured, read from the fold ledgers\n"
        "under DIR (read-only, safe while fold workers run; as of the last committed\n"
        "batch). Exit status 1 when no ledger knows the program. Without --program,\n"
        "one line per program: its version, partition and name.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (history && !program) {
        fprintf(stderr, PS "--history needs --program\n");
        return 2;
    }
    if (!program || history) return show_all(data, program, history, effective, json);
    return show_one(data, program, effective, json);
}
