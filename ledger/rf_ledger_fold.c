/* rf_ledger_fold.c: the fold engine behind rf_ledger_fold (rf_ledger.h):
 * offset check, archive, decode, dedup, dead letters, outcomes; what an event
 * means is the rules' (rules/rf_rules.h), reached through rf_fold.h. Named
 * for the call it implements, as rf_ledger_read.c and rf_ledger_verify.c are;
 * rf_ledger.c keeps the storage (open, commit, close). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_ledger_int.h"
#include "rf_hex.h"
#include "rf_rules.h"
#include "rf_time.h"

const char *rf_outcome_name(rf_outcome_t o)
{
    switch (o) {
    case RF_OUTCOME_APPLIED:
        return "applied";
    case RF_OUTCOME_REJECTED:
        return "rejected";
    case RF_OUTCOME_DUPLICATE:
        return "duplicate";
    case RF_OUTCOME_DEAD_LETTER:
        return "dead_letter";
    case RF_OUTCOME__COUNT:
        break;
    }
    return "unknown";
}

static rf_err_t dead_letter(rf_ledger_t *l, int64_t offset, rf_err_t err, const char *reason,
                            rf_fold_result_t *res)
{
    RF_ASSERT(rf_err_class(err) == RF_ERRCLASS_BAD_INPUT);
    uint8_t key[9], val[4 + RF_ERRMSG_MAX];
    size_t n = strnlen(reason, RF_ERRMSG_MAX - 1);
    rf__key_u64(key, RF__K_DEADLETTER, (uint64_t)offset);
    rf_be32_put(val, (uint32_t)(-(int32_t)err));
    memcpy(val + 4, reason, n);
    rf__batch_put(l, key, sizeof key, val, 4 + n);
    res->outcome = RF_OUTCOME_DEAD_LETTER;
    res->err = err;
    memcpy(res->reason, reason, n);
    res->reason[n] = 0;
    return RF_OK;
}

/* The latest event time a message with trusted clock clock_ms may set
 * (rf_ledger.h): INT64_MAX without a clock. */
static int64_t time_bound(int64_t clock_ms)
{
    if (clock_ms == RF_LEDGER_CLOCK_NONE) return INT64_MAX;
    if (clock_ms < 0) clock_ms = 0; /* no broker timestamp: trust nothing ahead */
    return clock_ms > INT64_MAX - RF_LEDGER_CLOCK_SKEW_MS ? INT64_MAX
                                                          : clock_ms + RF_LEDGER_CLOCK_SKEW_MS;
}

/* An event dated beyond its message's time bound that would move the
 * partition's time: refused, with both times in the reason. Its record is
 * dated at the bound, not at the claimed time, so no record carries a time
 * the ledger did not accept (projections take their "now" from record
 * times). The rules see nothing of it: no state, no clock, no balance. */
static rf_err_t reject_future(rf_fold_ctx_t *ctx, const rf_event_t *ev, int64_t clock_ms,
                              int64_t bound)
{
    char claimed[RF_TIME_BUF], broker[RF_TIME_BUF], reason[2 * RF_TIME_BUF + 96];
    rf_time_format(ev->occurred_at_ms, claimed);
    rf_time_format(clock_ms < 0 ? 0 : clock_ms, broker);
    snprintf(reason, sizeof reason,
             "occurred_at %s is more than %lld s ahead of the broker time %s", claimed,
             (long long)(RF_LEDGER_CLOCK_SKEW_MS / 1000), broker);
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_REJECTED);
    rec->occurred_at_ms = bound;
    if (ev->user[0]) rf_record_fact(rec, RF_FACT_USER, ev->user);
    if (ev->referrer[0]) rf_record_fact(rec, RF_FACT_REFERRER, ev->referrer);
    if (ev->request_id[0]) rf_record_fact(rec, RF_FACT_REQUEST, ev->request_id);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    return rf_fold_record_append(ctx, rec);
}

/* Applies a decoded, new event of a known program (or a ProgramConfigured):
 * every type goes to the rules, which append at least one record, unless it
 * is dated too far ahead of its trusted clock to move time (refused here). */
