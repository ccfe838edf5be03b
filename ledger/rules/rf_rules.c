/* rf_rules.c: the rules plug-in's entry points (rf_rules.h): programs (the
 * one owner of their versions and rules: 'x' 'v' and 'x' 'V') and the
 * compiled-rules cache, event dispatch, state helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "rf_rules_int.h"

/* ---- keys and fixed-size state values ---- */

size_t rf__key(uint8_t *k, char tag, const char *a, const char *b, const char *c)
{
    RF_ASSERT(a != NULL);
    size_t n = 0;
    k[n++] = RF_FOLD_K_RULES;
    k[n++] = (uint8_t)tag;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3 && parts[i]; i++) {
        size_t l = strnlen(parts[i], RF_ID_MAX + 1);
        RF_ASSERT(l <= RF_ID_MAX);
        if (i) k[n++] = 0;
        memcpy(k + n, parts[i], l);
        n += l;
    }
    RF_ASSERT(n <= RF__KEY_MAX);
    return n;
}

rf_err_t rf__get_fixed(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, void *val, size_t size,
                       bool *found)
{
    size_t vlen = 0;
    rf_err_t err = rf__sget(ctx, k, klen, val, size, &vlen);
    *found = false;
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err == RF_OK && (vlen != size || ((const uint8_t *)val)[0] != RF__STATE_FMT))
        err = RF_ERR_CORRUPT;
    if (err == RF_ERR_OVERSIZE) err = RF_ERR_CORRUPT;
    if (err) {
        rf_log(RF_LOG_ERROR, "rules: bad state value under 'x%c' (%s)", k[1], rf_err_str(err));
        return err;
    }
    *found = true;
    return RF_OK;
}

void rf__user_init(rf__user_t *u)
{
    memset(u, 0, sizeof *u);
    u->fmt = RF__STATE_FMT;
    u->click_ms = -1;
}

rf_err_t rf__user_get(rf_fold_ctx_t *ctx, const char *prog, const char *user, rf__user_t *u,
                      bool *found)
{
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_USER, prog, user, NULL);
    rf_err_t err = rf__get_fixed(ctx, k, kl, u, sizeof *u, found);
    if (!err && !*found) rf__user_init(u);
    return err;
}

rf_err_t rf__user_put(rf_fold_ctx_t *ctx, const char *prog, const char *user, const rf__user_t *u)
{
    RF_ASSERT(u->fmt == RF__STATE_FMT && u->status <= RF__ST_REJECTED);
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_USER, prog, user, NULL);
    return rf__sput(ctx, k, kl, u, sizeof *u);
}

size_t rf__reward_key(uint8_t *k, const char *prog, const char *friend_, const char *id)
{
    return rf__key(k, RF__X_REWARD, prog, friend_, id);
}

rf_err_t rf__reward_get(rf_fold_ctx_t *ctx, const char *prog, const char *friend_, const char *id,
                        rf__reward_t *r, bool *found)
{
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__reward_key(k, prog, friend_, id);
    return rf__get_fixed(ctx, k, kl, r, sizeof *r, found);
}

rf_err_t rf__reward_put(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r)
{
    RF_ASSERT(r->fmt == RF__STATE_FMT && r->reversed <= r->amount);
    RF_ASSERT(r->status <= RF__RS_REVERSED);
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__reward_key(k, prog, r->friend_, r->id);
    return rf__sput(ctx, k, kl, r, sizeof *r);
}

const char *rf__role_name(uint8_t role)
{
    static const char *names[] = {"referrer", "friend", "milestone"};
    return role <= RF__ROLE_MILESTONE ? names[role] : "?";
}

rf_record_t *rf__rec(rf_fold_ctx_t *ctx, const char *kind)
{
    rf_record_t *rec = rf_fold_record_begin(ctx, kind);
    RF_ASSERT(rec != NULL && rec->nfacts >= 1);
    return rec;
}

/* ---- integer math ---- */

__extension__ typedef unsigned __int128 u128;

int64_t rf__muldiv_floor(int64_t a, int64_t b, int64_t c)
{
    RF_ASSERT(a >= 0 && b >= 0 && c > 0);
    u128 r = (u128)(uint64_t)a * (uint64_t)b / (uint64_t)c;
    RF_ASSERT(r <= (u128)INT64_MAX);
    return (int64_t)r;
}

