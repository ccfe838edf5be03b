/* rf_ledger_codec.c: the ledger's binary encodings: the canonical record
 * bytes the hash chain covers, the meta row, balance values and keys
 * (docs/ledger.md). Pure functions, no storage. */
#include <pthread.h>
#include <string.h>

#include <openssl/sha.h>

#include "rf_ledger_int.h"

/* ---- SHA-256 ---- */

/* Fetched once per process and never freed: a static reference stays
 * reachable, and an algorithm handle is safe to share between threads. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

EVP_MD_CTX *rf__sha_new(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? EVP_MD_CTX_new() : NULL;
}

void rf__sha256(EVP_MD_CTX *c, const void *a, size_t an, const void *b, size_t bn, uint8_t out[32])
{
    RF_ASSERT(c != NULL && sha256_md != NULL);
    /* with the same fetched algorithm, init reuses the context's state */
    int ok = EVP_DigestInit_ex2(c, sha256_md, NULL) && EVP_DigestUpdate(c, a, an) &&
             (bn == 0 || EVP_DigestUpdate(c, b, bn)) && EVP_DigestFinal_ex(c, out, NULL);
    RF_ASSERT(ok); /* SHA-256 of memory cannot fail once the context exists */
}

/* ---- canonical encoding: little-endian fixed width, strings u16 + bytes ---- */

typedef struct canon_w {
    uint8_t *p;
    size_t cap, len;
    int overflow;
} canon_w_t;

static void w_bytes(canon_w_t *w, const void *b, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void w_le(canon_w_t *w, uint64_t v, int width)
{
    uint8_t b[8];
    for (int i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, (size_t)width);
}

/* A string field of a fixed-size buffer: bounded by its capacity so a
 * missing NUL cannot run past the struct. */
static void w_str(canon_w_t *w, const char *s, size_t bufcap)
{
    size_t n = strnlen(s, bufcap);
    RF_ASSERT(n < bufcap);
    w_le(w, n, 2);
    w_bytes(w, s, n);
}

size_t rf_record_canonical(const rf_record_t *rec, uint8_t *buf, size_t cap)
{
    RF_ASSERT(rec->npostings <= RF_POSTINGS_MAX);
    RF_ASSERT(rec->nfacts <= RF_FACTS_MAX);
    canon_w_t w = {buf, cap, 0, 0};
    w_le(&w, RF__CANON_VERSION, 1);
    w_le(&w, rec->seq, 8);
    w_le(&w, (uint32_t)rec->partition, 4);
    w_le(&w, (uint64_t)rec->offset, 8);
    w_str(&w, rec->event_id, sizeof rec->event_id);
    w_str(&w, rec->program_id, sizeof rec->program_id);
    w_le(&w, (uint64_t)rec->occurred_at_ms, 8);
    w_str(&w, rec->kind, sizeof rec->kind);
    w_le(&w, rec->npostings, 2);
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        RF_ASSERT(p->bucket < RF_BUCKET__COUNT);
        w_str(&w, p->owner, sizeof p->owner);
        w_le(&w, p->bucket, 1);
        w_str(&w, p->asset, sizeof p->asset);
        w_le(&w, (uint64_t)p->amount_minor, 8);
    }
    w_le(&w, rec->nfacts, 2);
    for (uint32_t i = 0; i < rec->nfacts; i++) {
        w_str(&w, rec->facts[i].key, sizeof rec->facts[i].key);
        w_str(&w, rec->facts[i].value, sizeof rec->facts[i].value);
    }
    return w.overflow ? 0 : w.len;
}

void rf_record_compute_hash(const rf_record_t *rec, uint8_t out[32])
{
    static _Thread_local uint8_t buf[32 + RF_RECORD_BYTES_MAX];
    memcpy(buf, rec->prev_hash, 32);
    size_t n = rf_record_canonical(rec, buf + 32, sizeof buf - 32);
    RF_ASSERT(n > 0); /* the limits bound every record below RF_RECORD_BYTES_MAX */
    SHA256(buf, 32 + n, out);
}

