#!/bin/sh
# ops/reliability.sh: runs refold's reliability suite and WRITES
# docs/reliability.md (what was tried, how often, with which result, and the
# findings: what broke and what was fixed, from ops/reliability-findings.md).
#   ops/reliability.sh           short versions (about 10 minutes; CI runs
#                                the same tests through ctest)
#   ops/reliability.sh --long    long versions: fuzzing 10 min per target,
#                                500k events under broker faults, 1M events
#                                with 1% corrupt, 10 min of load at 100k
#                                events/s (about 1.5 h on 2 cores)
# Logs stay in build/reliability-logs/. Exits non-zero when any item fails.
set -eu
cd "$(dirname "$0")/.."
long=0
for arg in "$@"; do
    case "$arg" in
    --long) long=1 ;;
    *) echo "usage: ops/reliability.sh [--long]" >&2; exit 2 ;;
    esac
done
./ops/install-deps.sh >/dev/null
build=build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target refold it_faults \
    it_disk_full it_badinput it_load it_fold_crash test_fuzz_replay >/dev/null
logs=$build/reliability-logs
rm -rf "$logs"
mkdir -p "$logs"
t=$build/tests

if [ $long = 1 ]; then
    FUZZ_S=600; FAULT_N=500000; FAULT_RATE=20000; DISK_N=200000; DISK_R=5; BAD_N=1000000
    LOAD_S=600; LOAD_RATE=100000
else
    FUZZ_S=60; FAULT_N=10000; FAULT_RATE=2000; DISK_N=40000; DISK_R=3; BAD_N=40000
    LOAD_S=30; LOAD_RATE=10000
fi

rows=""
fail=0
# item NAME WHAT SIZE CMD...: runs one item, output to $logs/NAME.log
item() {
    name=$1; what=$2; size=$3; shift 3
    echo "reliability: $name: $*" >&2
    start=$(date +%s)
    if "$@" >"$logs/$name.log" 2>&1; then res=pass; else res="**FAIL**"; fail=1; fi
    grep -q "SKIPPED" "$logs/$name.log" && res="skipped (see log)"
    secs=$(( $(date +%s) - start ))
    echo "reliability: $name: $res in $secs s" >&2
    rows="$rows| $what | $size | $res | $secs s | \`$*\` |
"
}

item fuzz "libFuzzer: codec (framed Avro), JSON lines, HTTP request parsing" \
    "$FUZZ_S s per target" ./ops/fuzz.sh "$FUZZ_S"
item fuzz_replay "seed corpus and every past crash, replayed (also in ctest)" \
    "all inputs" "$t/test_fuzz_replay"
item faults "broker faults: request errors, brokers down/up, leader and coordinator moves, RTT" \
    "$FAULT_N events" env RF_FAULT_EVENTS=$FAULT_N RF_FAULT_RATE=$FAULT_RATE "$t/it_faults"
item crash "kill -9 of the fold at random points (it_fold_crash, by the fold worker's author)" \
    "20 kills, 200k events" "$t/it_fold_crash"
item disk "full filesystem (tmpfs + ballast): stop without advancing offsets, resume" \
    "$DISK_N events, $DISK_R rounds" env RF_DISK_EVENTS=$DISK_N RF_DISK_ROUNDS=$DISK_R \
    "$t/it_disk_full"
item badinput "1% corrupt messages of 9 kinds mixed into good traffic" "$BAD_N events" \
    env RF_BAD_EVENTS=$BAD_N "$t/it_badinput"
item load "steady load: fold RSS over time and lag" "$LOAD_S s at $LOAD_RATE/s" \
    env RF_LOAD_SECONDS=$LOAD_S RF_LOAD_RATE=$LOAD_RATE RF_LOAD_CSV="$logs/load.csv" "$t/it_load"

# figures: the lines each harness prints with its prefix
figures() { grep -E "^($2): " "$logs/$1.log" | sed 's/^/    /' || echo "    (no figures: see the log)"; }

out=docs/reliability.md
{
    echo "# Reliability"
    echo
    echo "Written by \`ops/reliability.sh$([ $long = 1 ] && echo ' --long')\` — do not edit by hand; run it again."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(uname -sr)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo uncommitted); mode: $([ $long = 1 ] && echo long || echo short)"
    echo
    echo "| what was tried | how much | result | time | command |"
    echo "|---|---|---|---|---|"
    printf '%s' "$rows"
    echo
    echo "Every harness exits non-zero when an invariant breaks. The short versions run in CI"
    echo "(ctest labels integration and slow; \`ops/fuzz.sh 30\`); the long ones by hand:"
    echo "\`ops/reliability.sh --long\`."
    echo
    echo "## Figures of this run"
    echo
    echo "Fuzzing (ops/fuzz.sh; corpora in tests/fuzz/corpus, past crashes in tests/fuzz/regress):"
    echo
    figures fuzz "fuzz"
    echo
    echo "Broker faults (tests/it_faults.c): the same traffic through a clean one-broker cluster and"
    echo "through three brokers under a chaos thread; ledger heads, balances and the projection must match:"
    echo
    figures faults "faults"
    echo
    echo "Crash (tests/it_fold_crash.c):"
    echo
    grep -E "OK|FAIL|PASSED" "$logs/crash.log" | sed 's/^/    /' || true
    echo
    echo "Full disk (tests/it_disk_full.c):"
    echo
    figures disk "disk_full"
    echo
    echo "Bad input (tests/it_badinput.c):"
    echo
    figures badinput "badinput"
    echo
    echo "Load (tests/it_load.c; samples in build/reliability-logs/load.csv):"
    echo
    figures load "load"
    echo
    cat ops/reliability-findings.md
} >"$out"
echo "reliability: wrote $out" >&2
exit $fail
