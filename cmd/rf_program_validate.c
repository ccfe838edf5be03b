/* rf_program_validate.c: `refold program validate`: checks rules files with the
 * parser the fold runs on every ProgramConfigured. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "rf_opt.h"
#include "rf_program_int.h"

#define PV "refold program validate: "

/* ---- validate -------------------------------------------------------------- */

int rf__program_validate(int argc, char **argv)
{
    int json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_JSON(&json, "one JSON array: [{\"file\", \"ok\", \"error\"}]"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "program validate",
        "refold program validate [--json] FILE...",
        "Checks each rules file (a JSON object, the format of docs/programs.md and\n"
        "ops/programs/*.json) with the parser the fold runs on every ProgramConfigured.\n"
        "Prints 'FILE: OK' or 'FILE: ERROR: <the problem, naming the field>' per file;\n"
        "the exit status is 1 when any file is invalid. Needs no Kafka.",
        opts,
        -1,
        {NULL}};
    int nfiles = rf_opt_parse(&cmd, argc, argv);
    if (nfiles < 0) return rf_opt_status(nfiles);
    if (nfiles == 0) {
        fprintf(stderr, PV "no rules file given\n");
        return 2;
    }
    char *rules = malloc(RF_RULES_MAX + 1);
    json_t *arr = json_array();
    if (!rules || !arr) {
        fprintf(stderr, PV "out of memory\n");
        free(rules);
        json_decref(arr);
        return 1;
    }
    int bad = 0;
    for (int i = 1; i <= nfiles; i++) {
        rf_errbuf_t eb = {{0}};
        rf_err_t err = rf__program_load_rules(argv[i], rules, &eb);
        bad += err != RF_OK;
        if (json)
            json_array_append_new(arr, json_pack("{s:s, s:b, s:s?}", "file", argv[i], "ok", !err,
                                                 "error", err ? eb.msg : NULL));
        else if (err)
            printf("%s: ERROR: %s\n", argv[i], eb.msg);
        else
            printf("%s: OK\n", argv[i]);
    }
    if (json) {
        json_dumpf(arr, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    }
    if (bad) fprintf(stderr, PV "%d of %d files invalid\n", bad, nfiles);
    json_decref(arr);
    free(rules);
    return bad ? 1 : 0;
}
