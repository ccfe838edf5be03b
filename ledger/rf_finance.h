/* rf_finance.h: finance reads over the fold ledgers of a data directory:
 * trial balance, offsets accounted, payouts matched against redemptions,
 * statements, point-in-time balances and exports (docs/finance.md).
 *
 * Pure ledger reads: no Kafka. Every function opens its own read-only
 * handles on <data>/fold/p-NNNN and closes them before returning. A handle
 * sees the ledger as of its open; opened beside a running worker it can, in a
 * rare race, miss a WAL the worker flushed meanwhile, which then shows as a
 * failed check (gap), never as silently wrong figures: for the books of
 * record, read a checkpoint (docs/finance.md, "Reading a live ledger").
 *
 * Time: every period is on the records' event time (occurred_at of the
 * event that produced the record). Records are stored in fold order; a late
 * event (occurred_at before the partition's event time) is folded after
 * later ones, so "as of T" means "records whose event time is <= T", which a
 * later fold may still add to (docs/finance.md, "Event time").
 *
 * Memory: every accumulation is bounded by a limit in rf_limits.h; going
 * over it is RF_ERR_OVERSIZE with a message naming the limit (never a silent
 * truncation). Thread safety: functions keep no state; the accumulator map is
 * used by one thread. */
#ifndef RF_FINANCE_H
#define RF_FINANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rf_common.h"
#include "rf_time.h"
#include "rf_event.h"
#include "rf_ledger.h"
#include "rf_limits.h"

/* ---- time ---------------------------------------------------------------- */

/* Parses "2026-01-31" (midnight UTC), "2026-01-31T12:00:00Z" (optional
 * ".sss" fraction; "Z", "+00:00" or "-00:00"; other offsets are applied) or
 * an integer of Unix milliseconds. RF_ERR_BAD_INPUT with a message. */
rf_err_t rf_finance_time_parse(const char *s, int64_t *ms, rf_errbuf_t *eb);

/* ---- account map ------------------------------------------------------------
 * A bounded hash map from (program, owner, asset) to amounts per bucket, used
 * to sum postings (trial balance, statements, what-if). Keys are copied. */
typedef struct rf_acct_map rf_acct_map_t;
typedef struct rf_acct {
    char program[RF_ID_BUF];
    char owner[RF_ID_BUF];
    char asset[RF_ASSET_MAX + 1];
    int64_t b[RF_BUCKET__COUNT];
    int64_t aux[2]; /* for the caller (what-if: live and scratch sums) */
} rf_acct_t;

/* A map of at most cap accounts (cap <= RF_FINANCE_ACCOUNTS_MAX). NULL when
 * out of memory. */
rf_acct_map_t *rf_acct_map_new(uint32_t cap);
void rf_acct_map_free(rf_acct_map_t *m); /* NULL is a no-op */
/* The account, created with zeros when new; NULL when the map is full. The
 * pointer is valid until the next rf_acct_map_get or rf_acct_map_sort. */
rf_acct_t *rf_acct_map_get(rf_acct_map_t *m, const char *program, const char *owner,
                           const char *asset);
uint32_t rf_acct_map_count(const rf_acct_map_t *m);
/* Sorts the accounts by (program, owner, asset) and returns them as an array
 * of rf_acct_map_count entries; the map can then no longer be added to. */
rf_acct_t *rf_acct_map_sort(rf_acct_map_t *m);

/* ---- reconcile ------------------------------------------------------------ */

/* Trial balance of one (program, asset): the sum of every bucket over all
 * accounts. Double entry makes total (sum of all buckets) zero. */
typedef struct rf_tb_row {
    char program[RF_ID_BUF];
    char asset[RF_ASSET_MAX + 1];
    int64_t b[RF_BUCKET__COUNT];
    int64_t total;
    uint64_t accounts;
} rf_tb_row_t;

/* Offsets of one partition: applied + rejected + duplicate + dead-lettered
 * must equal next_offset - first_offset, and the archive must hold exactly
 * the offsets first_offset .. next_offset - 1. */
typedef struct rf_offsets_row {
    int32_t partition;
    int64_t first_offset; /* first offset ever folded; -1 when empty */
    int64_t next_offset;  /* -1 when empty */
    uint64_t counts[RF_OUTCOME__COUNT];
    uint64_t accounted; /* sum of counts */
    uint64_t consumed;  /* next_offset - first_offset */
    uint64_t archived;  /* archive entries */
    int64_t first_gap;  /* first offset missing from the archive; -1 none */
    uint64_t head_seq;
    uint8_t head_hash[32];
    bool ok;
    /* drift: the fold was compared with the projection as of this seq, the
     * projection's applied seq (head_seq when it has caught up) */
    uint64_t projection_seq;
} rf_offsets_row_t;

