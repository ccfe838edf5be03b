/* rf_pages.h: `refold serve`'s pages (library refold_serve, room
 * consumers/serve/; never Kafka): the owner dashboard, the referral page of
 * one referrer, their embedded assets, and the JSON endpoints they need
 * beyond the API (programs, series, ops, referral). rf_http.c hands each
 * request here first; what this does not claim goes on to the API routes.
 * Pages and endpoints: docs/dashboard.md. */
#ifndef RF_PAGES_H
#define RF_PAGES_H

#include <stdbool.h>

#include <microhttpd.h>

#include "rf_common.h"
#include "rf_query.h"

typedef struct rf_pages rf_pages_t;

typedef struct rf_pages_opts {
    const char *data_dir;        /* the fold ledgers for /v1/ops */
    const char *token;           /* the serve token; NULL or "": none */
    const char *ref_secret;      /* referral tokens' HMAC key; NULL: referral page off */
    const char *link_base;       /* tracking links' base ("https://shop.example"); NULL: none */
    const char *frame_ancestors; /* the referral page's CSP frame-ancestors; NULL: 'self' */
} rf_pages_opts_t;

/* Copies what it needs from o. NULL with a message when an option is bad. */
rf_pages_t *rf_pages_new(const rf_pages_opts_t *o, rf_errbuf_t *eb);
void rf_pages_destroy(rf_pages_t *p); /* NULL is a no-op */

/* Answers the request when it is one of the pages' (true, *ret set); false
 * leaves it to the API. q is NULL until the projection exists. */
bool rf_pages_route(rf_pages_t *p, struct MHD_Connection *c, const char *method, const char *uri,
                    rf_query_t *q, enum MHD_Result *ret);

#endif