static rf_err_t fold_event(rf_ledger_t *l, const rf_event_t *ev, int64_t clock_ms,
                           rf_fold_result_t *res, rf_errbuf_t *eb)
{
    rf_fold_ctx_t *ctx = &l->ctx;
    int64_t bound = time_bound(clock_ms);
    bool future = ev->occurred_at_ms > l->staged.event_time_ms && ev->occurred_at_ms > bound;
    if (!future && ev->occurred_at_ms > l->staged.event_time_ms &&
        rf_rules_event_moves_time(ctx, ev)) /* an unauthorized privileged event does not */
        l->staged.event_time_ms = ev->occurred_at_ms;
    rf_err_t err = rf_rules_advance(ctx);
    if (err) return rf_errf(eb, err, "rules cannot advance event time: %s", rf_err_str(err));
    ctx->own = 1;
    uint32_t before = ctx->nappended;
    err = future ? reject_future(ctx, ev, clock_ms, bound) : rf_rules_fold(ctx, ev);
    if (err)
        return rf_errf(eb, err, "cannot fold %s event %s: %s", rf_event_type_name(ev->type),
                       ev->event_id, rf_err_str(err));
    if (ctx->nappended == before)
        return rf_errf(eb, RF_ERR_INTERNAL, "no record for %s event %s",
                       rf_event_type_name(ev->type), ev->event_id);
    res->outcome = ctx->rejected    ? RF_OUTCOME_REJECTED
                   : ctx->duplicate ? RF_OUTCOME_DUPLICATE
                                    : RF_OUTCOME_APPLIED;
    if (ctx->rejected) {
        res->err = RF_ERR_BAD_INPUT;
        rf_strlcpy(res->reason, ctx->reject_reason, sizeof res->reason);
    }
    return RF_OK;
}

/* Dedup: 'd' + event id -> SHA-256 of the bytes. Returns 1 when the event
 * was seen (res filled: DUPLICATE, or REJECTED conflict), 0 when new. */
static int seen_before(rf_ledger_t *l, const uint8_t dkey[17], const uint8_t digest[32],
                       rf_fold_result_t *res, rf_err_t *errp, rf_errbuf_t *eb)
{
    if (!rf__idf_maybe(l->idf, dkey + 1)) return 0; /* certainly new: no RocksDB read */
    uint8_t v[32];
    size_t vlen = 0;
    rf_err_t err = rf__batch_get(l, dkey, 17, v, sizeof v, &vlen);
    if (err == RF_ERR_NOT_FOUND) return 0;
    if (err != RF_OK && err != RF_ERR_OVERSIZE) {
        *errp = rf_errf(eb, err, "cannot read dedup key");
        return 1;
    }
    if (err == RF_OK && vlen == 32 && memcmp(v, digest, 32) == 0) {
        res->outcome = RF_OUTCOME_DUPLICATE;
        return 1;
    }
    /* same id, other bytes: record the refusal; no other effect */
    *errp = rf_fold_reject(&l->ctx, "event id conflict: same event id with different bytes");
    res->outcome = RF_OUTCOME_REJECTED;
    res->err = RF_ERR_CONFLICT;
    rf_strlcpy(res->reason, "event id conflict: same event id with different bytes",
               sizeof res->reason);
    return 1;
}

/* Whether the event's program has rules (the rules own programs): 1 yes,
 * 0 no, or 0 with *errp set on a fatal error. */
static int program_known(rf_ledger_t *l, const rf_event_t *ev, rf_errbuf_t *eb, rf_err_t *errp)
{
    if (ev->type == RF_EV_PROGRAM_CONFIGURED) return 1;
    rf_err_t err = rf_rules_program_known(&l->ctx, ev->program_id);
    if (err == RF_OK) return 1;
    if (err != RF_ERR_NOT_FOUND)
        *errp = rf_errf(eb, err, "cannot read program '%s'", ev->program_id);
    return 0;
}

