/* rf_wh_config.c: the endpoints config file, validated strictly like program
 * rules: unknown fields, wrong types and out-of-range values are errors that
 * name the field. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_webhooks.h"

static const char *const type_names[RF_WH__TYPES] = {
    "reward.created",      "reward.available",   "reward.voided",      "reward.clawed_back",
    "referral.attributed", "referral.refused",   "redemption.applied", "redemption.rejected",
    "review.required",     "program.configured",
};

const char *rf_wh_type_name(rf_wh_type_t t)
{
    RF_ASSERT(t >= 0 && t < RF_WH__TYPES);
    return type_names[t];
}

int rf_wh_type_parse(const char *name)
{
    for (int i = 0; i < RF_WH__TYPES; i++)
        if (strcmp(name, type_names[i]) == 0) return i;
    return -1;
}

bool rf_wh_endpoint_wants(const rf_wh_endpoint_t *ep, const char *program, rf_wh_type_t t)
{
    if (!(ep->types & (1u << t))) return false;
    if (ep->nprograms == 0) return true;
    for (int i = 0; i < ep->nprograms; i++)
        if (strcmp(ep->programs[i], program) == 0) return true;
    return false;
}

int64_t rf_wh_backoff_ms(const rf_wh_retry_t *r, int n)
{
    RF_ASSERT(n >= 1);
    int64_t d = r->initial_ms;
    for (int i = 1; i < n && d < r->max_delay_ms; i++)
        d *= 2;
    return d < r->max_delay_ms ? d : r->max_delay_ms;
}

/* ---- parsing -------------------------------------------------------------- */

/* The path of the field being checked, for messages: "endpoints[2].retry". */
typedef struct ctx {
    char path[128];
    rf_errbuf_t *eb;
} ctx_t;

static rf_err_t bad(ctx_t *c, const char *field, const char *what)
{
    return rf_errf(c->eb, RF_ERR_CONFIG, "%s%s%s: %s", c->path, field && *field ? "." : "",
                   field ? field : "", what);
}

/* Unknown keys are errors: a typo ("secret" for "secrets") must not pass. */
static rf_err_t only_keys(ctx_t *c, json_t *obj, const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (int i = 0; known[i] && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field '%.64s'", k);
            return bad(c, NULL, msg);
        }
    }
    return RF_OK;
}

static rf_err_t get_int(ctx_t *c, json_t *obj, const char *key, int64_t lo, int64_t hi,
                        int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return RF_OK; /* the default stays */
    if (!json_is_integer(v)) return bad(c, key, "must be an integer");
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be %lld..%lld", (long long)lo, (long long)hi);
        return bad(c, key, msg);
    }
    *out = x;
    return RF_OK;
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RF_WEBHOOK_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '_'))
            return false;
    return true;
}

/* https://host[:port][/path]; http:// only with allow_http. No spaces or
 * control characters, no user:password (secrets belong in secrets). */
static rf_err_t check_url(ctx_t *c, const char *url, bool allow_http)
{
    size_t n = strlen(url);
    if (n > RF_WEBHOOK_URL_MAX) return bad(c, "url", "longer than RF_WEBHOOK_URL_MAX");
    const char *rest;
    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0) {
        if (!allow_http)
            return bad(c, "url", "must be https (http only with \"allow_http\": true)");
        rest = url + 7;
    } else
        return bad(c, "url", "must start with https://");
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0) return bad(c, "url", "has no host");
    if (memchr(rest, '@', hl)) return bad(c, "url", "must not carry credentials");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f || url[i] == '"' || url[i] == '\\')
            return bad(c, "url", "has a space, control character, quote or backslash");
    return RF_OK;
}

static rf_err_t parse_secrets(ctx_t *c, json_t *arr, rf_wh_endpoint_t *ep)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return bad(c, "secrets", "must be a non-empty array of \"whsec_...\" strings");
    if (json_array_size(arr) > RF_WEBHOOK_SECRETS_MAX)
        return bad(c, "secrets", "too many (at most RF_WEBHOOK_SECRETS_MAX = 4)");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char f[32];
        snprintf(f, sizeof f, "secrets[%zu]", i);
        if (!json_is_string(v)) return bad(c, f, "must be a string");
        rf_errbuf_t seb = {{0}};
        if (rf_wh_secret_parse(json_string_value(v), &ep->secrets[i], &seb) != RF_OK)
            return bad(c, f, seb.msg);
        ep->nsecrets++;
    }
    return RF_OK;
}

