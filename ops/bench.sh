#!/bin/sh
# ops/bench.sh: runs refold's benchmark suite and WRITES docs/benchmarks.md
# (figures with the date, the machine's cores and memory, and ratios against
# the raw limits measured in the same run and the limits in DESIGN.md).
#   ops/bench.sh            the full suite (1M and 5M events; about 30-60 min
#                           on 2 cores)
#   ops/bench.sh --quick    small sizes (a few minutes; figures are noisier)
#                           (bench_webhooks: 10,000 events, 8 s of latency)
#   ops/bench.sh --reuse    keep the outputs already in build/bench-logs and
#                           run only the missing ones (delete one to redo it)
#   --base DIR              also run the rows of the targets table with an earlier
#                           build (a cmake build directory of an older checkout:
#                           DIR/cmd/refold, DIR/tests/bench/), each right before
#                           this build's run of the same row, so the table shows the
#                           two side by side from one session (the machine's speed
#                           changes by the hour: only interleaved ratios compare)
#   --peer                  also fold the same loadgen stream into PostgreSQL 15
#                           (tests/bench/pg_peer/: Debian's packages, installed with
#                           apt-get when missing; needs root) with one and two
#                           connections, for the side-by-side row
# Raw outputs stay in build/bench-logs/. Exits non-zero when a benchmark
# fails (a benchmark checks its own invariants: every event folded, every
# probe seen); speed itself never fails it.
set -eu
cd "$(dirname "$0")/.."
quick=0
reuse=0
peer=0
base_dir=""
usage="usage: ops/bench.sh [--quick] [--reuse] [--base BUILD_DIR] [--peer]"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --reuse) reuse=1 ;;
    --peer) peer=1 ;;
    --base)
        [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
        base_dir=$(cd "$2" && pwd) || exit 2
        for b in cmd/refold tests/bench/bench_fold tests/bench/bench_e2e; do
            [ -x "$base_dir/$b" ] || { echo "bench: --base $2: no $b there (build it first)" >&2; exit 2; }
        done
        shift ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
[ $peer = 0 ] || [ "$(id -u)" = 0 ] || { echo "bench: --peer needs root (apt-get, su postgres)" >&2; exit 2; }

./ops/install-deps.sh >/dev/null
build=build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" \
    --target refold bench_fold bench_e2e bench_project bench_webhooks test_replay_bench >/dev/null
logs=$build/bench-logs
[ $reuse = 1 ] || rm -rf "$logs"
mkdir -p "$logs"
bin=$build/tests/bench
refold=$build/cmd/refold

if [ $quick = 1 ]; then
    N1=200000; N5=0; NLAT=100000; PROBES=100; NSCALE=100000; NREPLAY=100000; NGROW=2000000
    PROJECT_ARGS="--records 100000 --referrers 50000 --kafka-records 50000 --samples 5000 --http-seconds 2"
    WEBHOOKS_ARGS="--events 10000 --seconds 8"
else
    N1=1000000; N5=5000000; NLAT=300000; PROBES=300; NSCALE=500000; NREPLAY=1000000; NGROW=20000000
    PROJECT_ARGS=""
    WEBHOOKS_ARGS="" # its defaults: 40,000 events, 4 endpoints, 1,000 rewards/s for 20 s
fi

fail=0
# run NAME CMD...: runs one benchmark, its stdout to $logs/NAME.out
run() {
    name=$1; shift
    if [ $reuse = 1 ] && [ -s "$logs/$name.out" ]; then
        echo "bench: $name: kept from an earlier run" >&2
        return 0
    fi
    echo "bench: $name: $*" >&2
    start=$(date +%s)
    if "$@" >"$logs/$name.out" 2>"$logs/$name.err"; then
        echo "bench: $name done in $(( $(date +%s) - start )) s" >&2
    else
        echo "bench: $name FAILED (see $logs/$name.err)" >&2
        tail -5 "$logs/$name.err" >&2
        fail=1
    fi
}

scratch=$(mktemp -d /tmp/refold-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# pair NAME PROGRAM ARGS...: the targets table's rows. PROGRAM is a path inside a
# build directory (tests/bench/bench_fold, cmd/refold); with --base, base_NAME
# runs the base build's PROGRAM first, then NAME runs this build's.
pair() { # (its own variable names: run() sets name)
    pair_name=$1; pair_prog=$2; shift 2
    [ -z "$base_dir" ] || run "base_$pair_name" "$base_dir/$pair_prog" "$@"
    run "$pair_name" "$build/$pair_prog" "$@"
}
# demo_run REFOLD JSON: `refold demo` on N1 events, its JSON report to JSON
# shellcheck disable=SC2317 # called through run
demo_run() {
    rm -rf "$scratch/demo"
    "$1" demo --events "$N1" --seed 1 --data "$scratch/demo" --force --json-report "$2"
    rc=$?
    rm -rf "$scratch/demo"
    return "$rc"
}
demo_pair() {
    [ -z "$base_dir" ] || run base_demo demo_run "$base_dir/cmd/refold" "$logs/base_demo.json"
    run demo demo_run "$refold" "$logs/demo.json"
}

# the targets table first: each row side by side in one session
pair fold tests/bench/bench_fold --events "$N1" --json
pair fold_sub tests/bench/bench_fold --events "$N1" --subprocess --json
demo_pair
pair latency tests/bench/bench_e2e --events "$NLAT" --latency --rate 10000 --probes "$PROBES"
pair grow tests/bench/bench_fold --events "$NGROW" --subprocess --json
if [ $peer = 1 ]; then
    "$refold" loadgen --seed 42 --programs 64 --events "$N1" --out "$scratch/peer.jsonl" >/dev/null 2>&1
    run peer tests/bench/pg_peer/run.sh "$scratch/peer.jsonl"
    rm -f "$scratch/peer.jsonl"
fi
run e2e_1m "$bin/bench_e2e" --events "$N1"
run e2e_1m_process "$bin/bench_e2e" --events "$N1" --external-broker "$refold"
if [ "$N5" -gt 0 ]; then
    run e2e_5m "$bin/bench_e2e" --events "$N5"
fi
for p in 1 4 16 64; do
    run "scale_p$p" "$bin/bench_e2e" --events "$NSCALE" --partitions $p --programs 64
done
run scale_f2 "$bin/bench_e2e" --events "$NSCALE" --partitions 16 --folders 2
run replay env RF_BENCH=1 RF_BENCH_EVENTS="$NREPLAY" "$build/tests/test_replay_bench"
# shellcheck disable=SC2086
run project "$bin/bench_project" $PROJECT_ARGS
# shellcheck disable=SC2086
run webhooks "$bin/bench_webhooks" $WEBHOOKS_ARGS
run gateway tests/bench/bench_gateway.sh "$([ $quick = 1 ] && echo 5 || echo 15)" 32

# ---- docs/benchmarks.md -------------------------------------------------------
# jget FILE KEY: a value from the file's last JSON line
jget() { # (arrays dropped first: bench_fold's windows[] repeat the top level's key names)
    grep '^{' "$1" 2>/dev/null | tail -1 | sed -e 's/,"[a-z_]*":\[[^]]*\]//g' |
        sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}
# ratio A B: A/B with two decimals, "-" when either is missing
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
k() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "-"; else printf "%.0f k", v / 1000 }'; }
ms() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "-"; else printf "%.1f ms", v / 1000 }'; }
# wh_figures FILE: bench_webhooks' figures as shell assignments (wh_eps,
# wh_msgs, wh_eps_n; wh_rps, wh_n, wh_p50, wh_p99, wh_max: all webhooks;
# wh_wn, wh_wp50, wh_wp99, wh_wmax: purchases after the first 5 s); empty
# when a line is missing
wh_figures() {
    sed -n -e 's/^throughput: .* -> \([0-9]*\) messages to \([0-9]*\) endpoints: .* = \([0-9]*\) deliveries\/s.*/wh_msgs=\1 wh_eps_n=\2 wh_eps=\3/p' \
        -e 's/^latency: published in .* reward records in the ledger (\([0-9]*\)\/s), \([0-9]*\) reward.created webhooks measured: p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/wh_rps=\1 wh_n=\2 wh_p50=\3 wh_p99=\4 wh_max=\5/p' \
        -e 's/^latency: of them published after the first 5 s (\([0-9]*\)): p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/wh_wn=\1 wh_wp50=\2 wh_wp99=\3 wh_wmax=\4/p' \
        "$1" 2>/dev/null
}
mib() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "-"; else printf "%.0f MiB", v / 1024 }'; }

