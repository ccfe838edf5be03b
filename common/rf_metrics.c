/* rf_metrics.c: the process-wide Prometheus registry (fixed capacity, one
 * mutex) and its libmicrohttpd endpoint (rf_metrics.h). */
#include "rf_metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <microhttpd.h>

/* Families are few (refold declares under 20); hooks are per worker. */
#define FAMILIES_MAX 64
#define HOOKS_MAX    8
/* Open addressing over 2x the series bound keeps probes short. */
#define SLOTS (2 * RF_METRICS_SERIES_MAX)

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

typedef struct family {
    char name[RF_METRICS_NAME_MAX + 1];
    char help[RF_METRICS_HELP_MAX + 1];
    rf_metric_type_t type;
    int nbounds;
    double bounds[RF_METRICS_BUCKETS_MAX];
} family_t;

typedef struct series {
    int family;
    char labels[RF_METRICS_LABELS_MAX + 1];
    uint64_t count;                           /* counter value; histogram observations */
    double value;                             /* gauge value; histogram sum */
    uint64_t buckets[RF_METRICS_BUCKETS_MAX]; /* histogram, not cumulative */
} series_t;

typedef struct hook {
    rf_metrics_hook_t *fn;
    void *opaque;
} hook_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static family_t families[FAMILIES_MAX];
static int nfamilies;
static series_t *series; /* RF_METRICS_SERIES_MAX, allocated on first use */
static uint32_t nseries;
static uint32_t slots[SLOTS]; /* series index + 1; 0 empty */
static uint64_t dropped;
static hook_t hooks[HOOKS_MAX];
static struct MHD_Daemon *daemon_;
static int port_ = -1;
static bool process_on; /* render process_* (rf_metrics_declare_worker) */

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > RF_METRICS_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static int family_find(const char *name)
{
    for (int i = 0; i < nfamilies; i++)
        if (!strcmp(families[i].name, name)) return i;
    return -1;
}

/* Under mu. Returns the family index or -1. */
static int family_add(const char *name, rf_metric_type_t type, const char *help,
                      const double *bounds, int nbounds)
{
    int f = family_find(name);
    if (f >= 0) return families[f].type == type ? f : -1;
    if (nfamilies == FAMILIES_MAX || !valid_name(name)) return -1;
    if (!bounds) {
        bounds = default_bounds;
        nbounds = (int)(sizeof default_bounds / sizeof default_bounds[0]);
    }
    if (nbounds < 0 || nbounds > RF_METRICS_BUCKETS_MAX) return -1;
    for (int i = 1; i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1])) return -1;
    family_t *fa = &families[nfamilies];
    memset(fa, 0, sizeof *fa);
    rf_strlcpy(fa->name, name, sizeof fa->name);
    rf_strlcpy(fa->help, help ? help : "", sizeof fa->help);
    fa->type = type;
    fa->nbounds = type == RF_METRIC_HISTOGRAM ? nbounds : 0;
    if (fa->nbounds) memcpy(fa->bounds, bounds, sizeof(double) * (size_t)nbounds);
    return nfamilies++;
}

rf_err_t rf_metrics_declare(const char *name, rf_metric_type_t type, const char *help,
                            const double *bounds, int nbounds)
{
    RF_ASSERT(name != NULL);
    RF_ASSERT(type == RF_METRIC_COUNTER || type == RF_METRIC_GAUGE || type == RF_METRIC_HISTOGRAM);
    pthread_mutex_lock(&mu);
    int f = family_add(name, type, help, bounds, nbounds);
    pthread_mutex_unlock(&mu);
    return f < 0 ? RF_ERR_CONFIG : RF_OK;
}

