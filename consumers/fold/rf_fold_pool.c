/* rf_fold_pool.c: the fold worker's thread pool: runs one job (fold or
 * commit) over a cycle's partitions on the helper threads and the calling
 * thread, and returns when every partition is done. Partitions are
 * independent ledgers, so a partition is only ever touched by one thread. */
#include "rf_fold_internal.h"

#include <stdlib.h>
#include <sys/prctl.h>

struct rf_fold_pool {
    pthread_mutex_t mu;
    pthread_cond_t start; /* a new job (gen changed) or quit */
    pthread_cond_t done;  /* busy dropped to 0 */
    pthread_t threads[RF_FOLD_THREADS_MAX];
    int nthreads;
    uint64_t gen;
    int busy; /* helpers still on the current job */
    bool quit;
    /* the current job */
    rf_fold_worker_t *w;
    rf_fold_part_t *const *parts;
    int nparts;
    rf__fold_job_fn *fn;
    atomic_int next; /* next part index to take */
};

static void take_all(rf_fold_pool_t *pool)
{
    for (;;) {
        int i = atomic_fetch_add(&pool->next, 1);
        if (i >= pool->nparts) return;
        pool->fn(pool->w, pool->parts[i]);
    }
}

static void *helper_main(void *arg)
{
    rf_fold_pool_t *pool = arg;
    uint64_t seen = 0;
    prctl(PR_SET_NAME, "rf-fold-pool"); /* top -H, perf */
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->gen == seen && !pool->quit)
            pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) break;
        seen = pool->gen;
        pthread_mutex_unlock(&pool->mu);
        take_all(pool);
        pthread_mutex_lock(&pool->mu);
        RF_ASSERT(pool->busy > 0);
        if (--pool->busy == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

rf_fold_pool_t *rf__fold_pool_new(int nthreads)
{
    RF_ASSERT(nthreads >= 0 && nthreads <= RF_FOLD_THREADS_MAX);
    rf_fold_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->next, 0);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&pool->threads[i], NULL, helper_main, pool) != 0) {
            rf__fold_pool_destroy(pool);
            return NULL;
        }
        pool->nthreads++;
    }
    return pool;
}

void rf__fold_pool_run(rf_fold_pool_t *pool, rf_fold_worker_t *w, rf_fold_part_t *const *parts,
                       int n, rf__fold_job_fn *fn)
{
    if (n == 0) return;
    pthread_mutex_lock(&pool->mu);
    RF_ASSERT(pool->busy == 0);
    pool->w = w;
    pool->parts = parts;
    pool->nparts = n;
    pool->fn = fn;
    atomic_store(&pool->next, 0);
    /* one partition needs no helper: save the wake-ups */
    int helpers = n > 1 ? pool->nthreads : 0;
    if (helpers) {
        pool->busy = helpers;
        pool->gen++;
        pthread_cond_broadcast(&pool->start);
    }
    pthread_mutex_unlock(&pool->mu);
    take_all(pool);
    pthread_mutex_lock(&pool->mu);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
    RF_ASSERT(atomic_load(&pool->next) >= n);
}

void rf__fold_pool_destroy(rf_fold_pool_t *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = true;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}
