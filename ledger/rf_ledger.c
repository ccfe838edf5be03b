/* rf_ledger.c: a partition ledger's storage (one RocksDB per partition,
 * opened through common/rf_store.h): open, close, the open batch, commit,
 * head. The fold engine is rf_ledger_fold.c, the append step rf_fold_append.c,
 * the bulk load rf_ledger_bulk.c; what an event means is the rules'
 * (rules/rf_rules.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_ledger_int.h"
#include "rf_rules.h"

rf_err_t rf__rocks_err(rf_errbuf_t *eb, char *errptr, const char *what)
{
    return rf_store_err(eb, errptr, "%s", what);
}

/* Opens the ledger's store in env: its options (rf_store.c's ledger
 * profile), the shared block cache, and a writer's share of the memtable
 * budget all come from there. */
static rf_err_t open_db(rf_ledger_t *l, rf_store_env_t *env, const char *path, rf_errbuf_t *eb)
{
    rf_store_open_conf_t c = {
        .kind = RF_STORE_LEDGER,
        .mode = (l->flags & RF_LEDGER_READONLY) ? RF_STORE_READONLY : RF_STORE_WRITE,
        .create = (l->flags & RF_LEDGER_CREATE) != 0,
    };
    l->store = rf_store_open(env, path, &c, eb);
    if (!l->store) return RF_ERR_STORAGE;
    l->db = rf_store_db(l->store);
    for (int i = 0; i < RF__CF__COUNT; i++)
        l->cf[i] = rf_store_cf(l->store, i);
    RF_ASSERT(l->db != NULL);
    return RF_OK;
}

void rf_ledger_expect_writers(int delta)
{
    rf_store_env_expect_writers(rf_store_env_default(), delta);
}

static rf_err_t load_meta(rf_ledger_t *l, rf_errbuf_t *eb)
{
    uint8_t key = RF__K_META;
    char *val = NULL;
    size_t vlen = 0;
    rf__meta_empty(&l->committed, l->partition);
    rf_err_t err = rf__db_get(l, &key, 1, &val, &vlen, eb);
    if (err == RF_ERR_NOT_FOUND)
        err = RF_OK;
    else if (err == RF_OK) {
        err = rf__meta_decode((const uint8_t *)val, vlen, &l->committed, eb);
        rocksdb_free(val);
        if (!err && l->committed.partition != l->partition)
            err = rf_errf(eb, RF_ERR_CONFIG, "ledger '%s' holds partition %d, not %d", l->path,
                          (int)l->committed.partition, (int)l->partition);
    }
    l->staged = l->committed;
    if (err) return err;
    key = RF__K_UNFINISHED;
    err = rf__db_get(l, &key, 1, &val, &vlen, eb);
    if (err == RF_OK) {
        rocksdb_free(val);
        return rf_errf(eb, RF_ERR_CONFIG,
                       "ledger '%s' is an unfinished bulk load (a replay that crashed or "
                       "failed): delete it and run the replay again",
                       l->path);
    }
    return err == RF_ERR_NOT_FOUND ? RF_OK : err;
}

/* ---- the batch's memory, kept from closed ledgers for the next open ----
 * A replay opens ledger after ledger; each fresh overlay arena and staging
 * buffer (tens of MiB, mmap'ed by malloc and unmapped by free) cost a page
 * fault per 4 KiB written: a third of a replay's page faults, 5-9% of its
 * CPU. Reuse keeps their pages: a closing ledger leaves its set with the
 * env (rf_store_env_keep). It never adds memory: a set is kept only while no
 * open needs it, so the env holds what the process needed at its peak, and
 * at most RF_BATCH_MEM_POOL_BYTES each. */

typedef struct batch_mem {
    rf__overlay_t *ov;
    rf__buf_t recs_buf, recs_len, arch;
} batch_mem_t;