typedef struct canon_r {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} canon_r_t;

static uint64_t r_le(canon_r_t *r, int width)
{
    if (r->bad || (size_t)width > r->len - r->pos) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)width;
    return v;
}

static void r_str(canon_r_t *r, char *out, size_t cap)
{
    size_t n = (size_t)r_le(r, 2);
    if (r->bad || n >= cap || n > r->len - r->pos || memchr(r->p + r->pos, 0, n)) {
        r->bad = 1;
        out[0] = 0;
        return;
    }
    memcpy(out, r->p + r->pos, n);
    out[n] = 0;
    r->pos += n;
}

rf_err_t rf__record_decode_canonical(const uint8_t *buf, size_t len, rf_record_t *rec,
                                     rf_errbuf_t *eb)
{
    canon_r_t r = {buf, len, 0, 0};
    if (r_le(&r, 1) != RF__CANON_VERSION)
        return rf_errf(eb, RF_ERR_CORRUPT, "unknown canonical version");
    rec->seq = r_le(&r, 8);
    rec->partition = (int32_t)(uint32_t)r_le(&r, 4);
    rec->offset = (int64_t)r_le(&r, 8);
    r_str(&r, rec->event_id, sizeof rec->event_id);
    r_str(&r, rec->program_id, sizeof rec->program_id);
    rec->occurred_at_ms = (int64_t)r_le(&r, 8);
    r_str(&r, rec->kind, sizeof rec->kind);
    rec->npostings = (uint32_t)r_le(&r, 2);
    if (rec->npostings > RF_POSTINGS_MAX) return rf_errf(eb, RF_ERR_CORRUPT, "too many postings");
    for (uint32_t i = 0; i < rec->npostings; i++) {
        rf_posting_t *p = &rec->postings[i];
        r_str(&r, p->owner, sizeof p->owner);
        p->bucket = (uint8_t)r_le(&r, 1);
        r_str(&r, p->asset, sizeof p->asset);
        p->amount_minor = (int64_t)r_le(&r, 8);
        if (p->bucket >= RF_BUCKET__COUNT) r.bad = 1;
    }
    rec->nfacts = (uint32_t)r_le(&r, 2);
    if (rec->nfacts > RF_FACTS_MAX) return rf_errf(eb, RF_ERR_CORRUPT, "too many facts");
    for (uint32_t i = 0; i < rec->nfacts; i++) {
        r_str(&r, rec->facts[i].key, sizeof rec->facts[i].key);
        r_str(&r, rec->facts[i].value, sizeof rec->facts[i].value);
    }
    if (r.bad || r.pos != r.len)
        return rf_errf(eb, RF_ERR_CORRUPT, "malformed canonical record bytes");
    return RF_OK;
}

/* Postings sum to zero per asset; amounts within limits (so sums of a
 * record's postings cannot overflow). Checked here on every read. */
static int postings_ok(const rf_record_t *rec)
{
    for (uint32_t i = 0; i < rec->npostings; i++) {
        int64_t a = rec->postings[i].amount_minor;
        if (a > RF_AMOUNT_MAX || a < -RF_AMOUNT_MAX) return 0;
    }
    return rf_record_balanced(rec);
}

rf_err_t rf__record_load(rf_ledger_t *l, const uint8_t *val, size_t vlen, rf_record_t *rec,
                         rf_errbuf_t *eb)
{
    if (vlen <= RF__RECORD_HDR) return rf_errf(eb, RF_ERR_CORRUPT, "record value too short");
    rf_err_t err =
        rf__record_decode_canonical(val + RF__RECORD_HDR, vlen - RF__RECORD_HDR, rec, eb);
    if (err) return err;
    memcpy(rec->hash, val, 32);
    memcpy(rec->prev_hash, val + 32, 32);
    uint8_t h[32];
    rf__sha256(l->sha, val + 32, vlen - 32, NULL, 0, h);
    if (memcmp(h, val, 32) != 0)
        return rf_errf(eb, RF_ERR_CORRUPT, "hash mismatch (record bytes changed)");
    if (!postings_ok(rec)) return rf_errf(eb, RF_ERR_CORRUPT, "postings do not balance");
    return RF_OK;
}