/* One external payout line (CSV columns: user,program,asset,amount_minor,
 * request_id) or one redemption record, for matching. */
typedef struct rf_payout {
    char user[RF_ID_BUF];
    char program[RF_ID_BUF];
    char asset[RF_ASSET_MAX + 1];
    int64_t amount_minor;
    char request_id[RF_ID_BUF];
    long line;         /* CSV line (0 for a ledger redemption) */
    int32_t partition; /* ledger redemption: where (-1 for a CSV line) */
    uint64_t seq;
} rf_payout_t;

typedef enum rf_payout_issue_kind {
    RF_PAYOUT_MISSING = 0, /* redeemed in the ledger, absent from the file */
    RF_PAYOUT_UNEXPECTED,  /* paid in the file, no redemption in the ledger */
    RF_PAYOUT_MISMATCH,    /* both, but user, asset or amount differ */
} rf_payout_issue_kind_t;
const char *rf_payout_issue_name(rf_payout_issue_kind_t k);

typedef struct rf_payout_issue {
    rf_payout_issue_kind_t kind;
    rf_payout_t ledger; /* MISSING, MISMATCH */
    rf_payout_t file;   /* UNEXPECTED, MISMATCH */
} rf_payout_issue_t;

/* Fold balance against projection balance for one account and bucket. */
typedef struct rf_drift_row {
    char program[RF_ID_BUF];
    char owner[RF_ID_BUF];
    char asset[RF_ASSET_MAX + 1];
    int bucket;
    int64_t fold_minor;
    int64_t projection_minor;
} rf_drift_row_t;

/* Reads projection balances for the drift check: calls cb for every
 * (program, owner, asset) the projection store of data_dir knows, with its
 * buckets, and sets applied_seq[p] to the last seq of ledger partition p the
 * projection applied (0: none), both from one consistent snapshot. Returns
 * RF_ERR_NOT_FOUND when there is no projection store. The consumers layer
 * provides it (ledger/ knows nothing of projections); NULL skips the check. */
typedef rf_err_t(rf_projection_balances_fn)(const char *data_dir, rf_balance_cb_t *cb, void *opaque,
                                            uint64_t applied_seq[RF_PARTITIONS_MAX],
                                            rf_errbuf_t *eb);

typedef struct rf_reconcile_opts {
    const char *data_dir;                  /* required */
    const char *payouts_csv;               /* NULL: no payout matching */
    int64_t from_ms, to_ms;                /* redemptions matched: from <= occurred_at < to
                                            * (INT64_MIN / INT64_MAX: all) */
    rf_projection_balances_fn *projection; /* NULL: drift not checked */
} rf_reconcile_opts_t;

typedef struct rf_reconcile {
    int ntb;
    rf_tb_row_t *tb; /* sorted by program, asset */
    int nparts;
    rf_offsets_row_t parts[RF_PARTITIONS_MAX];
    /* drift */
    bool projection_checked; /* false: no projection store (projection_note says) */
    bool projection_ahead;   /* a partition's projection is past the fold's head (a
                              * replaced or restored fold ledger): compared at the head */
    char projection_note[RF_ERRMSG_MAX];
    uint64_t drift_accounts_compared;
    uint64_t drift_count; /* (account, bucket) pairs that differ */
    int ndrift;           /* listed (at most RF_FINANCE_ISSUES_MAX) */
    rf_drift_row_t *drift;
    /* payouts */
    bool payouts_checked;
    uint64_t ledger_redemptions, file_payouts;
    uint64_t matched, missing, unexpected, mismatched;
    int nissues; /* listed (at most RF_FINANCE_ISSUES_MAX) */
    rf_payout_issue_t *issues;
    bool ok; /* everything adds up */
} rf_reconcile_t;

/* Builds the report. Errors are failures to read (RF_ERR_IO, RF_ERR_STORAGE,
 * RF_ERR_CORRUPT, RF_ERR_OVERSIZE, RF_ERR_BAD_INPUT for a bad CSV line);
 * things that do not add up are RF_OK with out->ok false. Free with
 * rf_reconcile_free. */