static void batch_mem_free(void *item)
{
    batch_mem_t *m = item;
    rf__ov_free(m->ov);
    rf__buf_free(&m->recs_buf);
    rf__buf_free(&m->recs_len);
    rf__buf_free(&m->arch);
    free(m);
}

/* Gives l a set (overlay and staging buffers, empty) a closed ledger of env
 * left: 1, or 0 when there is none. */
static int batch_mem_take(rf_ledger_t *l, rf_store_env_t *env)
{
    batch_mem_t *m = rf_store_env_take(env, RF_STORE_LEDGER);
    if (!m) return 0;
    l->ov = m->ov;
    l->recs_buf = m->recs_buf;
    l->recs_len = m->recs_len;
    l->arch = m->arch;
    free(m);
    RF_ASSERT(rf__ov_count(l->ov) == 0 && l->recs_buf.len == 0 && l->arch.len == 0);
    return 1;
}

/* Leaves l's set, emptied, with its env: 1, or 0 when the env keeps no more
 * or the set is too large (the caller frees it). */
static int batch_mem_give(rf_ledger_t *l)
{
    if (!l->ov || !l->store) return 0;
    size_t bytes = rf__ov_held(l->ov) + l->recs_buf.cap + l->recs_len.cap + l->arch.cap;
    batch_mem_t *m = bytes <= RF_BATCH_MEM_POOL_BYTES ? malloc(sizeof *m) : NULL;
    if (!m) return 0;
    rf__ov_clear(l->ov);
    l->recs_buf.len = l->recs_len.len = l->arch.len = 0;
    *m = (batch_mem_t){l->ov, l->recs_buf, l->recs_len, l->arch};
    if (rf_store_env_keep(rf_store_env_of(l->store), RF_STORE_LEDGER, m, bytes, batch_mem_free))
        return 1;
    free(m);
    return 0;
}

rf_ledger_t *rf_ledger_open_path_env(rf_store_env_t *env, const char *db_path, int32_t partition,
                                     int flags, rf_errbuf_t *eb)
{
    RF_ASSERT(env != NULL && db_path != NULL);
    if (partition < 0 || partition >= RF_PARTITIONS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "partition %d out of range 0..%d", (int)partition,
                RF_PARTITIONS_MAX - 1);
        return NULL;
    }
    rf_ledger_t *l = calloc(1, sizeof *l);
    if (!l) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->partition = partition;
    l->flags = flags;
    l->ctx.l = l;
    if (rf_strlcpy(l->path, db_path, sizeof l->path) != RF_OK) {
        rf_errf(eb, RF_ERR_CONFIG, "path too long");
        free(l);
        return NULL;
    }
    if (open_db(l, env, db_path, eb) != RF_OK) {
        free(l);
        return NULL;
    }
    l->ro = rocksdb_readoptions_create();
    l->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(l->wo, (flags & RF_LEDGER_NOSYNC) ? 0 : 1);
    l->wo_async = rocksdb_writeoptions_create();
    l->wb = rocksdb_writebatch_create();
    if (!batch_mem_take(l, env)) l->ov = rf__ov_new();
    l->sha = rf__sha_new();
    if (!l->ov || !l->sha) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        rf_ledger_close(l);
        return NULL;
    }
    if (load_meta(l, eb) != RF_OK || ((flags & RF_LEDGER_BULK) && rf__bulk_start(l, eb) != RF_OK)) {
        rf_ledger_close(l);
        return NULL;
    }
    return l;
}

rf_ledger_t *rf_ledger_open_path(const char *db_path, int32_t partition, int flags, rf_errbuf_t *eb)
{
    return rf_ledger_open_path_env(rf_store_env_default(), db_path, partition, flags, eb);
}

static rf_err_t mkdir_one(const char *path, rf_errbuf_t *eb)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return RF_OK;
    return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
}

/* <data_dir>/fold/p-NNNN into path[4096]; returns the length of the
 * <data_dir>/fold prefix, or -1 when the path would not fit. */
