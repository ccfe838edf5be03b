/* rf_ledger_int.h: internals shared by the ledger's source files (storage,
 * the fold engine, the fold context and append step, the read API, verify).
 * Not a public header, and never included by the rules (rules/). */
#ifndef RF_LEDGER_INT_H
#define RF_LEDGER_INT_H

#include <openssl/evp.h>
#include <rocksdb/c.h>

#include "rf_fold.h"
#include "rf_ledger.h"
#include "rf_store.h"

/* Key prefixes (docs/ledger.md, "Key layout"). */
#define RF__K_META       'm'
#define RF__K_RECORD     'r'
#define RF__K_ARCHIVE    'a'
#define RF__K_DEDUP      'd'
#define RF__K_BALANCE    'b'
#define RF__K_DEADLETTER 'q'
#define RF__K_PROGRAM    'p' /* retired: neither written nor read (rf_fold.h) */
#define RF__K_UNFINISHED 'u' /* present while a bulk load runs (RF_LEDGER_BULK) */

/* 'a' + be64(first offset): a chunk of archived events (docs/ledger.md); a
 * chunk value's first byte says how its events are framed. */
#define RF__ARCHIVE_FMT_V1 1 /* u32 LE length || bytes (no clock: read as RF_LEDGER_CLOCK_NONE) */
#define RF__ARCHIVE_FMT    2 /* u32 LE length || i64 LE clock_ms || bytes: what is written */
#define RF__ARCHIVE_CLOCK  8 /* bytes of an entry's clock */

/* 'b' program \0 owner \0 asset */
#define RF__BALANCE_KEY_MAX (1 + RF_ID_BUF + RF_ID_BUF + RF_ASSET_MAX + 1)
/* A balance value: RF_BUCKET__COUNT int64 little-endian. */
#define RF__BALANCE_VAL_LEN (8 * RF_BUCKET__COUNT)
/* A stored record: hash(32) || prev_hash(32) || canonical bytes. */
#define RF__RECORD_HDR 64
/* Version byte of the canonical encoding and of the meta value. */
#define RF__CANON_VERSION 1
/* 2: archive in chunks (version 1 had one 'a' key per offset); 3: chunks
 * of format 2 (a trusted clock per event) may follow those of format 1, so
 * a refold before it refuses the ledger instead of calling them malformed.
 * Version 2 meta rows read as they are (their chunks are all format 1). */
#define RF__META_VERSION 3

/* The open batch's overlay (rf_overlay.c): every key of the state column
 * family written since the last commit (each once, the last value), read
 * through by the fold and turned into the WriteBatch, sorted, at commit.
 * Records and archived events are staged apart (struct rf_ledger). */
typedef struct rf__overlay rf__overlay_t;
rf__overlay_t *rf__ov_new(void);
void rf__ov_free(rf__overlay_t *o);
void rf__ov_clear(rf__overlay_t *o);
uint32_t rf__ov_count(const rf__overlay_t *o);
/* Memory the entries hold: arena (keys and every value written, overwritten
 * ones included) plus entry and slot tables; what a bulk load bounds. */
size_t rf__ov_bytes(const rf__overlay_t *o);
/* Memory the overlay holds allocated, in use or not. */
size_t rf__ov_held(const rf__overlay_t *o);
/* Calls cb for every entry in key order (vlen SIZE_MAX: a deletion); cb
 * returns non-zero to stop, which is returned. -1: out of memory. */
typedef int(rf__ov_each_cb_t)(const uint8_t *k, size_t kl, const uint8_t *v, size_t vlen,
                              void *opaque);
int rf__ov_each_sorted(rf__overlay_t *o, rf__ov_each_cb_t *cb, void *opaque);
/* 0 ok, -1 out of memory */
int rf__ov_put(rf__overlay_t *o, const void *key, size_t kl, const void *val, size_t vlen);
int rf__ov_del(rf__overlay_t *o, const void *key, size_t kl);
/* 1 found (*val valid until the next write), 0 not in the overlay, -1 deleted */
int rf__ov_get(const rf__overlay_t *o, const void *key, size_t kl, const uint8_t **val,
               size_t *vlen);
