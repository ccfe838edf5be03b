/* rf_ledger_bulk.c: a ledger's bulk load (RF_LEDGER_BULK, a replay):
 * records and archive straight into table files, the state from memory. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_ledger_int.h"

/* Records and archive are appended in key order and never read back during a
 * fold (see staged_apart), so a bulk load writes them with SstFileWriter into
 * files of their own and ingests them at rf_ledger_bulk_finish: no memtable
 * insert and no flush for the two largest column families. The state needs
 * no durability before the finish either (a crash means starting over), so
 * commits leave it in the overlay, which serves the fold's reads from memory;
 * once the overlay holds its share of the state budget (rf__bulk_state_bound),
 * it is written sorted into a table file and ingested at once, and the DB
 * answers for what the overlay no longer holds; at the end the seal writes
 * the rest (docs/ledger.md, "Bulk load"). */

rf__bulk_hooks_t rf__bulk_hooks;

/* Open bulk loads of the process: they share the state budget. */
static atomic_size_t bulk_open;

size_t rf__bulk_state_bound(void)
{
    if (rf__bulk_hooks.state_bytes) return (size_t)rf__bulk_hooks.state_bytes;
    size_t n = atomic_load(&bulk_open);
    size_t share = RF_LEDGER_BULK_STATE_BUDGET_BYTES / (n ? n : 1);
    return share < RF_LEDGER_BULK_STATE_MIN_BYTES ? RF_LEDGER_BULK_STATE_MIN_BYTES
           : share > RF_LEDGER_BULK_STATE_BYTES   ? RF_LEDGER_BULK_STATE_BYTES
                                                  : share;
}

/* <db>/bulk-<family>-NNNNNN.sst: a name RocksDB's own file cleanup ignores;
 * the ingest moves (hard-links) it to a table number of the DB. */
static void bulk_file(const rf_ledger_t *l, int cf, uint32_t n, char *out, size_t cap)
{
    snprintf(out, cap, "%s/bulk-%s-%06u.sst", l->path, rf_store_ledger_cf_name(cf), (unsigned)n);
}

void rf__bulk_free(rf__bulk_t *b)
{
    if (!b) return;
    RF_ASSERT(atomic_load(&bulk_open) > 0);
    atomic_fetch_sub(&bulk_open, 1);
    /* an open writer is abandoned: its partial file stays in a ledger that
     * is still marked unfinished, which every open refuses */
    for (int i = 0; i < RF__CF__COUNT; i++)
        if (b->w[i]) rocksdb_sstfilewriter_destroy(b->w[i]);
    if (b->env) rocksdb_envoptions_destroy(b->env);
    if (b->state_opts) rocksdb_options_destroy(b->state_opts);
    rf__buf_free(&b->val);
    free(b);
}

/* Finishes (and syncs: SstFileWriter::Finish does) the open file of cf. */
static rf_err_t bulk_close_file(rf_ledger_t *l, int cf, rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    if (!b->w[cf]) return RF_OK;
    char *errptr = NULL;
    rocksdb_sstfilewriter_finish(b->w[cf], &errptr);
    rocksdb_sstfilewriter_destroy(b->w[cf]);
    b->w[cf] = NULL;
    b->bytes[cf] = 0;
    if (errptr) {
        b->failed = 1;
        return rf__rocks_err(eb, errptr, "cannot write a bulk load table file");
    }
    return RF_OK;
}

/* Appends k -> v (v NULL: a deletion) to cf's open table file, started
 * when there is none; keys come in order within a file. */