static int ledger_dir(char path[4096], const char *data_dir, int32_t partition)
{
    int n = snprintf(path, 4096, "%s/fold", data_dir);
    if (n < 0 || (size_t)n + 32 >= 4096) return -1;
    snprintf(path + n, 4096 - (size_t)n, "/p-%04d", (int)partition);
    return n;
}

rf_ledger_t *rf_ledger_open_env(rf_store_env_t *env, const char *data_dir, int32_t partition,
                                int flags, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL);
    char path[4096];
    int n = ledger_dir(path, data_dir, partition);
    if (n < 0) {
        rf_errf(eb, RF_ERR_CONFIG, "data directory path too long");
        return NULL;
    }
    if (flags & RF_LEDGER_CREATE) {
        path[n] = '\0'; /* <data_dir>/fold */
        rf_err_t err = mkdir_one(data_dir, eb) ? RF_ERR_IO : mkdir_one(path, eb);
        path[n] = '/';
        if (err) return NULL;
    }
    return rf_ledger_open_path_env(env, path, partition, flags, eb);
}

rf_ledger_t *rf_ledger_open(const char *data_dir, int32_t partition, int flags, rf_errbuf_t *eb)
{
    return rf_ledger_open_env(rf_store_env_default(), data_dir, partition, flags, eb);
}

/* RocksDB locks LOCK with fcntl: F_GETLK names another process holding it
 * (never our own: fcntl locks belong to the process). */
long rf_ledger_lock_holder(const char *data_dir, int32_t partition)
{
    RF_ASSERT(data_dir != NULL);
    char path[4096];
    if (ledger_dir(path, data_dir, partition) < 0) return -1;
    strcat(path, "/LOCK");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    long pid = fcntl(fd, F_GETLK, &fl) < 0 ? -1 : fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
    close(fd);
    RF_ASSERT(pid != (long)getpid());
    return pid;
}

void rf_ledger_close(rf_ledger_t *l)
{
    if (!l) return;
    rf_rules_cache_free(l->rules_cache);
    if (l->wb) rocksdb_writebatch_destroy(l->wb);
    if (!batch_mem_give(l)) {
        rf__ov_free(l->ov);
        rf__buf_free(&l->recs_buf);
        rf__buf_free(&l->recs_len);
        rf__buf_free(&l->arch);
    }
    rf__buf_free(&l->enc);
    rf__tail_free(l);
    rf__bulk_free(l->bulk);
    rf__idf_free(l->idf);
    EVP_MD_CTX_free(l->sha);
    rf_store_close(l->store); /* a writer leaves the budget: the others may grow */
    if (l->ro) rocksdb_readoptions_destroy(l->ro);
    if (l->wo) rocksdb_writeoptions_destroy(l->wo);
    if (l->wo_async) rocksdb_writeoptions_destroy(l->wo_async);
    rf_codec_destroy(l->codec);
    free(l->ev);
    free(l->recs);
    free(l);
}

rf_err_t rf__db_get(rf_ledger_t *l, const uint8_t *key, size_t klen, char **val, size_t *vlen,
                    rf_errbuf_t *eb)
{
    char *errptr = NULL;
    *val = rocksdb_get_cf(l->db, l->ro, rf__cf(l, key[0]), (const char *)key, klen, vlen, &errptr);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot read ledger");
    return *val ? RF_OK : RF_ERR_NOT_FOUND;
}

/* Records and archived events are staged in their own buffers (they are
 * never read back during a fold and their keys are sequential); every other
 * key goes to the overlay. */
static int staged_apart(uint8_t prefix)
{
    return prefix == RF__K_RECORD || prefix == RF__K_ARCHIVE;
}