/* ---- meta row ---- */

static void put_le(uint8_t **p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        (*p)[i] = (uint8_t)(v >> (8 * i));
    *p += width;
}

static uint64_t get_le(const uint8_t **p, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += width;
    return v;
}

void rf__meta_empty(rf__meta_t *m, int32_t partition)
{
    memset(m, 0, sizeof *m);
    m->partition = partition;
    m->next_offset = -1;
    m->first_offset = -1;
}

void rf__meta_encode(const rf__meta_t *m, uint8_t out[RF__META_LEN])
{
    uint8_t *p = out;
    put_le(&p, RF__META_VERSION, 1);
    put_le(&p, (uint32_t)m->partition, 4);
    put_le(&p, (uint64_t)m->next_offset, 8);
    put_le(&p, (uint64_t)m->first_offset, 8);
    put_le(&p, m->head_seq, 8);
    memcpy(p, m->head_hash, 32);
    p += 32;
    put_le(&p, (uint64_t)m->event_time_ms, 8);
    for (int i = 0; i < RF_OUTCOME__COUNT; i++)
        put_le(&p, m->counts[i], 8);
    put_le(&p, m->outbox_seq, 8);
    RF_ASSERT(p - out == RF__META_LEN);
}

rf_err_t rf__meta_decode(const uint8_t *buf, size_t len, rf__meta_t *m, rf_errbuf_t *eb)
{
    if (len == RF__META_LEN && buf[0] == 1)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "ledger format 1 (before column families and archive chunks): rebuild "
                       "the partition by replay");
    if (len != RF__META_LEN || (buf[0] != RF__META_VERSION && buf[0] != 2))
        return rf_errf(eb, RF_ERR_CORRUPT, "meta row has length %zu or unknown version", len);
    const uint8_t *p = buf + 1;
    m->partition = (int32_t)(uint32_t)get_le(&p, 4);
    m->next_offset = (int64_t)get_le(&p, 8);
    m->first_offset = (int64_t)get_le(&p, 8);
    m->head_seq = get_le(&p, 8);
    memcpy(m->head_hash, p, 32);
    p += 32;
    m->event_time_ms = (int64_t)get_le(&p, 8);
    for (int i = 0; i < RF_OUTCOME__COUNT; i++)
        m->counts[i] = get_le(&p, 8);
    m->outbox_seq = get_le(&p, 8);
    RF_ASSERT(p - buf == RF__META_LEN);
    return RF_OK;
}

/* ---- balances and keys ---- */

size_t rf__balance_key(uint8_t *k, const char *program, const char *owner, const char *asset)
{
    size_t np = strnlen(program, RF_ID_BUF), no = strnlen(owner, RF_ID_BUF),
           na = strnlen(asset, RF_ASSET_MAX + 1);
    RF_ASSERT(np < RF_ID_BUF && no < RF_ID_BUF && na <= RF_ASSET_MAX);
    size_t n = 0;
    k[n++] = RF__K_BALANCE;
    memcpy(k + n, program, np), n += np, k[n++] = 0;
    memcpy(k + n, owner, no), n += no, k[n++] = 0;
    memcpy(k + n, asset, na), n += na;
    RF_ASSERT(n <= RF__BALANCE_KEY_MAX);
    return n;
}

static rf_err_t key_part(const uint8_t **p, const uint8_t *end, int last, char *out, size_t cap)
{
    const uint8_t *q = memchr(*p, 0, (size_t)(end - *p));
    if (last) {
        if (q) return RF_ERR_CORRUPT; /* the asset is the rest of the key */
        q = end;
    }
    if (!q || (size_t)(q - *p) >= cap) return RF_ERR_CORRUPT;
    memcpy(out, *p, (size_t)(q - *p));
    out[q - *p] = 0;
    *p = last ? end : q + 1;
    return RF_OK;
}

