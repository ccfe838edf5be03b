/* rf_query_pages.h: the JSON answers the dashboard and the referral page
 * need beyond the API of rf_query.h (library refold_serve, room
 * consumers/serve/; never Kafka): the program list, rewards over time, the
 * operations strip (projection against fold ledgers, read-only) and one
 * referrer's page. Same conventions as rf_query.h's JSON reports; bodies in
 * docs/http-api.md ("Dashboard endpoints"). */
#ifndef RF_QUERY_PAGES_H
#define RF_QUERY_PAGES_H

#include "rf_query.h"

#define RF_PROGRAMS_LIST_MAX 256 /* programs listed by /v1/programs */
/* The last `refold verify --data DIR`'s result, in DIR (docs/http-api.md). */
#define RF_VERIFY_RESULT_FILE "verify.json"

/* {"programs":["a","b"]} sorted. */
json_t *rf_query_programs_json(rf_query_t *q, rf_err_t *err, rf_errbuf_t *eb);

/* Rewards, voids, clawbacks and reward cost per period for the n (1..
 * RF_SERIES_MAX) periods of unit ("day", "week", "month") ending with the
 * program partition's latest, oldest first. */
json_t *rf_query_series_json(rf_query_t *q, const char *program, const char *unit, int n,
                             rf_err_t *err, rf_errbuf_t *eb);

/* The fold ledgers' heads (data_dir/fold opened read-only; about 0.1 s per
 * ledger of a million records, so `refold serve` reads them in the
 * background: rf_pages.c): {"here", "at_ms", "partitions": [{"partition",
 * "fold_head_seq", "fold_next_offset", "dead_letters"} or {"partition",
 * "error"}], "last_verify": data_dir/verify.json or null}. Without data_dir/fold (serve on a host
 * of its own) "here" is false and the list empty. NULL with a message when the folder is
 * unreadable. */
json_t *rf_ops_fold_snapshot(const char *data_dir, rf_errbuf_t *eb);

/* The snapshot against the projection: per partition the projection's
 * applied seq and the lag (head seq - applied seq, in records), totals, the
 * time the fold was read. */
json_t *rf_query_ops_json(rf_query_t *q, const json_t *snap, rf_err_t *err, rf_errbuf_t *eb);

/* The program's review queue: {"program", "limit", "more", "reviews": [{"friend",
 * "referrer", "reason", "checks", "rewards", "held": [{"asset", "amount"}],
 * "held_at_ms", "seq"}]}, at most limit (1..RF_REVIEWS_MAX) entries, oldest hold first. */
json_t *rf_query_reviews_json(rf_query_t *q, const char *program, int limit, rf_err_t *err,
                              rf_errbuf_t *eb);

/* One referrer's page: code and tracking link (link_base "/r/" program "/"
 * code; link_base NULL: no link), balances in the program, rank on the
 * all-time referrals board (null when not on it), expiry of the token. */
json_t *rf_query_referral_json(rf_query_t *q, const char *program, const char *user,
                               const char *link_base, int64_t exp_s, rf_err_t *err,
                               rf_errbuf_t *eb);

/* `refold explain --json` for (program, user) from the fold ledgers under
 * data_dir (read-only), with at most RF_EXPLAIN_HTTP_RECORDS records
 * ("truncated": true beyond). Scans every ledger: O(records). */
json_t *rf_query_explain_json(rf_query_t *q, const char *data_dir, const char *program,
                              const char *user, rf_err_t *err, rf_errbuf_t *eb);

#endif