rf_err_t rf__batch_put(rf_ledger_t *l, const uint8_t *key, size_t klen, const void *val,
                       size_t vlen)
{
    RF_ASSERT(klen > 0 && !(l->flags & RF_LEDGER_READONLY));
    RF_ASSERT((val != NULL || vlen == 0) && !staged_apart(key[0]));
    if (rf__ov_put(l->ov, key, klen, val ? val : "", vlen))
        return rf_errf(NULL, RF_ERR_NOMEM, "out of memory");
    return RF_OK;
}

rf_err_t rf__batch_del(rf_ledger_t *l, const uint8_t *key, size_t klen)
{
    RF_ASSERT(klen > 0 && !staged_apart(key[0]));
    if (rf__ov_del(l->ov, key, klen)) return RF_ERR_NOMEM;
    return RF_OK;
}

rf_err_t rf__batch_record(rf_ledger_t *l, const uint8_t *val, size_t vlen)
{
    RF_ASSERT(vlen > RF__RECORD_HDR && vlen <= RF__RECORD_HDR + RF_RECORD_BYTES_MAX);
    if (rf__buf_reserve(&l->recs_buf, vlen) || rf__buf_reserve(&l->recs_len, 4))
        return RF_ERR_NOMEM;
    uint32_t n = (uint32_t)vlen;
    memcpy(l->recs_buf.p + l->recs_buf.len, val, vlen);
    memcpy(l->recs_len.p + l->recs_len.len, &n, 4);
    l->recs_buf.len += vlen;
    l->recs_len.len += 4;
    return RF_OK;
}

rf_err_t rf__batch_archive(rf_ledger_t *l, int64_t offset, int64_t clock_ms, const uint8_t *bytes,
                           size_t len)
{
    RF_ASSERT(len <= UINT32_MAX && offset >= 0);
    if (rf__buf_reserve(&l->arch, 4 + RF__ARCHIVE_CLOCK + len)) return RF_ERR_NOMEM;
    if (l->arch.len == 0) l->arch_first = offset;
    uint8_t *p = l->arch.p + l->arch.len;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < RF__ARCHIVE_CLOCK; i++)
        p[4 + i] = (uint8_t)((uint64_t)clock_ms >> (8 * i));
    if (len) memcpy(p + 4 + RF__ARCHIVE_CLOCK, bytes, len);
    l->arch.len += 4 + RF__ARCHIVE_CLOCK + len;
    return RF_OK;
}

rf_err_t rf__batch_get(rf_ledger_t *l, const void *key, size_t klen, void *val, size_t cap,
                       size_t *vlen)
{
    RF_ASSERT(klen > 0 && vlen != NULL);
    const uint8_t *ov = NULL;
    int in = rf__ov_get(l->ov, key, klen, &ov, vlen);
    if (in < 0) return RF_ERR_NOT_FOUND;
    if (in > 0) {
        if (*vlen > cap) return RF_ERR_OVERSIZE;
        if (*vlen) memcpy(val, ov, *vlen);
        return RF_OK;
    }
    if (l->ov_only) return RF_ERR_NOT_FOUND;
    char *errptr = NULL;
    char *v = rocksdb_get_cf(l->db, l->ro, l->cf[RF__CF_STATE], key, klen, vlen, &errptr);
    if (errptr) {
        rf_log(RF_LOG_ERROR, "ledger partition %d: rocksdb get: %s", (int)l->partition, errptr);
        rocksdb_free(errptr);
        return RF_ERR_STORAGE;
    }
    if (!v) return RF_ERR_NOT_FOUND;
    rf_err_t err = RF_OK;
    if (((const uint8_t *)key)[0] == RF__K_RULES)
        err = rf__zr_decode((const uint8_t *)v, *vlen, val, cap, vlen);
    else if (*vlen > cap)
        err = RF_ERR_OVERSIZE;
    else if (*vlen)
        memcpy(val, v, *vlen);
    rocksdb_free(v);
    if (err == RF_ERR_CORRUPT)
        rf_log(RF_LOG_ERROR, "ledger partition %d: malformed rules state value", (int)l->partition);
    return err;
}