int64_t rf__muldiv_ceil(int64_t a, int64_t b, int64_t c)
{
    RF_ASSERT(a >= 0 && b >= 0 && c > 0);
    u128 p = (u128)(uint64_t)a * (uint64_t)b;
    u128 r = (p + (uint64_t)c - 1) / (uint64_t)c;
    RF_ASSERT(r <= (u128)INT64_MAX);
    return (int64_t)r;
}

/* ---- derived codes ---- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

void rf_rules_derive_code(const char *program, const char *referrer, char out[RF_RULES_CODE_BUF])
{
    RF_ASSERT(program != NULL && referrer != NULL);
    uint8_t buf[2 * RF_ID_BUF], h[SHA256_DIGEST_LENGTH];
    size_t pl = strnlen(program, RF_ID_MAX), rl = strnlen(referrer, RF_ID_MAX);
    memcpy(buf, program, pl);
    buf[pl] = 0;
    memcpy(buf + pl + 1, referrer, rl);
    SHA256(buf, pl + 1 + rl, h);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | h[i];
    v >>= 14; /* 50 bits: ten symbols */
    for (int i = 9; i >= 0; i--) {
        out[i] = crockford[v & 31];
        v >>= 5;
    }
    uint64_t n = 0;
    for (int i = 0; i < 10; i++)
        n = (n << 5) | (uint64_t)(strchr(crockford, out[i]) - crockford);
    out[10] = crockford[n % 37];
    out[11] = 0;
    RF_ASSERT(strlen(out) == RF_RULES_CODE_LEN);
}

/* Crockford decoding: case-insensitive, O -> 0, I and L -> 1. */
static int crockford_value(char c, int check)
{
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    const char *p = strchr(crockford, c);
    if (!p || !c) return -1;
    int v = (int)(p - crockford);
    return v < 32 || check ? v : -1;
}

int rf_rules_code_valid(const char *code)
{
    if (!code) return 0;
    uint64_t n = 0;
    int nd = 0, check = -1;
    for (const char *c = code; *c; c++) {
        if (*c == '-') continue;
        if (nd == 10) {
            if (check >= 0) return 0;
            check = crockford_value(*c, 1);
            if (check < 0) return 0;
            continue;
        }
        int v = crockford_value(*c, 0);
        if (v < 0) return 0;
        n = (n << 5) | (uint64_t)v;
        nd++;
    }
    return nd == 10 && check >= 0 && (uint64_t)check == n % 37;
}

/* ---- the per-ledger cache ---- */

rf__cache_t *rf__cache(rf_fold_ctx_t *ctx)
{
    void **slot = rf_fold_rules_cache(ctx);
    if (!*slot) {
        rf__cache_t *c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->due_horizon_ms = INT64_MAX;
        *slot = c;
    }
    return *slot;
}

