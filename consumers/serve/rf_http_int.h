/* rf_http_int.h: what a route of the HTTP API sees (library refold_serve,
 * room consumers/serve/): the request, its path segments and parameters,
 * and the answers. rf_http.c's routing table lists the routes; a family of
 * routes in its own file declares its handlers here and adds table rows. */
#ifndef RF_HTTP_INT_H
#define RF_HTTP_INT_H

#include <stdbool.h>

#include <jansson.h>
#include <microhttpd.h>

#include "rf_common.h"
#include "rf_query.h"

typedef struct rf_http_req {
    struct MHD_Connection *c;
    struct rf_http *h;
    struct route *r; /* the parsed request: rf_http_seg, rf_http_param */
    rf_query_t *q;   /* NULL until the projection exists (see RF_HTTP_NO_QUERY) */
} rf_http_req_t;

typedef enum MHD_Result(rf_http_handler_t)(rf_http_req_t *rq);

enum {
    RF_HTTP_OPEN = 1,     /* no bearer token required (health, the API description) */
    RF_HTTP_NO_QUERY = 2, /* answers before the projection exists (rq->q may be NULL) */
};

typedef struct rf_http_route {
    const char *path;   /* "/v1/programs/{program}/stats": {x} matches one segment */
    const char *params; /* the query parameters it takes, "period,by"; others are 400 */
    int flags;
    rf_http_handler_t *fn;
} rf_http_route_t;

/* Path segment i (0 is "v1"), decoded; NULL beyond the last. */
const char *rf_http_seg(const rf_http_req_t *rq, int i);
/* A query parameter's decoded value, NULL when absent. */
const char *rf_http_param(const rf_http_req_t *rq, const char *key);
/* Sends body (taken; NULL: out of memory) as JSON with status. */
enum MHD_Result rf_http_send(rf_http_req_t *rq, unsigned status, json_t *body);
/* Sends {"error":{"code":code,"message":...,"param":param or null}}. */
enum MHD_Result rf_http_fail(rf_http_req_t *rq, unsigned status, const char *code,
                             const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* j with 200, or err as 400 naming param, 404 naming nf_param, or 500. */
enum MHD_Result rf_http_result(rf_http_req_t *rq, json_t *j, rf_err_t err, const rf_errbuf_t *eb,
                               const char *param, const char *nf_param);

#endif
