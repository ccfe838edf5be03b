/* rf_demo_programs.c: `refold demo` finds and loads the example programs
 * (the JSON files of ops/programs, or of an installed share/refold/programs). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_demo_int.h"
#include "rf_rules.h"

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of the running binary, or "" when /proc is not there. */
static void exe_dir(char out[RF_DEMO_PATH_MAX])
{
    ssize_t n = readlink("/proc/self/exe", out, RF_DEMO_PATH_MAX - 1);
    out[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    else
        out[0] = '\0';
}

rf_err_t rf__demo_find_programs(const char *given, char out[RF_DEMO_PATH_MAX], rf_errbuf_t *eb)
{
    if (given) {
        if (!is_dir(given))
            return rf_errf(eb, RF_ERR_NOT_FOUND, "--programs '%s' is not a directory", given);
        return rf_strlcpy(out, given, RF_DEMO_PATH_MAX) == RF_OK
                   ? RF_OK
                   : rf_errf(eb, RF_ERR_CONFIG, "--programs path too long");
    }
    char dir[RF_DEMO_PATH_MAX], cand[RF_DEMO_PATH_MAX + 64];
    exe_dir(dir);
    /* an installed binary (<prefix>/bin) first, then a build tree inside
     * the source tree (build/cmd/refold: ops/ is a few levels up) */
    if (dir[0]) {
        snprintf(cand, sizeof cand, "%s/../share/refold/programs", dir);
        if (is_dir(cand)) return rf_strlcpy(out, cand, RF_DEMO_PATH_MAX);
        for (int up = 0; up < 5; up++) {
            snprintf(cand, sizeof cand, "%s/ops/programs", dir);
            if (is_dir(cand)) return rf_strlcpy(out, cand, RF_DEMO_PATH_MAX);
            char *slash = strrchr(dir, '/');
            if (!slash) break;
            *slash = '\0';
        }
    }
    if (is_dir("ops/programs")) return rf_strlcpy(out, "ops/programs", RF_DEMO_PATH_MAX);
    return rf_errf(eb, RF_ERR_NOT_FOUND,
                   "cannot find the example programs (ops/programs of the source tree, or "
                   "share/refold/programs next to the binary): give --programs DIR");
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json names of dir, sorted (strcmp: the same order everywhere). */
static int list_json(const char *dir, char **names, int cap, rf_errbuf_t *eb)
{
    DIR *d = opendir(dir);
    if (!d) return rf_errf(eb, RF_ERR_IO, "cannot open '%s'", dir), -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 || de->d_name[0] == '.') continue;
        if (n == cap) {
            closedir(d);
            for (int i = 0; i < n; i++)
                free(names[i]);
            return rf_errf(eb, RF_ERR_OVERSIZE, "more than %d programs in '%s'", cap, dir), -1;
        }
        names[n++] = strdup(de->d_name);
        RF_ASSERT(names[n - 1]);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    return n;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= RF_ID_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Copies a string member of o (when present) into out. */
static void str_member(json_t *o, const char *key, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s) snprintf(out, cap, "%s", s);
}

/* A file is either the rules object itself (the program id is the file name
 * without .json), or {"program_id": ..., "version": N, "rules": {...}}. */
static rf_err_t parse_program(json_t *root, const char *fname, rf_demo_program_t *p,
                              rf_errbuf_t *eb)
{
    json_t *rules = json_object_get(root, "rules");
    p->version = 1;
    snprintf(p->id, sizeof p->id, "%.*s", (int)(strlen(fname) - 5), fname);
    if (json_is_object(rules)) {
        str_member(root, "program_id", p->id, sizeof p->id);
        str_member(root, "id", p->id, sizeof p->id);
        json_t *v = json_object_get(root, "version");
        if (v &&
            (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT32_MAX))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: 'version' must be a positive integer", fname);
        if (v) p->version = (int32_t)json_integer_value(v);
    } else {
        rules = root;
    }
    if (!valid_id(p->id))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: program id '%s' must be 1..%d of [A-Za-z0-9._-]",
                       fname, p->id, RF_ID_MAX);
    char *compact = json_dumps(rules, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!compact) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    p->rules_json = compact;
    if (strlen(compact) > RF_RULES_MAX)
        return rf_errf(eb, RF_ERR_OVERSIZE, "%s: rules longer than %d bytes", fname, RF_RULES_MAX);
    rf_errbuf_t reb = {{0}};
    if (rf_rules_validate_json(compact, &reb) != RF_OK)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: %s", fname, reb.msg);
    str_member(rules, "name", p->name, sizeof p->name);
    str_member(rules, "currency", p->currency, sizeof p->currency);
    snprintf(p->reward_asset, sizeof p->reward_asset, "%s", p->currency);
    str_member(json_object_get(rules, "referrer_reward"), "asset", p->reward_asset,
               sizeof p->reward_asset);
    return RF_OK;
}

static rf_err_t load_one(const char *dir, const char *fname, rf_demo_program_t *p, rf_errbuf_t *eb)
{
    char path[RF_DEMO_PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, fname);
    snprintf(p->file, sizeof p->file, "%s", fname);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return rf_errf(eb, RF_ERR_IO, "cannot read '%s'", path);
    if (st.st_size > RF_DEMO_PROGRAM_FILE_MAX)
        return rf_errf(eb, RF_ERR_OVERSIZE, "'%s' is larger than %d bytes", path,
                       RF_DEMO_PROGRAM_FILE_MAX);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: line %d: %s", path, jerr.line, jerr.text);
    rf_err_t err = json_is_object(root)
                       ? parse_program(root, fname, p, eb)
                       : rf_errf(eb, RF_ERR_BAD_INPUT, "%s: not a JSON object", path);
    json_decref(root);
    return err;
}

rf_err_t rf__demo_load_programs(const char *dir, rf_demo_programs_t *ps, rf_errbuf_t *eb)
{
    RF_ASSERT(dir && ps);
    memset(ps, 0, sizeof *ps);
    rf_strlcpy(ps->dir, dir, sizeof ps->dir);
    char *names[RF_DEMO_PROGRAMS_MAX];
    int n = list_json(dir, names, RF_DEMO_PROGRAMS_MAX, eb);
    if (n < 0) return RF_ERR_OVERSIZE;
    rf_err_t err =
        n == 0 ? rf_errf(eb, RF_ERR_NOT_FOUND, "no *.json programs in '%s'", dir) : RF_OK;
    for (int i = 0; i < n && err == RF_OK; i++) {
        err = load_one(dir, names[i], &ps->p[i], eb);
        ps->n = i + 1; /* so that free releases its rules */
        for (int j = 0; j < i && err == RF_OK; j++)
            if (!strcmp(ps->p[j].id, ps->p[i].id))
                err = rf_errf(eb, RF_ERR_BAD_INPUT, "%s and %s both configure program '%s'",
                              ps->p[j].file, ps->p[i].file, ps->p[i].id);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    RF_ASSERT(ps->n <= RF_DEMO_PROGRAMS_MAX);
    return err;
}

void rf__demo_free_programs(rf_demo_programs_t *ps)
{
    if (!ps) return;
    for (int i = 0; i < ps->n; i++)
        free(ps->p[i].rules_json);
    ps->n = 0;
}
