/* rf_query.h: read-only queries over the projection (<data>/project/p-*),
 * library refold_serve (room consumers/serve/, with the HTTP API; never
 * Kafka):
 * balances, codes, leaderboards (top K, rank), funnel stats and progress.
 * Used by `refold balance|leaderboard|rank|stats`, `refold serve` and tests.
 *
 * Opening: RocksDB lets any number of readers open a store while its worker
 * writes it. RF_QUERY_SNAPSHOT (default) opens each partition read-only: the
 * handle sees the data as of its open (one-shot CLI queries). RF_QUERY_FOLLOW
 * opens RocksDB secondary instances (scratch dirs under $TMPDIR for their
 * logs): rf_query_refresh catches up with the worker's latest commits and
 * picks up partitions created since; a reader sees whole batches only. A
 * FOLLOW handle watches the stores' directories (inotify), so a refresh
 * catches up only the partitions written since the last one (and all of
 * them every RF_QUERY_FULL_REFRESH_MS), and rf_query_wait sleeps until a
 * worker commits: a follower costs nothing while the stores stand still.
 *
 * Thread safety: every query function may be called from many threads at
 * once on one handle (RocksDB reads are thread safe; the handle's small
 * program cache has a mutex). rf_query_refresh may run concurrently with them.
 *
 * JSON functions return a new jansson object (the caller json_decref's it),
 * the same for the CLI's --json and the HTTP API; amounts are integers in
 * minor units, ratios are decimal strings computed with integer arithmetic. */
#ifndef RF_QUERY_H
#define RF_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rf_common.h"
#include "rf_event.h"
#include "rf_project.h"

typedef struct rf_query rf_query_t;

typedef enum rf_query_flags {
    RF_QUERY_SNAPSHOT = 0,
    RF_QUERY_FOLLOW = 1,
} rf_query_flags_t;

/* Opens every partition under <data_dir>/project. RF_ERR_NOT_FOUND (in eb)
 * when there is none: run `refold project` first. */
rf_query_t *rf_query_open(const char *data_dir, int flags, rf_errbuf_t *eb);
void rf_query_close(rf_query_t *q); /* NULL is a no-op */
/* FOLLOW handles: catch up with the workers (no-op for SNAPSHOT handles). */
rf_err_t rf_query_refresh(rf_query_t *q, rf_errbuf_t *eb);
/* FOLLOW handles: blocks until a worker wrote to a store (then, when the
 * last refresh was less than RF_QUERY_REFRESH_MIN_MS ago, until that much
 * passed: one refresh takes a burst of commits), rf_query_wake is called, or
 * timeout_ms passed. True when a refresh is due (a change, a wake-up, the
 * periodic full catch-up, or every RF_QUERY_REFRESH_MS where the system
 * gives no change notification). One thread waits on a handle at a time;
 * SNAPSHOT handles return false at once. */
bool rf_query_wait(rf_query_t *q, int timeout_ms);
/* Makes the current or next rf_query_wait on q return (any thread; for
 * stopping a follower thread). NULL is a no-op. */
void rf_query_wake(rf_query_t *q);

/* Progress of every open partition (ascending); returns the count. */
int rf_query_progress(rf_query_t *q, rf_projection_meta_t *out, int cap);
/* applied[p]: the last ledger seq of partition p applied (0: none). */
void rf_query_applied_seqs(rf_query_t *q, uint64_t applied[RF_PARTITIONS_MAX]);

/* RF_OK when program has been seen by the projection; RF_ERR_NOT_FOUND
 * ("unknown program '...'") otherwise. */
rf_err_t rf_query_program(rf_query_t *q, const char *program, rf_errbuf_t *eb);

/* ---- balances ---- */
typedef struct rf_query_balance {
    char program[RF_ID_BUF]; /* "" in totals */
    char asset[RF_ASSET_MAX + 1];
    int64_t buckets[RF_BUCKET__COUNT];
} rf_query_balance_t;

/* A user's balances per (program, asset); program NULL: every program.
 * Returns the count (<= cap; RF_ERR_OVERSIZE beyond) or a negative rf_err_t. */
