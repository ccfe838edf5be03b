/* rf_checkpoint_take.h: the command's side of checkpoints (`refold
 * checkpoint`, cmd/rf_checkpoint_cmd.c): every partition store of a data
 * directory, by this process or by the worker holding its lock. */
#ifndef RF_CHECKPOINT_TAKE_H
#define RF_CHECKPOINT_TAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_checkpoint.h"
#include "rf_common.h"
#include "rf_limits.h"

typedef struct rf_checkpoint_part {
    char store[8]; /* "fold" or "project" */
    int32_t partition;
    bool by_worker; /* served by the worker holding the lock */
    rf_err_t err;   /* RF_OK when written */
    char msg[RF_ERRMSG_MAX];
    uint64_t head_seq;   /* fold: the checkpoint's head */
    int64_t next_offset; /* fold: the checkpoint's stored next offset */
    bool verified;       /* fold with verify: rf_ledger_verify accepted it */
} rf_checkpoint_part_t;

typedef struct rf_checkpoint_result {
    int nparts;
    rf_checkpoint_part_t parts[2 * RF_PARTITIONS_MAX];
} rf_checkpoint_result_t;

/* Checkpoints every partition under <data_dir>/fold and <data_dir>/project
 * into out_dir (created; must not exist or be empty), waiting up to wait_ms
 * for workers; with verify, runs rf_ledger_verify on each fold checkpoint.
 * Returns RF_OK when every partition was written (and verified); otherwise
 * the first error, with every partition's outcome in *res. */
rf_err_t rf_checkpoint_take(const char *data_dir, const char *out_dir, int wait_ms, bool verify,
                            rf_checkpoint_result_t *res, rf_errbuf_t *eb);

#endif