rf_err_t rf__bulk_put(rf_ledger_t *l, int cf, const uint8_t *k, size_t kl, const void *v, size_t vl,
                      rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    RF_ASSERT(!b->failed && (v != NULL || vl == 0));
    char *errptr = NULL;
    if (!b->w[cf]) {
        if (b->nfiles[cf] >= RF_LEDGER_BULK_FILES_MAX) {
            b->failed = 1;
            return rf_errf(eb, RF_ERR_CONFIG, "bulk load of '%s': more than %d %s files", l->path,
                           RF_LEDGER_BULK_FILES_MAX, rf_store_ledger_cf_name(cf));
        }
        char path[4200];
        bulk_file(l, cf, b->nfiles[cf]++, path, sizeof path);
        /* the family's own options: its table format, and the compression of
         * its bottom level (LZ4), where the ingest puts the log files; the
         * state's files overlap the mark (and each other): they land in L0,
         * written uncompressed as a flush would (rf_store_cf_options_uncompressed) */
        b->w[cf] = rocksdb_sstfilewriter_create(
            b->env, cf == RF__CF_STATE ? b->state_opts : rf_store_cf_options(l->store, cf));
        rocksdb_sstfilewriter_open(b->w[cf], path, &errptr);
    }
    if (!errptr && v)
        rocksdb_sstfilewriter_put(b->w[cf], (const char *)k, kl, (const char *)v, vl, &errptr);
    else if (!errptr)
        rocksdb_sstfilewriter_delete(b->w[cf], (const char *)k, kl, &errptr);
    if (errptr) {
        b->failed = 1;
        return rf__rocks_err(eb, errptr, "cannot write a bulk load table file");
    }
    b->bytes[cf] += kl + vl;
    /* files of about the size compaction makes (fewer, larger files) */
    uint64_t max = rf__bulk_hooks.file_bytes ? rf__bulk_hooks.file_bytes : RF_LEDGER_LOG_FILE_BYTES;
    return b->bytes[cf] >= max ? bulk_close_file(l, cf, eb) : RF_OK;
}

/* One archive chunk: its format byte then the events, in one value. */
rf_err_t rf__bulk_put_chunk(rf_ledger_t *l, const uint8_t key[9], const uint8_t *p, size_t n,
                            rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    b->val.len = 0;
    if (rf__buf_reserve(&b->val, 1 + n)) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    b->val.p[0] = RF__ARCHIVE_FMT;
    memcpy(b->val.p + 1, p, n);
    return rf__bulk_put(l, RF__CF_ARCHIVE, key, 9, b->val.p, 1 + n, eb);
}

/* Ingests the table files of cf written since its last ingest, moved into
 * the DB (linked, not copied); file numbers are never reused, so a name
 * still linked into the DB is never opened for writing again. */
static rf_err_t bulk_ingest(rf_ledger_t *l, int cf, rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    rf_err_t err = bulk_close_file(l, cf, eb);
    uint32_t n = b->nfiles[cf] - b->first[cf];
    if (err || n == 0) return err;
    char **names = calloc(n, sizeof *names);
    for (uint32_t i = 0; names && i < n && !err; i++)
        if (!(names[i] = malloc(4200)))
            err = RF_ERR_NOMEM;
        else
            bulk_file(l, cf, b->first[cf] + i, names[i], 4200);
    char *errptr = NULL;
    if (names && !err) {
        rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
        rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
        rocksdb_ingest_external_file_cf(l->db, l->cf[cf], (const char *const *)names, n, io,
                                        &errptr);
        rocksdb_ingestexternalfileoptions_destroy(io);
    }
    for (uint32_t i = 0; names && i < n; i++)
        free(names[i]);
    if (!names || err) {
        free(names);
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    }
    free(names);
    if (errptr) {
        b->failed = 1;
        return rf__rocks_err(eb, errptr, "cannot ingest the bulk load table files");
    }
    b->first[cf] = b->nfiles[cf];
    return RF_OK;
}

typedef struct spill {
    rf_ledger_t *l;
    rf_errbuf_t *eb;
    rf_err_t err;
} spill_t;

static int spill_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    spill_t *s = opaque;
    if (vl == SIZE_MAX && s->l->ov_only) return 0; /* nothing stored to delete */
    if (vl != SIZE_MAX && rf__state_value(s->l, k, &v, &vl)) return -1;
    s->err = rf__bulk_put(s->l, RF__CF_STATE, k, kl, vl == SIZE_MAX ? NULL : v,
                          vl == SIZE_MAX ? 0 : vl, s->eb);
    return s->err ? 1 : 0;
}

/* Writes the overlay, sorted, into a state table file (finished, synced)
 * and empties the overlay; ingest, or the reads of the fold would miss it. */
static rf_err_t bulk_write_state(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l->bulk != NULL && !l->bulk->failed);
    if (rf__ov_count(l->ov) == 0) return RF_OK;
    spill_t s = {l, eb, RF_OK};
    if (rf__ov_each_sorted(l->ov, spill_one, &s) < 0) {
        l->bulk->failed = 1;
        return rf_errf(eb, RF_ERR_NOMEM, "cannot write the bulk load's state: out of memory");
    }
    rf_err_t err = s.err ? s.err : bulk_close_file(l, RF__CF_STATE, eb);
    if (err) return err;
    rf__ov_clear(l->ov);
    l->ov_only = 0;
    RF_ASSERT(rf__ov_count(l->ov) == 0);
    return RF_OK;
}