static uint32_t series_hash(int family, const char *labels)
{
    uint32_t h = 2166136261u ^ (uint32_t)family;
    for (const char *p = labels; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* Under mu: the series of (name, labels), created when new; NULL when the
 * bound is reached (counted) or the name is unusable. */
static series_t *series_get(const char *name, rf_metric_type_t type, const char *labels)
{
    if (!labels) labels = "";
    int f = family_find(name);
    if (f < 0) f = family_add(name, type, "", NULL, 0);
    if (f < 0 || families[f].type != type || strlen(labels) > RF_METRICS_LABELS_MAX) {
        dropped++;
        return NULL;
    }
    if (!series && !(series = calloc(RF_METRICS_SERIES_MAX, sizeof *series))) return NULL;
    uint32_t j = series_hash(f, labels) % SLOTS;
    for (; slots[j]; j = (j + 1) % SLOTS) {
        series_t *s = &series[slots[j] - 1];
        if (s->family == f && !strcmp(s->labels, labels)) return s;
    }
    if (nseries == RF_METRICS_SERIES_MAX) {
        dropped++;
        return NULL;
    }
    series_t *s = &series[nseries];
    memset(s, 0, sizeof *s);
    s->family = f;
    memcpy(s->labels, labels, strlen(labels) + 1);
    slots[j] = ++nseries;
    RF_ASSERT(nseries <= RF_METRICS_SERIES_MAX);
    return s;
}

void rf_metrics_counter_add(const char *name, const char *labels, uint64_t n)
{
    pthread_mutex_lock(&mu);
    series_t *s = series_get(name, RF_METRIC_COUNTER, labels);
    if (s) s->count += n;
    pthread_mutex_unlock(&mu);
}

void rf_metrics_counter_set(const char *name, const char *labels, uint64_t total)
{
    pthread_mutex_lock(&mu);
    series_t *s = series_get(name, RF_METRIC_COUNTER, labels);
    if (s && total > s->count) s->count = total;
    pthread_mutex_unlock(&mu);
}

void rf_metrics_gauge_set(const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&mu);
    series_t *s = series_get(name, RF_METRIC_GAUGE, labels);
    if (s) s->value = v;
    pthread_mutex_unlock(&mu);
}

void rf_metrics_gauge_add(const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&mu);
    series_t *s = series_get(name, RF_METRIC_GAUGE, labels);
    if (s) s->value += v;
    pthread_mutex_unlock(&mu);
}

void rf_metrics_observe(const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&mu);
    series_t *s = series_get(name, RF_METRIC_HISTOGRAM, labels);
    if (s) {
        const family_t *f = &families[s->family];
        int b = 0;
        while (b < f->nbounds && v > f->bounds[b])
            b++;
        if (b < f->nbounds) s->buckets[b]++; /* above the last bound: only +Inf */
        s->count++;
        s->value += v;
    }
    pthread_mutex_unlock(&mu);
}

rf_err_t rf_metrics_labels(char *buf, size_t cap, ...)
{
    RF_ASSERT(buf != NULL && cap > 0);
    if (cap > RF_METRICS_LABELS_MAX + 1) cap = RF_METRICS_LABELS_MAX + 1;
    size_t n = 0;
    va_list ap;
    va_start(ap, cap);
    const char *k;
    rf_err_t err = RF_OK;
    buf[0] = 0;
    while (!err && (k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!v) v = "";
        int w = snprintf(buf + n, cap - n, "%s%s=\"", n ? "," : "", k);
        if (w < 0 || (size_t)w >= cap - n) {
            err = RF_ERR_OVERSIZE;
            break;
        }
        n += (size_t)w;
        for (const char *p = v; *p && !err; p++) {
            const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
            size_t el = esc ? 2 : 1;
            if (n + el + 2 > cap)
                err = RF_ERR_OVERSIZE;
            else if (esc)
                memcpy(buf + n, esc, 2), n += 2;
            else
                buf[n++] = *p;
        }
        if (!err && n + 2 > cap) err = RF_ERR_OVERSIZE;
        if (!err) buf[n++] = '"', buf[n] = 0;
    }
    va_end(ap);
    if (err) buf[0] = 0;
    return err;
}

