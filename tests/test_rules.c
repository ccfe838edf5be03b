/* test_rules.c: the referral rules, table-driven: each scenario folds a short
 * event sequence through a real ledger and checks the exact records (kind,
 * key facts, postings) and balances of every step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_codec.h"
#include "rf_ledger.h"
#include "rf_rules.h"
#include "rf_testutil.h"

#define PROG "prog"
#define T0   1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY  86400000LL
/* rf_rules_derive_code("spring", "alice"): pinned so a change is noticed */
#define RF_TEST_PINNED_CODE "1ZEQY8RV5CG"

/* ---- the scenario language ----
 * A step's event: "<type> key=value ..." with types code, share, click,
 * signup, purchase, refund, redeem, review, clock, config, adjust and keys
 *   t=<time> (from T0: "15d-1" = 15 days minus 1 ms; units d h m s, none ms)
 *   dt=<time> (after the previous event; default 1s), u= r= code= v= o= amt=
 *   cur= ok=0|1 ver= rules=2 (the scenario's second rules), ip= em= dev=
 *   pay= (tags turned into distinct hex hashes).
 * A step "=bal OWNER ASSET pending available redeemed receivable [expense]"
 * checks a balance instead.
 * Expected records of an event, ";"-separated, any order:
 *   "<kind> key=value key~substring !key @owner/bucket/asset/amount ..."
 * facts listed must match; postings listed must be exactly the record's. */
typedef struct step {
    const char *ev;
    const char *expect; /* NULL: not checked */
} step_t;

#define STEPS_MAX 48
typedef struct scenario {
    const char *name;
    const char *rules;  /* single quotes for double quotes */
    const char *rules2; /* for "config ver=2 rules=2" */
    step_t steps[STEPS_MAX];
} scenario_t;

typedef struct fx {
    char dir[512];
    rf_codec_t *codec;
    rf_ledger_t *l;
    rf_event_t ev;
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t len;
    uint64_t id;
    int64_t t;
    const scenario_t *sc;
    int step;
} fx_t;

static uint64_t fnv64(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static void tag_hex(const char *tag, char *out)
{
    uint64_t h = fnv64(tag);
    for (int i = 0; i < 4; i++)
        snprintf(out + 16 * i, 17, "%016llx", (unsigned long long)(h + i));
}

static int64_t parse_time(const char *s)
{
    int64_t total = 0;
    while (*s) {
        int sign = 1;
        if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
        char *end;
        int64_t v = strtoll(s, &end, 10);
        int64_t unit = 1;
        if (*end == 'd')
            unit = DAY;
        else if (*end == 'h')
            unit = 3600000;
        else if (*end == 'm')
            unit = 60000;
        else if (*end == 's')
            unit = 1000;
        if (unit != 1) end++;
        total += sign * v * unit;
        s = end;
    }
    return total;
}

static void fix_quotes(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = in[i] == '\'' ? '"' : in[i];
    out[i] = 0;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb;
    assert_non_null(f);
    rf_test_tmpdir("rules", f->dir, sizeof f->dir);
    f->codec = rf_codec_new(&eb);
    assert_non_null(f->codec);
    f->l = rf_ledger_open(f->dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!f->l) fail_msg("open: %s", eb.msg);
    f->sc = *state;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf_ledger_close(f->l);
    rf_test_rmtree(f->dir);
    rf_codec_destroy(f->codec);
    free(f);
    return 0;
}

/* ---- building and folding events ---- */

static const struct {
    const char *name;
    rf_event_type_t type;
} ev_types[] = {
    {"code", RF_EV_CODE_ISSUED},  {"share", RF_EV_SHARE},
    {"click", RF_EV_CLICK},       {"signup", RF_EV_SIGNUP},
    {"purchase", RF_EV_PURCHASE}, {"refund", RF_EV_REFUND},
    {"redeem", RF_EV_REDEMPTION}, {"review", RF_EV_REVIEW_DECISION},
    {"clock", RF_EV_CLOCK},       {"config", RF_EV_PROGRAM_CONFIGURED},
    {"adjust", RF_EV_ADJUSTMENT},
};

static void set_field(fx_t *f, rf_event_t *ev, const char *k, const char *v)
{
    if (!strcmp(k, "t"))
        f->t = T0 + parse_time(v);
    else if (!strcmp(k, "dt"))
        f->t += parse_time(v);
    else if (!strcmp(k, "u"))
        rf_strlcpy(ev->user, v, sizeof ev->user);
    else if (!strcmp(k, "r"))
        rf_strlcpy(ev->referrer, v, sizeof ev->referrer);
    else if (!strcmp(k, "code"))
        rf_strlcpy(ev->code, v, sizeof ev->code);
    else if (!strcmp(k, "v"))
        rf_strlcpy(ev->visitor, v, sizeof ev->visitor);
    else if (!strcmp(k, "o"))
        rf_strlcpy(ev->order_id, v, sizeof ev->order_id);
    else if (!strcmp(k, "amt"))
        ev->amount_minor = strtoll(v, NULL, 10);
    else if (!strcmp(k, "cur") || !strcmp(k, "asset"))
        rf_strlcpy(ev->asset, v, sizeof ev->asset);
    else if (!strcmp(k, "ok"))
        ev->approve = strcmp(v, "1") == 0;
    else if (!strcmp(k, "ver"))
        ev->version = (int32_t)strtol(v, NULL, 10);
    else if (!strcmp(k, "rules"))
        fix_quotes(strcmp(v, "2") ? v : f->sc->rules2, ev->rules_json, sizeof ev->rules_json);
    else if (!strcmp(k, "ip"))
        tag_hex(v, ev->ip_hash);
    else if (!strcmp(k, "em"))
        tag_hex(v, ev->email_hash);
    else if (!strcmp(k, "dev"))
        tag_hex(v, ev->device_hash);
    else if (!strcmp(k, "pay"))
        tag_hex(v, ev->payment_hash);
    else
        fail_msg("step %d: unknown key '%s'", f->step, k);
}

/* Defaults that make each type valid (the codec validates). */
static void set_defaults(rf_event_t *ev)
{
    if (ev->type == RF_EV_PURCHASE || ev->type == RF_EV_REFUND || ev->type == RF_EV_REDEMPTION ||
        ev->type == RF_EV_ADJUSTMENT)
        if (!ev->asset[0]) rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    if (ev->type == RF_EV_SHARE && !ev->channel[0])
        rf_strlcpy(ev->channel, "email", sizeof ev->channel);
    if (ev->type == RF_EV_REVIEW_DECISION && !ev->reviewer[0])
        rf_strlcpy(ev->reviewer, "ops-1", sizeof ev->reviewer);
    if (ev->type == RF_EV_ADJUSTMENT) {
        rf_strlcpy(ev->reason, "goodwill", sizeof ev->reason);
        rf_strlcpy(ev->actor, "finance-1", sizeof ev->actor);
    }
    if (ev->type == RF_EV_REDEMPTION && !ev->request_id[0])
        snprintf(ev->request_id, sizeof ev->request_id, "req-%s", ev->event_id + 24);
}

static void build(fx_t *f, const char *spec)
{
    static char buf[RF_RULES_MAX + 256], rules[RF_RULES_MAX + 256];
    rf_strlcpy(buf, spec, sizeof buf);
    rf_event_t *ev = &f->ev;
    rf_event_clear(ev);
    char *save = NULL, *tok = strtok_r(buf, " ", &save);
    int found = 0;
    for (size_t i = 0; i < sizeof ev_types / sizeof ev_types[0]; i++)
        if (!strcmp(tok, ev_types[i].name)) {
            ev->type = ev_types[i].type;
            found = 1;
        }
    if (!found) fail_msg("step %d: unknown event type '%s'", f->step, tok);
    f->id++;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)f->id);
    rf_strlcpy(ev->program_id, PROG, sizeof ev->program_id);
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    int64_t t_before = f->t;
    int timed = 0;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) fail_msg("step %d: '%s' is not key=value", f->step, tok);
        *eq = 0;
        if (!strcmp(tok, "rules")) { /* the rest of the line, spaces included */
            snprintf(rules, sizeof rules, "%s%s%s", eq + 1, save && *save ? " " : "",
                     save ? save : "");
            set_field(f, ev, tok, rules);
            break;
        }
        if (!strcmp(tok, "t") || !strcmp(tok, "dt")) timed = 1;
        set_field(f, ev, tok, eq + 1);
    }
    if (!timed) f->t = t_before + 1000;
    ev->occurred_at_ms = f->t;
    set_defaults(ev);
    rf_errbuf_t eb;
    if (rf_codec_encode_event(f->codec, ev, RF_SCHEMA_ID_EVENT, f->buf, sizeof f->buf, &f->len,
                              &eb))
        fail_msg("step %d: encode '%s': %s", f->step, spec, eb.msg);
}

static uint64_t head_seq(fx_t *f)
{
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(f->l, &h, &eb), RF_OK);
    return h.seq;
}