static rf_err_t parse_types(ctx_t *c, json_t *arr, rf_wh_endpoint_t *ep)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return bad(c, "events", "must be a non-empty array of event types (or [\"*\"])");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char f[32];
        snprintf(f, sizeof f, "events[%zu]", i);
        if (!json_is_string(v)) return bad(c, f, "must be a string");
        const char *s = json_string_value(v);
        if (strcmp(s, "*") == 0) {
            ep->types |= (1u << RF_WH__TYPES) - 1;
            continue;
        }
        int t = rf_wh_type_parse(s);
        if (t < 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown event type '%.64s'", s);
            return bad(c, f, msg);
        }
        if (ep->types & (1u << t)) return bad(c, f, "listed twice");
        ep->types |= 1u << t;
    }
    return RF_OK;
}

static rf_err_t parse_programs(ctx_t *c, json_t *arr, rf_wh_endpoint_t *ep)
{
    if (!arr) return RF_OK;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return bad(c, "programs", "must be a non-empty array of program ids (absent: all)");
    if (json_array_size(arr) > RF_WEBHOOK_PROGRAMS_MAX)
        return bad(c, "programs", "too many (at most RF_WEBHOOK_PROGRAMS_MAX = 64)");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char f[32];
        snprintf(f, sizeof f, "programs[%zu]", i);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > RF_ID_MAX)
            return bad(c, f, "must be a program id (1..64 characters)");
        rf_strlcpy(ep->programs[ep->nprograms++], json_string_value(v), RF_ID_BUF);
    }
    return RF_OK;
}

static rf_err_t parse_retry(ctx_t *c, json_t *o, rf_wh_retry_t *r)
{
    static const char *const keys[] = {"initial_ms", "max_delay_ms", "max_attempts", "max_age_ms",
                                       NULL};
    if (!o) return RF_OK;
    if (!json_is_object(o)) return bad(c, "retry", "must be an object");
    size_t pl = strlen(c->path);
    snprintf(c->path + pl, sizeof c->path - pl, ".retry");
    int64_t att = r->max_attempts;
    rf_err_t err = only_keys(c, o, keys);
    if (!err) err = get_int(c, o, "initial_ms", 1, RF_WEBHOOK_RETRY_MAX_AGE_MS_MAX, &r->initial_ms);
    if (!err)
        err = get_int(c, o, "max_delay_ms", 1, RF_WEBHOOK_RETRY_MAX_AGE_MS_MAX, &r->max_delay_ms);
    if (!err) err = get_int(c, o, "max_attempts", 1, RF_WEBHOOK_RETRY_ATTEMPTS_MAX, &att);
    if (!err) err = get_int(c, o, "max_age_ms", 1, RF_WEBHOOK_RETRY_MAX_AGE_MS_MAX, &r->max_age_ms);
    if (!err && r->max_delay_ms < r->initial_ms)
        err = bad(c, "max_delay_ms", "must be at least initial_ms");
    r->max_attempts = (int)att;
    c->path[pl] = '\0';
    return err;
}

static void endpoint_defaults(rf_wh_endpoint_t *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->timeout_ms = RF_WEBHOOK_TIMEOUT_MS_DEFAULT;
    ep->max_in_flight = RF_WEBHOOK_IN_FLIGHT_DEFAULT;
    ep->retry =
        (rf_wh_retry_t){RF_WEBHOOK_RETRY_INITIAL_MS_DEFAULT, RF_WEBHOOK_RETRY_MAX_DELAY_MS_DEFAULT,
                        RF_WEBHOOK_RETRY_ATTEMPTS_DEFAULT, RF_WEBHOOK_RETRY_MAX_AGE_MS_DEFAULT};
    ep->disable_after_failures = RF_WEBHOOK_DISABLE_AFTER_DEFAULT;
}