rf_err_t rf_metrics_add_hook(rf_metrics_hook_t *fn, void *opaque)
{
    RF_ASSERT(fn != NULL);
    rf_err_t err = RF_ERR_CONFIG;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < HOOKS_MAX && err; i++)
        if (!hooks[i].fn) {
            hooks[i].fn = fn;
            hooks[i].opaque = opaque;
            err = RF_OK;
        }
    pthread_mutex_unlock(&mu);
    return err;
}

void rf_metrics_remove_hook(rf_metrics_hook_t *fn, void *opaque)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < HOOKS_MAX; i++)
        if (hooks[i].fn == fn && hooks[i].opaque == opaque) hooks[i].fn = NULL;
    pthread_mutex_unlock(&mu);
}

/* ---- exposition ---- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool oom;
} text_t;

static void tput(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tput(text_t *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t nc = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 1;
        char *b = realloc(t->buf, nc);
        if (!b)
            t->oom = true;
        else
            t->buf = b, t->cap = nc;
    }
}

static void fmt_double(double v, char out[40])
{
    if (isnan(v))
        snprintf(out, 40, "NaN");
    else if (isinf(v))
        snprintf(out, 40, "%sInf", v > 0 ? "+" : "-");
    else
        snprintf(out, 40, "%.17g", v);
}

static void render_histogram(text_t *t, const family_t *f, const series_t *s)
{
    uint64_t cum = 0;
    const char *sep = s->labels[0] ? "," : "";
    for (int b = 0; b < f->nbounds; b++) {
        char le[40];
        cum += s->buckets[b];
        snprintf(le, sizeof le, "%g", f->bounds[b]);
        tput(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep, le,
             (unsigned long long)cum);
    }
    char sum[40];
    fmt_double(s->value, sum);
    tput(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
         (unsigned long long)s->count);
    tput(t, "%s_sum%s%s%s %s\n", f->name, s->labels[0] ? "{" : "", s->labels,
         s->labels[0] ? "}" : "", sum);
    tput(t, "%s_count%s%s%s %llu\n", f->name, s->labels[0] ? "{" : "", s->labels,
         s->labels[0] ? "}" : "", (unsigned long long)s->count);
}

static void render_family(text_t *t, int fi)
{
    static const char *const tn[] = {"counter", "gauge", "histogram"};
    const family_t *f = &families[fi];
    if (f->help[0]) tput(t, "# HELP %s %s\n", f->name, f->help);
    tput(t, "# TYPE %s %s\n", f->name, tn[f->type]);
    for (uint32_t i = 0; i < nseries; i++) {
        const series_t *s = &series[i];
        if (s->family != fi) continue;
        const char *o = s->labels[0] ? "{" : "", *c = s->labels[0] ? "}" : "";
        if (f->type == RF_METRIC_HISTOGRAM) {
            render_histogram(t, f, s);
        } else if (f->type == RF_METRIC_COUNTER) {
            tput(t, "%s%s%s%s %llu\n", f->name, o, s->labels, c, (unsigned long long)s->count);
        } else {
            char v[40];
            fmt_double(s->value, v);
            tput(t, "%s%s%s%s %s\n", f->name, o, s->labels, c, v);
        }
    }
}

/* /proc/self/stat fields 14, 15 (utime, stime, in ticks), 22 (start time,
 * ticks after boot), 23 (vsize, bytes), 24 (rss, pages); false when unreadable. */
static bool proc_stat(double *cpu_s, double *start_ticks, double *vsize, double *rss_pages)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return false;
    unsigned long long v[24] = {0}; /* fields 3.. after the name */
    int field = 3;
    for (p++; *p && field < 3 + 24; field++) {
        while (*p == ' ')
            p++;
        v[field - 3] = strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    long tck = sysconf(_SC_CLK_TCK);
    if (field < 25 || tck <= 0) return false;
    *cpu_s = (double)(v[14 - 3] + v[15 - 3]) / (double)tck;
    *start_ticks = (double)v[22 - 3] / (double)tck;
    *vsize = (double)v[23 - 3];
    *rss_pages = (double)v[24 - 3];
    return true;
}