/* A spill mid-load: the state's table file, ingested at once so the DB
 * answers what the overlay no longer holds. */
rf_err_t rf__bulk_spill(rf_ledger_t *l, rf_errbuf_t *eb)
{
    rf_err_t err = bulk_write_state(l, eb);
    return err ? err : bulk_ingest(l, RF__CF_STATE, eb);
}

/* RF_LEDGER_BULK: a fresh ledger, durably marked unfinished before the
 * first WAL-less commit (rf_ledger.h). */
rf_err_t rf__bulk_start(rf_ledger_t *l, rf_errbuf_t *eb)
{
    if ((l->flags & RF_LEDGER_READONLY) || !(l->flags & RF_LEDGER_CREATE))
        return rf_errf(eb, RF_ERR_CONFIG, "a bulk load needs a writable, created ledger");
    if (l->committed.next_offset >= 0 || l->committed.head_seq > 0)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "ledger '%s' already holds data: a bulk load (replay) needs a fresh "
                       "directory",
                       l->path);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    char *errptr = NULL;
    const char key = RF__K_UNFINISHED;
    rocksdb_put_cf(l->db, wo, l->cf[RF__CF_STATE], &key, 1, "", 0, &errptr);
    rocksdb_writeoptions_destroy(wo);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot mark the bulk load");
    if ((l->bulk = calloc(1, sizeof *l->bulk))) atomic_fetch_add(&bulk_open, 1);
    if (!l->bulk || !(l->bulk->env = rocksdb_envoptions_create()) ||
        !(l->bulk->state_opts = rf_store_cf_options_uncompressed(l->store, RF__CF_STATE)))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rocksdb_writeoptions_set_sync(l->wo, 0);
    rocksdb_writeoptions_disable_WAL(l->wo, 1);
    l->ov_only = 1; /* the open found no data: only the mark is stored */
    return RF_OK;
}

rf_err_t rf_ledger_bulk_seal(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (!(l->flags & RF_LEDGER_BULK) || l->bulk->sealed) return RF_OK;
    rf_err_t err = rf_ledger_commit(l, eb);
    if (!err) err = bulk_write_state(l, eb);
    if (err) return err;
    l->bulk->sealed = 1;
    RF_ASSERT(!rf__batch_open(l) && rf__ov_count(l->ov) == 0);
    return RF_OK;
}

rf_err_t rf_ledger_bulk_finish(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (!(l->flags & RF_LEDGER_BULK)) return RF_OK;
    RF_ASSERT(l->bulk != NULL);
    rf_err_t err = rf_ledger_bulk_seal(l, eb);
    if (!err) err = bulk_ingest(l, RF__CF_STATE, eb);
    if (err) return err;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *errptr = NULL;
    for (int i = 0; i < RF__CF__COUNT && !errptr; i++)
        rocksdb_flush_cf(l->db, fo, l->cf[i], &errptr);
    rocksdb_flushoptions_destroy(fo);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot flush the bulk load");
    /* the table files are synced as they are finished; the ingest puts them
     * in the manifest (synced) */
    if ((err = bulk_ingest(l, RF__CF_RECORDS, eb)) || (err = bulk_ingest(l, RF__CF_ARCHIVE, eb)))
        return err;
    /* every table file is synced and in the manifest: only now unmark */
    if (rf__bulk_hooks.crash_after_ingest) _exit(RF__BULK_CRASH_EXIT);
    rocksdb_writeoptions_set_sync(l->wo, (l->flags & RF_LEDGER_NOSYNC) ? 0 : 1);
    rocksdb_writeoptions_disable_WAL(l->wo, 0);
    const char key = RF__K_UNFINISHED;
    rocksdb_delete_cf(l->db, l->wo, l->cf[RF__CF_STATE], &key, 1, &errptr);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot finish the bulk load");
    l->flags &= ~RF_LEDGER_BULK;
    l->ov_only = 0;
    rf__bulk_free(l->bulk);
    l->bulk = NULL;
    return RF_OK;
}

int rf__bulk_sealed(const rf_ledger_t *l)
{
    return l->bulk && l->bulk->sealed;
}
