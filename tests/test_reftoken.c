/* test_reftoken.c: referral-page tokens (rf_reftoken.h): a token opens its
 * own (program, user) only; an expired, tampered, re-signed or malformed one
 * is refused; the format is the one docs/dashboard.md tells apps to mint. */
#include <stdio.h>
#include <string.h>

#include "rf_reftoken.h"
#include "rf_testutil.h"

#define SECRET "an-app-secret-of-32-bytes-length"
#define NOW    1790000000LL

static rf_err_t verify(const char *tok, int64_t now, char p[RF_ID_BUF], char u[RF_ID_BUF])
{
    rf_errbuf_t eb = {{0}};
    int64_t exp = 0;
    return rf_reftoken_verify(SECRET, tok, now, p, u, &exp, &eb);
}

static void mint(const char *program, const char *user, int64_t exp, char out[RF_REFTOKEN_MAX + 1])
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_reftoken_mint(SECRET, program, user, exp, out, &eb), RF_OK);
}

static void test_round_trip(void **state)
{
    (void)state;
    char tok[RF_REFTOKEN_MAX + 1], p[RF_ID_BUF], u[RF_ID_BUF];
    mint("spring", "alice", NOW + 3600, tok);
    assert_int_equal(verify(tok, NOW, p, u), RF_OK);
    assert_string_equal(p, "spring");
    assert_string_equal(u, "alice");
    /* ids with every odd byte the API allows, and the longest ones */
    const char *long_id = "0123456789012345678901234567890123456789012345678901234567890123";
    mint("a/b c.é", long_id, NOW + 60, tok);
    assert_true(strlen(tok) <= RF_REFTOKEN_MAX);
    assert_int_equal(verify(tok, NOW, p, u), RF_OK);
    assert_string_equal(p, "a/b c.é");
    assert_string_equal(u, long_id);
}

/* The format docs/dashboard.md shows (HMAC computed by Python's hmac). */
static void test_known_vector(void **state)
{
    (void)state;
    char tok[RF_REFTOKEN_MAX + 1];
    mint("spring", "alice", 1790003600, tok);
    assert_string_equal(tok, "c3ByaW5n.YWxpY2U.1790003600."
                             "79339b0a42db12006f35847d26252c1af6e0ecd0de5282cee28bea5d3196bce1");
}

/* Alice's token cannot be turned into Bob's: the user is signed. */
static void test_other_user(void **state)
{
    (void)state;
    char a[RF_REFTOKEN_MAX + 1], b[RF_REFTOKEN_MAX + 1], forged[2 * RF_REFTOKEN_MAX];
    char p[RF_ID_BUF], u[RF_ID_BUF];
    mint("spring", "alice", NOW + 3600, a);
    mint("spring", "bob", NOW + 3600, b);
    /* bob's user field with alice's signature, and the other way round */
    const char *as = strrchr(a, '.'), *bs = strrchr(b, '.');
    snprintf(forged, sizeof forged, "%.*s%s", (int)(bs - b), b, as);
    assert_int_equal(verify(forged, NOW, p, u), RF_ERR_BAD_INPUT);
    snprintf(forged, sizeof forged, "%.*s%s", (int)(as - a), a, bs);
    assert_int_equal(verify(forged, NOW, p, u), RF_ERR_BAD_INPUT);
    /* another program with the same user */
    char c[RF_REFTOKEN_MAX + 1];
    mint("autumn", "alice", NOW + 3600, c);
    snprintf(forged, sizeof forged, "%.*s%s", (int)(strchr(c, '.') - c), c, strchr(a, '.'));
    assert_int_equal(verify(forged, NOW, p, u), RF_ERR_BAD_INPUT);
}

static void test_expired(void **state)
{
    (void)state;
    char tok[RF_REFTOKEN_MAX + 1], p[RF_ID_BUF], u[RF_ID_BUF];
    rf_errbuf_t eb = {{0}};
    int64_t exp;
    mint("spring", "alice", NOW, tok);
    assert_int_equal(verify(tok, NOW - 1, p, u), RF_OK);
    assert_int_equal(rf_reftoken_verify(SECRET, tok, NOW, p, u, &exp, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "expired"));
    /* a later expiry written into an expired token breaks its signature */
    char later[RF_REFTOKEN_MAX + 8];
    const char *sig = strrchr(tok, '.');
    snprintf(later, sizeof later, "c3ByaW5n.YWxpY2U.%lld%s", NOW + 3600, sig);
    assert_int_equal(rf_reftoken_verify(SECRET, later, NOW, p, u, &exp, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "signature"));
    /* too far ahead: a leaked link must die within RF_REFTOKEN_TTL_MAX_S */
    mint("spring", "alice", NOW + RF_REFTOKEN_TTL_MAX_S + 1, tok);
    assert_int_equal(verify(tok, NOW, p, u), RF_ERR_BAD_INPUT);
}

static void test_tampered(void **state)
{
    (void)state;
    char tok[RF_REFTOKEN_MAX + 1], bad[RF_REFTOKEN_MAX + 1], p[RF_ID_BUF], u[RF_ID_BUF];
    mint("spring", "alice", NOW + 3600, tok);
    for (size_t i = 0; tok[i]; i++) { /* every single-byte change is refused */
        memcpy(bad, tok, sizeof tok);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        assert_int_not_equal(verify(bad, NOW, p, u), RF_OK);
    }
    rf_errbuf_t eb = {{0}};
    int64_t exp;
    assert_int_equal(
        rf_reftoken_verify("another-secret-of-enough-bytes", tok, NOW, p, u, &exp, &eb),
        RF_ERR_BAD_INPUT);
    const char *malformed[] = {"",
                               ".",
                               "...",
                               "a.b.c",
                               "c3ByaW5n.YWxpY2U.1.00",
                               "c3ByaW5n..1.ab",
                               "c3ByaW5n.YWxpY2U.-5.00",
                               "!!!.YWxpY2U.1790003600.00",
                               "c3ByaW5n.YWxpY2U.1790003600.zz.zz"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_int_equal(verify(malformed[i], NOW, p, u), RF_ERR_BAD_INPUT);
    /* a control byte hidden in an id ("\n" would forge the signed text) */
    assert_int_equal(verify("c3ByaW5nCmJvYg.YWxpY2U.1790003600."
                            "0000000000000000000000000000000000000000000000000000000000000000",
                            NOW, p, u),
                     RF_ERR_BAD_INPUT);
}

static void test_mint_refuses(void **state)
{
    (void)state;
    char tok[RF_REFTOKEN_MAX + 1];
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_reftoken_mint("short", "p", "u", NOW, tok, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_reftoken_mint(SECRET, "", "u", NOW, tok, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_reftoken_mint(SECRET, "p", "a\nb", NOW, tok, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_reftoken_mint(SECRET, "p", "u", -1, tok, &eb), RF_ERR_BAD_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_other_user), cmocka_unit_test(test_expired),
        cmocka_unit_test(test_tampered),   cmocka_unit_test(test_mint_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