static rf_err_t parse_endpoint(ctx_t *c, json_t *o, rf_wh_endpoint_t *ep)
{
    static const char *const keys[] = {
        "id",         "url",        "secrets",       "events", "programs",
        "allow_http", "timeout_ms", "max_in_flight", "retry",  "disable_after_failures",
        NULL};
    endpoint_defaults(ep);
    if (!json_is_object(o)) return bad(c, NULL, "must be an object");
    rf_err_t err = only_keys(c, o, keys);
    if (err) return err;
    json_t *id = json_object_get(o, "id"), *url = json_object_get(o, "url");
    json_t *ah = json_object_get(o, "allow_http");
    if (!json_is_string(id) || !id_ok(json_string_value(id)))
        return bad(c, "id", "must be 1..64 characters of a-z, 0-9, '-' and '_'");
    rf_strlcpy(ep->id, json_string_value(id), sizeof ep->id);
    if (ah && !json_is_boolean(ah)) return bad(c, "allow_http", "must be true or false");
    ep->allow_http = ah && json_is_true(ah);
    if (!json_is_string(url)) return bad(c, "url", "is required (a string)");
    if ((err = check_url(c, json_string_value(url), ep->allow_http))) return err;
    rf_strlcpy(ep->url, json_string_value(url), sizeof ep->url);
    if ((err = parse_secrets(c, json_object_get(o, "secrets"), ep))) return err;
    if ((err = parse_types(c, json_object_get(o, "events"), ep))) return err;
    if ((err = parse_programs(c, json_object_get(o, "programs"), ep))) return err;
    int64_t t = ep->timeout_ms, mif = ep->max_in_flight, da = ep->disable_after_failures;
    if ((err = get_int(c, o, "timeout_ms", 100, RF_WEBHOOK_TIMEOUT_MS_MAX, &t))) return err;
    if ((err = get_int(c, o, "max_in_flight", 1, RF_WEBHOOK_IN_FLIGHT_MAX, &mif))) return err;
    if ((err = get_int(c, o, "disable_after_failures", 1, RF_WEBHOOK_DISABLE_AFTER_MAX, &da)))
        return err;
    ep->timeout_ms = (int)t;
    ep->max_in_flight = (int)mif;
    ep->disable_after_failures = (int)da;
    return parse_retry(c, json_object_get(o, "retry"), &ep->retry);
}

rf_err_t rf_wh_config_parse(const char *json, size_t len, rf_wh_config_t *out, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"endpoints", NULL};
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rf_errf(eb, RF_ERR_CONFIG, "line %d column %d: %s", je.line, je.column, je.text);
    ctx_t c = {.eb = eb};
    rf_err_t err = RF_OK;
    json_t *eps = json_object_get(root, "endpoints");
    if (!json_is_object(root))
        err = bad(&c, NULL, "the config must be a JSON object");
    else if (!(err = only_keys(&c, root, keys)) &&
             (!json_is_array(eps) || json_array_size(eps) == 0))
        err = rf_errf(eb, RF_ERR_CONFIG, "endpoints: must be a non-empty array");
    else if (!err && json_array_size(eps) > RF_WEBHOOK_ENDPOINTS_MAX)
        err = rf_errf(eb, RF_ERR_CONFIG, "endpoints: at most %d", RF_WEBHOOK_ENDPOINTS_MAX);
    for (size_t i = 0; !err && i < json_array_size(eps); i++) {
        snprintf(c.path, sizeof c.path, "endpoints[%zu]", i);
        err = parse_endpoint(&c, json_array_get(eps, i), &out->endpoints[i]);
        for (size_t k = 0; !err && k < i; k++)
            if (strcmp(out->endpoints[k].id, out->endpoints[i].id) == 0)
                err = bad(&c, "id", "used by another endpoint");
        out->nendpoints = (int)i + 1;
    }
    json_decref(root);
    if (err) memset(out, 0, sizeof *out); /* no secret stays behind in a failed config */
    return err;
}

rf_err_t rf_wh_config_load(const char *path, rf_wh_config_t *out, rf_errbuf_t *eb)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rf_errf(eb, RF_ERR_IO, "cannot open '%s'", path);
    char *buf = malloc(RF_WEBHOOK_CONFIG_BYTES_MAX + 1);
    if (!buf) {
        fclose(f);
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, RF_WEBHOOK_CONFIG_BYTES_MAX + 1, f);
    bool rerr = ferror(f);
    fclose(f);
    rf_err_t err;
    if (rerr)
        err = rf_errf(eb, RF_ERR_IO, "cannot read '%s'", path);
    else if (n > RF_WEBHOOK_CONFIG_BYTES_MAX)
        err = rf_errf(eb, RF_ERR_CONFIG, "'%s': larger than %u bytes", path,
                      RF_WEBHOOK_CONFIG_BYTES_MAX);
    else {
        rf_errbuf_t peb = {{0}};
        err = rf_wh_config_parse(buf, n, out, &peb);
        if (err) rf_errf(eb, err, "'%s': %s", path, peb.msg);
    }
    free(buf);
    return err;
}
