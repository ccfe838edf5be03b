/* rf_program_cmd.c: `refold program`: check rules files with the fold's own
 * parser (validate), publish one as a ProgramConfigured event (apply), and
 * print the version and rules a program runs under in the fold ledgers (show). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_commands.h"
#include "rf_ledger.h"
#include "rf_program_int.h"
#include "rf_rules.h"

/* ---- rules files ----------------------------------------------------------- */

/* Reads path (at most RF_PROGRAM_FILE_MAX bytes) into *out, malloc'ed and
 * NUL-terminated; the caller frees it. */
static rf_err_t read_file(const char *path, char **out, rf_errbuf_t *eb)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rf_errf(eb, RF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = malloc(RF_PROGRAM_FILE_MAX + 2); /* one byte more tells "too large" */
    size_t n = buf ? fread(buf, 1, RF_PROGRAM_FILE_MAX + 1, f) : 0;
    rf_err_t err = RF_OK;
    if (!buf)
        err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    else if (ferror(f))
        err = rf_errf(eb, RF_ERR_IO, "cannot read '%s'", path);
    else if (n > RF_PROGRAM_FILE_MAX)
        err = rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' is larger than %d bytes", path,
                      RF_PROGRAM_FILE_MAX);
    else if (memchr(buf, 0, n))
        err = rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' contains a NUL byte", path);
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    buf[n] = '\0';
    *out = buf;
    RF_ASSERT(n <= RF_PROGRAM_FILE_MAX);
    return RF_OK;
}

/* Loads a rules file: the fold's own parser (rf_rules_validate_json) checks
 * the text as written (its errors give the file's line), then it is
 * compacted the way `refold emit` stores "rules" into out (RF_RULES_MAX + 1
 * bytes), which must fit the event. */
rf_err_t rf__program_load_rules(const char *path, char *out, rf_errbuf_t *eb)
{
    char *text = NULL;
    rf_err_t err = read_file(path, &text, eb);
    if (!err) err = rf_rules_validate_json(text, eb);
    json_t *root = NULL;
    if (!err) {
        json_error_t jerr;
        root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) err = rf_errf(eb, RF_ERR_BAD_INPUT, "not valid JSON: %s", jerr.text);
    }
    if (!err) {
        size_t n = json_dumpb(root, out, RF_RULES_MAX, JSON_COMPACT);
        if (n == 0 || n > RF_RULES_MAX)
            err = rf_errf(eb, RF_ERR_BAD_INPUT, "the rules take %zu bytes compacted, more than %d",
                          n, RF_RULES_MAX);
        else
            out[n] = '\0';
    }
    json_decref(root);
    free(text);
    RF_ASSERT(err != RF_OK || out[0] == '{');
    return err;
}

/* ---- the live rules in the fold ledgers ------------------------------------ */

/* Reads program's current version and rules from every partition ledger under
 * data (read-only, safe while workers run). A program lives in one partition
 * (key = program id); after a repartition the highest version wins. RF_OK
 * with found false when no ledger knows it; an error when there is no ledger. */
rf_err_t rf__program_find_live(const char *data, const char *program, rf_program_live_t *lv,
                               rf_errbuf_t *eb)
{
    memset(lv, 0, sizeof *lv);
    int32_t parts[RF_PARTITIONS_MAX];
    errno = 0;
    int n = rf_ledger_list_partitions(data, parts, RF_PARTITIONS_MAX);
    if (n < 0 && errno == ENOENT)
        return rf_errf(eb, RF_ERR_NOT_FOUND, "no fold ledgers under '%s/fold' (no such directory)",
                       data);
    if (n < 0)
        return rf_errf(eb, n, "cannot read the fold ledgers under '%s/fold': %s", data,
                       strerror(errno));
    if (n == 0) return rf_errf(eb, RF_ERR_NOT_FOUND, "no fold ledgers under '%s/fold'", data);
    lv->nledgers = n;
    memcpy(lv->parts, parts, (size_t)n * sizeof parts[0]);
    for (int i = 0; i < n; i++) {
        rf_ledger_t *l = rf_ledger_open(data, parts[i], RF_LEDGER_READONLY, eb);
        if (!l) return RF_ERR_STORAGE;
        int32_t v = 0;
        rf_err_t err = rf_rules_program_get(l, program, &v, NULL, 0, eb);
        if (!err && (!lv->found || v > lv->version)) {
            err = rf_rules_program_get(l, program, &v, lv->rules, sizeof lv->rules, eb);
            lv->found = true;
            lv->partition = parts[i];
            lv->version = v;
            lv->next_offset = rf_ledger_next_offset(l);
        }
        if (!err) lv->nfound++;
        rf_ledger_close(l);
        if (err && err != RF_ERR_NOT_FOUND) return err;
    }
    RF_ASSERT(!lv->found || lv->version >= 1);
    return RF_OK;
}

/* ---- dispatch -------------------------------------------------------------- */

static void program_usage(FILE *f)
{
    fprintf(
        f,
        "usage: refold program validate FILE...\n"
        "       refold program apply FILE --program ID [--version N] [--data DIR] ...\n"
        "       refold program show --data DIR [--program ID [--history]] [--effective] [--json]\n"
        "\n"
        "Ships a referral program's rules (docs/programs.md): check rules files,\n"
        "publish one as a ProgramConfigured event, and see which version is live.\n"
        "'refold program SUBCOMMAND --help' for each one's options.\n");
}

int rf_cmd_program(int argc, char **argv)
{
    if (argc < 2) {
        program_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        program_usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "validate")) return rf__program_validate(argc - 1, argv + 1);
    if (!strcmp(sub, "apply")) return rf__program_apply(argc - 1, argv + 1);
    if (!strcmp(sub, "show")) return rf__program_show(argc - 1, argv + 1);
    fprintf(stderr, "refold program: unknown subcommand '%s' (validate, apply, show)\n", sub);
    return 2;
}
