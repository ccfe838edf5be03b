/* rf_common.h: refold's error type, always-on assertions and logging callback.
 * Every module reports failures as rf_err_t; library code never prints.
 * Library refold_common (room common/) owns what every room shares and
 * nothing of Kafka: this header, rf_limits.h, rf_hex.h, rf_time.h, rf_opt.h
 * (options), rf_store.h (RocksDB), rf_checkpoint.h (checkpoint requests). */
#ifndef RF_COMMON_H
#define RF_COMMON_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: 0 is success, every failure is negative. Each code has a class
 * (rf_err_class) telling the caller what to do with it. */
typedef enum rf_err {
    RF_OK = 0,
    /* bad input: the event or request is wrong; dead-letter or reject it */
    RF_ERR_BAD_INPUT = -1,      /* a field is missing, negative, too long or malformed */
    RF_ERR_BAD_MAGIC = -2,      /* first byte is not the Confluent magic byte 0 */
    RF_ERR_UNKNOWN_SCHEMA = -3, /* schema id not in the manifest / registry */
    RF_ERR_TRUNCATED = -4,      /* bytes end before the value does */
    RF_ERR_OVERSIZE = -5,       /* payload larger than RF_EVENT_BYTES_MAX */
    RF_ERR_DECODE = -6,         /* Avro bytes that do not decode under the schema */
    RF_ERR_UNKNOWN_PROGRAM = -7,
    RF_ERR_CONFLICT = -8, /* same event id, different bytes */
    /* retriable: try again later (the broker or a peer is not ready) */
    RF_ERR_RETRY = -20,
    RF_ERR_TIMEOUT = -21,
    RF_ERR_KAFKA = -22, /* a librdkafka error; message has detail */
    /* fatal: stop the worker without advancing offsets */
    RF_ERR_STORAGE = -40, /* RocksDB error (I/O, disk full, corruption) */
    RF_ERR_GAP = -41,     /* an offset or seq gap: something was lost upstream */
    RF_ERR_CORRUPT = -42, /* a stored record fails its checks (hash, postings) */
    RF_ERR_NOMEM = -43,
    RF_ERR_IO = -44,     /* a file could not be read or written */
    RF_ERR_CONFIG = -45, /* invalid option or configuration */
    RF_ERR_INTERNAL = -46,
    RF_ERR_NOT_FOUND = -47, /* a lookup found nothing (not always an error) */
} rf_err_t;

typedef enum rf_err_class {
    RF_ERRCLASS_OK = 0,
    RF_ERRCLASS_BAD_INPUT, /* dead-letter / reject, then go on */
    RF_ERRCLASS_RETRIABLE, /* retry with backoff */
    RF_ERRCLASS_FATAL,     /* stop without advancing offsets */
} rf_err_class_t;

/* Short, stable, lowercase name of an error code ("bad_magic", ...). */
const char *rf_err_str(rf_err_t err);
rf_err_class_t rf_err_class(rf_err_t err);

/* Error detail for callers that want more than a code: a fixed buffer, no
 * allocation, owned by the caller. */
#define RF_ERRMSG_MAX 256
typedef struct rf_errbuf {
    char msg[RF_ERRMSG_MAX];
} rf_errbuf_t;

/* Formats into eb (when not NULL) and returns err, so callers can write
 * `return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s' is missing", name);` */
rf_err_t rf_errf(rf_errbuf_t *eb, rf_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* RF_INTERNAL blocks: refold's own sources only (its build defines it; apps
 * including the installed header do not): the assertion macro and inline
 * helpers written for C, which a C++ compiler rejects. */
#ifdef RF_INTERNAL
/* Always-on assertion: for invariants only, never for input. */
#define RF_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) rf__assert_fail(#cond, __FILE__, __LINE__);              \
    } while (0)
_Noreturn void rf__assert_fail(const char *expr, const char *file, int line);
#endif

/* Logging: library code logs through this callback; the default writes
 * "refold: <level>: msg" to stderr (or one JSON object per line when
 * rf_log_set_json(1)). Thread safe: the callback is called from any thread. */
typedef enum rf_log_level {
    RF_LOG_ERROR = 0,
    RF_LOG_WARN = 1,
    RF_LOG_INFO = 2,
    RF_LOG_DEBUG = 3,
} rf_log_level_t;
typedef void(rf_log_cb_t)(rf_log_level_t level, const char *msg, void *opaque);
void rf_log_set_callback(rf_log_cb_t *cb, void *opaque);
void rf_log_set_level(rf_log_level_t level);
void rf_log_set_json(int on);
void rf_log(rf_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef RF_INTERNAL
/* A fast, non-cryptographic hash of a short byte string (8 bytes at a time,
 * multiply-xorshift mixing) for in-memory tables: the fold's overlay and the
 * rules' state cache. Never stored: it may change between versions. */
static inline uint64_t rf_hash64(const void *key, size_t n)
{
    const uint8_t *k = key;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, k, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        k += 8, n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, k, n);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
}
#endif

/* Time: monotonic nanoseconds for measuring, and wall-clock milliseconds for
 * producers only (the fold never reads the wall clock). */
uint64_t rf_now_ns(void);
int64_t rf_wall_ms(void);

/* Returns once *flag is non-zero (set by a SIGINT/SIGTERM handler), checking
 * every RF_STOP_POLL_MS. Not pause(): in a process with other threads
 * (libmicrohttpd's, the mock broker's) the signal may be delivered to one of
 * them, and a pause() in the main thread then never returns; a signal
 * between the check and pause() is lost the same way. */
void rf_wait_stop(const volatile sig_atomic_t *flag);

/* Bounded string copy: copies at most cap-1 bytes and NUL-terminates. Returns
 * RF_ERR_BAD_INPUT if src did not fit (dst still holds the truncated copy). */
/* Parses a whole decimal integer (optional sign, no spaces, nothing after)
 * within [min, max]. RF_ERR_BAD_INPUT, with a message naming what (e.g.
 * "--events") and the bounds, for anything else. The one way refold turns
 * text into integers: no atoi, no unchecked strtol. */
rf_err_t rf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, const char *what,
                      rf_errbuf_t *eb);
rf_err_t rf_strlcpy(char *dst, const char *src, size_t cap);

#ifdef RF_INTERNAL
/* Big-endian helpers for keys (they sort numerically in RocksDB). */
static inline void rf_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}
static inline uint64_t rf_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
static inline void rf_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t rf_be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif /* RF_INTERNAL */

#ifdef __cplusplus
}
#endif

#endif