/* Calls cb for the keys in [s, end) (end NULL: no bound) of the DB iterator
 * merged with the overlay, in key order; it NULL: the overlay alone (a bulk
 * load whose state is all in the overlay). */
rf_err_t rf__ov_scan(rf__overlay_t *o, rocksdb_iterator_t *it, const uint8_t *s, size_t sl,
                     const uint8_t *end, size_t el, rf_kv_cb_t *cb, void *opaque);

/* A growable byte buffer (the batch's records and archived events). */
typedef struct rf__buf {
    uint8_t *p;
    size_t len, cap;
} rf__buf_t;
/* Room for n more bytes: 0, or -1 when out of memory. */
int rf__buf_reserve(rf__buf_t *b, size_t n);
void rf__buf_free(rf__buf_t *b);

/* SHA-256 of a || b through a reused context (rf_ledger_codec.c): OpenSSL
 * 3's one-shot SHA256() fetches the algorithm on every call, which doubled
 * the cost of hashing a 300-byte record. NULL when out of memory. */
EVP_MD_CTX *rf__sha_new(void);
void rf__sha256(EVP_MD_CTX *c, const void *a, size_t an, const void *b, size_t bn, uint8_t out[32]);

/* The filter of folded event ids (rf_ledger_idf.c): no false negatives, so
 * "not in it" means the event is new without reading RocksDB. */
typedef struct rf__idf rf__idf_t;
/* An empty filter sized for cap ids (at least 64k); NULL when out of memory. */
rf__idf_t *rf__idf_new(uint64_t cap);
int rf__idf_segments(const rf__idf_t *f);
/* Builds l->idf from every stored dedup key; at a handle's first fold. */
rf_err_t rf__idf_build(rf_ledger_t *l, rf_errbuf_t *eb);
/* 0, or -1 when out of memory (the filter is then incomplete: fail the fold) */
int rf__idf_add(rf__idf_t *f, const uint8_t id[16]);
/* 0: certainly never added; 1: maybe (read the dedup key) */
int rf__idf_maybe(const rf__idf_t *f, const uint8_t id[16]);
uint64_t rf__idf_keys(const rf__idf_t *f);
void rf__idf_free(rf__idf_t *f);

/* The partition's meta row ('m'): everything the ledger keeps in memory
 * between commits. `committed` mirrors storage, `staged` includes the batch. */
typedef struct rf__meta {
    int32_t partition;
    int64_t next_offset;  /* -1: nothing folded */
    int64_t first_offset; /* -1: nothing folded; the first offset ever folded */
    uint64_t head_seq;
    uint8_t head_hash[32];
    int64_t event_time_ms;
    uint64_t counts[RF_OUTCOME__COUNT];
    uint64_t outbox_seq;
} rf__meta_t;
#define RF__META_LEN (1 + 4 + 8 + 8 + 8 + 32 + 8 + 8 * RF_OUTCOME__COUNT + 8)

struct rf_fold_ctx {
    rf_ledger_t *l;
    const rf_event_t *ev;
    int64_t offset;
    int own;            /* 0 while rf_rules_advance runs, 1 for the event's own records */
    uint32_t nbegun;    /* record slots handed out for this offset */
    uint32_t nappended; /* records appended for this offset */
    int rejected;       /* the event's own records include a "rejected" one */
    int duplicate;      /* ... or a "duplicate" one (a repeated request id) */
    char reject_reason[RF_FACT_VAL_MAX + 1];
};

/* Column families (docs/ledger.md, "Storage"): the state, and the two
 * append-only logs, whose ever-growing keys compact without rewrites. */
enum { RF__CF_STATE, RF__CF_RECORDS, RF__CF_ARCHIVE, RF__CF__COUNT };
_Static_assert((int)RF__CF_STATE == RF_STORE_CF_STATE &&
                   (int)RF__CF_RECORDS == RF_STORE_CF_RECORDS &&
                   (int)RF__CF_ARCHIVE == RF_STORE_CF_ARCHIVE &&
                   (int)RF__CF__COUNT == RF_STORE_LEDGER_CFS,
               "the ledger's column families are the store layer's");

