/* test_privileged.c: authority over privileged events (docs/security.md).
 * Every privileged kind is folded from an app (no auth), with a key that is
 * not registered, with the wrong kind of key, with a tampered signature, with
 * a revoked key and with a valid key; balances, rules and the partition's
 * clock are checked after each, the rejected records name the reason, and a
 * replay of the same bytes gives the same head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_hex.h"
#include "rf_ledger.h"
#include "rf_rules.h"
#include "rf_sign.h"
#include "rf_testutil.h"

#define PROG "prog"
#define T0   1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY  86400000LL
#define RULES                                                                                      \
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000}}"
#define NMSG 64

typedef struct fx {
    char dir[512];
    rf_codec_t *codec;
    rf_ledger_t *l;
    rf_sign_key_t *root, *op, *fin, *stranger;
    rf_event_t ev;
    uint64_t id;
    int64_t t;
    uint8_t msgs[NMSG][2048]; /* every message folded, for the replays */
    size_t lens[NMSG];
    int n;
} fx_t;

static fx_t *F;

static rf_rules_trust_t trust_of(const rf_sign_key_t *root)
{
    rf_rules_trust_t t;
    memset(&t, 0, sizeof t);
    t.enforce = true;
    if (root) rf_sign_key_public(root, t.roots[t.nroots++]);
    return t;
}

static rf_ledger_t *open_ledger(const char *tag, char *dir, size_t cap)
{
    rf_errbuf_t eb;
    rf_test_tmpdir(tag, dir, cap);
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    return l;
}

static int setup(void **state)
{
    (void)state;
    rf_errbuf_t eb;
    F = calloc(1, sizeof *F);
    assert_non_null(F);
    assert_non_null(F->codec = rf_codec_new(&eb));
    assert_non_null(F->root = rf_sign_key_generate(&eb));
    assert_non_null(F->op = rf_sign_key_generate(&eb));
    assert_non_null(F->fin = rf_sign_key_generate(&eb));
    assert_non_null(F->stranger = rf_sign_key_generate(&eb));
    F->l = open_ledger("privileged", F->dir, sizeof F->dir);
    F->t = T0;
    rf_rules_trust_t t = trust_of(F->root);
    rf_rules_trust_set(&t);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_rules_trust_set(NULL);
    rf_ledger_close(F->l);
    rf_test_rmtree(F->dir);
    rf_codec_destroy(F->codec);
    rf_sign_key_destroy(F->root);
    rf_sign_key_destroy(F->op);
    rf_sign_key_destroy(F->fin);
    rf_sign_key_destroy(F->stranger);
    free(F);
    return 0;
}

/* A new event of type t, dt ms after the previous one. */
static rf_event_t *ev_new(rf_event_type_t t, int64_t dt)
{
    rf_event_t *ev = &F->ev;
    rf_event_clear(ev);
    ev->type = t;
    F->id++;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)F->id);
    rf_strlcpy(ev->program_id, PROG, sizeof ev->program_id);
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    F->t += dt;
    ev->occurred_at_ms = F->t;
    return ev;
}

static rf_event_t *adjust(int64_t amount)
{
    rf_event_t *ev = ev_new(RF_EV_ADJUSTMENT, 1000);
    strcpy(ev->user, "alice"), strcpy(ev->asset, "USD");
    strcpy(ev->reason, "goodwill"), strcpy(ev->actor, "fin-ann");
    ev->amount_minor = amount;
    return ev;
}

static rf_event_t *config(int32_t version)
{
    rf_event_t *ev = ev_new(RF_EV_PROGRAM_CONFIGURED, 1000);
    ev->version = version;
    strcpy(ev->rules_json, RULES);
    return ev;
}

static rf_event_t *key_event(rf_event_type_t t, const rf_sign_key_t *k, const char *scopes)
{
    rf_event_t *ev = ev_new(t, 1000);
    uint8_t pub[RF_SIGN_PUB_LEN];
    rf_sign_key_public(k, pub);
    rf_sign_key_id(pub, ev->key_id);
    if (t == RF_EV_KEY_REGISTERED) {
        rf_hex(pub, sizeof pub, ev->public_key);
        strcpy(ev->scopes, scopes), strcpy(ev->actor, "ops");
    }
    return ev;
}

static void sign(rf_event_t *ev, const rf_sign_key_t *k)
{
    rf_errbuf_t eb;
    if (rf_event_sign(ev, k, &eb)) fail_msg("sign: %s", eb.msg);
}

