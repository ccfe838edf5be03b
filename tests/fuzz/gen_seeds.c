/* gen_seeds.c: writes the fuzz targets' seed corpus (tests/fuzz/corpus/):
 * loadgen events of every type (signed privileged events and key events
 * included) as framed Avro (every events schema that can carry them) and as
 * JSON lines, a few ledger records, and the HTTP API's request URIs. Run by
 * hand after a schema or API change: gen_seeds <corpus-dir>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_jsonl.h"
#include "rf_loadgen.h"

static void put_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "gen_seeds: cannot write '%s'\n", path);
        exit(1);
    }
}

static void record_seeds(rf_codec_t *c, const char *dir)
{
    static rf_record_t rec;
    static uint8_t buf[RF_RECORD_BYTES_MAX * 2];
    rf_errbuf_t eb = {{0}};
    for (int k = 0; k < 3; k++) {
        rf_record_clear(&rec);
        rec.seq = 1 + (uint64_t)k;
        rec.partition = k;
        rec.offset = 41 + k;
        snprintf(rec.event_id, sizeof rec.event_id, "0190a3c4-5e6f-7a8b-9c0d-%012d", k);
        snprintf(rec.program_id, sizeof rec.program_id, "prog-%d", k);
        rec.occurred_at_ms = 1767225600000LL + k;
        snprintf(rec.kind, sizeof rec.kind, "%s",
                 k == 0   ? "share"
                 : k == 1 ? "reward"
                          : "rejected");
        if (k == 1) {
            rf_record_post(&rec, "u1", RF_BUCKET_PENDING, "USD", 1000);
            rf_record_post(&rec, "#expense", RF_BUCKET_EXPENSE, "USD", -1000);
        }
        rf_record_fact(&rec, "referrer", "r1");
        if (k == 2) rf_record_fact(&rec, "reason", "self_referral");
        memset(rec.prev_hash, k, sizeof rec.prev_hash);
        memset(rec.hash, 7 + k, sizeof rec.hash);
        size_t len = 0;
        if (rf_codec_encode_record(c, &rec, buf, sizeof buf, &len, &eb)) {
            fprintf(stderr, "gen_seeds: record: %s\n", eb.msg);
            exit(1);
        }
        char name[64];
        snprintf(name, sizeof name, "record-%d", k);
        put_file(dir, name, buf, len);
    }
}

static void event_seeds(const char *codec_dir, const char *jsonl_dir)
{
    rf_errbuf_t eb = {{0}};
    rf_codec_conf_t cconf = {.id_base = 0}; /* fuzz_codec reads the manifest ids */
    rf_codec_t *c = rf_codec_new_conf(&cconf, &eb);
    rf_loadgen_conf_t conf;
    rf_loadgen_conf_init(&conf);
    conf.events = 20000;
    conf.programs = 2;
    conf.referrers = 50;
    rf_loadgen_t *g = rf_loadgen_new(&conf, &eb);
    if (!c || !g) {
        fprintf(stderr, "gen_seeds: %s\n", eb.msg);
        exit(1);
    }
    static rf_event_t ev;
    static uint8_t buf[RF_EVENT_BYTES_MAX];
    static char line[RF_JSONL_OUT_MAX];
    int seen[RF_EV__COUNT] = {0};
    FILE *multi = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/multi-line", jsonl_dir);
    multi = fopen(path, "w");
    while (rf_loadgen_next(g, &ev) == RF_OK) {
        if (seen[ev.type]++ >= 2) continue; /* two of each type */
        const char *tn = rf_jsonl_type_name(ev.type);
        char name[96];
        size_t len = 0;
        for (int sid = RF_SCHEMA_ID_EVENT_V1; sid <= RF_SCHEMA_ID_EVENT; sid++) {
            if (rf_codec_encode_event(c, &ev, sid, buf, sizeof buf, &len, &eb)) continue;
            snprintf(name, sizeof name, "%s-%d-v%d", tn, seen[ev.type], sid);
            put_file(codec_dir, name, buf, len);
        }
        if (rf_jsonl_format(&ev, line, sizeof line, &len, &eb)) exit(1);
        snprintf(name, sizeof name, "%s-%d", tn, seen[ev.type]);
        put_file(jsonl_dir, name, line, len);
        if (multi && seen[ev.type] == 1) fputs(line, multi);
    }
    if (multi) fclose(multi);
    record_seeds(c, codec_dir);
    rf_loadgen_destroy(g);
    rf_codec_destroy(c);
}

static const char *const uris[] = {
    "/v1/health",
    "/v1/users/u1/balance",
    "/v1/programs/p1/stats?period=2026-01",
    "/v1/programs/p1/stats",
    "/v1/programs/p1/leaderboard?period=all&by=value&top=10&asset=USD",
    "/v1/programs/p1/leaderboard?by=referrals&top=1000",
    "/v1/programs/p1/users/u%2F1/rank?by=value&asset=POINTS&period=2026-W01",
    "/v1/programs/p%20x/users/u1/code",
    "/v1/programs/p1/users/u1/balance",
    "/v1/programs/p1/leaderboard?period=a+b&top=5&",
    "/v1/programs//users/u1/balance?x",
    NULL};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds <corpus-dir>\n");
        return 2;
    }
    char codec_dir[512], jsonl_dir[512], http_dir[512];
    snprintf(codec_dir, sizeof codec_dir, "%s/fuzz_codec", argv[1]);
    snprintf(jsonl_dir, sizeof jsonl_dir, "%s/fuzz_jsonl", argv[1]);
    snprintf(http_dir, sizeof http_dir, "%s/fuzz_http", argv[1]);
    event_seeds(codec_dir, jsonl_dir);
    static const char hand[] =
        "{\"type\":\"ProgramConfigured\",\"program_id\":\"p1\",\"version\":2,"
        "\"occurred_at\":\"2026-01-01T10:00:00.5+02:00\",\"rules\":{\"currency\":\"USD\","
        "\"referrer_reward\":{\"type\":\"percent\",\"bps\":500}}}\n";
    put_file(jsonl_dir, "hand-rules-object", hand, sizeof hand - 1);
    static const char hand2[] = "{\"type\":\"clock\",\"program_id\":\"p1\",\"occurred_at\":0}";
    put_file(jsonl_dir, "hand-clock-ms", hand2, sizeof hand2 - 1);
    /* authority: auth objects with a field missing, extra or mistyped */
    static const char hand3[] =
        "{\"type\":\"clock\",\"program_id\":\"p1\",\"occurred_at\":1,\"auth\":{\"key_id\":"
        "\"0123456789abcdef\"}}\n"
        "{\"type\":\"clock\",\"program_id\":\"p1\",\"occurred_at\":1,\"auth\":{\"key_id\":7,"
        "\"signature\":\"00\"}}\n"
        "{\"type\":\"key_revoked\",\"program_id\":\"p1\",\"occurred_at\":1,\"key_id\":\"0123\"}\n";
    put_file(jsonl_dir, "hand-auth", hand3, sizeof hand3 - 1);
    for (int i = 0; uris[i]; i++) {
        char name[32];
        snprintf(name, sizeof name, "uri-%02d", i);
        put_file(http_dir, name, uris[i], strlen(uris[i]));
    }
    return 0;
}
