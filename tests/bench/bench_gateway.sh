#!/bin/sh
# tests/bench/bench_gateway.sh: `refold gateway` under wrk (not a timed test):
#   1. redirects: wrk GETs one tracking link (no cookie: every answer is a new
#      visitor and one click) with the embedded broker, `refold fold` and
#      `refold project` running; then waits for the fold and checks that the
#      clicks in the ledger (stats) equal the redirects the gateway answered
#      without a cookie (none lost, none doubled);
#   2. intake: wrk POSTs single JSON events, then 1000-event ndjson bodies,
#      each request with its own Idempotency-Key; events/s = 202s x events.
# The fold and projection are stopped before step 2: the embedded broker keeps
# 5 MiB per partition and every event of one program goes to one partition,
# so 50k events/s would outrun a fold sharing this machine's two cores and
# lose messages to retention (docs/benchmarks.md says so with the figures).
#   tests/bench/bench_gateway.sh [seconds per run, default 15] [connections, default 32]
# Needs wrk and curl (ops/install-deps.sh) and a build in build/ (or $REFOLD).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-15}
conns=${2:-32}
R=${REFOLD:-build/cmd/refold}
command -v wrk >/dev/null || { echo "bench_gateway: wrk is missing (ops/install-deps.sh)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench_gateway: curl is missing" >&2; exit 1; }
[ -x "$R" ] || { echo "bench_gateway: no $R (build first)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/refold-bench-gw-XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

wait_file() { # path, seconds
    i=0
    while [ ! -s "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$1" ] || { echo "bench_gateway: $1 did not appear" >&2; exit 1; }
}

metric() { # name{labels} -> value
    curl -s "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

"$R" broker --partitions 4 --bootstrap-file "$dir/bootstrap" >"$dir/broker.log" 2>&1 &
pids="$pids $!"
wait_file "$dir/bootstrap" 20
B=$(cat "$dir/bootstrap")
cat >"$dir/shop.json" <<'EOF'
{"currency": "USD", "landing_url": "https://shop.example.com/welcome",
 "attribution": {"window_days": 30},
 "referrer_reward": {"type": "fixed", "amount_minor": 1000}}
EOF
"$R" program apply "$dir/shop.json" --program shop --version 1 --brokers "$B" >/dev/null
"$R" fold --brokers "$B" --data "$dir/data" >"$dir/fold.log" 2>&1 &
fold_pid=$!
"$R" project --brokers "$B" --data "$dir/data" >"$dir/project.log" 2>&1 &
project_pid=$!
pids="$pids $fold_pid $project_pid"

export REFOLD_PII_KEY=bench-pii-key-0123456789
export REFOLD_BENCH_TOKEN=bench-app-token-0123456789
export REFOLD_GATEWAY_TOKENS=$REFOLD_BENCH_TOKEN
mport=$((20000 + $$ % 20000))
"$R" gateway --brokers "$B" --data "$dir/data" --listen 127.0.0.1:0 --metrics-port "$mport" \
    >"$dir/gateway.out" 2>"$dir/gateway.log" &
pids="$pids $!"
wait_file "$dir/gateway.out" 20
url=$(sed -n 's/^listening on //p' "$dir/gateway.out")

curl -s -o /dev/null -X POST -H "Authorization: Bearer $REFOLD_BENCH_TOKEN" \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: bench-code' \
    --data-binary '{"type":"code_issued","program_id":"shop","referrer":"alice","code":"ALICE-7Q"}' \
    "$url/v1/events"
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$url/r/shop/ALICE-7Q")" = 302 ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "bench_gateway: the code never became resolvable" >&2; exit 1; }
    sleep 0.1
done

echo "== redirects: wrk -t2 -c$conns -d${secs}s (shared, busy 2-core machine; wrk, gateway, broker, fold and projection on the same cores)"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$url/r/shop/ALICE-7Q" | tee "$dir/wrk-links.txt"
fresh=$(metric 'refold_gateway_redirects_total{visitor="new"}')
dropped=$(metric 'refold_gateway_clicks_total{outcome="dropped"}')
echo "gateway: redirects without a cookie $fresh, clicks dropped ${dropped:-0}"

# every click folded and projected: wait until the count stops moving
last=-1
clicks=0
for i in $(seq 1 120); do
    clicks=$("$R" stats --data "$dir/data" --program shop --json 2>/dev/null |
        sed -n 's/^ *"clicks": \([0-9]*\),*$/\1/p' | head -1)
    clicks=${clicks:-0}
    [ "$clicks" = "$fresh" ] && break
    [ "$clicks" = "$last" ] && [ $i -gt 30 ] && break
    last=$clicks
    sleep 1
done
echo "ledger: clicks $clicks (want $fresh)"
[ "$clicks" = "$fresh" ] || { echo "bench_gateway: clicks in the ledger != redirects without a cookie" >&2; exit 1; }

kill "$fold_pid" "$project_pid" 2>/dev/null || true
wait "$fold_pid" "$project_pid" 2>/dev/null || true

echo "== POST /v1/events, one JSON event per request: wrk -t2 -c$conns -d${secs}s"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s tests/bench/gateway/post_single.lua "$url" |
    tee "$dir/wrk-single.txt"
echo "== POST /v1/events, 1000 ndjson events per request: wrk -t2 -c8 -d${secs}s"
before=$(metric 'refold_gateway_events_total{outcome="accepted"}')
wrk -t2 -c8 -d"${secs}s" --latency -s tests/bench/gateway/post_ndjson.lua "$url" |
    tee "$dir/wrk-ndjson.txt"
after=$(metric 'refold_gateway_events_total{outcome="accepted"}')
rps=$(sed -n 's/^Requests\/sec: *//p' "$dir/wrk-ndjson.txt")
echo "ndjson: events acknowledged $((after - before)); ~$(awk -v r="$rps" 'BEGIN{printf "%d", r * 1000}') events/s"
echo "gateway: posts 503 $(metric 'refold_gateway_posts_total{status="503"}'), 4xx $(metric 'refold_gateway_posts_total{status="4xx"}')"