/* Encodes and folds F->ev (schema id), commits, and returns the outcome. */
static rf_fold_result_t fold_id(int32_t id)
{
    rf_errbuf_t eb;
    rf_fold_result_t res;
    assert_true(F->n < NMSG);
    uint8_t *buf = F->msgs[F->n];
    size_t *len = &F->lens[F->n++];
    if (rf_codec_encode_event(F->codec, &F->ev, id, buf, sizeof F->msgs[0], len, &eb))
        fail_msg("encode: %s", eb.msg);
    int64_t off = rf_ledger_next_offset(F->l);
    if (rf_ledger_fold(F->l, off < 0 ? 0 : off, RF_LEDGER_CLOCK_NONE, buf, *len, &res, &eb))
        fail_msg("fold: %s", eb.msg);
    if (rf_ledger_commit(F->l, &eb)) fail_msg("commit: %s", eb.msg);
    return res;
}

static rf_fold_result_t fold(void)
{
    return fold_id(RF_SCHEMA_ID_EVENT);
}

static void expect_applied(void)
{
    rf_fold_result_t r = fold();
    if (r.outcome != RF_OUTCOME_APPLIED)
        fail_msg("%s not applied: %s %s", rf_event_type_name(F->ev.type),
                 rf_outcome_name(r.outcome), r.reason);
}

/* Rejected with reason containing want; the last record is the rejection. */
static void expect_rejected(const char *want)
{
    rf_fold_result_t r = fold();
    if (r.outcome != RF_OUTCOME_REJECTED || !strstr(r.reason, want))
        fail_msg("%s: expected rejected '%s', got %s '%s'", rf_event_type_name(F->ev.type), want,
                 rf_outcome_name(r.outcome), r.reason);
    assert_int_equal(r.nrecords, 1);
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    rf_record_t rec;
    assert_int_equal(rf_ledger_head(F->l, &h, &eb), RF_OK);
    assert_int_equal(rf_ledger_get_record(F->l, h.seq, &rec, &eb), RF_OK);
    assert_string_equal(rec.kind, "rejected");
    assert_non_null(strstr(rf_record_get_fact(&rec, "reason"), want));
    assert_int_equal(rec.npostings, 0);
}

static int64_t available(void)
{
    int64_t b[RF_BUCKET__COUNT];
    rf_errbuf_t eb;
    rf_err_t err = rf_ledger_balance(F->l, PROG, "alice", "USD", b, &eb);
    if (err == RF_ERR_NOT_FOUND) return 0;
    assert_int_equal(err, RF_OK);
    return b[RF_BUCKET_AVAILABLE];
}

static int32_t rules_version(void)
{
    int32_t v = 0;
    rf_errbuf_t eb;
    rf_err_t err = rf_rules_program_get(F->l, PROG, &v, NULL, 0, &eb);
    return err == RF_ERR_NOT_FOUND ? 0 : v;
}

static int64_t event_time(void)
{
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(F->l, &h, &eb), RF_OK);
    return h.event_time_ms;
}

static void head_of(rf_ledger_t *l, uint8_t hash[32], uint64_t *seq)
{
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(l, &h, &eb), RF_OK);
    memcpy(hash, h.hash, 32);
    *seq = h.seq;
}

/* Folds every message of F into a fresh ledger under trust t. */
static void replay(const rf_rules_trust_t *t, uint8_t hash[32], uint64_t *seq)
{
    char dir[512];
    rf_errbuf_t eb;
    rf_rules_trust_set(t);
    rf_ledger_t *l = open_ledger("privileged-replay", dir, sizeof dir);
    for (int i = 0; i < F->n; i++) {
        rf_fold_result_t res;
        if (rf_ledger_fold(l, i, RF_LEDGER_CLOCK_NONE, F->msgs[i], F->lens[i], &res, &eb))
            fail_msg("%s", eb.msg);
    }
    assert_int_equal(rf_ledger_commit(l, &eb), RF_OK);
    head_of(l, hash, seq);
    rf_ledger_close(l);
    rf_test_rmtree(dir);
}