/* The boot time in Unix seconds (/proc/stat's btime); 0 when unknown. */
static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "btime ", 6)) bt = strtod(line + 6, NULL);
    fclose(f);
    return bt;
}

static void render_process(text_t *t)
{
    double cpu, start, vsize, rss;
    if (proc_stat(&cpu, &start, &vsize, &rss)) {
        char v[40];
        fmt_double(cpu, v);
        tput(t,
             "# HELP process_cpu_seconds_total user and system CPU time spent, seconds\n"
             "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %s\n",
             v);
        fmt_double(rss * (double)sysconf(_SC_PAGESIZE), v);
        tput(t,
             "# HELP process_resident_memory_bytes resident memory size, bytes\n"
             "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %s\n",
             v);
        fmt_double(vsize, v);
        tput(t,
             "# HELP process_virtual_memory_bytes virtual memory size, bytes\n"
             "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %s\n",
             v);
        fmt_double(boot_time() + start, v);
        tput(t,
             "# HELP process_start_time_seconds start time of the process, Unix seconds\n"
             "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %s\n",
             v);
    }
    long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            fds += e->d_name[0] != '.';
        closedir(d);
        tput(t,
             "# HELP process_open_fds open file descriptors\n"
             "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
             fds - 1 /* d's own */);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        tput(t,
             "# HELP process_max_fds limit of open file descriptors\n"
             "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
             (unsigned long long)rl.rlim_cur);
}

char *rf_metrics_render(size_t *len)
{
    hook_t hs[HOOKS_MAX];
    pthread_mutex_lock(&mu);
    memcpy(hs, hooks, sizeof hs);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < HOOKS_MAX; i++)
        if (hs[i].fn) hs[i].fn(hs[i].opaque); /* outside the lock: hooks update metrics */
    text_t t = {malloc(16384), 0, 16384, false};
    if (!t.buf) return NULL;
    t.buf[0] = 0;
    pthread_mutex_lock(&mu);
    for (int f = 0; f < nfamilies; f++)
        render_family(&t, f);
    /* outside the registry, so it shows even when the registry is full */
    tput(&t,
         "# HELP %s metric updates dropped: series beyond RF_METRICS_SERIES_MAX\n"
         "# TYPE %s counter\n%s %llu\n",
         RF_METRIC_DROPPED, RF_METRIC_DROPPED, RF_METRIC_DROPPED, (unsigned long long)dropped);
    if (process_on) render_process(&t);
    pthread_mutex_unlock(&mu);
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    if (len) *len = t.len;
    return t.buf;
}

void rf_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    RF_ASSERT(daemon_ == NULL);
    free(series);
    series = NULL;
    nseries = 0;
    nfamilies = 0;
    dropped = 0;
    process_on = false;
    memset(slots, 0, sizeof slots);
    memset(hooks, 0, sizeof hooks);
    pthread_mutex_unlock(&mu);
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload;
    static char not_found[] = "not found: metrics are at /metrics\n";
    static char bad_method[] = "method not allowed\n";
    static int seen;
    /* Answer on the second call, once the request is read: a response queued
     * on the first one makes libmicrohttpd close the connection (no keep-alive). */
    if (!*con_cls) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_size) { /* ignore bodies */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(c, 405, "text/plain", bad_method, strlen(bad_method), MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics"))
        return reply(c, 404, "text/plain", not_found, strlen(not_found), MHD_RESPMEM_PERSISTENT);
    size_t len = 0;
    char *body = rf_metrics_render(&len);
    if (!body) return MHD_NO;
    return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len,
                 MHD_RESPMEM_MUST_FREE);
}