static void fold(fx_t *f, rf_fold_result_t *res)
{
    rf_errbuf_t eb;
    int64_t off = rf_ledger_next_offset(f->l);
    if (off < 0) off = 0;
    if (rf_ledger_fold(f->l, off, RF_LEDGER_CLOCK_NONE, f->buf, f->len, res, &eb))
        fail_msg("fold: %s", eb.msg);
    if (res->outcome == RF_OUTCOME_DEAD_LETTER) fail_msg("dead letter: %s", res->reason);
    if (rf_ledger_commit(f->l, &eb)) fail_msg("commit: %s", eb.msg);
}

/* ---- checking records ---- */

#define RECS_MAX RF_RECORDS_PER_EVENT_MAX
typedef struct recs {
    uint32_t n;
    rf_record_t r[RECS_MAX];
} recs_t;

static int collect_cb(const rf_record_t *rec, void *opaque)
{
    recs_t *rs = opaque;
    assert_true(rs->n < RECS_MAX);
    rs->r[rs->n++] = *rec;
    return 0;
}

static void dump(const rf_record_t *rec, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%s", rec->kind);
    for (uint32_t i = 0; i < rec->nfacts && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " %s=%s", rec->facts[i].key, rec->facts[i].value);
    for (uint32_t i = 0; i < rec->npostings && n < cap; i++) {
        const rf_posting_t *p = &rec->postings[i];
        n += (size_t)snprintf(out + n, cap - n, " @%s/%s/%s/%lld", p->owner,
                              rf_bucket_name(p->bucket), p->asset, (long long)p->amount_minor);
    }
}

/* 1 when rec matches one expected record spec. */
static int matches(const rf_record_t *rec, const char *spec)
{
    char buf[1024];
    rf_strlcpy(buf, spec, sizeof buf);
    char *save = NULL, *tok = strtok_r(buf, " ", &save);
    if (!tok || strcmp(tok, rec->kind) != 0) return 0;
    uint32_t nposts = 0, used = 0; /* bitmask of matched postings */
    while ((tok = strtok_r(NULL, " ", &save))) {
        if (tok[0] == '@') {
            char owner[80], bucket[24], asset[24];
            long long amt;
            if (sscanf(tok + 1, "%79[^/]/%23[^/]/%23[^/]/%lld", owner, bucket, asset, &amt) != 4)
                fail_msg("bad posting spec '%s'", tok);
            int hit = 0;
            for (uint32_t i = 0; i < rec->npostings && !hit; i++) {
                const rf_posting_t *p = &rec->postings[i];
                if (!(used & (1u << i)) && !strcmp(p->owner, owner) &&
                    !strcmp(rf_bucket_name(p->bucket), bucket) && !strcmp(p->asset, asset) &&
                    p->amount_minor == amt) {
                    used |= 1u << i;
                    hit = 1;
                }
            }
            if (!hit) return 0;
            nposts++;
        } else if (tok[0] == '!') {
            if (rf_record_get_fact(rec, tok + 1)) return 0;
        } else {
            char *op = strpbrk(tok, "=~");
            if (!op) fail_msg("bad fact spec '%s'", tok);
            char kind = *op;
            *op = 0;
            const char *v = rf_record_get_fact(rec, tok);
            if (!v) return 0;
            if (kind == '=' && strcmp(op + 1, "*") != 0 && strcmp(v, op + 1) != 0) return 0;
            if (kind == '~' && !strstr(v, op + 1)) return 0;
        }
    }
    return nposts == rec->npostings;
}

static void check_records(fx_t *f, const recs_t *rs, const char *expect)
{
    char buf[4096], *specs[RECS_MAX];
    uint32_t n = 0, taken = 0;
    rf_strlcpy(buf, expect, sizeof buf);
    char *save = NULL;
    for (char *s = strtok_r(buf, ";", &save); s; s = strtok_r(NULL, ";", &save)) {
        while (*s == ' ')
            s++;
        size_t l = strlen(s);
        while (l && s[l - 1] == ' ')
            s[--l] = 0;
        specs[n++] = s;
    }
    char msg[8192];
    size_t m = 0;
    for (uint32_t i = 0; i < rs->n; i++) {
        dump(&rs->r[i], msg + m, sizeof msg - m);
        m += strlen(msg + m);
        m += (size_t)snprintf(msg + m, sizeof msg - m, "\n");
    }
    for (uint32_t i = 0; i < n; i++) {
        int hit = 0;
        for (uint32_t j = 0; j < rs->n && !hit; j++)
            if (!(taken & (1u << j)) && matches(&rs->r[j], specs[i])) {
                taken |= 1u << j;
                hit = 1;
            }
        if (!hit)
            fail_msg("%s step %d (%s): no record matches '%s'; records:\n%s", f->sc->name, f->step,
                     f->sc->steps[f->step].ev, specs[i], msg);
    }
    if (n != rs->n)
        fail_msg("%s step %d (%s): %u records, expected %u:\n%s", f->sc->name, f->step,
                 f->sc->steps[f->step].ev, rs->n, n, msg);
}

static void check_balance(fx_t *f, const char *spec)
{
    char owner[80], asset[24];
    long long want[RF_BUCKET__COUNT] = {0};
    int n = sscanf(spec, "=bal %79s %23s %lld %lld %lld %lld %lld", owner, asset, &want[0],
                   &want[1], &want[2], &want[3], &want[4]);
    if (n < 6) fail_msg("bad balance spec '%s'", spec);
    int64_t b[RF_BUCKET__COUNT];
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_balance(f->l, PROG, owner, asset, b, &eb), RF_OK);
    for (int i = 0; i < n - 2; i++)
        if (b[i] != want[i])
            fail_msg("%s step %d: %s %s %s is %lld, expected %lld", f->sc->name, f->step, owner,
                     asset, rf_bucket_name(i), (long long)b[i], want[i]);
}

static recs_t *run_step(fx_t *f, const step_t *st)
{
    static recs_t rs;
    rs.n = 0;
    if (st->ev[0] == '=') {
        check_balance(f, st->ev);
        return &rs;
    }
    uint64_t before = head_seq(f);
    build(f, st->ev);
    rf_fold_result_t res;
    fold(f, &res);
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_scan(f->l, before + 1, 0, collect_cb, &rs, &eb), RF_OK);
    if (st->expect) check_records(f, &rs, st->expect);
    return &rs;
}

static void run_scenario(void **state)
{
    fx_t *f = *state;
    char spec[RF_RULES_MAX + 64];
    f->t = T0;
    snprintf(spec, sizeof spec, "config ver=1 t=0 rules=%s", f->sc->rules);
    f->step = -1;
    build(f, spec);
    rf_fold_result_t res;
    fold(f, &res);
    if (res.outcome != RF_OUTCOME_APPLIED)
        fail_msg("%s: rules refused: %s", f->sc->name, res.reason);
    for (f->step = 0; f->step < STEPS_MAX && f->sc->steps[f->step].ev; f->step++)
        run_step(f, &f->sc->steps[f->step]);
    uint64_t bad = 0;
    rf_errbuf_t eb = {{0}};
    if (rf_ledger_verify(f->l, &bad, &eb))
        fail_msg("verify: seq %llu: %s", (unsigned long long)bad, eb.msg);
}

/* ---- the scenarios ---- */

#define R_FIXED14                                                                                  \
    "{'currency':'USD','referrer_reward':{'type':'fixed','amount_minor':1000},"                    \
    "'friend_reward':{'type':'fixed','amount_minor':500},'hold_days':14}"
#define R_REF(extra)                                                                               \
    "{'currency':'USD','referrer_reward':{'type':'fixed','amount_minor':1000}" extra "}"
#define POST_R(n)   "@r1/pending/USD/" #n " @#expense/expense/USD/-" #n
#define VOID_R(n)   "@r1/pending/USD/-" #n " @#expense/expense/USD/" #n
#define MATURE_R(n) "@r1/pending/USD/-" #n " @r1/available/USD/" #n

static const scenario_t sc_codes = {
    "codes",
    R_FIXED14,
    NULL,
    {{"code r=r1 code=ALICE", "code_issued referrer=r1 code=ALICE !derived"},
     {"code r=r2 code=ALICE", "rejected referrer=r2 reason=code_taken"},
     {"code r=r1 code=OTHER", "rejected reason=referrer_has_code:ALICE"},
     {"code r=r1 code=ALICE", "code_issued referrer=r1 reason=already_issued"},
     {"click code=ALICE v=v1", "click referrer=r1 code=ALICE visitor=v1"},
     {"click code=NOPE v=v1", "click reason=unknown_code !referrer"},
     {"share r=r1", "share referrer=r1 channel=email"},
     /* '#' names program accounts (#expense): never a user */
     {"signup u=#expense code=ALICE", "rejected reason=reserved_id"},
     {"code r=#x code=X", "rejected reason=reserved_id"}}};