raw=$(jget "$logs/fold.out" raw_consume_per_s)
puts=$(jget "$logs/fold.out" sync_1000puts_per_s)
sync1=$(jget "$logs/fold.out" sync_1put_p50_us)
cores=$(nproc 2>/dev/null || echo "?")
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
load=$(cut -d' ' -f1-3 /proc/loadavg)

e2e_row() { # label file
    f="$logs/$2.out"
    eps=$(jget "$f" events_per_s)
    cpu=$(jget "$f" cpu_s); n=$(jget "$f" events); join=$(jget "$f" join_s)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$n" \
        "$(k "$eps")" "$(ratio "$eps" "$raw")" \
        "$(if [ -n "$cpu" ]; then awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.1f us", c * 1e6 / n }'; else echo -; fi)" \
        "$(ms "$(jget "$f" commit_p50_us)")" \
        "$(ms "$(jget "$f" commit_p99_us)")" "$(ms "$(jget "$f" commit_p999_us)")" \
        "$(mib "$(jget "$f" peak_rss_kb)")" "$(if [ -n "$join" ]; then echo "$join s"; else echo -; fi)" \
        "$(r=$(jget "$f" restarts); echo "${r:--}")"
}

# the targets table's figures of one build: PREFIX is "" (this build) or "base_"
# t_demo_eps, t_fold_eps, t_sub_cpu_us, t_p50, t_p99, t_epc (events per CPU-s of
# the whole pipeline), t_grow (late window's rate over the first window's),
# t_rss1, t_rssn (the fold's RSS at the first and the last window)
targets() {
    pre=$1
    t_demo_eps=$(sed -n 's/.*"events_per_s": *\([0-9]*\).*/\1/p' "$logs/${pre}demo.json" 2>/dev/null | head -1)
    t_fold_eps=$(jget "$logs/${pre}fold.out" events_per_s)
    c=$(jget "$logs/${pre}fold_sub.out" cpu_s); n=$(jget "$logs/${pre}fold_sub.out" events)
    t_sub_cpu_us=$(awk -v c="$c" -v n="$n" 'BEGIN { if (c == "" || n == "" || c < 0) print ""; else printf "%.1f", c * 1e6 / n }')
    t_p50=$(jget "$logs/${pre}latency.out" visible_p50_ms)
    t_p99=$(jget "$logs/${pre}latency.out" visible_p99_ms)
    c=$(jget "$logs/${pre}latency.out" cpu_s); n=$(jget "$logs/${pre}latency.out" events)
    t_epc=$(awk -v c="$c" -v n="$n" 'BEGIN { if (c == "" || n == "" || c <= 0) print ""; else printf "%.0f", n / c }')
    f="$logs/${pre}grow.out"
    t_grow=$(jget "$f" win_last_vs_first) # empty for a build without windows
    # the whole run's rate over the 1M run's: both builds have it
    t_grow_all=$(ratio "$(jget "$f" events_per_s)" "$(jget "$logs/${pre}fold_sub.out" events_per_s)")
    t_rss1=$(jget "$f" win_first_rss_kb); t_rssn=$(jget "$f" win_last_rss_kb)
}
# cell VALUE UNIT: "-" when VALUE is empty
cell() { if [ -n "${1:-}" ]; then echo "$1${2:-}"; else echo "-"; fi; }
# met EXPR: "yes"/"no" for an awk condition on the variables given, "-" when one is empty
met() {
    for v in "$@"; do case "$v" in *=) echo "-"; return ;; esac; done
    cond=$1; shift
    awk "$@" "BEGIN { print ($cond) ? \"yes\" : \"no\" }"
}