struct rf_ledger {
    rf_store_t *store; /* owns db, cf and their options (common/rf_store.h) */
    rocksdb_t *db;     /* the store's, valid while it is open */
    rocksdb_column_family_handle_t *cf[RF__CF__COUNT];
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;       /* commits: synced unless RF_LEDGER_NOSYNC */
    rocksdb_writeoptions_t *wo_async; /* outbox acks outside a batch */
    rocksdb_writebatch_t *wb;         /* built from the staged writes at commit, in key order */
    rf__overlay_t *ov;                /* the batch's state keys (read-your-writes) */
    rf__buf_t recs_buf;               /* the batch's records: stored values back to back */
    rf__buf_t recs_len;               /* ... and their lengths (uint32_t each), in seq order */
    rf__buf_t arch; /* the batch's consumed messages: u32 LE length || i64 LE clock || bytes */
    /* Committed records the outbox has not acknowledged yet, kept as stored
     * (values back to back, lengths apart) from the handle's first outbox
     * ack or scan on: the outbox then reads what it publishes from memory,
     * not back from RocksDB (rf_ledger_read.c). */
    rf__buf_t tail_buf, tail_len;
    uint64_t tail_first; /* seq of the tail's first record; the last is committed.head_seq */
    int tail_on;
    int64_t arch_first;    /* offset of the first event in arch */
    struct rf__bulk *bulk; /* RF_LEDGER_BULK: records and archive table files */
    EVP_MD_CTX *sha;       /* reused for every hash of this ledger */
    rf__idf_t *idf;        /* folded event ids; built at the first fold */
    rf__buf_t enc;         /* a rules value being encoded at commit */
    int32_t partition;
    int flags;
    int poisoned; /* a fatal error mid-fold: the batch must not commit */
    /* A bulk load that has not spilled its state yet: the overlay holds all
     * of it and the state family nothing the fold reads (only the 'u' mark),
     * so reads skip RocksDB. */
    int ov_only;
    uint32_t batch_offsets; /* offsets folded into the open batch */
    rf__meta_t committed;
    rf__meta_t staged;
    rf_codec_t *codec; /* created on the first fold */
    rf_event_t *ev;    /* decoded event, reused for every offset */
    rf_record_t *recs; /* RF_RECORDS_PER_EVENT_MAX record slots */
    void *rules_cache; /* rf_fold_rules_cache */
    struct rf_fold_ctx ctx;
    uint8_t scratch[RF__RECORD_HDR + RF_RECORD_BYTES_MAX];
    char path[4096];
};

/* Test hooks of a bulk load (tests/test_replay_bulk.c), zero otherwise:
 * crash_after_ingest makes rf_ledger_bulk_finish exit the process with
 * RF__BULK_CRASH_EXIT after the ingest, before the unmark (a crash there);
 * file_bytes replaces RF_LEDGER_LOG_FILE_BYTES as the table file size;
 * state_bytes replaces rf__bulk_state_bound() (the state spilled by almost
 * every commit). */
typedef struct rf__bulk_hooks {
    int crash_after_ingest;
    uint64_t file_bytes;
    uint64_t state_bytes;
} rf__bulk_hooks_t;
extern rf__bulk_hooks_t rf__bulk_hooks;
/* The state a bulk load keeps in memory before it spills: its share of
 * RF_LEDGER_BULK_STATE_BUDGET_BYTES among the open bulk loads, within
 * [RF_LEDGER_BULK_STATE_MIN_BYTES, RF_LEDGER_BULK_STATE_BYTES] (or the hook). */
size_t rf__bulk_state_bound(void);
#define RF__BULK_CRASH_EXIT 86

/* A bulk load (rf_ledger_bulk.c): its table files being written. */
typedef struct rf__bulk {
    rocksdb_envoptions_t *env;
    rocksdb_options_t *state_opts;             /* the state family's, uncompressed (L0) */
    rocksdb_sstfilewriter_t *w[RF__CF__COUNT]; /* a family's open file, or NULL */
    uint32_t nfiles[RF__CF__COUNT];            /* files started, the open one included */
    uint32_t first[RF__CF__COUNT];             /* the first file not ingested yet */
    uint64_t bytes[RF__CF__COUNT];             /* keys + values in the open file */
    rf__buf_t val;                             /* an archive chunk with its format byte */
    int failed; /* a write failed: the files are partial, the load cannot finish */
    int sealed; /* rf_ledger_bulk_seal ran: no more folds, the finish remains */
} rf__bulk_t;