static void test_privileged_events(void **state)
{
    (void)state;
    /* an app's ProgramConfigured: no rules come of it */
    config(1);
    expect_rejected("unauthorized: ProgramConfigured needs an operator signature");
    assert_int_equal(rules_version(), 0);
    /* the same under the old schema (no auth fields at all) */
    config(1);
    assert_int_equal(fold_id(RF_SCHEMA_ID_EVENT_V2).outcome, RF_OUTCOME_REJECTED);
    assert_int_equal(rules_version(), 0);
    /* keys: only a trust root registers them */
    sign(key_event(RF_EV_KEY_REGISTERED, F->op, "program,review,clock"), F->op);
    expect_rejected("must be signed by a trust root");
    key_event(RF_EV_KEY_REGISTERED, F->op, "program,review,clock");
    expect_rejected("needs an operator signature");
    sign(key_event(RF_EV_KEY_REGISTERED, F->op, "program,review,clock"), F->root);
    expect_applied();
    sign(key_event(RF_EV_KEY_REGISTERED, F->fin, "adjust"), F->root);
    expect_applied();
    sign(key_event(RF_EV_KEY_REGISTERED, F->root, "adjust"), F->root);
    expect_rejected("a trust root cannot be an operator key");
    sign(key_event(RF_EV_KEY_REGISTERED, F->stranger, "adjust,payouts"), F->root);
    expect_rejected("are not a list of");

    /* rules: the program key applies them, a key without the scope cannot */
    sign(config(1), F->fin);
    expect_rejected("lacks scope 'program'");
    assert_int_equal(rules_version(), 0);
    sign(config(1), F->op);
    expect_applied();
    assert_int_equal(rules_version(), 1);
    sign(config(2), F->root);
    expect_rejected("signs key events only");
    assert_int_equal(rules_version(), 1);

    /* money */
    adjust(500);
    expect_rejected("unauthorized: Adjustment needs an operator signature");
    sign(adjust(500), F->stranger);
    expect_rejected("is not registered in program prog");
    sign(adjust(500), F->op);
    expect_rejected("lacks scope 'adjust'");
    sign(adjust(500), F->root);
    expect_rejected("signs key events only");
    rf_event_t *ev = adjust(500);
    sign(ev, F->fin);
    ev->amount_minor = 50000; /* tampered after signing */
    expect_rejected("bad signature by key");
    ev = adjust(500);
    sign(ev, F->fin);
    ev->auth_sig[0] = ev->auth_sig[0] == '0' ? '1' : '0';
    expect_rejected("bad signature by key");
    assert_int_equal(available(), 0);
    sign(adjust(500), F->fin);
    expect_applied();
    assert_int_equal(available(), 500);

    /* review decisions */
    ev = ev_new(RF_EV_REVIEW_DECISION, 1000);
    strcpy(ev->user, "bob"), strcpy(ev->reviewer, "risk"), ev->approve = true;
    expect_rejected("unauthorized: ReviewDecision needs an operator signature");
    ev = ev_new(RF_EV_REVIEW_DECISION, 1000);
    strcpy(ev->user, "bob"), strcpy(ev->reviewer, "risk"), ev->approve = true;
    sign(ev, F->fin);
    expect_rejected("lacks scope 'review'");
    ev = ev_new(RF_EV_REVIEW_DECISION, 1000);
    strcpy(ev->user, "bob"), strcpy(ev->reviewer, "risk"), ev->approve = true;
    sign(ev, F->op);
    expect_rejected("unknown_user"); /* authorized: the rules' own answer */

    /* time: an unauthorized Clock (or any refused privileged event) far in
     * the future does not move the partition's clock */
    int64_t before = event_time();
    ev_new(RF_EV_CLOCK, 365 * DAY);
    expect_rejected("unauthorized: Clock needs an operator signature");
    assert_true(event_time() == before);
    ev = adjust(500);
    ev->occurred_at_ms = F->t += 365 * DAY;
    expect_rejected("needs an operator signature");
    assert_true(event_time() == before);
    F->t = before;
    sign(ev_new(RF_EV_CLOCK, DAY), F->op);
    expect_applied();
    assert_true(event_time() == before + DAY);

    /* revocation: later events of the key are refused, earlier ones stand */
    sign(key_event(RF_EV_KEY_REVOKED, F->fin, NULL), F->op);
    expect_rejected("must be signed by a trust root");
    sign(key_event(RF_EV_KEY_REVOKED, F->fin, NULL), F->root);
    expect_applied();
    sign(adjust(700), F->fin);
    expect_rejected("was revoked");
    assert_int_equal(available(), 500);
    sign(key_event(RF_EV_KEY_REGISTERED, F->fin, "adjust"), F->root);
    expect_rejected("was revoked: register a new key");
    sign(key_event(RF_EV_KEY_REVOKED, F->fin, NULL), F->root);
    expect_rejected("key already revoked");
    sign(key_event(RF_EV_KEY_REVOKED, F->stranger, NULL), F->root);
    expect_rejected("unknown key");
    /* a revoked root registers nothing more in this program */
    sign(key_event(RF_EV_KEY_REVOKED, F->root, NULL), F->root);
    expect_applied();
    sign(key_event(RF_EV_KEY_REGISTERED, F->stranger, "adjust"), F->root);
    expect_rejected("trust root");

    /* replay: the same bytes under the same trust give the same head; the
     * trust roots are part of what the fold means (open mode differs) */
    uint8_t h1[32], h2[32], h3[32];
    uint64_t s1, s2, s3;
    head_of(F->l, h1, &s1);
    rf_rules_trust_t t = trust_of(F->root);
    replay(&t, h2, &s2);
    assert_true(s1 == s2);
    assert_memory_equal(h1, h2, 32);
    replay(NULL, h3, &s3);
    assert_memory_not_equal(h1, h3, 32);
    rf_rules_trust_set(&t);
}

