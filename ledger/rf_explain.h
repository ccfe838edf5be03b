/* rf_explain.h: why a user did or did not get each reward (library
 * refold_ledger, room ledger/; never Kafka): reads the fold ledgers
 * read-only (safe while workers run) and puts one readable sentence on every
 * record of a program that names the user (as user, referrer or friend):
 * attribution, qualification, fraud checks, caps, holds, reviews, voids,
 * clawbacks, redemptions; tallies the user's rewards and reads the balances.
 * Used by `refold explain` and the dashboard's user lookup (refold serve).
 * Cost: a scan of every fold ledger (O(records)), not an index lookup. */
#ifndef RF_EXPLAIN_H
#define RF_EXPLAIN_H

#include <stdint.h>

#include <jansson.h>

#include "rf_ledger.h"

#define RF_EXPLAIN_ASSETS   16   /* assets tallied per user */
#define RF_EXPLAIN_TEXT_MAX 1024 /* one record's sentence */

/* Per-asset totals of the user's own rewards. */
typedef struct rf_explain_totals {
    char asset[RF_ASSET_MAX + 1];
    int64_t posted, matured, reversed;
} rf_explain_totals_t;

/* The caller sets program and user (zeroing the rest); the scan fills the
 * tally. A few KiB: keep it off small stacks. */
typedef struct rf_explain {
    const char *program, *user;
    int32_t partition;
    uint64_t matched;        /* records that name the user */
    const char *referred_by; /* from the user's signup: NULL none folded, "" not referred */
    char referred_buf[RF_ID_BUF];
    char attribution[RF_FACT_VAL_MAX + 1];
    uint64_t referrals, referrals_refused, refused_rewards;
    uint32_t nassets;
    rf_explain_totals_t t[RF_EXPLAIN_ASSETS];
} rf_explain_t;

/* Called for each matching record in ledger order (partition, seq) with its
 * sentence; non-zero stops the partition's scan. */
typedef int(rf_explain_record_cb_t)(const rf_record_t *rec, const char *text, void *opaque);

/* Scans every fold ledger under data_dir/fold; cb may be NULL. The user's
 * balances in the program are appended to balances (a JSON array) as
 * {"asset","pending","available","redeemed","receivable"}. */
rf_err_t rf_explain_scan(const char *data_dir, rf_explain_t *x, rf_explain_record_cb_t *cb,
                         void *opaque, json_t *balances, rf_errbuf_t *eb);

/* `refold explain --json`'s shapes: one record (partition, seq, time, kind,
 * explanation, facts, postings) and the summary (takes a reference to bal). */
json_t *rf_explain_record_json(const rf_record_t *rec, const char *text);
json_t *rf_explain_summary_json(const rf_explain_t *x, json_t *bal);

#endif