void rf_rules_cache_free(void *cache)
{
    rf__cache_t *c = cache;
    if (!c) return;
    for (int i = 0; i < RF_RULES_CACHE_PROGRAMS; i++)
        free(c->slots[i]);
    rf__scache_free(c->state);
    free(c);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Probe window of a program's slots: a handful, so lookups stay O(1). */
#define CACHE_PROBE 4

static rf__prog_t **cache_find(rf__cache_t *c, const char *program, bool for_insert)
{
    uint32_t h = fnv1a(program) % RF_RULES_CACHE_PROGRAMS;
    for (uint32_t i = 0; i < CACHE_PROBE; i++) {
        rf__prog_t **s = &c->slots[(h + i) % RF_RULES_CACHE_PROGRAMS];
        if (*s && strcmp((*s)->id, program) == 0) return s;
    }
    if (!for_insert) return NULL;
    for (uint32_t i = 0; i < CACHE_PROBE; i++) {
        rf__prog_t **s = &c->slots[(h + i) % RF_RULES_CACHE_PROGRAMS];
        if (!*s) return s;
    }
    return &c->slots[h]; /* evict: a miss later re-reads it from state */
}

/* Compiles rules into the program's cache slot. */
static rf_err_t cache_install(rf__cache_t *c, const char *program, int32_t version,
                              const char *json, const rf__prog_t **out, rf_errbuf_t *eb)
{
    rf__prog_t **s = cache_find(c, program, true);
    if (!*s && !(*s = malloc(sizeof **s))) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf__prog_t *p = *s;
    rf_strlcpy(p->id, program, sizeof p->id);
    p->version = version;
    rf_err_t err = rf__prog_parse(json, p, eb);
    if (err) {
        free(p);
        *s = NULL;
        return err;
    }
    if (out) *out = p;
    return RF_OK;
}

rf_err_t rf__prog_get(rf_fold_ctx_t *ctx, const char *program, const rf__prog_t **out)
{
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    rf__prog_t **s = cache_find(c, program, false);
    if (s) {
        *out = *s;
        return RF_OK;
    }
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_VERSION, program, NULL, NULL), vlen = 0;
    char *buf = malloc(4 + RF_RULES_MAX + 1); /* a miss only: once per program and open */
    if (!buf) return RF_ERR_NOMEM;
    rf_err_t err = rf_fold_get(ctx, k, kl, buf, 4 + RF_RULES_MAX, &vlen);
    if (err == RF_OK && vlen < 4) err = RF_ERR_CORRUPT;
    if (err == RF_OK) {
        buf[vlen] = 0;
        rf_errbuf_t eb;
        err = cache_install(c, program, (int32_t)rf_be32_get((uint8_t *)buf), buf + 4, out, &eb);
        if (err) {
            rf_log(RF_LOG_ERROR, "rules: stored rules of program '%s' do not load: %s", program,
                   eb.msg);
            err = err == RF_ERR_NOMEM ? err : RF_ERR_CORRUPT;
        }
    }
    free(buf);
    return err;
}

/* ---- programs ---- */

rf_err_t rf_rules_program_known(rf_fold_ctx_t *ctx, const char *program)
{
    RF_ASSERT(ctx != NULL && program != NULL);
    /* Keys come before rules: the key that signs a program's first
     * ProgramConfigured is registered while the program has none. */
    const rf_event_t *ev = rf_fold_event(ctx);
    if (ev && (ev->type == RF_EV_KEY_REGISTERED || ev->type == RF_EV_KEY_REVOKED)) return RF_OK;
    const rf__prog_t *p = NULL; /* compiled now: the event's fold uses it next */
    return rf__prog_get(ctx, program, &p);
}

/* A ProgramConfigured's version (greater than the stored one) and rules:
 * RF_OK, RF_ERR_BAD_INPUT with the reason, or a fatal error. */
static rf_err_t check_config(rf_fold_ctx_t *ctx, const rf_event_t *ev, rf_errbuf_t *eb)
{
    RF_ASSERT(ctx != NULL && ev != NULL);
    RF_ASSERT(ev->type == RF_EV_PROGRAM_CONFIGURED);
    if (ev->version < 1) return rf_errf(eb, RF_ERR_BAD_INPUT, "version must be >= 1");
    const rf__prog_t *cur = NULL;
    rf_err_t err = rf__prog_get(ctx, ev->program_id, &cur);
    if (err && err != RF_ERR_NOT_FOUND) return rf_errf(eb, err, "cannot read program rules");
    if (!err && ev->version <= cur->version)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "version %d is not greater than the current %d",
                       (int)ev->version, (int)cur->version);
    return rf_rules_validate_json(ev->rules_json, eb);
}

/* Stores the new version (current and history) and recompiles the cache. */
static rf_err_t fold_program(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    size_t jl = strlen(ev->rules_json);
    uint8_t *v = malloc(4 + jl); /* ProgramConfigured is rare: not the hot path */
    if (!v) return RF_ERR_NOMEM;
    rf_be32_put(v, (uint32_t)ev->version);
    memcpy(v + 4, ev->rules_json, jl);
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_VERSION, ev->program_id, NULL, NULL);
    rf_err_t err = rf_fold_put(ctx, k, kl, v, 4 + jl);
    kl = rf__key(k, RF__X_HISTORY, ev->program_id, "", NULL);
    rf_be32_put(k + kl, (uint32_t)ev->version);
    if (!err) err = rf_fold_put(ctx, k, kl + 4, ev->rules_json, jl);
    free(v);
    const rf__prog_t *p = NULL;
    rf_errbuf_t eb;
    if (!err) err = cache_install(c, ev->program_id, ev->version, ev->rules_json, &p, &eb);
    if (err) return err == RF_ERR_BAD_INPUT ? RF_ERR_INTERNAL : err; /* checked before */
    rf_record_t *rec = rf__rec(ctx, RF_KIND_PROGRAM);
    rf_record_factf(rec, RF_FACT_RULE_VERSION, "%d", (int)ev->version);
    if (p->name[0]) rf_record_fact(rec, "name", p->name);
    rf_record_fact(rec, RF_FACT_CURRENCY, p->currency);
    rf__prog_record_facts(p, rec);
    return rf_fold_record_append(ctx, rec);
}

