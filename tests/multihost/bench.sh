#!/bin/bash
# tests/multihost/bench.sh: the multi-host benchmark (not a test; needs root):
# the fold rate with 1, 2 and 3 hosts (network namespaces, lib.sh) and CPU per
# event, then how long a partition moved off a SIGKILLed host takes to be
# served again. The hosts share this machine's cores: the rate cannot scale
# past them; CPU per event says what a host with its own cores would spend.
# usage: bench.sh BUILD_DIR [EVENTS]   (default 100000: the embedded broker
# keeps 5 MiB per partition, and the fold starts after all are produced)
set -euo pipefail
BUILD=${1:?usage: bench.sh BUILD_DIR [EVENTS]}
EVENTS=${2:-100000}
REFOLD=$BUILD/cmd/refold
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
mh_require
[ -x /usr/bin/time ] || { echo "bench.sh needs /usr/bin/time (GNU time)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/refold-multihost-bench-XXXXXX)
MH_HOSTS=()
MH_NSK=
trap 'mh_teardown; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# fold rate: n hosts, the 16 partitions split statically (--partitions), so a
# group join does not blur the figure; all events are produced first
for n in 1 2 3; do
    rm -rf "${WORK:?}/r$n"
    mkdir -p "$WORK/r$n"
    mh_setup "rfmb$$n$n" "$n"
    mh_broker "$REFOLD" "$WORK/r$n"
    mh_in "$MH_NSK" "$REFOLD" loadgen --brokers "$MH_BROKERS" --events "$EVENTS" --programs 64 \
        --referrers 1000 --no-throttle >"$WORK/r$n/loadgen.out" 2>&1
    t0=$(now)
    pids=()
    for i in $(seq 1 "$n"); do
        parts=$(awk -v i="$i" -v n="$n" 'BEGIN { s = ""; for (p = i - 1; p < 16; p += n) { printf "%s%d", s, p; s = "," } }')
        mh_in "${MH_HOSTS[$((i - 1))]}" /usr/bin/time -f "%U %S" -o "$WORK/r$n/time$i" \
            "$REFOLD" fold --brokers "$MH_BROKERS" --data "$WORK/r$n/h$i" --partitions "$parts" \
            --exit-at-end >"$WORK/r$n/fold$i.out" 2>"$WORK/r$n/fold$i.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    t1=$(now)
    folded=$(cat "$WORK"/r$n/fold*.out | sed -n 's/^consumed=\([0-9]*\) .*/\1/p' | awk '{ n += $1 } END { print n }')
    cpu=$(cat "$WORK"/r$n/time* | awk '{ c += $1 + $2 } END { print c }')
    wall=$(sub "$t0" "$t1")
    echo "$n host(s): $folded events in $wall s (process start to the last exit) = $(awk -v e="$folded" -v w="$wall" 'BEGIN { printf "%.0f", e / w }') events/s; CPU $cpu s = $(awk -v e="$folded" -v c="$cpu" 'BEGIN { printf "%.1f", c * 1e6 / e }') us per event over all hosts"
    mh_teardown
    MH_HOSTS=()
done

# a moved partition: three hosts in one group with replicas and serve; host 3
# is SIGKILLed, then one more burst arrives; time until host 1 serves every
# partition's records again (the group drops host 3 after session.timeout.ms,
# 6 s; its partitions are rebuilt from offset 0 by hosts 1 and 2)
mkdir -p "$WORK/m"
mh_setup "rfmb$$m" 3
mh_broker "$REFOLD" "$WORK/m"
for i in 1 2 3; do
    d=$WORK/m/h$i
    mkdir -p "$d"
    ns=${MH_HOSTS[$((i - 1))]}
    mh_in "$ns" "$REFOLD" fold --brokers "$MH_BROKERS" --data "$d" >/dev/null 2>"$d.fold.err" &
    mh_in "$ns" "$REFOLD" project --replica --brokers "$MH_BROKERS" --data "$d" >/dev/null 2>&1 &
    mh_in "$ns" "$REFOLD" serve --data "$d" --listen 127.0.0.1:8080 >/dev/null 2>&1 &
done
sleep 8
mh_in "$MH_NSK" "$REFOLD" loadgen --brokers "$MH_BROKERS" --events "$EVENTS" --programs 64 \
    --referrers 1000 --no-throttle >/dev/null 2>&1
# health of host 1: every partition's projection at the topic's end
caught_up() {
    local h
    h=$(mh_in "${MH_HOSTS[0]}" curl -s --max-time 5 http://127.0.0.1:8080/v1/health || true)
    [[ "$h" == '{"status":"ok",'* ]] || return 1
    ! echo "$h" | grep -o '"next_offset":-*[0-9]*,"high_watermark":-*[0-9]*' |
        sed 's/"next_offset":\(-*[0-9]*\),"high_watermark":\(-*[0-9]*\)/\1 \2/' |
        awk '!($1 == $2 || ($1 == -1 && $2 == 0))' | grep -q .
}
total=$EVENTS
until [ "$(mh_folded "$REFOLD" "$WORK"/m/h1 "$WORK"/m/h2 "$WORK"/m/h3)" -ge "$total" ] && caught_up; do sleep 0.5; done
ip netns pids "${MH_HOSTS[2]}" | xargs -r kill -9
t_kill=$(now)
mh_in "$MH_NSK" "$REFOLD" loadgen --brokers "$MH_BROKERS" --events 5000 --programs 64 \
    --referrers 1000 --seed 2 --start 2026-03-01T00:00:00Z --no-throttle >/dev/null 2>&1
total=$((EVENTS + 5000))
until [ "$(mh_folded "$REFOLD" "$WORK"/m/h1 "$WORK"/m/h2)" -ge "$total" ] && caught_up; do sleep 0.2; done
t_back=$(now)
rebuilt=$(grep -h "assigned: resume at offset 0 (topic 0\.\.[1-9]" "$WORK"/m/h1.fold.err "$WORK"/m/h2.fold.err |
    sed -n 's/.*topic 0\.\.\([0-9]*\),.*/\1/p' | awk '{ n++; e += $1 } END { printf "%d partitions, %d events", n, e }')
echo "moved partitions: host 3 SIGKILLed; host 1 serves every partition complete again $(sub "$t_kill" "$t_back") s later (rebuilt from offset 0: $rebuilt; includes the 6 s session timeout)"