rf_err_t rf_finance_reconcile(const rf_reconcile_opts_t *opts, rf_reconcile_t *out,
                              rf_errbuf_t *eb);
void rf_reconcile_free(rf_reconcile_t *r);

/* Reads a payout CSV (header line required, columns in any order, extra
 * columns ignored; RFC 4180 quoting). Calls cb per row. */
typedef int(rf_payout_cb_t)(const rf_payout_t *p, void *opaque);
rf_err_t rf_finance_read_payouts(const char *path, rf_payout_cb_t *cb, void *opaque,
                                 rf_errbuf_t *eb);

/* ---- statements and point-in-time balances -------------------------------- */

/* One posting to the user's accounts. */
typedef struct rf_movement {
    int32_t partition;
    uint64_t seq;
    int64_t occurred_at_ms;
    char program[RF_ID_BUF];
    char kind[RF_ID_BUF];
    uint8_t bucket;
    char asset[RF_ASSET_MAX + 1];
    int64_t amount_minor;
    char event_id[RF_UUID_STR_LEN + 1];
    char reason[RF_FACT_VAL_MAX + 1]; /* fact reason, or the event type */
} rf_movement_t;

typedef struct rf_statement {
    int naccounts;
    rf_acct_t *opening; /* per (program, asset); owner = the user */
    rf_acct_t *closing; /* same accounts, same order */
    size_t nmovements;
    rf_movement_t *movements; /* from <= occurred_at < to, by (time, partition, seq) */
} rf_statement_t;

/* Statement of user (program NULL: every program) over [from_ms, to_ms):
 * opening balance (records with occurred_at < from), each movement, closing
 * balance (occurred_at < to). At most RF_FINANCE_MOVEMENTS_MAX movements.
 * Free with rf_statement_free. */
rf_err_t rf_finance_statement(const char *data_dir, const char *user, const char *program,
                              int64_t from_ms, int64_t to_ms, rf_statement_t *out, rf_errbuf_t *eb);
void rf_statement_free(rf_statement_t *s);

/* Balances of user (program NULL: every program) as of as_of_ms: the sum of
 * the postings of every record with occurred_at <= as_of_ms, per (program,
 * asset). *accts gets a malloc'ed array of *n accounts (free()). */
rf_err_t rf_finance_balance_at(const char *data_dir, const char *user, const char *program,
                               int64_t as_of_ms, rf_acct_t **accts, int *n, rf_errbuf_t *eb);

/* ---- export ----------------------------------------------------------------- */

typedef enum rf_export_format { RF_EXPORT_CSV = 0, RF_EXPORT_JSONL = 1 } rf_export_format_t;

/* Streams every record with from_ms <= occurred_at < to_ms to out, one row
 * per posting (a record without postings: one row with empty posting
 * columns), partition by partition in seq order. Columns (stable, in this
 * order; docs/finance.md): partition, seq, hash, prev_hash, offset, event_id,
 * program_id, occurred_at, kind, owner, bucket, asset, amount_minor, facts.
 * *rows (may be NULL) gets the number of rows written. RF_ERR_IO when a
 * write fails. */
rf_err_t rf_finance_export(const char *data_dir, int64_t from_ms, int64_t to_ms,
                           rf_export_format_t format, FILE *out, uint64_t *rows, rf_errbuf_t *eb);

/* ---- shared by the tools ---------------------------------------------------- */

/* Opens every partition ledger of data_dir read-only into ls (cap entries).
 * Returns the count (0 when <data>/fold has no partition) or a negative
 * rf_err_t with a message. Close with rf_finance_close_all. */
int rf_finance_open_all(const char *data_dir, rf_ledger_t **ls, int cap, rf_errbuf_t *eb);
void rf_finance_close_all(rf_ledger_t **ls, int n);

/* Sums, per (program, owner, asset), the postings of the records of kinds
 * reward, reward_matured, reward_voided and clawback to user accounts (owner
 * not starting with '#') into the account's aux[slot]: the net reward value
 * (granted minus voided minus clawed back). For what-if comparisons.
 * end_offsets (NULL: no bound), indexed by partition: only records of source
 * offsets below end_offsets[p] count (-1: no bound for p), so a live ledger
 * that moved on is compared at the point a replay stopped. */
rf_err_t rf_finance_sum_rewards(const char *data_dir, rf_acct_map_t *m, int slot,
                                const int64_t *end_offsets, rf_errbuf_t *eb);

#endif