static const scenario_t sc_attribution_code = {
    "attribution_code",
    R_FIXED14,
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1",
      "signup user=f1 referred=1 referrer=r1 attribution=code checks=self_referral=pass !reason"},
     {"signup u=f2", "signup user=f2 referred=0 !referrer !checks !reason"},
     {"signup u=r1 code=C1",
      "signup user=r1 referred=0 refused_referrer=r1 reason=self_attribution"},
     {"signup u=f1 code=C1", "rejected user=f1 reason=already_attributed"},
     {"signup u=f2", "rejected user=f2 reason=already_signed_up"},
     {"signup u=f3 code=ZZZ", "signup user=f3 referred=0 reason=unknown_code"},
     {"purchase u=f2 o=o1 amt=5000",
      "purchase user=f2 referred=0 qualified=0 reason=not_referred"}}};

#define R_TOUCH(model)                                                                             \
    "{'currency':'USD','attribution':{'model':'" model "'},"                                       \
    "'referrer_reward':{'type':'fixed','amount_minor':1000}}"

static const scenario_t sc_first_touch = {
    "first_touch",
    R_TOUCH("first_touch"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"code r=r2 code=C2", NULL},
     {"click code=C1 v=v1", "click referrer=r1"},
     {"click code=C2 v=v1", "click referrer=r2"},
     {"signup u=f1 v=v1", "signup referred=1 referrer=r1 attribution=first_touch code=C1"}}};

static const scenario_t sc_last_touch = {
    "last_touch",
    R_TOUCH("last_touch"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"code r=r2 code=C2", NULL},
     {"click code=C1 v=v1", NULL},
     {"click code=C2 v=v1", NULL},
     {"signup u=f1 v=v1", "signup referred=1 referrer=r2 attribution=last_touch code=C2"},
     {"click code=C1 v=v2", NULL},
     {"signup u=f2 v=v2 code=C2", "signup referred=1 referrer=r2 attribution=code"}}};

/* default window 30 days, inclusive */
static const scenario_t sc_attribution_window = {
    "attribution_window",
    R_REF(""),
    NULL,
    {{"code r=r1 code=C1 t=1s", NULL},
     {"click code=C1 v=v1 t=2s", "click referrer=r1"},
     {"signup u=f1 v=v1 t=30d+2s", "signup referred=1 referrer=r1 attribution=last_touch"},
     {"click code=C1 v=v2 t=31d", NULL},
     {"signup u=f2 v=v2 t=61d+1", "signup user=f2 referred=0 !referrer"}}};

static const scenario_t sc_qualification = {
    "qualification",
    R_REF(",'qualification':{'min_order_minor':2000,'window_days':10}"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1 t=1h", NULL},
     {"purchase u=f1 o=o1 amt=1999", "purchase qualified=0 reason=below_min_order"},
     {"purchase u=f1 o=o2 amt=5000", "purchase qualified=0 reason=not_first_purchase"},
     {"signup u=f2 code=C1 t=1d", NULL},
     {"purchase u=f2 o=o3 amt=2000 t=11d",
      "purchase user=f2 referred=1 qualified=1 ; reward role=referrer user=r1 " POST_R(
          1000) " ; reward_matured user=r1 " MATURE_R(1000)},
     {"signup u=f3 code=C1 t=12d", NULL},
     {"purchase u=f3 o=o4 amt=2000 t=22d+1", "purchase qualified=0 reason=outside_window"},
     {"signup u=f4 code=C1", NULL},
     {"purchase u=f4 o=o5 amt=3000 cur=EUR", "purchase qualified=0 reason=currency_mismatch"}}};

static const scenario_t sc_reward_hold = {
    "reward_hold",
    R_FIXED14,
    NULL,
    {{"code r=r1 code=C1", "code_issued referrer=r1 code=C1"},
     {"signup u=f1 code=C1 t=1h", "signup user=f1 referred=1 referrer=r1"},
     {"purchase u=f1 o=o1 amt=5000 t=1d",
      "purchase user=f1 order=o1 order_amount=5000 referred=1 referrer=r1 qualified=1 "
      "checks=self_referral=pass ; "
      "reward role=referrer user=r1 friend=f1 order=o1 amount=1000 asset=USD reward_type=fixed "
      "tier=0 successful_referrals=1 rule_version=1 hold_until=1768521600000 reward_id=* " POST_R(
          1000) " ; "
                "reward role=friend user=f1 amount=500 hold_until=1768521600000 "
                "!successful_referrals "
                "@f1/pending/USD/500 @#expense/expense/USD/-500"},
     {"=bal r1 USD 1000 0 0 0", NULL},
     {"=bal #expense USD 0 0 0 0 -1500", NULL},
     {"clock t=15d-1", "clock"},
     {"clock t=15d", "reward_matured user=r1 role=referrer amount=1000 " MATURE_R(
                         1000) " ; "
                               "reward_matured user=f1 role=friend @f1/pending/USD/-500 "
                               "@f1/available/USD/500 ; clock"},
     {"=bal r1 USD 0 1000 0 0", NULL},
     {"=bal f1 USD 0 500 0 0", NULL},
     {"redeem u=r1 amt=400", "redemption user=r1 @r1/available/USD/-400 @r1/redeemed/USD/400"},
     {"=bal r1 USD 0 600 400 0", NULL}}};

static const scenario_t sc_percent = {
    "percent",
    "{'currency':'USD','referrer_reward':{'type':'percent','percent_bp':333},"
    "'friend_reward':{'type':'percent','percent_bp':1000,'max_minor':500,'asset':'CREDIT_USD'}}",
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1", NULL},
     /* 1999 * 3.33% = 66.57 -> 66; 10% = 199.9 -> 199 (round down) */
     {"purchase u=f1 o=o1 amt=1999",
      "purchase qualified=1 ; reward role=referrer amount=66 reward_type=percent " POST_R(
          66) " ; reward_matured user=r1 " MATURE_R(66) " ; reward role=friend amount=199 "
                                                        "asset=CREDIT_USD "
                                                        "@f1/pending/CREDIT_USD/199 "
                                                        "@#expense/expense/CREDIT_USD/-199 ; "
                                                        "reward_matured user=f1 "
                                                        "@f1/pending/CREDIT_USD/-199 "
                                                        "@f1/available/CREDIT_USD/199"},
     {"signup u=f2 code=C1", NULL},
     /* 9999 * 3.33% = 332.97 -> 332; 10% = 999.9 -> max 500 */
     {"purchase u=f2 o=o2 amt=9999",
      "purchase ; reward role=referrer amount=332 " POST_R(332) " ; reward_matured " MATURE_R(
          332) " ; reward role=friend amount=500 @f2/pending/CREDIT_USD/500 "
               "@#expense/expense/CREDIT_USD/-500 ; reward_matured user=f2 "
               "@f2/pending/CREDIT_USD/-500 "
               "@f2/available/CREDIT_USD/500"}}};

#define SIGNUP_BUY(f, o)                                                                           \
    {"signup u=" f " code=C1", NULL},                                                              \
    {                                                                                              \
        "purchase u=" f " o=" o " amt=5000"
static const scenario_t
    sc_tiers =
        {"tiers",
         R_REF(
             ",'tiers':[{'min_referrals':2,'referrer_reward':{'type':'fixed','amount_minor':2000}},"
             "{'min_referrals':3,'referrer_reward':{'type':'percent','percent_bp':5000}}],"
             "'hold_days':1"),
         NULL,
         {{"code r=r1 code=C1", NULL},
          SIGNUP_BUY("f1", "o1"),
          "purchase ; reward tier=0 successful_referrals=1 amount=1000 " POST_R(1000)},
         SIGNUP_BUY("f2", "o2"),
         "purchase ; reward tier=0 successful_referrals=2 amount=1000 " POST_R(1000)},
    SIGNUP_BUY("f3", "o3"),
    "purchase ; reward tier=2 successful_referrals=3 amount=2000 " POST_R(2000)
}
, SIGNUP_BUY("f4", "o4"),
    "purchase ; reward tier=3 successful_referrals=4 reward_type=percent amount=2500 " POST_R(2500)
}
}
}
;

static const scenario_t
    sc_milestone_twice =
        {"milestone_twice",
         R_REF(",'milestones':[{'referrals':2,'bonus':{'type':'fixed','amount_minor':3000}}],"
               "'hold_days':14"),
         NULL,
         {{"code r=r1 code=C1", NULL},
          SIGNUP_BUY("f1", "o1"),
          "purchase ; reward role=referrer successful_referrals=1 " POST_R(1000)},
         SIGNUP_BUY("f2", "o2"),
         "purchase ; reward role=referrer successful_referrals=2 " POST_R(
             1000) " ; reward role=milestone milestone=2 successful_referrals=2 "
                   "amount=3000 " POST_R(3000)},
    /* the triggering referral is refunded: bonus voided, count back to 1 */
    {"refund o=o2 amt=5000",
     "refund user=f2 full=1 qualified=0 ; reward_voided role=referrer "
     "reason=refund " VOID_R(1000) " ; reward_voided role=milestone " VOID_R(3000)},
    SIGNUP_BUY("f3", "o3"),
    "purchase ; reward role=referrer successful_referrals=2 " POST_R(
        1000) " ; reward role=milestone milestone=2 " POST_R(3000)
}
,
    /* an earlier referral is refunded: count 1, the bonus stays */
    {"refund o=o1 amt=5000", "refund full=1 ; reward_voided role=referrer " VOID_R(1000)},
    /* milestone 2 reached again: already paid, no second bonus */
    SIGNUP_BUY("f4", "o4"), "purchase ; reward role=referrer successful_referrals=2 " POST_R(1000)
}
,
{
    "=bal r1 USD 5000 0 0 0", NULL
}
}
}
;

