/* test_idf.c: the ledger's filter of folded event ids (rf_ledger_idf.c). The
 * filter alone: no false negatives over 300k ids through four segments, few
 * false positives. In the ledger: a duplicate is still a duplicate after a
 * reopen (the filter is rebuilt from the stored dedup keys) and within one
 * open batch; the same id with other bytes is still a conflict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_ledger_int.h"
#include "rf_testutil.h"

#define NIDS 300000

static void id_of(uint64_t i, uint64_t salt, uint8_t out[16])
{
    /* time-ordered like a v7 UUID: the high bytes barely change */
    uint64_t hi = UINT64_C(0x0190000000007000) + (i >> 10), lo = i * 2654435761u + salt;
    memcpy(out, &hi, 8);
    memcpy(out + 8, &lo, 8);
}

static void test_filter(void **state)
{
    (void)state;
    rf__idf_t *f = rf__idf_new(0);
    assert_non_null(f);
    uint8_t id[16];
    for (uint64_t i = 0; i < NIDS; i++) {
        id_of(i, 1, id);
        assert_int_equal(rf__idf_add(f, id), 0);
    }
    assert_int_equal(rf__idf_keys(f), NIDS);
    assert_true(rf__idf_segments(f) >= 3); /* 64k, 128k, 256k */
    for (uint64_t i = 0; i < NIDS; i++) {
        id_of(i, 1, id);
        if (!rf__idf_maybe(f, id)) fail_msg("id %llu added but not found", (unsigned long long)i);
    }
    uint64_t fp = 0;
    for (uint64_t i = 0; i < NIDS; i++) {
        id_of(i, 7, id);
        fp += (uint64_t)rf__idf_maybe(f, id);
    }
    printf("false positives: %llu of %d (segments %d)\n", (unsigned long long)fp, NIDS,
           rf__idf_segments(f));
    assert_true(fp < NIDS / 20); /* ~1.5% per segment probed */
    rf__idf_free(f);
}

#define NEV 3000

typedef struct fx {
    char dir[512];
    rf_codec_t *codec;
    rf_ledger_t *l;
    uint8_t (*buf)[RF_EVENT_BYTES_MAX];
    size_t len[NEV];
    int64_t off; /* the next offset to fold */
} fx_t;

static void encode(fx_t *f, int i, const char *note)
{
    rf_event_t ev;
    rf_errbuf_t eb;
    rf_event_clear(&ev);
    snprintf(ev.event_id, sizeof ev.event_id, "00000000-0000-4000-8000-%012x", i + 1);
    rf_strlcpy(ev.program_id, "p", sizeof ev.program_id);
    rf_strlcpy(ev.source, "test", sizeof ev.source);
    ev.occurred_at_ms = 1767225600000LL + i * 1000LL;
    if (i == 0) {
        ev.type = RF_EV_PROGRAM_CONFIGURED;
        ev.version = 1;
        rf_strlcpy(ev.rules_json,
                   "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\","
                   "\"amount_minor\":1000}}",
                   sizeof ev.rules_json);
    } else {
        ev.type = RF_EV_SHARE;
        snprintf(ev.referrer, sizeof ev.referrer, "r%d", i % 50);
        rf_strlcpy(ev.channel, note, sizeof ev.channel);
    }
    if (rf_codec_encode_event(f->codec, &ev, RF_SCHEMA_ID_EVENT, f->buf[i], RF_EVENT_BYTES_MAX,
                              &f->len[i], &eb))
        fail_msg("encode: %s", eb.msg);
}

static rf_outcome_t fold_at(fx_t *f, const uint8_t *bytes, size_t len)
{
    rf_errbuf_t eb;
    rf_fold_result_t res;
    if (rf_ledger_fold(f->l, f->off++, 1767225600000LL + NEV * 1000LL, bytes, len, &res, &eb))
        fail_msg("fold: %s", eb.msg);
    return res.outcome;
}

static void commit(fx_t *f)
{
    rf_errbuf_t eb;
    if (rf_ledger_commit(f->l, &eb)) fail_msg("commit: %s", eb.msg);
}

static void reopen(fx_t *f)
{
    rf_errbuf_t eb;
    rf_ledger_close(f->l);
    f->l = rf_ledger_open(f->dir, 0, RF_LEDGER_NOSYNC, &eb);
    if (!f->l) fail_msg("open: %s", eb.msg);
}

static void test_ledger_dedup(void **state)
{
    (void)state;
    fx_t f = {0};
    rf_errbuf_t eb;
    f.buf = malloc((size_t)NEV * RF_EVENT_BYTES_MAX);
    assert_non_null(f.buf);
    rf_test_tmpdir("idf", f.dir, sizeof f.dir);
    assert_non_null(f.codec = rf_codec_new(&eb));
    f.l = rf_ledger_open(f.dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!f.l) fail_msg("open: %s", eb.msg);
    for (int i = 0; i < NEV; i++) {
        encode(&f, i, "email");
        assert_int_equal(fold_at(&f, f.buf[i], f.len[i]), RF_OUTCOME_APPLIED);
        if (i % 500 == 499) commit(&f);
    }
    /* within the open batch: the event folded just before, again */
    assert_int_equal(fold_at(&f, f.buf[NEV - 1], f.len[NEV - 1]), RF_OUTCOME_DUPLICATE);
    commit(&f);
    reopen(&f); /* a new handle: its filter is built from the stored keys */
    for (int i = 0; i < NEV; i++)
        if (fold_at(&f, f.buf[i], f.len[i]) != RF_OUTCOME_DUPLICATE)
            fail_msg("event %d folded again after a reopen was not a duplicate", i);
    encode(&f, 17, "sms"); /* event 17's id, other bytes */
    assert_int_equal(fold_at(&f, f.buf[17], f.len[17]), RF_OUTCOME_REJECTED);
    commit(&f);
    assert_int_equal(rf__idf_keys(f.l->idf), NEV);
    rf_ledger_close(f.l);
    rf_test_rmtree(f.dir);
    rf_codec_destroy(f.codec);
    free(f.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_ledger_dedup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