out=docs/benchmarks.md
{
    echo "# Benchmarks"
    echo
    echo "Written by \`ops/bench.sh$([ $quick = 1 ] && echo ' --quick')\` — do not edit by hand; run it again."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $cores cores ($cpu), $mem memory, $(uname -sr); load average at the end: $load"
    echo "- commit: $commit; build RelWithDebInfo; scratch data under /tmp"
    echo "- the machine is shared and noisy: compare ratios, not absolute figures"
    echo
    echo "## Targets (issue #17), side by side"
    echo
    targets base_
    b_demo=$t_demo_eps b_fold=$t_fold_eps b_cpu=$t_sub_cpu_us b_p50=$t_p50 b_p99=$t_p99 b_epc=$t_epc
    b_grow=$t_grow b_grow_all=$t_grow_all
    targets ""
    pg1=$(jget "$logs/peer.out" one_connection_per_s); pg2=$(jget "$logs/peer.out" two_connections_per_s)
    if [ -n "$base_dir" ]; then
        base_commit=$(git -C "$base_dir/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
        echo "\"before\" is the build in \`$base_dir\` (commit $base_commit), each of its runs right"
        echo "before this build's run of the same row."
    else
        echo "No \`--base\` build was given: the \"before\" column is empty."
    fi
    echo "Rows: produce-to-balance-visible latency of probe Adjustments at 10k events/s"
    echo "(\`bench_e2e --latency\`); \`refold demo\` on $N1 events against \`bench_fold\`'s rate in"
    echo "the same run; the fold rate of a $NGROW-event ledger against a 1M one's, and of its last"
    echo "million against its first (\`bench_fold --subprocess\`, windows of 1M events: a build"
    echo "before them shows \"-\"); \`bench_fold\` against the PostgreSQL"
    echo "peer (\`--peer\`) on the same loadgen stream; CPU per event of the \`refold fold\` process"
    echo "(\`bench_fold --subprocess\`); events per CPU-second of the whole pipeline at 10k"
    echo "events/s (broker, producer, fold, projection, reader: \`bench_e2e --latency\`, one process)."
    echo
    echo "| what | before | this build | target | reached |"
    echo "|---|---|---|---|---|"
    echo "| produce-to-balance-visible p50 / p99 | $(cell "$b_p50") / $(cell "$b_p99" " ms") | $(cell "$t_p50") / $(cell "$t_p99" " ms") | p50 < 20 ms, p99 < 50 ms | $(met 'a < 20 && b < 50' -v "a=$t_p50" -v "b=$t_p99") |"
    echo "| \`refold demo\` events/s, over \`bench_fold\`'s | $(k "$b_demo") / $(k "$b_fold") = $(ratio "$b_demo" "$b_fold") | $(k "$t_demo_eps") / $(k "$t_fold_eps") = $(ratio "$t_demo_eps" "$t_fold_eps") | >= 0.8 | $(met 'a / b >= 0.8' -v "a=$t_demo_eps" -v "b=$t_fold_eps") |"
    echo "| $NGROW events: the whole run's rate over the 1M run's; the last window's over the first's; fold RSS first -> last window | $b_grow_all; $(cell "$b_grow") | $t_grow_all; $(cell "$t_grow"); $(mib "$t_rss1") -> $(mib "$t_rssn") | >= 0.85, RSS flat | $(met 'g >= 0.85' -v "g=$t_grow") |"
    echo "| \`bench_fold\` over the PostgreSQL peer (two connections; one: $(k "$pg1")) | $(k "$b_fold") / $(k "$pg2") = $(ratio "$b_fold" "$pg2") | $(k "$t_fold_eps") / $(k "$pg2") = $(ratio "$t_fold_eps" "$pg2") | >= 3 | $(met 'a / b >= 3' -v "a=$t_fold_eps" -v "b=$pg2") |"
    echo "| CPU per event, \`refold fold\` process | $(cell "$b_cpu" " us") | $(cell "$t_sub_cpu_us" " us") | <= 6 us | $(met 'c <= 6' -v "c=$t_sub_cpu_us") |"
    echo "| whole pipeline at 10k events/s, events per CPU-second | $(cell "$b_epc") | $(cell "$t_epc") | >= 30000 | $(met 'e >= 30000' -v "e=$t_epc") |"
    echo
    echo "Where each row's time and CPU go, what was changed and tried, and what a row not"
    echo "reached still needs: [fold-worker.md](fold-worker.md) (group-commit cycles, latency),"
    echo "[demo.md](demo.md) (the demo's time block), [ledger.md](ledger.md) (\"Flat cost as the"
    echo "ledger grows\", the fold process's CPU profile), [projections.md](projections.md)"
    echo "(\"Where a record's CPU goes\")."
    echo
    echo "## Raw limits measured in the same run"
    echo
    echo "| what | measured | DESIGN.md | ratio |"
    echo "|---|---|---|---|"
    echo "| librdkafka consume of the same topic (assign, in-process broker) | $(k "$raw") msg/s | 1500 k msg/s | $(ratio "$raw" 1500000) |"
    echo "| RocksDB synced WriteBatch of 1000 puts | $(k "$puts") puts/s | 880 k puts/s | $(ratio "$puts" 880000) |"
    echo "| RocksDB synced WriteBatch of 1 put, p50 | $(ms "$sync1") | 0.3 ms | $(ratio "$sync1" 300) |"
    echo
    echo "## End-to-end fold (loadgen traffic: rules on, fraud share 2%; durable commits; outbox on)"
    echo
    echo "Producer and fold workers run at once; events/s counts from the first event"
    echo "produced to the last one folded, after the workers joined their consumer group"
    echo "(the join, once per worker start, is the \"join\" column). CPU per event is this"
    echo "process's CPU (producer, fold workers and, in-process, the broker) over the events."
    echo "\"vs raw\" is the fold's rate over the raw consume rate above. Commit latency is one"
    echo "partition's synced WriteBatch. Peak RSS is the whole benchmark process (the"
    echo "in-process broker holds the topics in memory)."
    echo
    echo "| run | events | events/s | vs raw | CPU per event | commit p50 | p99 | p999 | peak RSS | join | restarts |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    e2e_row "in-process broker, 16 partitions" e2e_1m
    e2e_row "\`refold broker\` process, 16 partitions" e2e_1m_process
    if [ "$N5" -gt 0 ]; then
        e2e_row "in-process broker, 16 partitions" e2e_5m
    fi
    echo
    echo "The fold benchmark of the fold worker's author (\`bench_fold\`: loadgen traffic, partitions"
    echo "assigned directly so no group join, the broker in-process; \`--subprocess\`: the fold in a"
    echo "\`refold fold\` process, so its peak RSS is the fold's alone):"
    echo
    echo "| run | events | events/s | vs raw | CPU per event | commit p50 | p99 | p999 | peak RSS | join | restarts |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    e2e_row "bench_fold, in-process" fold
    e2e_row "bench_fold --subprocess" fold_sub
    echo
    echo "## Produce-to-balance-visible latency at 10k events/s"
    echo
    f="$logs/latency.out"
    echo "Probe Adjustments (one per 100 ms) among loadgen traffic at a fixed 10,000 events/s, read"
    echo "back through the projection (rf_query following the projection worker's stores), from"
    echo "the first record projected on (the group joins before it are not latency):"
    echo "$(jget "$f" probes_seen) of $(jget "$f" probes) probes seen; p50 $(jget "$f" visible_p50_ms) ms,"
    echo "p99 $(jget "$f" visible_p99_ms) ms, max $(jget "$f" visible_max_ms) ms. The whole pipeline (broker,"
    echo "producer, fold, projection, reader; group join included) took $(jget "$f" total_cpu_s) CPU-seconds:"
    echo "$(jget "$f" total_events_per_cpu_s) events per CPU-second."
    echo
    echo "## Scaling"
    echo
    echo "| partitions | fold workers | events | events/s | vs 1 partition |"
    echo "|---|---|---|---|---|"
    base=$(jget "$logs/scale_p1.out" events_per_s)
    for p in 1 4 16 64; do
        e=$(jget "$logs/scale_p$p.out" events_per_s)
        echo "| $p | 1 | $(jget "$logs/scale_p$p.out" events) | $(k "$e") | $(ratio "$e" "$base") |"
    done
    e=$(jget "$logs/scale_f2.out" events_per_s)
    echo "| 16 | 2 (one group) | $(jget "$logs/scale_f2.out" events) | $(k "$e") | $(ratio "$e" "$base") |"
    echo
    echo "Two workers share the machine's two cores with the producer and the broker, so a second"
    echo "worker adds little here; on separate machines each adds its own cores."
    echo
    echo "## Replay from the archive"
    echo
    echo '```'
    grep -v '^\[' "$logs/replay.out" | grep -v '^$' || true
    echo '```'
    echo
    echo "## Projection and queries"
    echo
    echo '```'
    cat "$logs/project.out"
    echo '```'
    echo
    echo "## Gateway: tracking links and the HTTP intake (wrk)"
    echo
    echo "\`tests/bench/bench_gateway.sh\`: wrk on the same 2 cores as the gateway, the broker and (for"
    echo "the redirects) the fold and the projection; the clicks in the ledger are checked"
    echo "against the redirects answered without a cookie. Targets: 10k redirects/s with p99"
    echo "under 10 ms; 50k events/s through ndjson POSTs ([intake.md](intake.md))."
    echo
    echo '```'
    grep -E '^==|Requests/sec|^ +(50|99)%|requests in|^gateway:|^ledger:|^ndjson:' "$logs/gateway.out" || true
    echo '```'
    echo
    echo "## Webhooks: deliveries/s and reward-to-webhook latency"
    echo
    wh_eps='' wh_msgs='' wh_eps_n='' wh_rps='' wh_n='' wh_p50='' wh_p99='' wh_max=''
    wh_wn='' wh_wp50='' wh_wp99='' wh_wmax=''
    eval "$(wh_figures "$logs/webhooks.out")"
    echo "\`bench_webhooks$([ -n "$WEBHOOKS_ARGS" ] && echo " $WEBHOOKS_ARGS")\` ([webhooks.md](webhooks.md#benchmark)): the relay"
    echo "delivers every ledger record of every type to endpoints on an in-process receiver that"
    echo "answers 204 at once (synced commits); then purchases are published at the rate that"
    echo "gives 1,000 reward records/s with the fold, the projection and the relay running, and"
    echo "each \`reward.created\` webhook is timed from its purchase being published to its"
    echo "arrival. The first seconds (stores opening, consumers settling) make the whole run's"
    echo "tail: the row after the first 5 s is the steady state. Targets: at least 5,000"
    echo "deliveries/s; p99 under 250 ms."
    echo
    echo "| measure | value |"
    echo "|---|---|"
    echo "| deliveries/s ($(k "$wh_msgs") messages to ${wh_eps_n:--} endpoints) | ${wh_eps:--} |"
    echo "| reward-to-webhook latency, all ${wh_n:--} webhooks (${wh_rps:--} reward records/s) | p50 ${wh_p50:--} ms, p99 ${wh_p99:--} ms, max ${wh_max:--} ms |"
    echo "| the same, purchases after the first 5 s (${wh_wn:--} webhooks) | p50 ${wh_wp50:--} ms, p99 ${wh_wp99:--} ms, max ${wh_wmax:--} ms |"
    echo
    echo "## How to run"
    echo
    echo "\`ops/bench.sh\` (full) or \`ops/bench.sh --quick\`; \`--base OLD_BUILD_DIR\` adds the build before"
    echo "to the targets table (interleaved), \`--peer\` the PostgreSQL peer (\`tests/bench/pg_peer/run.sh\`);"
    echo "each program also runs alone:"
    echo "\`build/tests/bench/bench_e2e --help\`, \`bench_fold --help\`, \`bench_project --help\`, \`bench_webhooks --help\`,"
    echo "\`RF_BENCH=1 RF_BENCH_EVENTS=N build/tests/test_replay_bench\`. Raw outputs of the last run:"
    echo "\`build/bench-logs/\`."
} >"$out"
echo "bench: wrote $out" >&2
exit $fail