static const scenario_t
    sc_caps_reduce = {"caps_reduce",
                      R_REF(",'caps':{'period':'month','max_value_minor':2500},'hold_days':1"),
                      NULL,
                      {{"code r=r1 code=C1", NULL},
                       SIGNUP_BUY("f1", "o1"),
                       "purchase ; reward amount=1000 !cap " POST_R(1000)},
                      SIGNUP_BUY("f2", "o2"),
                      "purchase ; reward amount=1000 !cap " POST_R(1000)},
    /* the cap is hit mid-reward: reduced to the 500 left */
    SIGNUP_BUY("f3", "o3"), "purchase ; reward amount=500 cap=max_value_minor " POST_R(500)
}
, SIGNUP_BUY("f4", "o4"),
    "purchase ; reward_refused role=referrer reason=cap cap=max_value_minor amount=1000"
}
,
    /* February: a new calendar period */
    {"signup u=f5 code=C1 t=31d", NULL},
{
    "purchase u=f5 o=o5 amt=5000 t=31d+1s", "purchase ; reward amount=1000 !cap " POST_R(1000)
}
}
}
;

static const scenario_t
    sc_caps_count =
        {"caps_count",
         R_REF(",'friend_reward':{'type':'fixed','amount_minor':100},"
               "'caps':{'period':'all','max_count':2,'on_exceed':'refuse'},'hold_days':1"),
         NULL,
         {{"code r=r1 code=C1", NULL}, SIGNUP_BUY("f1", "o1"), NULL},
         SIGNUP_BUY("f2", "o2"),
         NULL},
    /* friend rewards are not capped */
    SIGNUP_BUY("f3", "o3"),
    "purchase ; reward_refused role=referrer cap=max_count reason=cap ; reward role=friend "
    "amount=100 @f3/pending/USD/100 @#expense/expense/USD/-100"
}
,
{
    "=bal r1 USD 2000 0 0 0", NULL
}
}
}
;

static const scenario_t
    sc_caps_value_refuse =
        {"caps_value_refuse",
         R_REF(
             ",'caps':{'period':'year','max_value_minor':2500,'on_exceed':'refuse'},'hold_days':1"),
         NULL,
         {{"code r=r1 code=C1", NULL}, SIGNUP_BUY("f1", "o1"), NULL},
         SIGNUP_BUY("f2", "o2"),
         NULL},
    SIGNUP_BUY("f3", "o3"),
    "purchase ; reward_refused role=referrer cap=max_value_minor reason=cap amount=1000"
}
,
{
    "=bal r1 USD 2000 0 0 0", NULL
}
}
}
;

static const scenario_t
    sc_budget = {"budget",
                 R_REF(",'friend_reward':{'type':'fixed','amount_minor':500},'budget_minor':2200,"
                       "'hold_days':1"),
                 NULL,
                 {{"code r=r1 code=C1", NULL},
                  SIGNUP_BUY("f1", "o1"),
                  "purchase ; reward role=referrer " POST_R(
                      1000) " ; reward role=friend @f1/pending/USD/500 @#expense/expense/USD/-500"},
                 SIGNUP_BUY("f2", "o2"),
                 "purchase ; reward role=referrer amount=700 cap=budget " POST_R(
                     700) " ; reward_refused role=friend reason=budget cap=budget"},
    SIGNUP_BUY("f3", "o3"),
    "purchase ; reward_refused role=referrer reason=budget ; "
    "reward_refused role=friend reason=budget"
}
,
{
    "=bal #expense USD 0 0 0 0 -2200", NULL
}
}
}
;

static const scenario_t sc_coupon_product = {
    "coupon_product",
    "{'currency':'USD','referrer_reward':{'type':'product','sku':'FREE-TOTE'},"
    "'friend_reward':{'type':'coupon','amount_minor':1000}}",
    NULL,
    {{"code r=r1 code=C1", NULL},
     SIGNUP_BUY("f1", "o1"),
     "purchase ; reward role=referrer reward_type=product sku=FREE-TOTE amount=0 asset=PRODUCT ; "
     "reward_matured user=r1 amount=0 ; reward role=friend reward_type=coupon asset=COUPON_USD "
     "coupon~CPN- @f1/pending/COUPON_USD/1000 @#expense/expense/COUPON_USD/-1000 ; "
     "reward_matured user=f1 @f1/pending/COUPON_USD/-1000 @f1/available/COUPON_USD/1000"}}
}
;

static const scenario_t sc_product_value = {
    "product_value",
    "{'currency':'USD','referrer_reward':{'type':'product','sku':'MUG','amount_minor':1500},"
    "'hold_days':1}",
    NULL,
    {{"code r=r1 code=C1", NULL},
     SIGNUP_BUY("f1", "o1"),
     "purchase ; reward reward_type=product sku=MUG amount=1500 asset=PRODUCT "
     "@r1/pending/PRODUCT/1500 @#expense/expense/PRODUCT/-1500"}}
}
;

/* hold_until = purchase time + 14 days; seqs: 1 config, 2 code, 3-4 signups,
 * 5 purchase, 6 reward, 7 purchase, 8 reward */
static const scenario_t sc_refund_hold_edge = {
    "refund_hold_edge",
    R_REF(",'hold_days':14"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1 t=1h", NULL},
     {"signup u=f2 code=C1 t=2h", NULL},
     {"purchase u=f1 o=o1 amt=5000 t=1d",
      "purchase ; reward hold_until=1768521600000 " POST_R(1000)},
     {"purchase u=f2 o=o2 amt=5000 t=2d", "purchase ; reward " POST_R(1000)},
     /* 1 ms before the hold ends: void the pending reward */
     {"refund o=o1 amt=5000 t=15d-1", "refund user=f1 full=1 qualified=0 ; reward_voided user=r1 "
                                      "role=referrer reason=refund reverses=6 " VOID_R(1000)},
     /* 1 ms after: the reward matured first, then it is clawed back */
     {"refund o=o2 amt=5000 t=16d+1",
      "reward_matured user=r1 friend=f2 " MATURE_R(
          1000) " ; refund user=f2 full=1 ; clawback "
                "user=r1 reason=refund reverses=8 !receivable @r1/available/USD/-1000 "
                "@#expense/expense/USD/1000"},
     {"=bal r1 USD 0 0 0 0", NULL},
     {"=bal #expense USD 0 0 0 0 0", NULL}}};

static const scenario_t sc_partial_refund = {
    "partial_refund",
    R_REF(",'hold_days':14"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1 t=1h", NULL},
     {"purchase u=f1 o=o1 amt=3000 t=1d", NULL},
     /* cumulative ceil(1000 * refunded / 3000): 334, 667, 1000 */
     {"refund o=o1 amt=1000", "refund refunded=1000 !full ; reward_voided amount=334 " VOID_R(334)},
     {"refund o=o1 amt=1000", "refund refunded=2000 ; reward_voided amount=333 " VOID_R(333)},
     {"refund o=o1 amt=1001", "rejected reason=refund_exceeds_order"},
     {"refund o=o1 amt=1000",
      "refund refunded=3000 full=1 qualified=0 ; reward_voided amount=333 " VOID_R(333)},
     {"refund o=o9 amt=1", "rejected reason=unknown_order"},
     {"signup u=f2 code=C1", NULL},
     {"purchase u=f2 o=o2 amt=3000 t=3d", NULL},
     /* after the hold: clawbacks in proportion (1/3000 -> 1, 1500/3000 -> 500) */
     {"refund o=o2 amt=1 t=17d",
      "reward_matured " MATURE_R(
          1000) " ; refund refunded=1 ; "
                "clawback amount=1 @r1/available/USD/-1 @#expense/expense/USD/1"},
     {"refund o=o2 amt=1499", "refund refunded=1500 ; clawback amount=499 "
                              "@r1/available/USD/-499 @#expense/expense/USD/499"},
     {"=bal r1 USD 0 500 0 0", NULL},
     /* a partly voided reward matures with what is left */
     {"signup u=f3 code=C1 t=20d", NULL},
     {"purchase u=f3 o=o3 amt=3000 t=20d+1s", "purchase ; reward " POST_R(1000)},
     {"refund o=o3 amt=1000 t=21d", "refund ; reward_voided amount=334 " VOID_R(334)},
     {"clock t=34d+1s", "reward_matured amount=666 " MATURE_R(666) " ; clock"},
     {"=bal r1 USD 0 1166 0 0", NULL}}};

