/* pg_fold_jsonl.c: the PostgreSQL peer of ops/bench.sh --peer, as the project's owner gave it
 * (../shared/peers/ beside the checkout, 2026-12-07), kept byte for byte below this comment so
 * the side-by-side figures are the owner's peer's. Built by tests/bench/pg_peer/run.sh with
 * cc -O2 against Debian's libpq and jansson; not part of the CMake build. */
/* clang-format off */
/* Peer for side-by-side runs on the same event stream: the fold a team would write on
 * PostgreSQL (the Formance/Blnk architecture), fed refold loadgen's JSON lines.
 * Per event: an idempotency row (event id), the event stored (id, program, type, time, body);
 * per purchase additionally a ledger entry with two postings (user credit, program expense)
 * and two balance upserts. One transaction per batch, synchronous_commit on.
 * No attribution, rules, holds, fraud checks or hash chain: an optimistic peer.
 * Usage: pg_fold_jsonl CONNINFO FILE.jsonl [BATCH] */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void ex(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "sql error: %s\n", PQerrorMessage(c)); exit(1);
    }
    PQclear(r);
}
typedef struct { char *p; size_t n, cap; } buf_t;
static void app(buf_t *b, const char *s) {
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) { b->cap = (b->n + l + 1) * 2; b->p = realloc(b->p, b->cap); }
    memcpy(b->p + b->n, s, l + 1); b->n += l;
}
static void lit(PGconn *c, buf_t *b, const char *s) { char *q = PQescapeLiteral(c, s, strlen(s)); app(b, q); PQfreemem(q); }
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: pg_fold_jsonl CONNINFO FILE.jsonl [BATCH]\n"); return 2; }
    int batch = argc > 3 ? atoi(argv[3]) : 1000;
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    ex(c, "DROP TABLE IF EXISTS seen, events, entries, balances");
    ex(c, "CREATE TABLE seen (event_id uuid PRIMARY KEY)");
    ex(c, "CREATE TABLE events (seq bigserial PRIMARY KEY, event_id uuid NOT NULL, program text NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL, body text NOT NULL)");
    ex(c, "CREATE TABLE entries (seq bigserial PRIMARY KEY, event_id uuid NOT NULL, account text NOT NULL, asset text NOT NULL, amount bigint NOT NULL)");
    ex(c, "CREATE TABLE balances (account text, asset text, amount bigint NOT NULL, PRIMARY KEY (account, asset))");
    char *line = NULL; size_t cap = 0; ssize_t len;
    long n = 0, purchases = 0; int in_batch = 0, np = 0;
    buf_t s = {0}, e = {0}, en = {0}, bl = {0};
    double t0 = now();
    for (;;) {
        len = getline(&line, &cap, f);
        if (len > 0) {
            json_error_t err; json_t *j = json_loadb(line, len, 0, &err);
            if (!j) { fprintf(stderr, "bad line %ld: %s\n", n, err.text); return 1; }
            const char *id = json_string_value(json_object_get(j, "event_id"));
            const char *prog = json_string_value(json_object_get(j, "program_id"));
            const char *type = json_string_value(json_object_get(j, "type"));
            const char *at = json_string_value(json_object_get(j, "occurred_at"));
            if (in_batch == 0) {
                s.n = e.n = en.n = bl.n = 0; np = 0;
                app(&s, "INSERT INTO seen VALUES ");
                app(&e, "INSERT INTO events (event_id, program, type, occurred_at, body) VALUES ");
                app(&en, "INSERT INTO entries (event_id, account, asset, amount) VALUES ");
                app(&bl, "INSERT INTO balances AS b SELECT account, asset, sum(amount) FROM (VALUES ");
            }
            app(&s, in_batch ? ",(" : "("); lit(c, &s, id); app(&s, ")");
            app(&e, in_batch ? ",(" : "("); lit(c, &e, id); app(&e, ","); lit(c, &e, prog); app(&e, ",");
            lit(c, &e, type); app(&e, ","); lit(c, &e, at); app(&e, ","); line[len - 1] = 0; lit(c, &e, line); app(&e, ")");
            if (strcmp(type, "purchase") == 0) {
                char tmp[512]; const char *user = json_string_value(json_object_get(j, "user"));
                const char *cur = json_string_value(json_object_get(j, "currency"));
                long long amt = json_integer_value(json_object_get(j, "amount_minor")) / 10;
                snprintf(tmp, sizeof tmp, "%s('%s','user:%s:%s','%s',%lld),('%s','program:%s:expense','%s',%lld)",
                         np ? "," : "", id, prog, user, cur, amt, id, prog, cur, -amt);
                app(&en, tmp);
                snprintf(tmp, sizeof tmp, "%s('user:%s:%s','%s',%lld::bigint),('program:%s:expense','%s',%lld::bigint)",
                         np ? "," : "", prog, user, cur, amt, prog, cur, -amt);
                app(&bl, tmp);
                np++; purchases++;
            }
            json_decref(j);
            in_batch++; n++;
        }
        if ((len <= 0 && in_batch > 0) || in_batch == batch) {
            app(&s, " ON CONFLICT DO NOTHING");
            app(&bl, ") v(account, asset, amount) GROUP BY account, asset ON CONFLICT (account, asset) DO UPDATE SET amount = b.amount + excluded.amount");
            ex(c, "BEGIN"); ex(c, s.p); ex(c, e.p);
            if (np) { ex(c, en.p); ex(c, bl.p); }
            ex(c, "COMMIT");
            in_batch = 0;
        }
        if (len <= 0) break;
    }
    double t1 = now();
    PGresult *r = PQexec(c, "SELECT sum(amount) FROM balances");
    printf("pg_fold_jsonl: %ld events (%ld purchases) in %.2f s = %.0f events/s (batch %d, trial balance %s)\n",
           n, purchases, t1 - t0, n / (t1 - t0), batch, PQgetvalue(r, 0, 0));
    PQclear(r); PQfinish(c);
    return 0;
}
