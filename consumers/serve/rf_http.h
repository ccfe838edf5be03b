/* rf_http.h: the HTTP JSON API over the projection (`refold serve`):
 * libmicrohttpd with an internal thread pool, GET only, an optional bearer
 * token, loopback by default. Endpoints and bodies: docs/http-api.md.
 *
 * The server follows the projection's workers through RocksDB secondary
 * instances (rf_query.h, RF_QUERY_FOLLOW) that a background thread catches
 * up whenever a worker commits (at most every RF_QUERY_REFRESH_MIN_MS), so
 * answers trail a commit by a few ms plus the worker's own lag (reported by
 * /v1/health). Before the projection exists
 * every endpoint but health answers 503. */
#ifndef RF_HTTP_H
#define RF_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"

typedef struct rf_http rf_http_t;

typedef struct rf_http_opts {
    const char *data_dir;    /* required */
    const char *listen;      /* "host:port"; NULL: 127.0.0.1:8080; port 0 picks a free one */
    const char *token;       /* bearer token; NULL or "": no authentication */
    int threads;             /* 0: RF_HTTP_THREADS */
    const char *cors_origin; /* Access-Control-Allow-Origin value; NULL: no CORS headers */
    struct rf_pages *pages;  /* the pages (rf_pages.h), asked first; NULL: API only */
} rf_http_opts_t;

/* Binds and starts serving (returns at once). NULL with a message when the
 * address is bad or taken, or the data directory does not exist (a typo
 * would otherwise answer 503 forever). */
rf_http_t *rf_http_start(const rf_http_opts_t *opts, rf_errbuf_t *eb);
/* The bound port (useful with port 0). */
uint16_t rf_http_port(const rf_http_t *h);
/* Requests served so far (all statuses). */
uint64_t rf_http_requests(const rf_http_t *h);
/* Whether the projection is open (before: every endpoint but health is 503). */
bool rf_http_ready(const rf_http_t *h);
/* Stops accepting, finishes in-flight requests and frees. NULL is a no-op. */
void rf_http_stop(rf_http_t *h);

#endif