int rf_query_balances(rf_query_t *q, const char *user, const char *program, rf_query_balance_t *out,
                      int cap, rf_errbuf_t *eb);
/* Sums rows per asset (cross-program wallet): out[i].program = "". */
int rf_query_balance_totals(const rf_query_balance_t *rows, int n, rf_query_balance_t *out,
                            int cap);
/* Every account of every partition (users and program accounts), in key order
 * per partition: for comparing with the fold's rf_ledger_scan_balances. cb
 * returns non-zero to stop. Same signature as rf_balance_cb_t. */
typedef int(rf_query_balance_cb_t)(const char *program, const char *owner, const char *asset,
                                   const int64_t buckets[RF_BUCKET__COUNT], void *opaque);
rf_err_t rf_query_scan_balances(rf_query_t *q, rf_query_balance_cb_t *cb, void *opaque,
                                rf_errbuf_t *eb);

/* ---- codes ---- */
/* The code issued to user in program. RF_ERR_NOT_FOUND when none. */
rf_err_t rf_query_code(rf_query_t *q, const char *program, const char *user,
                       char out[RF_FACT_VAL_MAX + 1], rf_errbuf_t *eb);

/* The referrer who holds code in program (the code index the projection
 * keeps from code_issued records): RF_ERR_NOT_FOUND when no such program or
 * code. For `refold gateway`'s tracking links. */
rf_err_t rf_query_code_owner(rf_query_t *q, const char *program, const char *code,
                             char user[RF_ID_BUF], rf_errbuf_t *eb);

/* A program's tracking-link settings from its current rules: landing_url
 * and the attribution window in days. RF_ERR_NOT_FOUND when the program is
 * unknown or its rules have no landing_url. */
typedef struct rf_query_landing {
    char url[RF_LANDING_URL_MAX + 1];
    int64_t attribution_days;
} rf_query_landing_t;
rf_err_t rf_query_landing(rf_query_t *q, const char *program, rf_query_landing_t *out,
                          rf_errbuf_t *eb);

/* ---- leaderboards ---- */
typedef enum rf_board_by {
    RF_BOARD_REFERRALS = 0, /* successful referrals (referrer reward records) */
    RF_BOARD_VALUE = 1,     /* net reward value of the referrer, per asset */
} rf_board_by_t;

typedef struct rf_board_sel {
    const char *program;
    const char *period; /* "all" (NULL), "day:2026-01-05", "week:2026-W02", "month:2026-01" */
    rf_board_by_t by;
    const char *asset; /* value boards: NULL picks the program's only reward asset */
} rf_board_sel_t;

typedef struct rf_board_entry {
    uint64_t rank; /* 1-based */
    char user[RF_ID_BUF];
    int64_t score;
    uint64_t reached_seq; /* ledger seq at which the score was reached (tie-break) */
} rf_board_entry_t;

typedef struct rf_board_info {
    char period[32];
    char asset[RF_ASSET_MAX + 1]; /* value boards */
    uint64_t users;               /* entries on the board */
    int32_t partition;
} rf_board_info_t;

/* Top k (<= RF_LEADERBOARD_TOP_MAX) of a board; returns the count or a
 * negative rf_err_t (RF_ERR_BAD_INPUT for a bad period or asset;
 * RF_ERR_NOT_FOUND for an unknown program). info may be NULL. */
int rf_query_top(rf_query_t *q, const rf_board_sel_t *sel, int k, rf_board_entry_t *out,
                 rf_board_info_t *info, rf_errbuf_t *eb);
/* The rank of user on a board, without scanning the board: O(key length x
 * siblings) reads (docs/projections.md). RF_ERR_NOT_FOUND when not on it. */
rf_err_t rf_query_rank(rf_query_t *q, const rf_board_sel_t *sel, const char *user,
                       rf_board_entry_t *out, rf_board_info_t *info, rf_errbuf_t *eb);

/* ---- stats ---- */
typedef struct rf_stat_row {
    char metric[32];
    char channel[RF_ID_BUF]; /* "" = all channels */
    char tail[RF_ID_BUF];    /* asset/currency or fraud check; "" when none */
    int64_t value;
} rf_stat_row_t;

