/* rf_cmd_schemas.c: `refold schemas`, the embedded schema registry: lists the
 * manifest (ids, subjects, versions) and prints a schema's JSON. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_codec_int.h"
#include "rf_opt.h"

int rf_cmd_schemas(int argc, char **argv);

typedef struct list_ctx {
    int pass; /* 0: find current versions, 1: print */
    int current[RF__SUBJ_COUNT];
    int32_t base; /* wire id = base + manifest id (REFOLD_SCHEMA_ID_BASE) */
    json_t *arr;  /* --json */
} list_ctx_t;

static rf_err_t list_cb(const rf__manifest_entry_t *e, void *opaque, rf_errbuf_t *eb)
{
    (void)eb;
    list_ctx_t *l = opaque;
    int subj = rf__subject_parse(e->subject);
    if (subj < 0) return RF_OK;
    if (l->pass == 0) {
        if (e->version > l->current[subj]) l->current[subj] = e->version;
        return RF_OK;
    }
    int current = e->version == l->current[subj];
    if (l->arr) {
        json_t *o =
            json_pack("{s:i, s:s, s:i, s:s, s:b}", "id", (json_int_t)(l->base + e->id), "subject",
                      e->subject, "version", e->version, "file", e->file, "current", current);
        if (o) json_array_append_new(l->arr, o);
    } else {
        printf("%-11" PRId32 " %-22s %-8d %s%s\n", l->base + e->id, e->subject, e->version, e->file,
               current ? "  (current)" : "");
    }
    return RF_OK;
}

static int schemas_list(int json)
{
    list_ctx_t l;
    memset(&l, 0, sizeof l);
    rf_errbuf_t eb = {{0}};
    rf_codec_conf_t conf;
    rf_err_t err = rf_codec_conf_env(&conf, &eb);
    l.base = conf.id_base;
    if (json) l.arr = json_array();
    if (!err) err = rf__manifest_each(list_cb, &l, &eb);
    if (!err) {
        l.pass = 1;
        if (!json) printf("%-11s %-22s %-8s %s\n", "id", "subject", "version", "file");
        err = rf__manifest_each(list_cb, &l, &eb);
    }
    if (err) {
        fprintf(stderr, "refold schemas: %s\n", eb.msg);
        json_decref(l.arr);
        return 1;
    }
    if (json) {
        char *s = json_dumps(l.arr, JSON_INDENT(2));
        if (s) puts(s);
        free(s);
        json_decref(l.arr);
    }
    return 0;
}

static int schemas_show(const char *arg)
{
    int64_t id = 0;
    rf_codec_conf_t conf;
    rf_errbuf_t eb = {{0}};
    if (rf_codec_conf_env(&conf, &eb) != RF_OK) {
        fprintf(stderr, "refold schemas: %s\n", eb.msg);
        return 1;
    }
    /* the wire id; a manifest id (1, 2, ...) is taken too */
    const char *json = NULL;
    if (rf_parse_i64(arg, 0, INT32_MAX, &id, "id", NULL) == RF_OK)
        json = rf_codec_schema_json(
            id >= conf.id_base && conf.id_base > 0 ? (int32_t)(id - conf.id_base) : (int32_t)id);
    if (!json) {
        fprintf(stderr, "refold schemas: no schema with id '%s' (see 'refold schemas')\n", arg);
        return 1;
    }
    fputs(json, stdout);
    size_t n = strlen(json);
    if (n == 0 || json[n - 1] != '\n') putchar('\n');
    return 0;
}

int rf_cmd_schemas(int argc, char **argv)
{
    int json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_JSON(&json, "list as a JSON array"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "schemas",
        "refold schemas [--json]\n       refold schemas show ID",
        "Lists the Avro schemas compiled into refold (schemas/manifest.txt): the\n"
        "Confluent schema id that travels in every message (REFOLD_SCHEMA_ID_BASE +\n"
        "the manifest id; docs/schema-registry.md), its subject, version and file;\n"
        "'current' marks the reader schema of each subject. 'show ID' prints the\n"
        "schema's JSON (ID: the wire id or the manifest id).",
        opts,
        2,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (n == 0) return schemas_list(json);
    if (strcmp(argv[1], "show") == 0 && n == 2) return schemas_show(argv[2]);
    return rf_opt_error(&cmd, "unexpected argument '%s'", argv[1]);
}
