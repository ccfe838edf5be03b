/* test_hex.c: common/rf_hex: digit classes, hex and UUID text both ways,
 * and what each refuses. */
#include <stdio.h>
#include <string.h>

#include "rf_hex.h"
#include "rf_testutil.h"

static void test_digits(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        int v = rf_hex_digit((char)c);
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        assert_int_equal(v, want);
        assert_int_equal(rf_hex_is_digit((char)c), want >= 0);
        assert_int_equal(rf_hex_is_lower((char)c), want >= 0 && !(c >= 'A' && c <= 'F'));
    }
}

static void test_hex_round_trip(void **state)
{
    (void)state;
    uint8_t in[32], back[32];
    char text[65];
    for (int i = 0; i < 32; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    rf_hex(in, sizeof in, text);
    assert_int_equal(strlen(text), 64);
    assert_int_equal(rf_unhex(text, back, sizeof back), RF_OK);
    assert_memory_equal(in, back, sizeof in);
    assert_int_equal(rf_unhex("ABcd", back, 2), RF_OK);
    assert_int_equal(back[0], 0xab);
    assert_int_equal(back[1], 0xcd);
    assert_int_equal(rf_unhex("abc", back, 2), RF_ERR_BAD_INPUT);   /* short */
    assert_int_equal(rf_unhex("abcde", back, 2), RF_ERR_BAD_INPUT); /* long */
    assert_int_equal(rf_unhex("abzz", back, 2), RF_ERR_BAD_INPUT);
}

static void test_uuid(void **state)
{
    (void)state;
    uint8_t u[16], back[16];
    char text[37];
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(0xf0 - i * 9);
    rf_uuid_format(u, text);
    char want[37];
    snprintf(want, sizeof want,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    assert_string_equal(text, want);
    assert_int_equal(rf_uuid_parse(text, back), RF_OK);
    assert_memory_equal(u, back, 16);
    text[8] = 'x';
    assert_int_equal(rf_uuid_parse(text, back), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_uuid_parse("01234567-89ab-cdef-0123-456789abcdef0", back),
                     RF_ERR_BAD_INPUT);
    assert_int_equal(rf_uuid_parse("01234567-89ab-cdef-0123-456789abcde", back), RF_ERR_BAD_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digits),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