/* RF_LEDGER_BULK at the open: a fresh ledger, durably marked unfinished
 * before the first WAL-less commit (rf_ledger.h). */
rf_err_t rf__bulk_start(rf_ledger_t *l, rf_errbuf_t *eb);
/* Abandons the load's open files (the ledger stays marked). NULL: no-op. */
void rf__bulk_free(rf__bulk_t *b);
/* Appends k -> v (v NULL: a deletion) to cf's table file, in key order;
 * one archive chunk (its format byte, then the events p[0..n)). */
rf_err_t rf__bulk_put(rf_ledger_t *l, int cf, const uint8_t *k, size_t kl, const void *v, size_t vl,
                      rf_errbuf_t *eb);
rf_err_t rf__bulk_put_chunk(rf_ledger_t *l, const uint8_t key[9], const uint8_t *p, size_t n,
                            rf_errbuf_t *eb);
/* Writes the overlay to a state table file and ingests it: the DB answers
 * for what the overlay no longer holds. */
rf_err_t rf__bulk_spill(rf_ledger_t *l, rf_errbuf_t *eb);
/* A state value as stored (rf_ledger.c): the rules' values with zero runs
 * collapsed (into l->enc, *v then points there). -1: out of memory. */
int rf__state_value(rf_ledger_t *l, const uint8_t *k, const uint8_t **v, size_t *vl);

/* Meta. */
void rf__meta_encode(const rf__meta_t *m, uint8_t out[RF__META_LEN]);
rf_err_t rf__meta_decode(const uint8_t *buf, size_t len, rf__meta_t *m, rf_errbuf_t *eb);
void rf__meta_empty(rf__meta_t *m, int32_t partition);

/* Translates a RocksDB errptr (frees it) into RF_ERR_STORAGE with context. */
rf_err_t rf__rocks_err(rf_errbuf_t *eb, char *errptr, const char *what);

/* The column family of a key, by its first byte. */
static inline rocksdb_column_family_handle_t *rf__cf(const rf_ledger_t *l, uint8_t prefix)
{
    return l->cf[prefix == RF__K_RECORD    ? RF__CF_RECORDS
                 : prefix == RF__K_ARCHIVE ? RF__CF_ARCHIVE
                                           : RF__CF_STATE];
}

/* Keys. */
static inline size_t rf__key_u64(uint8_t *k, char prefix, uint64_t v)
{
    k[0] = (uint8_t)prefix;
    rf_be64_put(k + 1, v);
    return 9;
}
size_t rf__balance_key(uint8_t *k, const char *program, const char *owner, const char *asset);
/* Splits a balance key into its parts (NUL-terminated copies). */
rf_err_t rf__balance_key_parse(const uint8_t *k, size_t klen, char *program, char *owner,
                               char *asset);
void rf__balance_decode(const uint8_t *v, int64_t b[RF_BUCKET__COUNT]);
void rf__balance_encode(const int64_t b[RF_BUCKET__COUNT], uint8_t *v);

/* Values of the rules' 'x' keys are stored with zero runs collapsed
 * (rf_ledger_codec.c): encode needs rf__zr_bound(n) bytes of output; decode
 * returns RF_ERR_OVERSIZE (with *outlen the size) when cap is too small,
 * RF_ERR_CORRUPT when malformed. */
size_t rf__zr_bound(size_t n);
size_t rf__zr_encode(const uint8_t *in, size_t n, uint8_t *out);
rf_err_t rf__zr_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);
#define RF__K_RULES RF_FOLD_K_RULES
/* The rules' key space is apart from every engine prefix (rf_fold.h). */
_Static_assert(RF__K_RULES != RF__K_META && RF__K_RULES != RF__K_RECORD &&
                   RF__K_RULES != RF__K_ARCHIVE && RF__K_RULES != RF__K_DEDUP &&
                   RF__K_RULES != RF__K_BALANCE && RF__K_RULES != RF__K_DEADLETTER &&
                   RF__K_RULES != RF__K_PROGRAM && RF__K_RULES != RF__K_UNFINISHED,
               "the rules' keys must not share a prefix with the engine's");

