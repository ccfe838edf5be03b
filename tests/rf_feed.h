/* rf_feed.h: a projection fed record by record, for the read-model tests
 * (tests/test_readmodels.c, tests/test_project_summary.c): open a scratch
 * store, build records, apply (asserting each is applied), commit, query,
 * close. Header-only; include after cmocka (rf_testutil.h). */
#ifndef RF_FEED_H
#define RF_FEED_H

#include <stdio.h>

#include "rf_fold.h"
#include "rf_project_int.h"
#include "rf_query.h"
#include "rf_testutil.h"

typedef struct feed {
    rf_projection_t *p;
    uint64_t seq;
    char dir[256];
} feed_t;

static inline void feed_open(feed_t *f, const char *tag)
{
    rf_errbuf_t eb = {{0}};
    rf_test_tmpdir(tag, f->dir, sizeof f->dir);
    f->p = rf_projection_open(f->dir, 0, RF_PROJECTION_CREATE | RF_PROJECTION_NOSYNC, &eb);
    assert_non_null(f->p);
    f->seq = 0;
}

/* A record of kind at time t with the next seq (one static record: fill it,
 * apply it, then build the next). */
static inline rf_record_t *rec_new(feed_t *f, const char *kind, int64_t t)
{
    static rf_record_t rec;
    rf_record_clear(&rec);
    rec.seq = ++f->seq;
    rec.partition = 0;
    rec.offset = (int64_t)rec.seq;
    rf_strlcpy(rec.program_id, "p", sizeof rec.program_id);
    rf_strlcpy(rec.kind, kind, sizeof rec.kind);
    rec.occurred_at_ms = t;
    return &rec;
}

static inline void apply(feed_t *f, rf_record_t *rec)
{
    rf_errbuf_t eb = {{0}};
    rf_apply_outcome_t out;
    rf_err_t err = rf_projection_apply(f->p, rec, &out, &eb);
    if (err != RF_OK) fprintf(stderr, "apply: %s\n", eb.msg);
    assert_int_equal(err, RF_OK);
    assert_int_equal(out, RF_APPLY_APPLIED);
}

static inline void commit(feed_t *f)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_commit(f->p, (int64_t)f->seq + 1, -1, &eb), RF_OK);
}

static inline rf_query_t *query_open(feed_t *f)
{
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(f->dir, RF_QUERY_SNAPSHOT, &eb);
    if (!q) fprintf(stderr, "query: %s\n", eb.msg);
    assert_non_null(q);
    return q;
}

static inline void feed_close(feed_t *f)
{
    rf_projection_close(f->p);
    rf_test_rmtree(f->dir);
}

#endif
