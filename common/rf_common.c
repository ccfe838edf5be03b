/* rf_common.c: error strings, assertions, logging, time and small helpers. */
#include "rf_common.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rf_limits.h"
#include "rf_time.h"

const char *rf_err_str(rf_err_t err)
{
    switch (err) {
    case RF_OK:
        return "ok";
    case RF_ERR_BAD_INPUT:
        return "bad_input";
    case RF_ERR_BAD_MAGIC:
        return "bad_magic";
    case RF_ERR_UNKNOWN_SCHEMA:
        return "unknown_schema";
    case RF_ERR_TRUNCATED:
        return "truncated";
    case RF_ERR_OVERSIZE:
        return "oversize";
    case RF_ERR_DECODE:
        return "decode";
    case RF_ERR_UNKNOWN_PROGRAM:
        return "unknown_program";
    case RF_ERR_CONFLICT:
        return "conflict";
    case RF_ERR_RETRY:
        return "retry";
    case RF_ERR_TIMEOUT:
        return "timeout";
    case RF_ERR_KAFKA:
        return "kafka";
    case RF_ERR_STORAGE:
        return "storage";
    case RF_ERR_GAP:
        return "gap";
    case RF_ERR_CORRUPT:
        return "corrupt";
    case RF_ERR_NOMEM:
        return "nomem";
    case RF_ERR_IO:
        return "io";
    case RF_ERR_CONFIG:
        return "config";
    case RF_ERR_INTERNAL:
        return "internal";
    case RF_ERR_NOT_FOUND:
        return "not_found";
    }
    return "unknown_error";
}

rf_err_class_t rf_err_class(rf_err_t err)
{
    if (err == RF_OK) return RF_ERRCLASS_OK;
    if (err <= -1 && err > -20) return RF_ERRCLASS_BAD_INPUT;
    if (err <= -20 && err > -40) return RF_ERRCLASS_RETRIABLE;
    return RF_ERRCLASS_FATAL;
}

rf_err_t rf_errf(rf_errbuf_t *eb, rf_err_t err, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return err;
}

void rf__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "refold: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

static rf_log_cb_t *log_cb;
static void *log_opaque;
static int log_level = RF_LOG_INFO;
static int log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void rf_log_set_callback(rf_log_cb_t *cb, void *opaque)
{
    log_cb = cb;
    log_opaque = opaque;
}
void rf_log_set_level(rf_log_level_t level)
{
    log_level = (int)level;
}
void rf_log_set_json(int on)
{
    log_json = on;
}

static void log_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void rf_log(rf_log_level_t level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if ((int)level > log_level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_cb) {
        log_cb(level, msg, log_opaque);
        return;
    }
    pthread_mutex_lock(&log_lock);
    if (log_json) {
        char ts[RF_TIME_BUF]; /* RFC 3339 like every time refold prints */
        rf_time_format(rf_wall_ms(), ts);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, names[level]);
        log_json_string(stderr, msg);
        fputs("}\n", stderr);
    } else {
        fprintf(stderr, "refold: %s: %s\n", names[level], msg);
    }
    pthread_mutex_unlock(&log_lock);
}

uint64_t rf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rf_wait_stop(const volatile sig_atomic_t *flag)
{
    const struct timespec ts = {0, RF_STOP_POLL_MS * 1000000L};
    while (!*flag)
        nanosleep(&ts, NULL);
}

int64_t rf_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

rf_err_t rf_strlcpy(char *dst, const char *src, size_t cap)
{
    RF_ASSERT(cap > 0);
    size_t n = strlen(src);
    if (n >= cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = '\0';
        return RF_ERR_BAD_INPUT;
    }
    memcpy(dst, src, n + 1);
    return RF_OK;
}

rf_err_t rf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, const char *what,
                      rf_errbuf_t *eb)
{
    RF_ASSERT(min <= max && out != NULL);
    what = what ? what : "value";
    if (!s || !*s || isspace((unsigned char)*s))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: '%s' is not an integer", what, s ? s : "");
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: '%s' is not an integer", what, s);
    if (errno == ERANGE || v < min || v > max)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: %s is out of range [%lld, %lld]", what, s,
                       (long long)min, (long long)max);
    *out = (int64_t)v;
    return RF_OK;
}
