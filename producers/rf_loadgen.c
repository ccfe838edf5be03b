/* rf_loadgen.c: the synthetic traffic generator (see rf_loadgen.h): a
 * min-heap of scheduled actions over synthetic event time; each action
 * emits at most one event and may schedule follow-ups. */
#include "rf_loadgen.h"
#include "rf_hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_limits.h"
#include "rf_loadgen_int.h"
#include "rf_producer.h"

#define NONE               UINT32_MAX
#define SEC_MS             1000LL
#define MIN_MS             60000LL
#define HOUR_MS            3600000LL
#define DAY_MS             86400000LL
#define START_MS_DEFAULT   1767225600000LL /* 2026-01-01T00:00:00Z */
#define AGENTS             40              /* distinct browsers of the synthetic crowd */
#define REFERRER_BUYER_PPM 400000u         /* share of referrers who also buy (referral rate) */

enum kind {
    A_CONFIG,   /* a: version */
    A_ARRIVAL,  /* the program's share process */
    A_JOURNEY,  /* a: referrer; emits the Share and schedules what follows */
    A_CLICK,    /* a: visitor, b: referrer, c: ip cluster or NONE */
    A_SIGNUP,   /* a: user, b: referrer or NONE, c: visitor or NONE, amount: cluster + 1 */
    A_PURCHASE, /* a: user, b: referrer or NONE, c: order, amount */
    A_REFUND,   /* a: order, amount */
    A_REDEEM,   /* a: referrer */
    A_REVIEW,   /* a: user */
    A_ADJUST,   /* a: referrer */
    A_CLOCK,
    A_KEY,    /* a: operator key index to register */
    A_REVOKE, /* a: operator key index to revoke (the program moves to the other) */
};

enum fraud {
    FR_NONE,
    FR_SELF,       /* friend reuses the referrer's email, device or payment */
    FR_IP_CLUSTER, /* several signups from one IP within hours */
    FR_VELOCITY,   /* a burst of referrals for one referrer */
    FR_DUP_ORDER,  /* the same order id purchased twice */
    FR_FAST,       /* signup seconds after the click */
    FR__COUNT,
    FR_ORGANIC, /* not fraud: a signup without referral */
};

enum flags {
    FL_CODE = 1,          /* the signup carries the code */
    FL_VISITOR = 2,       /* the signup carries the visitor id */
    FL_FIRST = 4,         /* the user's first purchase */
    FL_CHECKOUT_CODE = 8, /* the code entered again at checkout */
    FL_DUPLICATE = 16,    /* the second copy of a duplicated order */
    FL_REFERRER = 32,     /* the buyer is referrer a->a (a customer who refers) */
};

typedef struct action {
    int64_t t;
    uint64_t seq; /* ties in t break by scheduling order: deterministic */
    int64_t amount;
    uint32_t a, b, c;
    uint16_t prog, flags;
    uint8_t kind, fraud;
} action_t;

typedef struct referrer {
    int64_t earned_minor;   /* the generator's estimate of rewards earned */
    int64_t redeemed_minor; /* what it already redeemed */
    bool issued;            /* CodeIssued emitted */
} referrer_t;

typedef struct program {
    rf__lg_program_t par;
    char id[32];  /* "<prefix>-p<N>" */
    char tag[24]; /* code prefix "<PREFIX><N>" */
    int64_t share_mean_ms;
    uint32_t next_user, next_visitor, next_order, next_request, next_cluster;
    int key; /* index of the operator key that signs its privileged events */
    referrer_t *ref;
} program_t;

struct rf_loadgen {
    rf_loadgen_conf_t conf;
    rf__rng_t rng;
    program_t *progs;
    action_t *heap;
    size_t nheap, capheap;
    uint64_t seq;
    int64_t now;
    bool reconfigured;
    rf_loadgen_stats_t st;
    rf__lg_keys_t keys;
};

void rf_loadgen_conf_init(rf_loadgen_conf_t *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->events = 1000000;
    c->programs = 8;
    c->referrers = 1000;
    c->start_ms = START_MS_DEFAULT;
    snprintf(c->prefix, sizeof c->prefix, "lg");
    c->share_rate_milli = 1000;
    c->click_ppm = 300000;
    c->signup_ppm = 250000;
    c->purchase_ppm = 600000;
    c->repeat_ppm = 300000;
    c->refund_ppm = 50000;
    c->partial_ppm = 500000;
    c->redemption_ppm = 300000;
    c->review_ppm = 500000;
    c->adjustment_ppm = 2000;
    c->organic_ppm = 300000;
    c->fraud_ppm = 20000;
    c->clock_ms = HOUR_MS;
}

/* ---- the schedule: a binary min-heap on (t, seq) ---- */