/* Starts the daemon on sa (port in it; 0: any). */
static rf_err_t serve_at(const struct sockaddr *sa, const char *shown, rf_errbuf_t *eb)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (sa->sa_family == AF_INET6) flags |= MHD_USE_IPv6;
    pthread_mutex_lock(&mu);
    rf_err_t err = RF_OK;
    if (daemon_)
        err = rf_errf(eb, RF_ERR_CONFIG, "the metrics endpoint already runs");
    else {
        /* a few connections and a short timeout: Prometheus scrapes, nobody else */
        daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, sa,
                                   MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT,
                                   10u, MHD_OPTION_END);
        if (!daemon_)
            err = rf_errf(eb, RF_ERR_IO, "cannot serve metrics on %s (port in use?)", shown);
        else {
            const union MHD_DaemonInfo *di =
                MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
            port_ = di ? (int)di->port : 0;
        }
    }
    pthread_mutex_unlock(&mu);
    return err;
}

rf_err_t rf_metrics_serve(const char *bind_addr, int port, rf_errbuf_t *eb)
{
    if (port < 0 || port > 65535)
        return rf_errf(eb, RF_ERR_CONFIG, "metrics port %d out of range", port);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind_addr && inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
        return rf_errf(eb, RF_ERR_CONFIG, "metrics address '%s' is not an IPv4 address", bind_addr);
    char shown[64];
    snprintf(shown, sizeof shown, "%s:%d", bind_addr ? bind_addr : "0.0.0.0", port);
    return serve_at((struct sockaddr *)&sa, shown, eb);
}

rf_err_t rf_metrics_serve_listen(const char *listen, rf_errbuf_t *eb)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    int64_t port = 0;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    if (!colon || hl >= sizeof host || rf_parse_i64(colon + 1, 0, 65535, &port, NULL, NULL))
        return rf_errf(eb, RF_ERR_CONFIG, "bad metrics address '%s' (want ADDR:PORT)", listen);
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 sa6;
        memset(&sa6, 0, sizeof sa6);
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)port);
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &sa6.sin6_addr) != 1)
            return rf_errf(eb, RF_ERR_CONFIG, "bad metrics address '%s' (want ADDR:PORT)", listen);
        return serve_at((struct sockaddr *)&sa6, listen, eb);
    }
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "bad metrics address '%s' (want a numeric IPv4 ADDR:PORT or [IPv6]:PORT)",
                       listen);
    return rf_metrics_serve(host, (int)port, eb);
}

int rf_metrics_port(void)
{
    pthread_mutex_lock(&mu);
    int p = daemon_ ? port_ : -1;
    pthread_mutex_unlock(&mu);
    return p;
}

void rf_metrics_stop(void)
{
    pthread_mutex_lock(&mu);
    struct MHD_Daemon *d = daemon_;
    daemon_ = NULL;
    port_ = -1;
    pthread_mutex_unlock(&mu);
    if (d) MHD_stop_daemon(d); /* outside the lock: a request in flight renders under it */
}

/* ---- refold's metrics ---- */

static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