int rf__batch_open(const rf_ledger_t *l)
{
    /* a bulk load's overlay outlives its commits: it is not a batch */
    return l->batch_offsets > 0 || (!l->bulk && rf__ov_count(l->ov) > 0) || l->recs_len.len > 0 ||
           l->arch.len > 0;
}

int64_t rf_ledger_next_offset(const rf_ledger_t *l)
{
    return l->committed.next_offset;
}

uint32_t rf_ledger_batch_size(const rf_ledger_t *l)
{
    return l->batch_offsets;
}

/* Empties the staged writes after a commit (a bulk load keeps its state in
 * the overlay, keep_state) or to drop them. */
static void clear_staged(rf_ledger_t *l, int keep_state)
{
    rocksdb_writebatch_clear(l->wb);
    if (!keep_state) rf__ov_clear(l->ov);
    l->recs_buf.len = 0;
    l->recs_len.len = 0;
    l->arch.len = 0;
    l->batch_offsets = 0;
}

/* Drops the open batch and everything cached from it: after this the handle
 * is back at the stored state. A bulk load cannot go on: its table files may
 * hold part of the batch, or be ahead of the state. */
static void drop_batch(rf_ledger_t *l)
{
    if (l->bulk) l->bulk->failed = 1;
    clear_staged(l, 0);
    l->staged = l->committed;
    l->poisoned = 0;
    rf_rules_cache_free(l->rules_cache);
    l->rules_cache = NULL;
}

/* ---- the commit: the staged writes as one WriteBatch in key order ---- */

/* Archived events of the batch in chunks of consecutive offsets, each closed
 * once it holds RF_LEDGER_ARCHIVE_CHUNK_BYTES: 'a' + be64(first offset) ->
 * RF__ARCHIVE_FMT || (u32 LE length || i64 LE clock || bytes)... */
static rf_err_t put_archive(rf_ledger_t *l, rf_errbuf_t *eb)
{
    const uint8_t *p = l->arch.p, *end = p + l->arch.len;
    int64_t off = l->arch_first;
    while (p < end) {
        const uint8_t *start = p;
        uint8_t key[9], fmt = RF__ARCHIVE_FMT;
        rf__key_u64(key, RF__K_ARCHIVE, (uint64_t)off);
        do {
            uint32_t n =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            RF_ASSERT(n <= (size_t)(end - p) - 4 - RF__ARCHIVE_CLOCK);
            p += 4 + RF__ARCHIVE_CLOCK + n;
            off++;
        } while (p < end && (size_t)(p - start) < RF_LEDGER_ARCHIVE_CHUNK_BYTES);
        if (l->bulk) {
            rf_err_t err = rf__bulk_put_chunk(l, key, start, (size_t)(p - start), eb);
            if (err) return err;
            continue;
        }
        const char *k[1] = {(const char *)key}, *v[2] = {(const char *)&fmt, (const char *)start};
        size_t ks[1] = {sizeof key}, vs[2] = {1, (size_t)(p - start)};
        rocksdb_writebatch_putv_cf(l->wb, l->cf[RF__CF_ARCHIVE], 1, k, ks, 2, v, vs);
    }
    RF_ASSERT(off == l->staged.next_offset || l->arch.len == 0);
    return RF_OK;
}

/* The batch's records under 'r' + be64(seq), in seq order. */
static rf_err_t put_records(rf_ledger_t *l, rf_errbuf_t *eb)
{
    uint64_t seq = l->committed.head_seq;
    size_t n = l->recs_len.len / 4, pos = 0;
    RF_ASSERT(seq + n == l->staged.head_seq);
    for (size_t i = 0; i < n; i++) {
        uint32_t vl;
        uint8_t key[9];
        memcpy(&vl, l->recs_len.p + 4 * i, 4);
        rf__key_u64(key, RF__K_RECORD, ++seq);
        if (l->bulk) {
            rf_err_t err =
                rf__bulk_put(l, RF__CF_RECORDS, key, sizeof key, l->recs_buf.p + pos, vl, eb);
            if (err) return err;
        } else {
            rocksdb_writebatch_put_cf(l->wb, l->cf[RF__CF_RECORDS], (const char *)key, sizeof key,
                                      (const char *)l->recs_buf.p + pos, vl);
        }
        pos += vl;
    }
    RF_ASSERT(pos == l->recs_buf.len);
    return RF_OK;
}