/* Canonical encoding: decode the bytes rf_record_canonical produced. */
rf_err_t rf__record_decode_canonical(const uint8_t *buf, size_t len, rf_record_t *rec,
                                     rf_errbuf_t *eb);
/* Decodes and checks a stored record value (hash, balance). */
rf_err_t rf__record_load(rf_ledger_t *l, const uint8_t *val, size_t vlen, rf_record_t *rec,
                         rf_errbuf_t *eb);
/* Whether a posting to (owner, bucket) must never make the balance negative:
 * user accounts (owner not starting with '#'), buckets but receivable. */
static inline int rf__bucket_nonneg(const char *owner, int bucket)
{
    return owner[0] != '#' && (bucket == RF_BUCKET_PENDING || bucket == RF_BUCKET_AVAILABLE ||
                               bucket == RF_BUCKET_REDEEMED);
}

/* Fold context (rf_fold_ctx.c). */
void rf__ctx_reset(rf_ledger_t *l, const rf_event_t *ev, int64_t offset);
/* Whether a bulk load was sealed (rf_ledger_bulk_seal): no more folds
 * (rf_ledger_bulk.c). */
int rf__bulk_sealed(const rf_ledger_t *l);
/* Writes to the open batch: every key but records and archive goes to the
 * overlay, which the commit turns into a WriteBatch in key order (each key
 * once). rf_fold_put is the rules' door to their 'x' keys; the engine writes
 * its own with this. */
rf_err_t rf__batch_put(rf_ledger_t *l, const uint8_t *key, size_t klen, const void *val,
                       size_t vlen);
rf_err_t rf__batch_del(rf_ledger_t *l, const uint8_t *key, size_t klen);
/* Reads through the batch: RF_OK, RF_ERR_NOT_FOUND, RF_ERR_OVERSIZE (*vlen
 * then holds the size), RF_ERR_STORAGE. */
rf_err_t rf__batch_get(rf_ledger_t *l, const void *key, size_t klen, void *val, size_t cap,
                       size_t *vlen);
/* Stages a record's stored value (seq = staged head); archives an event. */
rf_err_t rf__batch_record(rf_ledger_t *l, const uint8_t *val, size_t vlen);
rf_err_t rf__batch_archive(rf_ledger_t *l, int64_t offset, int64_t clock_ms, const uint8_t *bytes,
                           size_t len);
/* Whether the open batch holds anything. */
int rf__batch_open(const rf_ledger_t *l);

/* The committed-records tail (rf_ledger_read.c): rf__tail_commit appends
 * a successful commit's records; rf__tail_free at close. */
void rf__tail_commit(rf_ledger_t *l);
void rf__tail_free(rf_ledger_t *l);

/* Archive chunks: calls cb for each event of the chunk value v stored under
 * 'a' + be64(first); RF_ERR_CORRUPT if malformed; cb returns non-zero to stop
 * (*stopped set). *count gets the events walked. */
rf_err_t rf__archive_chunk_each(int64_t first, const uint8_t *v, size_t vl, rf_archive_cb_t *cb,
                                void *opaque, uint64_t *count, int *stopped);

/* Committed reads (no batch). val is malloc'ed by RocksDB: rocksdb_free it. */
rf_err_t rf__db_get(rf_ledger_t *l, const uint8_t *key, size_t klen, char **val, size_t *vlen,
                    rf_errbuf_t *eb);

/* Verify's map bound (RF_VERIFY_ACCOUNTS_MAX; tests lower it to exercise
 * the multi-pass path). */
extern size_t rf__verify_slots_max;

/* Iterates committed keys in [start, end) in key order; cb returns non-zero
 * to stop. */
typedef int(rf__kv_cb_t)(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque);
rf_err_t rf__db_range(rf_ledger_t *l, const uint8_t *start, size_t slen, const uint8_t *end,
                      size_t elen, rf__kv_cb_t *cb, void *opaque, rf_errbuf_t *eb);

#endif