/* A ProgramConfigured: stored when valid, else refused (a "rejected" record). */
static rf_err_t fold_config(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    rf_errbuf_t reb = {{0}};
    rf_err_t err = check_config(ctx, ev, &reb);
    if (err && rf_err_class(err) == RF_ERRCLASS_BAD_INPUT) return rf_fold_reject(ctx, reb.msg);
    return err ? err : fold_program(ctx, ev);
}

/* Activity without decisions: Share and Clock. */
static rf_err_t fold_activity(rf_fold_ctx_t *ctx, const rf_event_t *ev, const char *kind)
{
    rf_record_t *rec = rf__rec(ctx, kind);
    if (ev->referrer[0]) rf_record_fact(rec, RF_FACT_REFERRER, ev->referrer);
    if (ev->channel[0]) rf_record_fact(rec, RF_FACT_CHANNEL, ev->channel);
    return rf_fold_record_append(ctx, rec);
}

rf_err_t rf_rules_fold(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    RF_ASSERT(ctx != NULL && ev != NULL);
    RF_ASSERT(ev->type < RF_EV__COUNT);
    /* authority first: an unauthorized privileged event changes nothing */
    char reason[RF_FACT_VAL_MAX];
    rf_err_t aerr = rf__authorize_once(ctx, ev, reason, sizeof reason);
    if (aerr == RF_ERR_BAD_INPUT) return rf_fold_reject(ctx, reason);
    if (aerr) return aerr;
    /* events with records of their own, whatever the program's rules */
    switch (ev->type) {
    case RF_EV_KEY_REGISTERED:
        return rf__fold_key_registered(ctx, ev);
    case RF_EV_KEY_REVOKED:
        return rf__fold_key_revoked(ctx, ev);
    case RF_EV_PROGRAM_CONFIGURED:
        return fold_config(ctx, ev);
    case RF_EV_ADJUSTMENT:
        return rf__fold_adjustment(ctx, ev);
    case RF_EV_REDEMPTION:
        return rf__fold_redemption(ctx, ev);
    default:
        break;
    }
    const rf__prog_t *p = NULL;
    rf_err_t err = rf__prog_get(ctx, ev->program_id, &p);
    if (err == RF_ERR_NOT_FOUND) {
        rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
        rf_record_fact(rec, RF_FACT_REASON, "program has no rules");
        return rf_fold_record_append(ctx, rec);
    }
    if (err) return err;
    if (ev->user[0] == '#' || ev->referrer[0] == '#') { /* '#' owners are program accounts */
        rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
        rf_record_fact(rec, RF_FACT_REASON, "reserved_id");
        return rf_fold_record_append(ctx, rec);
    }
    switch (ev->type) {
    case RF_EV_CODE_ISSUED:
        return rf__fold_code(ctx, p, ev);
    case RF_EV_SHARE:
        return fold_activity(ctx, ev, RF_KIND_SHARE);
    case RF_EV_CLICK:
        return rf__fold_click(ctx, p, ev);
    case RF_EV_SIGNUP:
        return rf__fold_signup(ctx, p, ev);
    case RF_EV_PURCHASE:
        return rf__fold_purchase(ctx, p, ev);
    case RF_EV_REFUND:
        return rf__fold_refund(ctx, p, ev);
    case RF_EV_REVIEW_DECISION:
        return rf__fold_review(ctx, p, ev);
    case RF_EV_CLOCK:
        return fold_activity(ctx, ev, RF_KIND_CLOCK);
    default:
        break;
    }
    /* every type is handled above: a type added to rf_event.h lands here */
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
    rf_record_fact(rec, RF_FACT_REASON, "event type not handled by the rules");
    return rf_fold_record_append(ctx, rec);
}