static const scenario_t sc_receivable = {
    "receivable",
    R_REF(",'hold_days':14"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1 t=1h", NULL},
     {"purchase u=f1 o=o1 amt=5000 t=1d", NULL},
     {"clock t=15d", "reward_matured user=r1 " MATURE_R(1000) " ; clock"},
     {"redeem u=r1 amt=700", "redemption @r1/available/USD/-700 @r1/redeemed/USD/700"},
     {"refund o=o1 amt=5000 t=16d", "refund full=1 ; clawback receivable=700 "
                                    "@r1/available/USD/-300 @r1/receivable/USD/-700 "
                                    "@#expense/expense/USD/1000"},
     {"=bal r1 USD 0 0 700 -700", NULL},
     {"signup u=f2 code=C1 t=17d", NULL},
     {"purchase u=f2 o=o2 amt=5000 t=17d+1s", "purchase ; reward " POST_R(1000)},
     /* the next reward settles the receivable first */
     {"clock t=31d+1s", "reward_matured user=r1 @r1/pending/USD/-1000 @r1/receivable/USD/700 "
                        "@r1/available/USD/300 ; clock"},
     {"=bal r1 USD 0 300 700 0", NULL}}};

static const scenario_t
    sc_version_change =
        {"version_change",
         R_REF(",'hold_days':1"),
         "{'currency':'USD','referrer_reward':{'type':'fixed','amount_minor':2000},'hold_days':1}",
         {{"code r=r1 code=C1", NULL},
          SIGNUP_BUY("f1", "o1"),
          "purchase ; reward rule_version=1 amount=1000 " POST_R(1000)},
         {"config ver=2 rules=2", "program_configured rule_version=2"},
         SIGNUP_BUY("f2", "o2"),
         "purchase ; reward rule_version=2 amount=2000 " POST_R(2000)},
    {"config ver=2 rules=2", "rejected reason~not"},
    {"config ver=3 rules={'currency':'USD','bogus':1}", "rejected reason~bogus"},
    {"config ver=3 rules={'currency':'USD','hold_days':-1}", "rejected reason~hold_days"},
    {"config ver=3 rules={'currency':'USD'}", "program_configured rule_version=3"},
    SIGNUP_BUY("f3", "o3"), "purchase qualified=1"
}
}
}
;

#define R_VELOCITY_REVIEW                                                                          \
    R_REF(",'hold_days':14,'fraud':{'velocity':{'max_referrals':1,'window_hours':24,"              \
          "'action':'review'}}")

static const scenario_t sc_review_approve = {
    "review_approve",
    R_VELOCITY_REVIEW,
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1", "signup referred=1 checks=self_referral=pass,velocity=pass"},
     {"signup u=f2 code=C1",
      "signup referred=1 referrer=r1 checks=self_referral=pass,velocity=fail:review "
      "reason=fraud:velocity ; review user=f2 referrer=r1 status=held reason=fraud:velocity"},
     {"purchase u=f2 o=o2 amt=5000 t=1d", "purchase qualified=1 ; reward role=referrer "
                                          "review=held " POST_R(1000)},
     /* the hold passed but the referral is in review: nothing matures */
     {"clock t=15d", "clock"},
     {"review u=f2 ok=1", "review user=f2 status=approved actor=ops-1 held_for=fraud:velocity ; "
                          "reward_matured user=r1 " MATURE_R(1000)},
     {"review u=f2 ok=1", "rejected user=f2 reason=not_in_review"},
     {"review u=nobody ok=0", "rejected user=nobody reason=unknown_user"},
     /* approved before the hold ends: it matures at the hold's end */
     {"signup u=f3 code=C1 t=20d", "signup referred=1 checks=self_referral=pass,velocity=pass"},
     {"signup u=f4 code=C1", "signup referred=1 reason=fraud:velocity ; review status=held"},
     {"purchase u=f4 o=o4 amt=5000", "purchase ; reward review=held " POST_R(1000)},
     {"review u=f4 ok=1", "review status=approved"},
     {"clock t=34d+2s-1", "clock"},
     {"clock t=34d+2s", "reward_matured user=r1 friend=f4 " MATURE_R(1000) " ; clock"},
     {"=bal r1 USD 0 2000 0 0", NULL}}};

static const scenario_t sc_review_reject = {
    "review_reject",
    R_VELOCITY_REVIEW,
    NULL,
    {{"code r=r1 code=C1", NULL},
     SIGNUP_BUY("f1", "o1"),
     "purchase ; reward successful_referrals=1 " POST_R(1000)},
    {"signup u=f2 code=C1", "signup reason=fraud:velocity ; review status=held"},
    {"purchase u=f2 o=o2 amt=5000",
     "purchase ; reward successful_referrals=2 review=held " POST_R(1000)},
    {"review u=f2 ok=0",
     "review status=rejected ; reward_voided user=r1 reason=review_rejected " VOID_R(1000)},
    {"purchase u=f2 o=o3 amt=5000", "purchase referred=0 qualified=0 reason=referral_rejected"},
    /* the rejected referral no longer counts */
    {"signup u=f3 code=C1 t=2d", "signup referred=1"},
    {"purchase u=f3 o=o4 amt=5000", "purchase ; reward successful_referrals=2 " POST_R(1000)},
    {"=bal r1 USD 2000 0 0 0", NULL}}
}
;

static const scenario_t sc_self_referral = {
    "self_referral",
    R_REF(",'hold_days':1"),
    NULL,
    {{"signup u=r1 em=E1 dev=D1", "signup user=r1 referred=0"},
     {"purchase u=r1 o=o0 amt=100 pay=P1", "purchase referred=0"},
     {"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1 em=E1", "signup user=f1 referred=0 refused_referrer=r1 "
                                   "reason=fraud:self_referral:email "
                                   "checks=self_referral=fail:reject"},
     {"signup u=f2 code=C1 dev=D1 em=E2", "signup referred=0 reason=fraud:self_referral:device"},
     {"signup u=f3 code=C1 em=E3 dev=D3", "signup referred=1 checks=self_referral=pass"},
     {"purchase u=f3 o=o3 amt=5000 pay=P1",
      "purchase referred=1 qualified=0 checks=self_referral=fail:reject "
      "reason=fraud:self_referral:payment"},
     {"purchase u=f3 o=o4 amt=5000 pay=P3", "purchase referred=0 reason=referral_rejected"},
     {"code r=r2 code=C2", NULL},
     {"signup u=r2 code=C2", "signup referred=0 refused_referrer=r2 reason=self_attribution"},
     {"purchase u=f1 o=o5 amt=5000", "purchase referred=0 reason=referral_rejected"}}};

static const scenario_t sc_self_referral_review = {
    "self_referral_review",
    R_REF(",'hold_days':1,'fraud':{'self_referral':{'action':'review'}}"),
    NULL,
    {{"signup u=r1 em=E1", NULL},
     {"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1 em=E1", "signup referred=1 referrer=r1 "
                                   "checks=self_referral=fail:review "
                                   "reason=fraud:self_referral:email ; review status=held"},
     {"purchase u=f1 o=o1 amt=5000", "purchase qualified=1 ; reward review=held " POST_R(1000)},
     {"clock t=2d", "clock"},
     {"review u=f1 ok=0", "review status=rejected ; reward_voided " VOID_R(1000)}}};

static const scenario_t sc_ip_cluster = {
    "ip_cluster",
    R_REF(",'fraud':{'ip_cluster':{'max_signups':2,'window_hours':24,'action':'reject'}}"),
    NULL,
    {{"code r=r1 code=C1 t=1s", NULL},
     {"code r=r2 code=C2 t=2s", NULL},
     {"signup u=f1 code=C1 ip=I1 t=1h",
      "signup referred=1 checks=self_referral=pass,ip_cluster=pass"},
     {"signup u=f2 code=C2 ip=I1 t=2h",
      "signup referred=1 checks=self_referral=pass,ip_cluster=pass"},
     {"signup u=f3 code=C1 ip=I1 t=3h", "signup referred=0 refused_referrer=r1 "
                                        "reason=fraud:ip_cluster "
                                        "checks=self_referral=pass,ip_cluster=fail:reject"},
     {"signup u=f4 code=C1 ip=I2 t=3h+1s", "signup referred=1"},
     /* 24 h window, inclusive: f2 (2h) and f3 (3h) still count */
     {"signup u=f5 code=C1 ip=I1 t=1d+2h", "signup referred=0 reason=fraud:ip_cluster"},
     /* f3 dropped out of the window */
     {"signup u=f6 code=C1 ip=I1 t=1d+3h+1", "signup referred=1"},
     {"signup u=f7 code=C1", "signup referred=1 checks=self_referral=pass,ip_cluster=skip"}}};

static const scenario_t sc_velocity = {
    "velocity",
    R_REF(",'fraud':{'velocity':{'max_referrals':2,'window_hours':1,'action':'reject'}}"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"code r=r2 code=C2", NULL},
     {"signup u=f1 code=C1 t=10m", "signup referred=1 checks=self_referral=pass,velocity=pass"},
     {"signup u=f2 code=C1 t=20m", "signup referred=1"},
     {"signup u=f3 code=C1 t=30m", "signup referred=0 refused_referrer=r1 reason=fraud:velocity "
                                   "checks=self_referral=pass,velocity=fail:reject"},
     {"signup u=f4 code=C2 t=31m", "signup referred=1 referrer=r2"},
     {"signup u=f5 code=C1 t=1h+21m", "signup referred=1 referrer=r1"}}};