static bool before(const action_t *x, const action_t *y)
{
    return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

static bool heap_grow(rf_loadgen_t *g)
{
    if (g->capheap >= RF_LOADGEN_PENDING_MAX) return false;
    size_t cap = g->capheap ? g->capheap * 2 : 4096;
    if (cap > RF_LOADGEN_PENDING_MAX) cap = RF_LOADGEN_PENDING_MAX;
    action_t *h = realloc(g->heap, cap * sizeof *h);
    if (!h) return false;
    g->heap = h;
    g->capheap = cap;
    return true;
}

/* Schedules a; a follow-up that does not fit is dropped (and counted). */
static void push(rf_loadgen_t *g, action_t a)
{
    RF_ASSERT(a.t >= g->now);
    if (g->nheap == g->capheap && !heap_grow(g)) {
        g->st.dropped++;
        return;
    }
    a.seq = g->seq++;
    size_t i = g->nheap++;
    while (i > 0 && before(&a, &g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = a;
}

static action_t pop(rf_loadgen_t *g)
{
    RF_ASSERT(g->nheap > 0);
    action_t top = g->heap[0], last = g->heap[--g->nheap];
    size_t i = 0, n = g->nheap;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const action_t *best = &last;
        if (l < n && before(&g->heap[l], best)) best = &g->heap[m = l];
        if (l + 1 < n && before(&g->heap[l + 1], best)) best = &g->heap[m = l + 1];
        if (m == i) break;
        g->heap[i] = g->heap[m];
        i = m;
    }
    if (n > 0) g->heap[i] = last;
    return top;
}

static action_t act(enum kind k, const program_t *p, const rf_loadgen_t *g, int64_t t)
{
    action_t a = {.t = t, .kind = (uint8_t)k, .a = NONE, .b = NONE, .c = NONE};
    a.prog = (uint16_t)(p - g->progs);
    return a;
}

/* ---- synthetic identities: stable per (seed, program, entity) ---- */

enum domain { D_EMAIL = 1, D_DEVICE, D_PAYMENT, D_IP, D_AGENT, D_CLUSTER_IP, D_CODE };
#define REFERRER_NS (1ull << 32) /* referrers' entity numbers, apart from friends' */

/* 64 hex digits standing in for an HMAC-SHA256 of a PII value: the same
 * entity always gets the same hash, which is what the fraud checks match. */
static void entity_hash(const rf_loadgen_t *g, enum domain d, const program_t *p, uint64_t id,
                        char out[RF_HASH_BUF])
{
    uint64_t x = g->conf.seed ^ ((uint64_t)d << 56) ^ ((uint64_t)(p - g->progs) << 36) ^ id;
    uint8_t bytes[32];
    for (int i = 0; i < 4; i++)
        rf_be64_put(bytes + 8 * i, rf__splitmix64(&x));
    rf_hex(bytes, sizeof bytes, out);
}

/* A referrer's code: a 32-bit bijection of the referrer number (so codes
 * never collide) in Crockford base32 after the program's tag. */
static void referrer_code(const rf_loadgen_t *g, const program_t *p, uint32_t r,
                          char out[RF_ID_BUF])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint32_t x = r * 0x9e3779b1u;
    x ^= (uint32_t)(g->conf.seed * 0x85ebca6bu) ^ (uint32_t)(g->conf.seed >> 32);
    x *= 0xc2b2ae35u;
    x ^= x >> 15;
    char s[8];
    for (int i = 6; i >= 0; i--, x >>= 5)
        s[i] = b32[x & 31];
    s[7] = '\0';
    snprintf(out, RF_ID_BUF, "%s-%s", p->tag, s);
}

static void referrer_id(const program_t *p, uint32_t r, char out[RF_ID_BUF])
{
    snprintf(out, RF_ID_BUF, "%s-r%u", p->id, r);
}

static void entity_id(const program_t *p, char kind, uint32_t n, char out[RF_ID_BUF])
{
    snprintf(out, RF_ID_BUF, "%s-%c%u", p->id, kind, n);
}

/* Order values: log-normal-ish around 45.00 (median), a factor of 2 either
 * way for one sigma, in integer fixed point: an Irwin-Hall sum of four
 * uniforms as the log2, then 2^x from a 16-step table with interpolation.
 * Prices end in 99. */
static int64_t order_amount(rf__rng_t *r)
{
    static const int64_t pow2_q16[17] = {65536,  68438,  71468,  74632,  77936,  81386,
                                         84990,  88752,  92682,  96785,  101070, 105545,
                                         110218, 115098, 120194, 125515, 131072};
    int64_t x = 0;
    for (int i = 0; i < 4; i++)
        x += (int64_t)(rf__rng_next(r) & 1023);
    int64_t l = 12427 + (x - 2046) * 177 / 100; /* log2(cents) in 1/1024 */
    if (l < 6 * 1024) l = 6 * 1024;
    if (l > 20 * 1024) l = 20 * 1024;
    int64_t k = (l & 1023) >> 6, rem = l & 63;
    int64_t f = pow2_q16[k] + (pow2_q16[k + 1] - pow2_q16[k]) * rem / 64;
    int64_t cents = (f << (l >> 10)) >> 16;
    RF_ASSERT(cents > 0);
    return cents / 100 * 100 + 99;
}

/* The start of every event: envelope with a UUIDv7 of the synthetic time
 * and PRNG bits (deterministic, time-ordered like real producers' ids). */
static void begin(rf_loadgen_t *g, rf_event_t *ev, rf_event_type_t type, const program_t *p)
{
    rf_event_clear(ev);
    ev->type = type;
    uint8_t rnd[10];
    uint64_t r1 = rf__rng_next(&g->rng), r2 = rf__rng_next(&g->rng);
    rf_be64_put(rnd, r1);
    rnd[8] = (uint8_t)r2;
    rnd[9] = (uint8_t)(r2 >> 8);
    rf_event_id_v7(g->now, rnd, ev->event_id);
    snprintf(ev->program_id, sizeof ev->program_id, "%s", p->id);
    ev->occurred_at_ms = g->now;
    snprintf(ev->source, sizeof ev->source, "loadgen");
}

static const char *pick_channel(rf__rng_t *r)
{
    static const struct {
        const char *name;
        int weight; /* percent */
    } ch[] = {{"email", 25},    {"sms", 10}, {"whatsapp", 25},
              {"facebook", 15}, {"x", 10},   {"link", 15}};
    int x = (int)rf__rng_range(r, 0, 99);
    for (size_t i = 0; i < sizeof ch / sizeof ch[0]; i++) {
        if (x < ch[i].weight) return ch[i].name;
        x -= ch[i].weight;
    }
    return "link";
}

/* ---- actions: each emits at most one event and schedules follow-ups ---- */

static bool do_config(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    begin(g, ev, RF_EV_PROGRAM_CONFIGURED, p);
    ev->version = (int32_t)a->a;
    rf_errbuf_t eb;
    rf_err_t err =
        rf_loadgen_rules(&g->conf, a->prog, (int)a->a, ev->rules_json, sizeof ev->rules_json, &eb);
    RF_ASSERT(err == RF_OK); /* the generated rules are a few hundred bytes */
    return true;
}

/* The share process: a referrer shares (after getting a code if new), and
 * now and then an organic signup or a finance adjustment is set in motion. */
static bool do_arrival(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    const rf_loadgen_conf_t *c = &g->conf;
    rf__rng_t *r = &g->rng;
    push(g, act(A_ARRIVAL, p, g, a->t + rf__rng_range(r, 1, 2 * p->share_mean_ms)));
    if (rf__rng_chance(r, c->organic_ppm)) {
        action_t s = act(A_SIGNUP, p, g, a->t + rf__rng_range(r, MIN_MS, 6 * HOUR_MS));
        s.a = p->next_user++;
        s.fraud = FR_ORGANIC;
        push(g, s);
    }
    action_t j = act(A_JOURNEY, p, g, a->t);
    j.a = (uint32_t)rf__rng_range(r, 0, c->referrers - 1);
    if (rf__rng_chance(r, c->adjustment_ppm)) { /* for this referrer: known by then */
        action_t s = act(A_ADJUST, p, g, a->t + rf__rng_range(r, HOUR_MS, 2 * DAY_MS));
        s.a = j.a;
        push(g, s);
    }
    if (rf__rng_chance(r, c->fraud_ppm)) {
        j.fraud = (uint8_t)rf__rng_range(r, FR_SELF, FR__COUNT - 1);
        g->st.fraud_journeys++;
    }
    push(g, j); /* at the same time, after this: it emits the Share */
    referrer_t *ref = &p->ref[j.a];
    if (ref->issued) return false;
    ref->issued = true;
    /* Referrers are often customers themselves: without their own orders the
     * referral rate (customers who referred / customers) would be zero. */
    if (rf__rng_chance(r, REFERRER_BUYER_PPM)) {
        action_t b = act(A_PURCHASE, p, g, a->t + rf__rng_range(r, HOUR_MS, 10 * DAY_MS));
        b.a = j.a;
        b.b = NONE;
        b.c = p->next_order++;
        b.amount = order_amount(r);
        b.flags = FL_REFERRER;
        push(g, b);
    }
    begin(g, ev, RF_EV_CODE_ISSUED, p);
    referrer_id(p, j.a, ev->referrer);
    referrer_code(g, p, j.a, ev->code);
    return true;
}

static void sched_clicks(rf_loadgen_t *g, program_t *p, const action_t *a, int n, int64_t within_ms,
                         uint32_t cluster)
{
    for (int i = 0; i < n; i++) {
        action_t k = act(A_CLICK, p, g, a->t + rf__rng_range(&g->rng, MIN_MS, within_ms));
        k.a = p->next_visitor++;
        k.b = a->a;
        k.c = cluster;
        k.fraud = a->fraud;
        push(g, k);
    }
}

static bool do_journey(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    rf__rng_t *r = &g->rng;
    if (a->fraud == FR_NONE) {
        int n = 0;
        for (int i = 0; i < 8; i++)
            n += rf__rng_chance(r, g->conf.click_ppm);
        sched_clicks(g, p, a, n, 12 * HOUR_MS, NONE);
    } else if (a->fraud == FR_IP_CLUSTER) {
        sched_clicks(g, p, a, (int)rf__rng_range(r, 4, 6), 2 * HOUR_MS, p->next_cluster++);
    } else if (a->fraud == FR_SELF || a->fraud == FR_VELOCITY) {
        int n = a->fraud == FR_SELF ? 1 : (int)rf__rng_range(r, 11, 15);
        for (int i = 0; i < n; i++) {
            action_t s = act(A_SIGNUP, p, g, a->t + rf__rng_range(r, MIN_MS, 6 * HOUR_MS));
            s.a = p->next_user++;
            s.b = a->a;
            s.flags = FL_CODE;
            s.fraud = a->fraud;
            push(g, s);
        }
    } else {
        sched_clicks(g, p, a, 1, HOUR_MS, NONE); /* FR_DUP_ORDER, FR_FAST */
    }
    begin(g, ev, RF_EV_SHARE, p);
    referrer_id(p, a->a, ev->referrer);
    snprintf(ev->channel, sizeof ev->channel, "%s", pick_channel(r));
    return true;
}

static bool do_click(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    rf__rng_t *r = &g->rng;
    if (a->fraud != FR_NONE || rf__rng_chance(r, g->conf.signup_ppm)) {
        int64_t delay = a->fraud == FR_FAST         ? rf__rng_range(r, SEC_MS, 3 * SEC_MS)
                        : a->fraud == FR_IP_CLUSTER ? rf__rng_range(r, MIN_MS, HOUR_MS)
                                                    : rf__rng_range(r, 2 * MIN_MS, 3 * DAY_MS);
        action_t s = act(A_SIGNUP, p, g, a->t + delay);
        s.a = p->next_user++;
        s.b = a->b;
        s.c = a->a;
        s.amount = a->c == NONE ? 0 : (int64_t)a->c + 1;
        s.fraud = a->fraud;
        int64_t how = rf__rng_range(r, 0, 9); /* visitor only, code only, both: 5:3:2 */
        s.flags = a->fraud != FR_NONE ? FL_VISITOR
                  : how < 5           ? FL_VISITOR
                  : how < 8           ? FL_CODE
                                      : FL_CODE | FL_VISITOR;
        push(g, s);
    }
    begin(g, ev, RF_EV_CLICK, p);
    referrer_code(g, p, a->b, ev->code);
    entity_id(p, 'v', a->a, ev->visitor);
    if (a->c != NONE)
        entity_hash(g, D_CLUSTER_IP, p, a->c, ev->ip_hash);
    else
        entity_hash(g, D_IP, p, a->a, ev->ip_hash);
    entity_hash(g, D_AGENT, p, a->a % AGENTS, ev->agent_hash);
    return true;
}

static bool do_signup(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    rf__rng_t *r = &g->rng;
    bool fraud = a->fraud != FR_NONE && a->fraud != FR_ORGANIC;
    if (fraud || rf__rng_chance(r, g->conf.purchase_ppm)) {
        int64_t delay = a->fraud == FR_VELOCITY     ? rf__rng_range(r, 5 * MIN_MS, HOUR_MS)
                        : a->fraud == FR_IP_CLUSTER ? rf__rng_range(r, 10 * MIN_MS, 3 * HOUR_MS)
                        : a->fraud == FR_SELF       ? rf__rng_range(r, 10 * MIN_MS, DAY_MS)
                                                    : rf__rng_range(r, 10 * MIN_MS, 20 * DAY_MS);
        action_t b = act(A_PURCHASE, p, g, a->t + delay);
        b.a = a->a;
        b.b = a->b;
        b.c = p->next_order++;
        b.amount = order_amount(r);
        if (fraud && b.amount < p->par.min_order_minor) b.amount = p->par.min_order_minor + 99;
        b.fraud = a->fraud;
        b.flags = FL_FIRST;
        if (a->b != NONE && rf__rng_chance(r, RF_PPM / 10)) b.flags |= FL_CHECKOUT_CODE;
        push(g, b);
    }
    begin(g, ev, RF_EV_SIGNUP, p);
    entity_id(p, 'u', a->a, ev->user);
    if (a->flags & FL_CODE) referrer_code(g, p, a->b, ev->code);
    if ((a->flags & FL_VISITOR) && a->c != NONE) entity_id(p, 'v', a->c, ev->visitor);
    /* A self-referral reuses one of the referrer's identities: by user number,
     * the email (0), the device (1) or, at checkout, the payment card (2). */
    bool self = a->fraud == FR_SELF;
    uint64_t ref = REFERRER_NS | a->b;
    entity_hash(g, D_EMAIL, p, self && a->a % 3 == 0 ? ref : a->a, ev->email_hash);
    entity_hash(g, D_DEVICE, p, self && a->a % 3 == 1 ? ref : a->a, ev->device_hash);
    if (a->amount > 0)
        entity_hash(g, D_CLUSTER_IP, p, (uint64_t)(a->amount - 1), ev->ip_hash);
    else if (a->c != NONE)
        entity_hash(g, D_IP, p, a->c, ev->ip_hash);
    else
        entity_hash(g, D_IP, p, (2 * REFERRER_NS) | a->a, ev->ip_hash);
    return true;
}

/* The loadgen's estimate of the referrer reward, so redemptions ask for
 * about what was earned (the fold decides what really was). */
static void credit_referrer(rf_loadgen_t *g, program_t *p, const action_t *a)
{
    const rf__lg_program_t *par = &p->par;
    int64_t est = par->ref_fixed_minor;
    if (par->ref_percent_bp) {
        est = a->amount * (int64_t)par->ref_percent_bp / 10000;
        if (est > par->ref_max_minor) est = par->ref_max_minor;
    }
    p->ref[a->b].earned_minor += est;
    if (rf__rng_chance(&g->rng, g->conf.redemption_ppm)) {
        int64_t after = (par->hold_days + 1) * DAY_MS + rf__rng_range(&g->rng, 0, 30 * DAY_MS);
        action_t d = act(A_REDEEM, p, g, a->t + after);
        d.a = a->b;
        push(g, d);
    }
}

static void purchase_followups(rf_loadgen_t *g, program_t *p, const action_t *a)
{
    rf__rng_t *r = &g->rng;
    bool first = a->flags & FL_FIRST;
    if (a->fraud == FR_DUP_ORDER && first) {
        action_t d = *a;
        d.t = a->t + rf__rng_range(r, SEC_MS, 2 * MIN_MS);
        d.flags |= FL_DUPLICATE;
        push(g, d);
    }
    if (a->b != NONE && first && a->amount >= p->par.min_order_minor) credit_referrer(g, p, a);
    bool suspicious = a->fraud == FR_SELF || a->fraud == FR_IP_CLUSTER || a->fraud == FR_VELOCITY;
    if (first && suspicious && rf__rng_chance(r, g->conf.review_ppm)) {
        action_t v = act(A_REVIEW, p, g, a->t + rf__rng_range(r, HOUR_MS, 3 * DAY_MS));
        v.a = a->a;
        push(g, v);
    }
    if (rf__rng_chance(r, g->conf.refund_ppm)) {
        action_t f = act(A_REFUND, p, g, a->t + rf__rng_range(r, HOUR_MS, 30 * DAY_MS));
        f.a = a->c;
        f.amount = a->amount;
        if (rf__rng_chance(r, g->conf.partial_ppm))
            f.amount = a->amount * rf__rng_range(r, 10, 90) / 100 + 1;
        push(g, f);
    }
    if (rf__rng_chance(r, g->conf.repeat_ppm)) {
        action_t n = act(A_PURCHASE, p, g, a->t + rf__rng_range(r, DAY_MS, 60 * DAY_MS));
        n.a = a->a;
        n.b = a->b;
        n.c = p->next_order++;
        n.amount = order_amount(r);
        push(g, n);
    }
}

static bool do_purchase(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    if (a->flags & FL_REFERRER) {
        begin(g, ev, RF_EV_PURCHASE, p);
        entity_id(p, 'o', a->c, ev->order_id);
        referrer_id(p, a->a, ev->user);
        ev->amount_minor = a->amount;
        snprintf(ev->asset, sizeof ev->asset, "%s", p->par.currency);
        entity_hash(g, D_PAYMENT, p, REFERRER_NS | a->a, ev->payment_hash);
        return true;
    }
    if (!(a->flags & FL_DUPLICATE)) purchase_followups(g, p, a);
    begin(g, ev, RF_EV_PURCHASE, p);
    entity_id(p, 'o', a->c, ev->order_id);
    entity_id(p, 'u', a->a, ev->user);
    ev->amount_minor = a->amount;
    snprintf(ev->asset, sizeof ev->asset, "%s", p->par.currency);
    if (a->flags & FL_CHECKOUT_CODE) referrer_code(g, p, a->b, ev->code);
    bool self_card = a->fraud == FR_SELF && a->a % 3 == 2;
    entity_hash(g, D_PAYMENT, p, self_card ? REFERRER_NS | a->b : a->a, ev->payment_hash);
    return true;
}

static bool do_refund(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    begin(g, ev, RF_EV_REFUND, p);
    entity_id(p, 'o', a->a, ev->order_id);
    ev->amount_minor = a->amount;
    snprintf(ev->asset, sizeof ev->asset, "%s", p->par.currency);
    return true;
}

/* Redeems half to all of what the referrer earned and has not redeemed;
 * nothing when that is nothing. */
static bool do_redeem(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    referrer_t *ref = &p->ref[a->a];
    int64_t avail = ref->earned_minor - ref->redeemed_minor;
    if (avail <= 0) return false;
    int64_t amount = avail * rf__rng_range(&g->rng, 50, 100) / 100;
    if (amount < 1) amount = 1;
    ref->redeemed_minor += amount;
    RF_ASSERT(ref->redeemed_minor <= ref->earned_minor);
    begin(g, ev, RF_EV_REDEMPTION, p);
    referrer_id(p, a->a, ev->user);
    ev->amount_minor = amount;
    snprintf(ev->asset, sizeof ev->asset, "%s", p->par.ref_asset);
    entity_id(p, 'q', p->next_request++, ev->request_id);
    return true;
}

static bool do_review(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    begin(g, ev, RF_EV_REVIEW_DECISION, p);
    entity_id(p, 'u', a->a, ev->user);
    ev->approve = rf__rng_chance(&g->rng, RF_PPM / 2);
    snprintf(ev->reviewer, sizeof ev->reviewer, "risk-team");
    snprintf(ev->reason, sizeof ev->reason, "%s",
             ev->approve ? "verified customer" : "matches a fraud pattern");
    return true;
}

static bool do_adjust(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    rf__rng_t *r = &g->rng;
    begin(g, ev, RF_EV_ADJUSTMENT, p);
    referrer_id(p, a->a, ev->user);
    bool credit = rf__rng_chance(r, RF_PPM / 5 * 4);
    ev->amount_minor = credit ? 100 * rf__rng_range(r, 1, 20) : -100 * rf__rng_range(r, 1, 10);
    snprintf(ev->asset, sizeof ev->asset, "%s", p->par.ref_asset);
    snprintf(ev->reason, sizeof ev->reason, "%s", credit ? "goodwill credit" : "correction");
    snprintf(ev->actor, sizeof ev->actor, "finance-ops");
    return true;
}

/* Key events take no draw from the PRNG (their ids come from a counter), so
 * the rest of the traffic is the one an unsigned generator made. */
static bool do_key(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    rf_event_clear(ev);
    ev->type = a->kind == A_REVOKE ? RF_EV_KEY_REVOKED : RF_EV_KEY_REGISTERED;
    uint64_t x = g->conf.seed ^ 0x6b65792d6576656eull ^ g->st.events, r2;
    uint8_t rnd[10];
    rf_be64_put(rnd, rf__splitmix64(&x));
    r2 = rf__splitmix64(&x);
    rnd[8] = (uint8_t)r2, rnd[9] = (uint8_t)(r2 >> 8);
    rf_event_id_v7(g->now, rnd, ev->event_id);
    snprintf(ev->program_id, sizeof ev->program_id, "%s", p->id);
    ev->occurred_at_ms = g->now;
    snprintf(ev->source, sizeof ev->source, "loadgen");
    rf__lg_key_body(&g->keys, (int)a->a, a->kind == A_REVOKE, ev);
    if (a->kind == A_REVOKE) p->key = (int)a->a ^ 1;
    return true;
}

/* Signs a privileged event: key events with the root, the others with the
 * program's operator key. */
static rf_err_t sign(rf_loadgen_t *g, const program_t *p, rf_event_t *ev)
{
    if (!rf_event_privileged(ev->type)) return RF_OK;
    bool key_event = ev->type == RF_EV_KEY_REGISTERED || ev->type == RF_EV_KEY_REVOKED;
    rf_errbuf_t eb;
    return rf_event_sign(ev, key_event ? g->keys.root : g->keys.op[p->key], &eb);
}

rf_err_t rf_loadgen_sign(rf_loadgen_t *g, rf_event_t *ev)
{
    RF_ASSERT(g && ev);
    rf_sign_key_t *keys[3] = {g->keys.root, g->keys.op[0], g->keys.op[1]};
    for (int i = 0; i < 3; i++) {
        uint8_t pub[RF_SIGN_PUB_LEN];
        char id[RF_SIGN_KEY_ID_BUF];
        rf_sign_key_public(keys[i], pub);
        rf_sign_key_id(pub, id);
        rf_errbuf_t eb;
        if (!strcmp(id, ev->auth_key_id)) return rf_event_sign(ev, keys[i], &eb);
    }
    return RF_ERR_BAD_INPUT;
}

static bool do_clock(rf_loadgen_t *g, program_t *p, const action_t *a, rf_event_t *ev)
{
    push(g, act(A_CLOCK, p, g, a->t + g->conf.clock_ms));
    begin(g, ev, RF_EV_CLOCK, p);
    return true;
}

static bool run(rf_loadgen_t *g, const action_t *a, rf_event_t *ev)
{
    RF_ASSERT(a->prog < g->conf.programs);
    program_t *p = &g->progs[a->prog];
    switch ((enum kind)a->kind) {
    case A_CONFIG:
        return do_config(g, p, a, ev);
    case A_ARRIVAL:
        return do_arrival(g, p, a, ev);
    case A_JOURNEY:
        return do_journey(g, p, a, ev);
    case A_CLICK:
        return do_click(g, p, a, ev);
    case A_SIGNUP:
        return do_signup(g, p, a, ev);
    case A_PURCHASE:
        return do_purchase(g, p, a, ev);
    case A_REFUND:
        return do_refund(g, p, a, ev);
    case A_REDEEM:
        return do_redeem(g, p, a, ev);
    case A_REVIEW:
        return do_review(g, p, a, ev);
    case A_ADJUST:
        return do_adjust(g, p, a, ev);
    case A_CLOCK:
        return do_clock(g, p, a, ev);
    case A_KEY:
    case A_REVOKE:
        return do_key(g, p, a, ev);
    }
    RF_ASSERT(!"unknown action kind");
    return false;
}

/* ---- lifecycle ---- */

static rf_err_t check_conf(const rf_loadgen_conf_t *c, rf_errbuf_t *eb)
{
    if (c->programs < 1 || c->programs > RF_LOADGEN_PROGRAMS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "programs must be 1..%d", RF_LOADGEN_PROGRAMS_MAX);
    if (c->referrers < 1 || (int64_t)c->referrers * c->programs > RF_LOADGEN_REFERRERS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "programs x referrers must be 1..%d",
                       RF_LOADGEN_REFERRERS_MAX);
    if (c->start_ms < 1 || c->start_ms > 200000000000000LL) /* year ~8300: room to run */
        return rf_errf(eb, RF_ERR_CONFIG, "start time out of range");
    if (c->share_rate_milli < 1)
        return rf_errf(eb, RF_ERR_CONFIG, "share rate must be at least 0.001 per day");
    if (c->clock_ms < 1000) return rf_errf(eb, RF_ERR_CONFIG, "clock interval must be >= 1 s");
    const uint32_t ppm[] = {c->click_ppm,      c->signup_ppm,  c->purchase_ppm,   c->repeat_ppm,
                            c->refund_ppm,     c->partial_ppm, c->redemption_ppm, c->review_ppm,
                            c->adjustment_ppm, c->organic_ppm, c->fraud_ppm};
    for (size_t i = 0; i < sizeof ppm / sizeof ppm[0]; i++)
        if (ppm[i] > RF_PPM) return rf_errf(eb, RF_ERR_CONFIG, "a probability is above 1");
    size_t n = strlen(c->prefix);
    if (n == 0 || n >= sizeof c->prefix ||
        strspn(c->prefix, "abcdefghijklmnopqrstuvwxyz"
                          "0123456789_") != n)
        return rf_errf(eb, RF_ERR_CONFIG, "prefix must be 1..15 of [a-z0-9_]");
    return RF_OK;
}

static void init_program(rf_loadgen_t *g, int i)
{
    program_t *p = &g->progs[i];
    rf__loadgen_program(&g->conf, i, 1, &p->par);
    snprintf(p->id, sizeof p->id, "%s-p%d", g->conf.prefix, i + 1);
    size_t n = strlen(g->conf.prefix);
    for (size_t k = 0; k < n; k++)
        p->tag[k] = g->conf.prefix[k] >= 'a' && g->conf.prefix[k] <= 'z'
                        ? (char)(g->conf.prefix[k] - 'a' + 'A')
                        : g->conf.prefix[k];
    snprintf(p->tag + n, sizeof p->tag - n, "%d", i + 1);
    int64_t per_day_milli = (int64_t)g->conf.referrers * g->conf.share_rate_milli;
    p->share_mean_ms = DAY_MS * 1000 / per_day_milli;
    if (p->share_mean_ms < 1) p->share_mean_ms = 1;
}

rf_loadgen_t *rf_loadgen_new(const rf_loadgen_conf_t *conf, rf_errbuf_t *eb)
{
    RF_ASSERT(conf);
    if (check_conf(conf, eb) != RF_OK) return NULL;
    rf_loadgen_t *g = calloc(1, sizeof *g);
    if (!g || !(g->progs = calloc((size_t)conf->programs, sizeof *g->progs))) {
        free(g);
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    g->conf = *conf;
    g->now = conf->start_ms;
    if (rf__lg_keys_init(&g->keys, conf, eb) != RF_OK) {
        free(g->progs);
        free(g);
        return NULL;
    }
    rf__rng_seed(&g->rng, conf->seed);
    for (int i = 0; i < conf->programs; i++) {
        init_program(g, i);
        if (!(g->progs[i].ref = calloc((size_t)conf->referrers, sizeof(referrer_t)))) {
            rf_loadgen_destroy(g);
            rf_errf(eb, RF_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    /* Every program's operator key comes first, then its rules, then its
     * perpetual processes. */
    for (int i = 0; i < conf->programs; i++) {
        action_t k = act(A_KEY, &g->progs[i], g, conf->start_ms);
        k.a = 0;
        push(g, k);
    }
    for (int i = 0; i < conf->programs; i++) {
        action_t c = act(A_CONFIG, &g->progs[i], g, conf->start_ms);
        c.a = 1;
        push(g, c);
    }
    for (int i = 0; i < conf->programs; i++) {
        program_t *p = &g->progs[i];
        push(g, act(A_ARRIVAL, p, g, conf->start_ms + rf__rng_range(&g->rng, 0, p->share_mean_ms)));
        push(g, act(A_CLOCK, p, g, conf->start_ms + conf->clock_ms));
    }
    RF_ASSERT(g->nheap == 4 * (size_t)conf->programs);
    return g;
}

void rf_loadgen_destroy(rf_loadgen_t *g)
{
    if (!g) return;
    for (int i = 0; g->progs && i < g->conf.programs; i++)
        free(g->progs[i].ref);
    free(g->progs);
    free(g->heap);
    rf__lg_keys_free(&g->keys);
    free(g);
}

rf_err_t rf_loadgen_next(rf_loadgen_t *g, rf_event_t *ev)
{
    RF_ASSERT(g && ev);
    if (g->st.events >= g->conf.events) return RF_ERR_NOT_FOUND;
    /* Key events draw nothing from the PRNG and the change below counts the
     * other events only, so the traffic is the one an unsigned generator
     * made, but for its last few events (the key events take their places). */
    uint64_t traffic =
        g->st.events - g->st.by_type[RF_EV_KEY_REGISTERED] - g->st.by_type[RF_EV_KEY_REVOKED];
    /* Half way, the first program changes its rules: replay must apply each
     * version to the events after it. */
    if (!g->reconfigured && g->conf.events >= 100 && traffic >= g->conf.events / 2) {
        g->reconfigured = true;
        /* ... after rotating its operator key: the new key signs the change */
        action_t k = act(A_KEY, &g->progs[0], g, g->now);
        k.a = 1;
        push(g, k);
        k = act(A_REVOKE, &g->progs[0], g, g->now);
        k.a = 0;
        push(g, k);
        action_t c = act(A_CONFIG, &g->progs[0], g, g->now);
        c.a = 2;
        push(g, c);
    }
    /* Only redemptions can emit nothing; the share and clock processes keep
     * the schedule non-empty, so this ends within the schedule's size. */
    for (size_t i = 0; i <= RF_LOADGEN_PENDING_MAX; i++) {
        action_t a = pop(g);
        RF_ASSERT(a.t >= g->now);
        g->now = a.t;
        if (run(g, &a, ev)) {
            if (sign(g, &g->progs[a.prog], ev) != RF_OK) return RF_ERR_INTERNAL;
            g->st.events++;
            g->st.by_type[ev->type]++;
            return RF_OK;
        }
    }
    return RF_ERR_INTERNAL;
}

void rf_loadgen_stats(const rf_loadgen_t *g, rf_loadgen_stats_t *out)
{
    RF_ASSERT(g && out);
    *out = g->st;
    out->pending = g->nheap;
}

rf_err_t rf_loadgen_parse_fixed(const char *s, int decimals, uint64_t max, uint64_t *out,
                                rf_errbuf_t *eb)
{
    RF_ASSERT(s && out && decimals >= 0 && decimals <= 9);
    uint64_t v = 0, scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    const char *p = s;
    int nint = 0, nfrac = 0;
    for (; *p >= '0' && *p <= '9' && nint < 12; p++, nint++)
        v = v * 10 + (uint64_t)(*p - '0');
    v *= scale;
    if (*p == '.') {
        uint64_t f = scale;
        for (p++; *p >= '0' && *p <= '9'; p++, nfrac++)
            if ((f /= 10) > 0) v += f * (uint64_t)(*p - '0');
    }
    bool pct = *p == '%';
    if (pct) {
        p++;
        v /= 100;
    }
    if (nint + nfrac == 0 || *p != '\0' || v > max)
        return rf_errf(eb, RF_ERR_CONFIG, "'%s' is not a number in range", s);
    *out = v;
    return RF_OK;
}

rf_err_t rf_loadgen_parse_ppm(const char *s, uint32_t *ppm, rf_errbuf_t *eb)
{
    uint64_t v = 0; /* -O3 cannot see that an error return leaves it unread */
    if (rf_loadgen_parse_fixed(s, 6, RF_PPM, &v, eb) != RF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "'%s' is not a probability (0..1 or 0%%..100%%)", s);
    *ppm = (uint32_t)v;
    return RF_OK;
}
