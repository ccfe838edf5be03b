/* rf_query_int.h: what rf_query.c (the reads) and rf_query_follow.c (opening
 * the stores, following their commits) share. Internal to consumers/serve. */
#ifndef RF_QUERY_INT_H
#define RF_QUERY_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "rf_project_int.h"
#include "rf_query.h"

#define PROGRAM_CACHE 64 /* direct-mapped program -> partition cache */
#define QKEY_MAX      512

typedef struct qpart {
    rf_store_t *store; /* read-only or secondary (common/rf_store.h) */
    rocksdb_t *db;     /* the store's */
    int32_t partition;
    int wd;              /* FOLLOW: inotify watch of the store's directory (-1: none) */
    char secondary[256]; /* FOLLOW: scratch dir of the secondary instance */
} qpart_t;

typedef struct prog_slot {
    char program[RF_ID_BUF];
    int32_t partition;
    uint32_t no;
} prog_slot_t;

struct rf_query {
    char data_dir[4096];
    int flags;
    rocksdb_readoptions_t *ropts;
    qpart_t *parts[RF_PARTITIONS_MAX]; /* by partition; published with atomics */
    pthread_mutex_t mu;                /* the program cache */
    pthread_mutex_t refresh_mu;        /* one refresh at a time; guards what follows */
    prog_slot_t cache[PROGRAM_CACHE];
    /* FOLLOW: which stores changed (inotify on their directories: a commit
     * appends to the store's WAL), so a refresh catches up only those, and
     * rf_query_wait sleeps until one does. ino_fd -1: no notification (every
     * refresh catches up every partition). */
    int ino_fd;
    int project_wd;                  /* <data>/project: partitions created */
    bool changed[RF_PARTITIONS_MAX]; /* seen changed, not caught up yet */
    bool rescan;                     /* look for new partitions */
    uint64_t full_ns, refreshed_ns;  /* last catch-up of all / of any */
    int wake_fd;                     /* eventfd: rf_query_wake */
};

static inline qpart_t *rf__q_part(rf_query_t *q, int i)
{
    return __atomic_load_n(&q->parts[i], __ATOMIC_ACQUIRE);
}

#endif