static const scenario_t sc_fast_signup = {
    "fast_signup",
    R_REF(",'fraud':{'fast_signup':{'min_seconds':5}}"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"click code=C1 v=v1 t=10s", NULL},
     {"signup u=f1 v=v1 t=15s-1", "signup referred=0 refused_referrer=r1 reason=fraud:fast_signup "
                                  "checks=self_referral=pass,fast_signup=fail:reject"},
     {"click code=C1 v=v2 t=20s", NULL},
     {"signup u=f2 v=v2 t=25s", "signup referred=1 checks=self_referral=pass,fast_signup=pass"},
     {"signup u=f3 code=C1", "signup referred=1 checks=self_referral=pass,fast_signup=skip"},
     {"click code=C1 v=v4 t=1m", NULL},
     {"signup u=f4 v=v4 code=C1 t=1m+1s", "signup referred=0 reason=fraud:fast_signup"}}};

static const scenario_t sc_duplicate_order = {
    "duplicate_order",
    R_REF(",'hold_days':1,'fraud':{'duplicate_order':{}}"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     SIGNUP_BUY("f1", "o1"),
     "purchase checks=self_referral=pass,duplicate_order=pass ; reward " POST_R(1000)},
    {"purchase u=f2 o=o1 amt=5000", "rejected user=f2 reason=fraud:duplicate_order "
                                    "checks=duplicate_order=fail:reject"},
    {"purchase u=f1 o=o1 amt=5000", "rejected reason=fraud:duplicate_order"},
    {"=bal r1 USD 1000 0 0 0", NULL}}
}
;

static const scenario_t sc_guest_purchase = {
    "guest_purchase",
    R_REF(",'friend_reward':{'type':'fixed','amount_minor':500},'hold_days':1"),
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"purchase u=g1 o=o1 amt=5000 code=C1",
      "purchase user=g1 referred=1 referrer=r1 attribution=purchase_code qualified=1 ; "
      "reward role=referrer " POST_R(1000) " ; reward role=friend @g1/pending/USD/500 "
                                           "@#expense/expense/USD/-500"},
     {"signup u=g1", "signup user=g1 referred=1 referrer=r1 attribution=existing"},
     {"purchase u=g2 o=o2 amt=5000", "purchase referred=0 reason=not_referred"},
     {"signup u=g2 code=C1", "signup referred=1"},
     {"purchase u=g2 o=o3 amt=5000", "purchase qualified=0 reason=not_first_purchase"}}};

/* first_purchase_only false: every purchase in the window earns, up to the
 * limit; only the first (qualifying) order's full refund un-qualifies */
static const scenario_t sc_repeat_purchases = {
    "repeat_purchases",
    "{'currency':'USD','qualification':{'first_purchase_only':false},"
    "'referrer_reward':{'type':'percent','percent_bp':1000}}",
    NULL,
    {{"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1", NULL},
     {"purchase u=f1 o=o1 amt=1000",
      "purchase qualified=1 ; reward amount=100 "
      "successful_referrals=1 " POST_R(100) " ; reward_matured " MATURE_R(100)},
     {"purchase u=f1 o=o2 amt=2000",
      "purchase qualified=1 ; reward amount=200 "
      "successful_referrals=1 " POST_R(200) " ; reward_matured " MATURE_R(200)},
     {"purchase u=f1 o=o3 amt=10",
      "purchase qualified=1 ; reward amount=1 " POST_R(1) " ; reward_matured " MATURE_R(1)},
     {"purchase u=f1 o=o4 amt=9", "purchase qualified=1 ; reward_refused reason=zero_amount"},
     {"purchase u=f1 o=o5 amt=1000", NULL},
     {"purchase u=f1 o=o6 amt=1000", NULL},
     {"purchase u=f1 o=o7 amt=1000", NULL},
     {"purchase u=f1 o=o8 amt=1000",
      "purchase qualified=1 ; reward amount=100 " POST_R(100) " ; reward_matured " MATURE_R(100)},
     {"purchase u=f1 o=o9 amt=1000", "purchase qualified=0 reason=qualifying_limit"},
     {"refund o=o2 amt=2000", "refund full=1 !qualified ; clawback amount=200 "
                              "@r1/available/USD/-200 @#expense/expense/USD/200"},
     {"refund o=o1 amt=1000", "refund full=1 qualified=0 ; clawback amount=100 "
                              "@r1/available/USD/-100 @#expense/expense/USD/100"},
     {"=bal r1 USD 0 401 0 0", NULL}}};

/* review from a purchase check; a duplicate order id under review */
static const scenario_t sc_purchase_review = {
    "purchase_review",
    R_REF(",'hold_days':1,'fraud':{'self_referral':{'action':'review'},"
          "'duplicate_order':{'action':'review'}}"),
    NULL,
    {{"purchase u=r1 o=o0 amt=100 pay=P1", NULL},
     {"code r=r1 code=C1", NULL},
     {"signup u=f1 code=C1", "signup referred=1 !reason"},
     {"purchase u=f1 o=o1 amt=5000 pay=P1",
      "purchase qualified=1 checks=self_referral=fail:review,duplicate_order=pass "
      "reason=fraud:self_referral:payment ; "
      "review user=f1 status=held reason=fraud:self_referral:payment ; reward review=held " POST_R(
          1000)},
     {"review u=f1 ok=1", "review status=approved"},
     {"signup u=f2 code=C1", NULL},
     {"purchase u=f2 o=o1 amt=5000", "purchase qualified=0 duplicate_order=1 "
                                     "checks=self_referral=pass,duplicate_order=fail:review "
                                     "reason=duplicate_order ; review user=f2 status=held"},
     {"purchase u=f2 o=o2 amt=5000", "purchase qualified=0 reason=not_first_purchase"},
     {"clock dt=2d", "reward_matured user=r1 friend=f1 " MATURE_R(1000) " ; clock"}}};

static const scenario_t *const scenarios[] = {
    &sc_codes,
    &sc_attribution_code,
    &sc_first_touch,
    &sc_last_touch,
    &sc_attribution_window,
    &sc_qualification,
    &sc_reward_hold,
    &sc_percent,
    &sc_tiers,
    &sc_milestone_twice,
    &sc_caps_reduce,
    &sc_caps_count,
    &sc_caps_value_refuse,
    &sc_budget,
    &sc_coupon_product,
    &sc_product_value,
    &sc_refund_hold_edge,
    &sc_partial_refund,
    &sc_receivable,
    &sc_version_change,
    &sc_review_approve,
    &sc_review_reject,
    &sc_self_referral,
    &sc_self_referral_review,
    &sc_ip_cluster,
    &sc_velocity,
    &sc_fast_signup,
    &sc_duplicate_order,
    &sc_guest_purchase,
    &sc_repeat_purchases,
    &sc_purchase_review,
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* ---- tests beyond the table ---- */

/* Folds one event spec (fx already set up with a scenario's rules). */
static recs_t *step1(fx_t *f, const char *ev)
{
    step_t st = {ev, NULL};
    return run_step(f, &st);
}

static void configure(fx_t *f, const char *rules)
{
    char spec[RF_RULES_MAX + 64];
    f->t = T0;
    snprintf(spec, sizeof spec, "config ver=1 t=0 rules=%s", rules);
    recs_t *rs = step1(f, spec);
    assert_int_equal(rs->n, 1);
    assert_string_equal(rs->r[0].kind, RF_KIND_PROGRAM);
}

static void test_derived_code(void **state)
{
    fx_t *f = *state;
    char a[RF_RULES_CODE_BUF], b[RF_RULES_CODE_BUF];
    rf_rules_derive_code(PROG, "r2", a);
    rf_rules_derive_code(PROG, "r2", b);
    assert_string_equal(a, b); /* stable */
    assert_int_equal(strlen(a), RF_RULES_CODE_LEN);
    for (int i = 0; i < 10; i++)
        assert_null(strchr("ILOU", a[i]));
    assert_true(rf_rules_code_valid(a));
    /* pinned: changing the derivation would orphan every issued code */
    rf_rules_derive_code("spring", "alice", b);
    assert_string_equal(b, RF_TEST_PINNED_CODE);
    rf_rules_derive_code(PROG, "r3", b);
    assert_string_not_equal(a, b);
    /* case-insensitive, hyphens ignored, a typo caught */
    char c[32];
    snprintf(c, sizeof c, "%.5s-%s", a, a + 5);
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    assert_true(rf_rules_code_valid(c));
    for (int i = 0; i < 10; i++) {
        rf_strlcpy(c, a, sizeof c);
        c[i] = c[i] == '7' ? '8' : '7';
        assert_false(rf_rules_code_valid(c));
    }
    assert_false(rf_rules_code_valid("ABC"));
    /* the fold assigns the same code to a CodeIssued without one */
    configure(f, "{\"currency\":\"USD\"}");
    rf_event_t *ev = &f->ev;
    rf_event_clear(ev);
    ev->type = RF_EV_CODE_ISSUED;
    rf_strlcpy(ev->event_id, "00000000-0000-4000-8000-0000000000ff", sizeof ev->event_id);
    rf_strlcpy(ev->program_id, PROG, sizeof ev->program_id);
    rf_strlcpy(ev->referrer, "r2", sizeof ev->referrer);
    ev->occurred_at_ms = T0 + 1;
    rf_errbuf_t eb;
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK); /* code is optional */
    recs_t *rs = step1(f, "code r=r2");
    assert_string_equal(rf_record_get_fact(&rs->r[0], RF_FACT_CODE), a);
    char spec[64];
    snprintf(spec, sizeof spec, "signup u=f1 code=%s", a);
    rs = step1(f, spec);
    assert_string_equal(rf_record_get_fact(&rs->r[0], RF_FACT_REFERRER), "r2");
}