int rf__state_value(rf_ledger_t *l, const uint8_t *k, const uint8_t **v, size_t *vl)
{
    if (k[0] != RF__K_RULES) return 0;
    l->enc.len = 0;
    if (rf__buf_reserve(&l->enc, rf__zr_bound(*vl))) return -1;
    *vl = rf__zr_encode(*v, *vl, l->enc.p);
    *v = l->enc.p;
    return 0;
}

/* One state key; the rules' values are stored with zero runs collapsed.
 * -1: out of memory. */
static int emit_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    rf_ledger_t *l = opaque;
    if (vl == SIZE_MAX) {
        rocksdb_writebatch_delete(l->wb, (const char *)k, kl);
        return 0;
    }
    if (rf__state_value(l, k, &v, &vl)) return -1;
    rocksdb_writebatch_put(l->wb, (const char *)k, kl, (const char *)v, vl);
    return 0;
}

/* Builds the WriteBatch from the staged writes, each key once and in key
 * order: RocksDB's memtable insert starts from its previous position, so
 * sorted inserts cost a fraction of interleaved ones (docs/ledger.md). In a
 * bulk load, records and archive go to their table files instead, and the
 * state stays in the overlay until it is spilled (above). */
static rf_err_t build_batch(rf_ledger_t *l, rf_errbuf_t *eb)
{
    rocksdb_writebatch_clear(l->wb);
    rf_err_t err = put_archive(l, eb);
    if (!err) err = put_records(l, eb);
    if (!err && l->bulk && rf__ov_bytes(l->ov) >= rf__bulk_state_bound())
        err = rf__bulk_spill(l, eb);
    else if (!err && !l->bulk && rf__ov_each_sorted(l->ov, emit_one, l) < 0)
        err = rf_errf(eb, RF_ERR_NOMEM, "cannot build the ledger batch: out of memory");
    return err; /* the caller drops the batch on error */
}

rf_err_t rf_ledger_commit(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (l->flags & RF_LEDGER_READONLY)
        return rf_errf(eb, RF_ERR_CONFIG, "ledger is open read-only");
    if (l->poisoned || (l->bulk && l->bulk->failed))
        return rf_errf(eb, RF_ERR_INTERNAL,
                       "the open batch holds a partial fold after a fatal "
                       "error; close and reopen the ledger");
    if (!rf__batch_open(l) && !memcmp(&l->staged, &l->committed, sizeof l->staged)) return RF_OK;
    rf_store_perf_off(); /* per thread: this one commits */
    uint8_t key = RF__K_META, meta[RF__META_LEN];
    rf__meta_encode(&l->staged, meta);
    rf_err_t err = rf__batch_put(l, &key, 1, meta, sizeof meta);
    if (err) rf_errf(eb, err, "cannot build the ledger batch: out of memory");
    if (!err) err = build_batch(l, eb);
    if (err) {
        drop_batch(l);
        return err;
    }
    char *errptr = NULL;
    if (rocksdb_writebatch_count(l->wb) > 0) rocksdb_write(l->db, l->wo, l->wb, &errptr);
    if (errptr) {
        drop_batch(l);
        return rf__rocks_err(eb, errptr, "cannot commit ledger batch");
    }
    RF_ASSERT(l->staged.head_seq >= l->committed.head_seq);
    l->committed = l->staged;
    rf__tail_commit(l); /* the outbox reads these records from memory */
    clear_staged(l, l->bulk != NULL);
    return RF_OK;
}