/* Enforced with no root: no key can be registered, so a fresh program gets
 * nothing privileged applied. */
static void test_no_roots(void **state)
{
    (void)state;
    rf_rules_trust_t none = trust_of(NULL);
    rf_rules_trust_set(&none);
    sign(key_event(RF_EV_KEY_REGISTERED, F->op, "program"), F->root);
    expect_rejected("must be signed by a trust root");
    sign(config(5), F->stranger);
    expect_rejected("is not registered");
    rf_rules_trust_t t = trust_of(F->root);
    rf_rules_trust_set(&t);
}

/* The signing string is fixed (docs/security.md): pinned here so that a
 * change to it, which would void every signature in every archive, is seen. */
static void test_signing_string(void **state)
{
    (void)state;
    rf_event_t *ev = ev_new(RF_EV_ADJUSTMENT, 0);
    strcpy(ev->event_id, "0192f0c4-5b6a-7000-8000-000000000001");
    ev->occurred_at_ms = 1767225600000LL;
    strcpy(ev->user, "alice"), strcpy(ev->asset, "USD");
    strcpy(ev->reason, "a\nb"), strcpy(ev->actor, "fin");
    ev->amount_minor = -250;
    strcpy(ev->auth_key_id, "0123456789abcdef");
    char buf[RF_EVENT_AUTH_MSG_MAX];
    size_t n = 0;
    assert_int_equal(rf_event_auth_message(ev, buf, sizeof buf, &n), RF_OK);
    const char *want = "refold-event-auth-v1\n"
                       "type=10:Adjustment\n"
                       "event_id=36:0192f0c4-5b6a-7000-8000-000000000001\n"
                       "program_id=4:prog\n"
                       "occurred_at=13:1767225600000\n"
                       "source=4:test\n"
                       "auth_key_id=16:0123456789abcdef\n"
                       "user=5:alice\n"
                       "amount_minor=4:-250\n"
                       "asset=3:USD\n"
                       "reason=3:a\nb\n"
                       "actor=3:fin\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    assert_int_equal(rf_event_auth_message(ev, buf, 40, &n), RF_ERR_OVERSIZE);
    /* a signature verifies with its key only, and covers every field */
    sign(ev, F->fin);
    uint8_t pub[RF_SIGN_PUB_LEN], other[RF_SIGN_PUB_LEN];
    rf_sign_key_public(F->fin, pub);
    rf_sign_key_public(F->op, other);
    assert_true(rf_event_auth_verify(ev, pub));
    assert_false(rf_event_auth_verify(ev, other));
    ev->occurred_at_ms++;
    assert_false(rf_event_auth_verify(ev, pub));
    ev->occurred_at_ms--;
    strcpy(ev->program_id, "other");
    assert_false(rf_event_auth_verify(ev, pub));
}

/* Key files: generated, written (private 0600), read back. */
static void test_key_files(void **state)
{
    (void)state;
    char dir[512], priv[600], pub[600], two[600];
    rf_test_tmpdir("privileged-keys", dir, sizeof dir);
    snprintf(priv, sizeof priv, "%s/k.pem", dir);
    snprintf(pub, sizeof pub, "%s/k.pub.pem", dir);
    snprintf(two, sizeof two, "%s/two.pem", dir);
    rf_errbuf_t eb;
    assert_int_equal(rf_sign_key_write(F->op, priv, pub, &eb), RF_OK);
    assert_int_equal(rf_sign_key_write(F->op, priv, NULL, &eb), RF_ERR_IO); /* never overwritten */
    rf_sign_key_t *k = rf_sign_key_load(priv, &eb);
    assert_non_null(k);
    uint8_t a[RF_SIGN_PUB_LEN], b[RF_SIGN_PUB_LEN], keys[3][RF_SIGN_PUB_LEN];
    rf_sign_key_public(k, a);
    rf_sign_key_public(F->op, b);
    assert_memory_equal(a, b, sizeof a);
    size_t n = 0;
    assert_int_equal(rf_sign_pubkeys_load(pub, keys, 3, &n, &eb), RF_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(keys[0], a, sizeof a);
    assert_int_not_equal(rf_sign_pubkeys_load(priv, keys, 3, &n, &eb), RF_OK); /* no public key */
    assert_null(rf_sign_key_load(pub, &eb));
    rf_sign_key_destroy(k);
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_privileged_events),
        cmocka_unit_test(test_no_roots),
        cmocka_unit_test(test_signing_string),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
