#!/bin/sh
# ops/fuzz.sh: builds refold's libFuzzer targets (tests/fuzz/) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, then runs
# each target for N seconds (default 30) on a copy of its checked-in seed
# corpus (tests/fuzz/corpus/<target>/) and its regression inputs
# (tests/fuzz/regress/<target>/: every crash found, kept). Exits non-zero on the first crash,
# leak, timeout or sanitizer report; the reproducer is left in build-fuzz/
# (crash-*, leak-*, timeout-*) and the log in build-fuzz/fuzz-<target>.log.
#   ops/fuzz.sh [seconds] [target...]     e.g. ops/fuzz.sh 600 fuzz_http
# New inputs that grow coverage stay in build-fuzz/corpus/<target>/; copy the
# interesting ones into the seed corpus by hand when they are worth keeping.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-30}
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_codec fuzz_jsonl fuzz_http fuzz_gateway"}
case "$secs" in *[!0-9]* | "") echo "usage: ops/fuzz.sh [seconds] [target...]" >&2; exit 2 ;; esac

./ops/install-deps.sh >/dev/null
build=build-fuzz
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREFOLD_FUZZ=ON -DREFOLD_WERROR=ON \
    -DREFOLD_SANITIZE=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target $targets

status=0
for t in $targets; do
    work="$build/corpus/$t"
    mkdir -p "$work"
    log="$build/fuzz-$t.log"
    maxlen=8192
    [ "$t" = fuzz_http ] && maxlen=2100 # the server refuses longer URIs before parsing
    [ "$t" = fuzz_gateway ] && maxlen=65536 # ndjson bodies of many lines
    echo "fuzz: $t for ${secs}s (seeds: tests/fuzz/corpus/$t)"
    # -rss_limit_mb bounds a runaway allocation; -timeout flags a hang
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=$maxlen -print_final_stats=1 -artifact_prefix="$build/" \
        "$work" "tests/fuzz/corpus/$t" "tests/fuzz/regress/$t" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz: $t ok: ${runs:-?} runs, $cov"
    else
        echo "fuzz: $t FAILED (log $log):" >&2
        grep -E "ERROR|SUMMARY|Test unit written|deadly signal" "$log" | head -20 >&2 || true
        status=1
    fi
done
exit $status