static void test_coupon_unique(void **state)
{
    fx_t *f = *state;
    configure(f, "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"coupon\","
                 "\"amount_minor\":500},\"friend_reward\":{\"type\":\"coupon\","
                 "\"amount_minor\":1000,\"asset\":\"GIFT\"},\"hold_days\":1}");
    step1(f, "code r=r1 code=C1");
    enum { N = 60 };
    static char seen[2 * N][RF_ID_BUF];
    int n = 0;
    for (int i = 0; i < N; i++) {
        char ev[128];
        snprintf(ev, sizeof ev, "signup u=f%d code=C1", i);
        step1(f, ev);
        snprintf(ev, sizeof ev, "purchase u=f%d o=o%d amt=5000", i, i);
        recs_t *rs = step1(f, ev);
        for (uint32_t j = 0; j < rs->n; j++) {
            const char *c = rf_record_get_fact(&rs->r[j], RF_FACT_COUPON);
            if (!c) continue;
            assert_int_equal(strlen(c), 20);
            assert_memory_equal(c, "CPN-", 4);
            for (int k = 0; k < n; k++)
                assert_string_not_equal(seen[k], c);
            rf_strlcpy(seen[n++], c, RF_ID_BUF);
        }
    }
    assert_int_equal(n, 2 * N);
    int64_t b[RF_BUCKET__COUNT];
    assert_int_equal(rf_ledger_balance(f->l, PROG, "f7", "GIFT", b, NULL), RF_OK);
    assert_int_equal(b[RF_BUCKET_PENDING], 1000);
    assert_int_equal(rf_ledger_balance(f->l, PROG, "r1", "COUPON_USD", b, NULL), RF_OK);
    assert_int_equal(b[RF_BUCKET_PENDING], 500 * N);
}

/* More holds due at once than one event may mature: the rest follow on the
 * next events, none lost, none twice. */
static void test_maturity_bounded(void **state)
{
    fx_t *f = *state;
    configure(f, "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\","
                 "\"amount_minor\":100},\"hold_days\":1}");
    step1(f, "code r=r1 code=C1");
    enum { N = 80 };
    for (int i = 0; i < N; i++) {
        char ev[128];
        snprintf(ev, sizeof ev, "signup u=f%d code=C1 t=1h", i);
        step1(f, ev);
        snprintf(ev, sizeof ev, "purchase u=f%d o=o%d amt=5000 t=2h", i, i);
        step1(f, ev);
    }
    int matured = 0;
    for (int round = 0; round < 4; round++) {
        recs_t *rs = step1(f, "clock dt=1d");
        int m = 0;
        for (uint32_t j = 0; j < rs->n; j++)
            m += !strcmp(rs->r[j].kind, RF_KIND_MATURED);
        assert_true(m <= RF_RECORDS_PER_EVENT_MAX / 2);
        matured += m;
    }
    assert_int_equal(matured, N);
    int64_t b[RF_BUCKET__COUNT];
    assert_int_equal(rf_ledger_balance(f->l, PROG, "r1", "USD", b, NULL), RF_OK);
    assert_int_equal(b[RF_BUCKET_PENDING], 0);
    assert_int_equal(b[RF_BUCKET_AVAILABLE], 100 * N);
}

/* Holds due at the same millisecond mature in the index's key order
 * (friend, then reward id), not in the order they were made: a window filled
 * from the index after a reopen gives key order, so the live order must be
 * the same for the ledger not to depend on reopens (regression: it_faults at
 * 500k events, two holds of one purchase matured in a different order). */
static void test_same_time_holds_in_key_order(void **state)
{
    fx_t *f = *state;
    configure(f, "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\","
                 "\"amount_minor\":100},\"friend_reward\":{\"type\":\"fixed\","
                 "\"amount_minor\":100},\"hold_days\":1}");
    step1(f, "code r=r1 code=C1");
    enum { N = 8 };
    for (int i = 0; i < N; i++) {
        char ev[128];
        snprintf(ev, sizeof ev, "signup u=f%d code=C1", i);
        step1(f, ev);
    }
    for (int i = 0; i < N; i++) { /* one time for all: every hold due at once */
        char ev[128];
        snprintf(ev, sizeof ev, "purchase u=f%d o=o%d amt=5000", i, i);
        step1(f, ev);
    }
    char prev[2 * RF_ID_BUF] = "";
    int matured = 0;
    for (int round = 0; round < 4 && matured < 2 * N; round++) {
        recs_t *rs = step1(f, "clock dt=1d");
        for (uint32_t j = 0; j < rs->n; j++) {
            if (strcmp(rs->r[j].kind, RF_KIND_MATURED)) continue;
            char cur[2 * RF_ID_BUF];
            snprintf(cur, sizeof cur, "%s%c%s", rf_record_get_fact(&rs->r[j], RF_FACT_FRIEND), 1,
                     rf_record_get_fact(&rs->r[j], RF_FACT_REWARD_ID));
            assert_true(strcmp(prev, cur) < 0);
            memcpy(prev, cur, sizeof prev);
            matured++;
        }
    }
    assert_int_equal(matured, 2 * N);
}

/* The cache of compiled rules and of due holds survives a reopen: state is
 * the truth, the cache only a copy. */
static void test_reopen(void **state)
{
    fx_t *f = *state;
    configure(f, "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\","
                 "\"amount_minor\":100},\"hold_days\":1}");
    step1(f, "code r=r1 code=C1");
    step1(f, "signup u=f1 code=C1");
    step1(f, "purchase u=f1 o=o1 amt=5000");
    rf_ledger_close(f->l);
    rf_errbuf_t eb;
    f->l = rf_ledger_open(f->dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    assert_non_null(f->l);
    recs_t *rs = step1(f, "clock dt=1d");
    assert_int_equal(rs->n, 2);
    assert_string_equal(rs->r[0].kind, RF_KIND_MATURED);
    rs = step1(f, "signup u=f2 code=C1");
    assert_string_equal(rf_record_get_fact(&rs->r[0], RF_FACT_REFERRER), "r1");
}

/* `refold explain` and `refold code` on a real ledger (the binary under test). */
static void test_explain_command(void **state)
{
    fx_t *f = *state;
    configure(f, "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":"
                 "1000},\"caps\":{\"max_count\":2,\"on_exceed\":\"refuse\"},\"hold_days\":14,"
                 "\"fraud\":{\"velocity\":{\"max_referrals\":1,\"window_hours\":24}}}");
    static const char *const evs[] = {
        "code r=r1 code=C1",          "signup u=r1 em=E1",
        "signup u=f1 code=C1",        "purchase u=f1 o=o1 amt=5000",
        "signup u=f2 code=C1",        "purchase u=f2 o=o2 amt=5000",
        "review u=f2 ok=0",           "signup u=f3 code=C1 em=E1 t=3d",
        "signup u=f4 code=C1 t=5d",   "purchase u=f4 o=o4 amt=5000",
        "refund o=o1 amt=5000 t=20d",
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        step1(f, evs[i]);
    static char out[1 << 20];
    int rc = rf_test_refold(out, sizeof out, 0, "explain --data %s --program %s --user f2 --json",
                            f->dir, PROG);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *o = json_loads(out, 0, &jerr);
    if (!o) fail_msg("explain --json output is not JSON: %s\n%s", jerr.text, out);
    json_t *recs = json_object_get(o, "records"), *sum = json_object_get(o, "summary");
    assert_string_equal(json_string_value(json_object_get(sum, "referred_by")), "r1");
    const char *want[] = {"signup", "review", "purchase", "reward", "review", "reward_voided"};
    assert_int_equal(json_array_size(recs), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *r = json_array_get(recs, i);
        assert_string_equal(json_string_value(json_object_get(r, "kind")), want[i]);
        assert_true(strlen(json_string_value(json_object_get(r, "explanation"))) > 10);
    }
    json_decref(o);
    /* the referrer: one reward paid, one refused by the count cap, one clawed */
    rc = rf_test_refold(out, sizeof out, 0, "explain --data %s --program %s --user r1", f->dir,
                        PROG);
    assert_int_equal(rc, 0);
    if (getenv("RF_VERBOSE")) fputs(out, stderr);
    assert_non_null(strstr(out, "REFUSED: cap max_count"));
    assert_non_null(strstr(out, "attribution to r1 refused: fraud:self_referral:email"));
    assert_non_null(strstr(out, "held for review: fraud:velocity"));
    assert_non_null(strstr(out, "clawed back (refund)"));
    assert_non_null(strstr(out, "referrals as referrer: 3 attributed, 1 refused"));
    rc = rf_test_refold(out, sizeof out, 0, "explain --data %s --program %s --user nobody", f->dir,
                        PROG);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "no record"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "explain --data %s", f->dir), 2);
    assert_non_null(strstr(out, "refold explain: "));
    /* export: hold_until (epoch ms in the ledger) in RFC 3339 like every other time */
    rc = rf_test_refold(out, sizeof out, 0, "export --data %s --format jsonl", f->dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"hold_until\":\"2026-"));
    assert_null(strstr(out, "\"hold_until\":\"17"));
    /* refold code: the fold's derivation */
    rc = rf_test_refold(out, sizeof out, 0, "code --program spring --referrer alice");
    assert_int_equal(rc, 0);
    assert_string_equal(out, RF_TEST_PINNED_CODE "\n");
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "code --check %s", RF_TEST_PINNED_CODE), 0);
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "code --check 1ZEQY8RV5CH"), 1);
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "code --json --program p --referrer r"), 0);
    assert_non_null(strstr(out, "\"code\":"));
}