rf_err_t rf__balance_key_parse(const uint8_t *k, size_t klen, char *program, char *owner,
                               char *asset)
{
    if (klen < 3 || k[0] != RF__K_BALANCE) return RF_ERR_CORRUPT;
    const uint8_t *p = k + 1, *end = k + klen;
    if (key_part(&p, end, 0, program, RF_ID_BUF) || key_part(&p, end, 0, owner, RF_ID_BUF) ||
        key_part(&p, end, 1, asset, RF_ASSET_MAX + 1))
        return RF_ERR_CORRUPT;
    return RF_OK;
}

void rf__balance_decode(const uint8_t *v, int64_t b[RF_BUCKET__COUNT])
{
    const uint8_t *p = v;
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        b[i] = (int64_t)get_le(&p, 8);
}

void rf__balance_encode(const int64_t b[RF_BUCKET__COUNT], uint8_t *v)
{
    uint8_t *p = v;
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        put_le(&p, (uint64_t)b[i], 8);
}

/* ---- rules state values: zero runs collapsed (docs/ledger.md) ----
 * The rules store fixed-size structs, mostly zero (empty strings, unused
 * slots): a token byte t < 0x80 is followed by t + 1 literal bytes; t >=
 * 0x80 stands for t - 0x7f zero bytes. Runs of fewer than ZR_MIN zeros stay
 * literal. */

#define ZR_MIN 4
#define ZR_RUN 128

size_t rf__zr_bound(size_t n)
{
    return n + n / ZR_RUN + 1;
}

/* Length of the zero run at p (at most max), a word at a time. */
static size_t zero_run(const uint8_t *p, size_t max)
{
    size_t z = 0;
    while (z + 8 <= max) {
        uint64_t w;
        memcpy(&w, p + z, 8);
        if (w) return z + ((size_t)__builtin_ctzll(w) >> 3); /* little-endian */
        z += 8;
    }
    while (z < max && !p[z])
        z++;
    return z;
}

/* Emits in[from, to) as literal tokens. */
static size_t zr_literals(const uint8_t *in, size_t from, size_t to, uint8_t *out)
{
    size_t o = 0;
    for (; from < to; from += ZR_RUN) {
        size_t k = to - from < ZR_RUN ? to - from : ZR_RUN;
        out[o++] = (uint8_t)(k - 1);
        memcpy(out + o, in + from, k);
        o += k;
    }
    return o;
}

size_t rf__zr_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0, lit = 0; /* lit: start of the pending literal bytes */
    while (i < n) {
        if (in[i]) {
            i++;
            continue;
        }
        size_t z = zero_run(in + i, n - i);
        if (z < ZR_MIN) {
            i += z;
            continue;
        }
        o += zr_literals(in, lit, i, out + o);
        for (size_t left = z; left;) {
            size_t k = left < ZR_RUN ? left : ZR_RUN;
            out[o++] = (uint8_t)(0x7f + k);
            left -= k;
        }
        i += z;
        lit = i;
    }
    o += zr_literals(in, lit, n, out + o);
    RF_ASSERT(o <= rf__zr_bound(n));
    return o;
}

rf_err_t rf__zr_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t i = 0, o = 0;
    while (i < n) { /* bounded: each token consumes a byte */
        uint8_t t = in[i++];
        size_t k = t < 0x80 ? (size_t)t + 1 : (size_t)t - 0x7f;
        if (t < 0x80 && k > n - i) return RF_ERR_CORRUPT;
        if (o + k <= cap) {
            if (t < 0x80)
                memcpy(out + o, in + i, k);
            else
                memset(out + o, 0, k);
        }
        if (t < 0x80) i += k;
        o += k;
    }
    *outlen = o;
    return o > cap ? RF_ERR_OVERSIZE : RF_OK;
}