static rf_err_t fold_offset(rf_ledger_t *l, int64_t offset, int64_t clock_ms, const uint8_t *bytes,
                            size_t len, rf_fold_result_t *res, rf_errbuf_t *eb)
{
    rf_err_t err = rf__batch_archive(l, offset, clock_ms, bytes, len);
    if (err) return rf_errf(eb, err, "out of memory");
    rf_errbuf_t deb = {{0}};
    err = rf_codec_decode_event(l->codec, bytes, len, l->ev, &deb);
    if (err && rf_err_class(err) == RF_ERRCLASS_BAD_INPUT)
        return dead_letter(l, offset, err, deb.msg, res);
    if (err) return rf_errf(eb, err, "cannot decode offset %lld: %s", (long long)offset, deb.msg);
    const rf_event_t *ev = l->ev;
    rf_strlcpy(res->program_id, ev->program_id, sizeof res->program_id);
    uint8_t dkey[17], digest[32];
    dkey[0] = RF__K_DEDUP;
    if (rf_uuid_parse(ev->event_id, dkey + 1) != RF_OK)
        return dead_letter(l, offset, RF_ERR_BAD_INPUT, "event_id is not a UUID", res);
    rf__sha256(l->sha, bytes, len, NULL, 0, digest);
    rf__ctx_reset(l, ev, offset);
    if (seen_before(l, dkey, digest, res, &err, eb)) return err;
    if (!program_known(l, ev, eb, &err)) {
        if (err) return err;
        char reason[RF_ERRMSG_MAX];
        snprintf(reason, sizeof reason, "unknown program '%s'", ev->program_id);
        return dead_letter(l, offset, RF_ERR_UNKNOWN_PROGRAM, reason, res);
    }
    if ((err = rf__batch_put(l, dkey, sizeof dkey, digest, sizeof digest)) ||
        rf__idf_add(l->idf, dkey + 1) != 0)
        return rf_errf(eb, err ? err : RF_ERR_NOMEM, "out of memory");
    return fold_event(l, ev, clock_ms, res, eb);
}

static rf_err_t prepare_fold(rf_ledger_t *l, int64_t offset, rf_errbuf_t *eb)
{
    rf_store_perf_off(); /* per thread: this one folds */
    if (l->flags & RF_LEDGER_READONLY)
        return rf_errf(eb, RF_ERR_CONFIG, "ledger is open read-only");
    if (l->poisoned)
        return rf_errf(eb, RF_ERR_INTERNAL,
                       "the open batch holds a partial fold after a fatal "
                       "error; close and reopen the ledger");
    if (rf__bulk_sealed(l))
        return rf_errf(eb, RF_ERR_CONFIG, "bulk load of '%s' is sealed: no more folds", l->path);
    int64_t next = l->staged.next_offset;
    if (next < 0 ? offset < 0 : offset != next)
        return rf_errf(eb, RF_ERR_GAP, "partition %d: offset %lld folded, expected %lld%s",
                       (int)l->partition, (long long)offset, (long long)next,
                       offset < next ? " (already folded: refold from stored state)" : "");
    if (!l->idf) {
        rf_err_t err = rf__idf_build(l, eb);
        if (err) return err;
    }
    if (!l->codec && !(l->codec = rf_codec_new(eb))) return RF_ERR_INTERNAL;
    if (!l->ev && !(l->ev = malloc(sizeof *l->ev)))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    if (!l->recs && !(l->recs = calloc(RF_RECORDS_PER_EVENT_MAX, sizeof *l->recs)))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    return RF_OK;
}

rf_err_t rf_ledger_fold(rf_ledger_t *l, int64_t offset, int64_t clock_ms, const uint8_t *bytes,
                        size_t len, rf_fold_result_t *res, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && res != NULL && (bytes != NULL || len == 0));
    memset(res, 0, sizeof *res);
    rf_err_t err = prepare_fold(l, offset, eb);
    if (err) return err;
    /* from here the batch changes: a fatal error leaves it partial */
    err = fold_offset(l, offset, clock_ms, bytes ? bytes : (const uint8_t *)"", len, res, eb);
    if (err) {
        l->poisoned = 1;
        return err;
    }
    RF_ASSERT(res->outcome < RF_OUTCOME__COUNT);
    res->nrecords = l->ctx.nappended;
    if (l->staged.next_offset < 0) l->staged.first_offset = offset;
    l->staged.next_offset = offset + 1;
    l->staged.counts[res->outcome]++;
    l->batch_offsets++;
    return RF_OK;
}