/* Every refold family, with the worker that exports it (NULL: every worker). */
static const struct std_family {
    const char *worker, *name, *help;
    rf_metric_type_t type;
    bool plain; /* has a label-less series */
} std_families[] = {
    {"fold", RF_METRIC_EVENTS_CONSUMED, "offsets of refold.events consumed by the fold",
     RF_METRIC_COUNTER, true},
    {"fold", RF_METRIC_EVENTS, "consumed offsets by outcome and reason (error code name)",
     RF_METRIC_COUNTER, false},
    {"fold", RF_METRIC_DLQ_PRODUCED, "dead letters delivered to refold.events.dlq",
     RF_METRIC_COUNTER, true},
    {"fold", RF_METRIC_BATCHES, "poll cycles that committed at least one partition",
     RF_METRIC_COUNTER, true},
    {"fold", RF_METRIC_LEDGER_COMMITS, "synced partition ledger commits", RF_METRIC_COUNTER, true},
    {"fold", RF_METRIC_BATCH_COMMIT_SECONDS, "latency of one synced partition commit",
     RF_METRIC_HISTOGRAM, true},
    {"fold", RF_METRIC_CONSUMER_LAG, "messages of refold.events not yet folded, per partition",
     RF_METRIC_GAUGE, false},
    {"fold", RF_METRIC_LEDGER_HEAD_SEQ, "last committed ledger record seq, per partition",
     RF_METRIC_GAUGE, false},
    {"fold", RF_METRIC_OUTBOX_BACKLOG, "committed records not yet acknowledged by refold.ledger",
     RF_METRIC_GAUGE, true},
    {"fold", RF_METRIC_OUTBOX_SENT, "records produced to refold.ledger (republished included)",
     RF_METRIC_COUNTER, true},
    {"fold", RF_METRIC_OUTBOX_FAILED, "failed refold.ledger deliveries (republished later)",
     RF_METRIC_COUNTER, true},
    {"fold", RF_METRIC_REBALANCES, "partition assignments received", RF_METRIC_COUNTER, true},
    {"project", RF_METRIC_PROJECTION_RECORDS, "ledger records applied by the projection",
     RF_METRIC_COUNTER, true},
    {"project", RF_METRIC_PROJECTION_DUPLICATES,
     "republished ledger records dropped by the projection", RF_METRIC_COUNTER, true},
    {"project", RF_METRIC_PROJECTION_LAG,
     "messages of refold.ledger not yet applied, per partition", RF_METRIC_GAUGE, false},
    {"project", RF_METRIC_PROJECTION_APPLIED_SEQ, "last applied ledger seq, per partition",
     RF_METRIC_GAUGE, false},
    {"project", RF_METRIC_PROJECTION_COMMITS, "synced partition commits of the projection",
     RF_METRIC_COUNTER, true},
    {"serve", RF_METRIC_HTTP_REQUESTS, "HTTP API requests answered (every status)",
     RF_METRIC_COUNTER, true},
    {"serve", RF_METRIC_HTTP_READY, "1 once the projection is open, 0 while serve waits for it",
     RF_METRIC_GAUGE, true},
    {NULL, RF_METRIC_UP, "1 while the worker runs", RF_METRIC_GAUGE, false},
    {NULL, RF_METRIC_BUILD_INFO, "always 1; the version of refold in a label", RF_METRIC_GAUGE,
     false},
};

static void declare_one(const struct std_family *sf)
{
    bool hist = sf->type == RF_METRIC_HISTOGRAM;
    rf_metrics_declare(sf->name, sf->type, sf->help, hist ? commit_bounds : NULL,
                       hist ? (int)(sizeof commit_bounds / sizeof commit_bounds[0]) : 0);
    if (!sf->plain) return;
    if (sf->type == RF_METRIC_COUNTER)
        rf_metrics_counter_add(sf->name, NULL, 0);
    else if (sf->type == RF_METRIC_GAUGE)
        rf_metrics_gauge_add(sf->name, NULL, 0);
    else {
        pthread_mutex_lock(&mu);
        series_get(sf->name, RF_METRIC_HISTOGRAM, "");
        pthread_mutex_unlock(&mu);
    }
}

void rf_metrics_declare_standard(void)
{
    for (size_t i = 0; i < sizeof std_families / sizeof std_families[0]; i++)
        declare_one(&std_families[i]);
}

void rf_metrics_declare_worker(const char *worker, const char *version)
{
    RF_ASSERT(worker != NULL && version != NULL);
    for (size_t i = 0; i < sizeof std_families / sizeof std_families[0]; i++) {
        const struct std_family *sf = &std_families[i];
        if (!sf->worker || !strcmp(sf->worker, worker)) declare_one(sf);
    }
    char labels[RF_METRICS_LABELS_MAX + 1];
    rf_metrics_labels(labels, sizeof labels, "worker", worker, NULL);
    rf_metrics_gauge_set(RF_METRIC_UP, labels, 1);
    rf_metrics_labels(labels, sizeof labels, "version", version, NULL);
    rf_metrics_gauge_set(RF_METRIC_BUILD_INFO, labels, 1);
    pthread_mutex_lock(&mu);
    process_on = true;
    pthread_mutex_unlock(&mu);
}
