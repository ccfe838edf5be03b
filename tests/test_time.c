/* test_time.c: common/rf_time against libc's gmtime_r/strftime over random
 * times (negative ones included), RFC 3339 round trips and errors. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rf_testutil.h"
#include "rf_time.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* Times from 1900 to 2400, at random milliseconds. */
static int64_t random_ms(void)
{
    const int64_t lo = -2208988800000LL, span = 13569465600000LL + 2208988800000LL;
    return lo + (int64_t)(next() % (uint64_t)span);
}

static void test_utc_matches_gmtime(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        int64_t ms = i < 4 ? (int64_t[]){0, -1, 86399999, -86400000}[i] : random_ms();
        rf_utc_t u = rf_time_utc(ms);
        int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
        time_t t = (time_t)s;
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        if (u.year != tm.tm_year + 1900 || u.month != tm.tm_mon + 1 || u.day != tm.tm_mday ||
            u.hour != tm.tm_hour || u.minute != tm.tm_min || u.second != tm.tm_sec)
            fail_msg("ms %lld: %lld-%d-%d %d:%d:%d, libc %d-%d-%d %d:%d:%d", (long long)ms,
                     (long long)u.year, u.month, u.day, u.hour, u.minute, u.second,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
        assert_int_equal(u.milli, (int)(ms - s * 1000));
        char iso[16], ours[16];
        strftime(iso, sizeof iso, "%G-W%V", &tm);
        int64_t iy;
        int w;
        rf_time_iso_week(u.days, &iy, &w);
        snprintf(ours, sizeof ours, "%04lld-W%02d", (long long)iy, w);
        if (strcmp(iso, ours)) fail_msg("ms %lld: ISO week %s, libc %s", (long long)ms, ours, iso);
    }
}

static void test_format_parse(void **state)
{
    (void)state;
    char out[RF_TIME_BUF];
    assert_int_equal(rf_time_format(0, out), 24);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    rf_time_format(RF_TIME_MS_MAX, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    rf_time_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    rf_time_format(RF_TIME_MS_MAX + 1, out);
    assert_string_equal(out, "10000-01-01T00:00:00.000Z");
    rf_errbuf_t eb;
    for (int i = 0; i < 20000; i++) {
        int64_t ms = (int64_t)(next() % (uint64_t)(RF_TIME_MS_MAX + 1)), back = -1;
        rf_time_format(ms, out);
        assert_int_equal(rf_time_parse(out, &back, &eb), RF_OK);
        assert_int_equal(back, ms);
    }
    int64_t ms = 0;
    assert_int_equal(rf_time_parse("2026-01-01T01:00:00+01:00", &ms, &eb), RF_OK);
    assert_int_equal(ms, 1767225600000LL);
    assert_int_equal(rf_time_parse("2026-02-30T00:00:00Z", &ms, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "2026-02-30T00:00:00Z"));
    assert_int_equal(rf_time_parse("1969-12-31T23:59:59Z", &ms, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_time_parse("2026-01-01", &ms, &eb), RF_ERR_BAD_INPUT);
}

static void test_civil_round_trip(void **state)
{
    (void)state;
    for (int64_t days = -800000; days <= 800000; days += 7) {
        int64_t y;
        int m, d;
        rf_civil_from_days(days, &y, &m, &d);
        assert_int_equal(rf_days_from_civil(y, m, d), days);
    }
}

/* --log-json lines carry "ts" in RFC 3339 (docs/operations.md), like every
 * time refold prints, and it parses back to about now. */
static void test_log_json_ts(void **state)
{
    (void)state;
    char path[] = "/tmp/refold-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    rf_log_set_json(1);
    int64_t before = rf_wall_ms();
    rf_log(RF_LOG_WARN, "disk \"full\"");
    rf_log_set_json(0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char line[512] = "";
    ssize_t n = pread(fd, line, sizeof line - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    line[n] = 0;
    assert_true(!strncmp(line, "{\"ts\":\"", 7));
    char ts[64] = "";
    memcpy(ts, line + 7, 24);
    int64_t ms = 0;
    assert_int_equal(rf_time_parse(ts, &ms, NULL), RF_OK);
    assert_true(ms >= before - 1000 && ms <= before + 60000);
    assert_non_null(strstr(line, "\",\"level\":\"warn\",\"msg\":\"disk \\\"full\\\"\"}\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_matches_gmtime),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_civil_round_trip),
        cmocka_unit_test(test_log_json_ts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