/* The canonical text of a period for program ("day" alone names the day of
 * the program partition's latest event time: "day:2026-01-05"). */
rf_err_t rf_query_period(rf_query_t *q, const char *program, const char *period, char out[32],
                         rf_errbuf_t *eb);

/* The raw counters of a program and period (RF_STATS_ROWS_MAX at most). */
int rf_query_stat_rows(rf_query_t *q, const char *program, const char *period, rf_stat_row_t *out,
                       int cap, rf_errbuf_t *eb);

/* ---- review queue ---- */
/* A referral held for fraud review (docs/projections.md, 'Q' keys). */
typedef struct rf_review_row {
    char friend_[RF_ID_BUF];
    char referrer[RF_ID_BUF];
    char reason[RF_FACT_VAL_MAX + 1]; /* why it was held, e.g. "fraud:ip_cluster" */
    char checks[RF_FACT_VAL_MAX + 1]; /* the checks fact of the hold */
    int64_t rewards;                  /* rewards posted while held */
    int nheld;                        /* their sums per asset: */
    struct {
        char asset[RF_ID_BUF];
        int64_t amount;
    } held[RF_REVIEW_ASSETS_MAX];
    int64_t held_at_ms; /* event time of the hold */
    uint64_t seq;       /* the hold's ledger seq */
} rf_review_row_t;

/* The program's held referrals, oldest first: at most cap rows; *more is set
 * when another one follows. Returns the count or a negative rf_err_t. */
int rf_query_reviews(rf_query_t *q, const char *program, rf_review_row_t *out, int cap, bool *more,
                     rf_errbuf_t *eb);

/* ---- a referrer's friends ---- */
typedef struct rf_friend_row {
    char friend_[RF_ID_BUF];
    const char *status;    /* signed_up, purchased, pending, available, reversed */
    bool in_review;        /* held for fraud review */
    int64_t signed_up_ms;  /* time of the attributed signup (or guest purchase) */
    int64_t hold_until_ms; /* the referrer's reward: pending until; 0 none */
    int64_t amount;        /* the referrer's reward for this friend; 0 none */
    char asset[RF_ID_BUF];
    uint64_t n; /* the referrer's n-th friend (0-based) */
} rf_friend_row_t;

/* The referrer's most recent friends (at most RF_REFERRAL_FRIENDS_MAX, newest
 * first) with their progress; *total counts every friend ever attributed.
 * Returns the count or a negative rf_err_t. */
int rf_query_friends(rf_query_t *q, const char *program, const char *referrer,
                     rf_friend_row_t out[RF_REFERRAL_FRIENDS_MAX], int64_t *total, rf_errbuf_t *eb);

/* ---- programs ---- */
/* The programs the projection knows, sorted; returns the count (at most cap)
 * or a negative rf_err_t. */
int rf_query_programs(rf_query_t *q, char (*out)[RF_ID_BUF], int cap, rf_errbuf_t *eb);

/* ---- JSON reports (CLI --json and HTTP bodies) ---- */
json_t *rf_query_balance_json(rf_query_t *q, const char *user, const char *program, rf_err_t *err,
                              rf_errbuf_t *eb);
json_t *rf_query_top_json(rf_query_t *q, const rf_board_sel_t *sel, int k, rf_err_t *err,
                          rf_errbuf_t *eb);
json_t *rf_query_rank_json(rf_query_t *q, const rf_board_sel_t *sel, const char *user,
                           rf_err_t *err, rf_errbuf_t *eb);
json_t *rf_query_stats_json(rf_query_t *q, const char *program, const char *period, rf_err_t *err,
                            rf_errbuf_t *eb);
json_t *rf_query_code_json(rf_query_t *q, const char *program, const char *user, rf_err_t *err,
                           rf_errbuf_t *eb);
json_t *rf_query_health_json(rf_query_t *q);

/* num/den as a decimal string with `decimals` digits, rounded half away from
 * zero, integer arithmetic only ("0.4521"); "" when den is 0. */
void rf_query_ratio(int64_t num, int64_t den, int decimals, char out[48]);

#endif