static const struct {
    const char *json;  /* single quotes */
    const char *error; /* NULL: valid */
} config_cases[] = {
    {"{'currency':'USD'}", NULL},
    {"{'currency':'USD','name':'Spring','attribution':{'model':'first_touch','window_days':7},"
     "'qualification':{'first_purchase_only':false,'min_order_minor':1,'window_days':1},"
     "'referrer_reward':{'type':'percent','percent_bp':1000,'max_minor':5000,'asset':'POINTS'},"
     "'friend_reward':{'type':'coupon','amount_minor':1000},"
     "'tiers':[{'min_referrals':5,'referrer_reward':{'type':'fixed','amount_minor':1}}],"
     "'milestones':[{'referrals':3,'bonus':{'type':'product','sku':'TOTE'}}],"
     "'caps':{'period':'month','max_count':3,'max_value_minor':9,'on_exceed':'refuse'},"
     "'budget_minor':100,'hold_days':30,'fraud':{'self_referral':{'action':'off'},"
     "'ip_cluster':{'max_signups':3,'window_hours':24},'velocity':{'max_referrals':10,"
     "'window_hours':24,'action':'reject'},'fast_signup':{'min_seconds':5,'action':'review'},"
     "'duplicate_order':{'action':'review'}}}",
     NULL},
    {"", "not valid JSON"},
    {"[1]", "must be a JSON object"},
    {"{}", "'currency' is required"},
    {"{'currency':'usd'}", "upper-case"},
    {"{'currency':'USD','curency':'USD'}", "unknown field 'curency'"},
    {"{'currency':'USD','currency':'EUR'}", "duplicate"},
    {"{'currency':'USD','attribution':{'model':'middle'}}", "first_touch or last_touch"},
    {"{'currency':'USD','attribution':{'window':3}}", "unknown field 'attribution.window'"},
    {"{'currency':'USD','attribution':{'window_days':3651}}", "attribution.window_days"},
    {"{'currency':'USD','qualification':{'min_order_minor':-1}}", "min_order_minor"},
    {"{'currency':'USD','qualification':{'first_purchase_only':1}}", "true or false"},
    {"{'currency':'USD','referrer_reward':{'type':'cash'}}", "referrer_reward.type"},
    {"{'currency':'USD','referrer_reward':{'amount_minor':1}}",
     "referrer_reward.type' is required"},
    {"{'currency':'USD','referrer_reward':{'type':'fixed'}}", "amount_minor' must be > 0"},
    {"{'currency':'USD','referrer_reward':{'type':'percent'}}", "percent_bp' must be > 0"},
    {"{'currency':'USD','referrer_reward':{'type':'percent','percent_bp':10001}}", "percent_bp"},
    {"{'currency':'USD','friend_reward':{'type':'product'}}", "sku' is required"},
    {"{'currency':'USD','friend_reward':{'type':'fixed','amount_minor':1,'asset':'a-b'}}",
     "upper-case"},
    {"{'currency':'USD','friend_reward':{'type':'fixed','amount_minor':1,'colour':1}}",
     "unknown field 'friend_reward.colour'"},
    {"{'currency':'USD','tiers':[{'min_referrals':2}]}", "needs min_referrals and referrer_reward"},
    {"{'currency':'USD','tiers':[{'min_referrals':2,'referrer_reward':{'type':'none'}},"
     "{'min_referrals':2,'referrer_reward':{'type':'none'}}]}",
     "two tiers"},
    {"{'currency':'USD','milestones':[{'referrals':2,'bonus':{'type':'percent','percent_bp':1}}]}",
     "no order"},
    {"{'currency':'USD','caps':{'period':'week'}}", "month, year or all"},
    {"{'currency':'USD','caps':{'on_exceed':'clip'}}", "reduce or refuse"},
    {"{'currency':'USD','budget_minor':1000000000000001}", "budget_minor"},
    {"{'currency':'USD','fraud':{'ip_cluster':{'window_hours':24}}}", "max_signups' is required"},
    {"{'currency':'USD','fraud':{'velocity':{'max_referrals':257,'window_hours':1}}}",
     "max_referrals"},
    {"{'currency':'USD','fraud':{'fast_signup':{'action':'reject'}}}", "min_seconds' is required"},
    {"{'currency':'USD','fraud':{'self_referral':{'action':'maybe'}}}", "reject, review or off"},
    {"{'currency':'USD','fraud':{'geo':{}}}", "unknown field 'fraud.geo'"},
    {"{'currency':'TOOLONGCURRENCY'}", "currency"},
    {"{'currency':'ABCDEFGHIJ','friend_reward':{'type':'coupon','amount_minor':1}}",
     "asset' is required"},
};

static void test_config_validation(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof config_cases / sizeof config_cases[0]; i++) {
        char json[4096];
        fix_quotes(config_cases[i].json, json, sizeof json);
        rf_errbuf_t eb = {{0}};
        rf_err_t err = rf_rules_validate_json(json, &eb);
        if (!config_cases[i].error) {
            if (err) fail_msg("case %zu: valid rules refused: %s", i, eb.msg);
            continue;
        }
        if (err != RF_ERR_BAD_INPUT) fail_msg("case %zu: accepted: %s", i, json);
        if (!strstr(eb.msg, config_cases[i].error))
            fail_msg("case %zu: message '%s' lacks '%s'", i, eb.msg, config_cases[i].error);
    }
}

/* The example programs in ops/programs are complete and valid. */
static void test_example_programs(void **state)
{
    (void)state;
    static const char *const files[] = {"double_sided.json", "tiered_coupon.json",
                                        "points_milestones.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/ops/programs/%s", RF_TEST_SOURCE_DIR, files[i]);
        FILE *fp = fopen(path, "r");
        if (!fp) fail_msg("cannot open %s", path);
        static char json[RF_RULES_MAX + 1];
        size_t n = fread(json, 1, RF_RULES_MAX, fp);
        fclose(fp);
        json[n] = 0;
        rf_errbuf_t eb = {{0}};
        if (rf_rules_validate_json(json, &eb)) fail_msg("%s: %s", files[i], eb.msg);
    }
}

int main(void)
{
    rf_log_set_level(RF_LOG_WARN);
    struct CMUnitTest tests[NSCENARIOS + 16];
    size_t n = 0;
    for (size_t i = 0; i < NSCENARIOS; i++) {
        struct CMUnitTest t = {scenarios[i]->name, run_scenario, setup, teardown,
                               (void *)scenarios[i]};
        tests[n++] = t;
    }
    static const scenario_t blank = {"blank", "{'currency':'USD'}", NULL, {{NULL, NULL}}};
    const struct CMUnitTest extra[] = {
        cmocka_unit_test_prestate_setup_teardown(test_derived_code, setup, teardown,
                                                 (void *)&blank),
        cmocka_unit_test_prestate_setup_teardown(test_coupon_unique, setup, teardown,
                                                 (void *)&blank),
        cmocka_unit_test_prestate_setup_teardown(test_maturity_bounded, setup, teardown,
                                                 (void *)&blank),
        cmocka_unit_test_prestate_setup_teardown(test_reopen, setup, teardown, (void *)&blank),
        cmocka_unit_test_prestate_setup_teardown(test_same_time_holds_in_key_order, setup, teardown,
                                                 (void *)&blank),
        cmocka_unit_test_prestate_setup_teardown(test_explain_command, setup, teardown,
                                                 (void *)&blank),
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_example_programs),
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        tests[n++] = extra[i];
    return _cmocka_run_group_tests("rules", tests, n, NULL, NULL);
}
