#!/bin/bash
# tests/multihost/run.sh: the multi-host test (issue 21, docs/operations.md,
# "Several hosts"): three hosts as network namespaces, each running fold (one
# consumer group), project --replica and serve on its own data directory;
# every host must give the same answers, before and after one host is killed
# with SIGKILL, the fold heads must equal a single-host fold of the same
# events and the projections a fresh replica's. Needs root (skips otherwise).
# usage: run.sh BUILD_DIR [KEEP_DIR]
set -euo pipefail
BUILD=${1:?usage: run.sh BUILD_DIR [KEEP_DIR]}
REFOLD=$BUILD/cmd/refold
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
mh_require
[ -x "$REFOLD" ] || { echo "FAIL: no $REFOLD (build first)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/refold-multihost-XXXXXX)
MH_HOSTS=()
MH_NSK=
OK=0
finish() {
    mh_teardown
    if [ "$OK" = 1 ]; then
        rm -rf "$WORK"
    else
        echo "FAIL: logs kept in $WORK" >&2
        for f in "$WORK"/h*/*.err "$WORK"/broker.err; do
            [ -s "$f" ] && { echo "--- $f (tail)"; tail -5 "$f"; }
        done >&2
    fi
}
trap finish EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
t0=$(date +%s)
say() { echo "[$(($(date +%s) - t0))s] $*"; }

mh_setup "rfmh$$" 3
mh_broker "$REFOLD" "$WORK"
say "broker in $MH_NSK at $MH_BROKER_IP:$MH_PORT; hosts ${MH_HOSTS[*]}"

# start_host I [RUN]: fold (group refold-fold), project --replica and serve
# on host I; logs DIR/{fold,project,serve}RUN.{out,err}.
start_host() {
    local i=$1 ns=${MH_HOSTS[$(($1 - 1))]} d=$WORK/h$1 r=${2:-}
    mkdir -p "$d/data"
    mh_in "$ns" "$REFOLD" fold --brokers "$MH_BROKERS" --data "$d/data" \
        >"$d/fold$r.out" 2>"$d/fold$r.err" &
    mh_in "$ns" "$REFOLD" project --replica --brokers "$MH_BROKERS" --data "$d/data" \
        >"$d/project$r.out" 2>"$d/project$r.err" &
    mh_in "$ns" "$REFOLD" serve --data "$d/data" --listen 127.0.0.1:8080 \
        >"$d/serve$r.out" 2>"$d/serve$r.err" &
}

# wait_serving I: until host I's serve answers /v1/health
wait_serving() {
    for _ in $(seq 1 100); do
        mh_in "${MH_HOSTS[$(($1 - 1))]}" curl -s -o /dev/null --max-time 2 \
            http://127.0.0.1:8080/v1/health && return 0
        sleep 0.2
    done
    fail "host $1's serve does not answer"
}

# get NS PATH: the body of GET http://127.0.0.1:8080PATH inside NS (the
# host's own loopback: each host serves on its own).
get() {
    mh_in "$1" curl -s --max-time 5 "http://127.0.0.1:${3:-8080}$2" || true
}

# ask NS [PORT]: the questions every host must answer alike: a user's balance
# across programs, three leaderboards, a program's stats.
ask() {
    local ns=$1 port=${2:-8080} p
    echo "balance $(get "$ns" "/v1/users/$USER_ID/balance" "$port")"
    for p in lg-p1 lg-p2 lg-p3; do
        echo "board $p $(get "$ns" "/v1/programs/$p/leaderboard?top=20" "$port")"
    done
    echo "stats $(get "$ns" /v1/programs/lg-p1/stats "$port")"
}

# caught_up NS: the host's projection applied everything its partitions
# held at their last commit (an empty partition reports lag -1: next offset
# -1, high watermark 0).
caught_up() {
    local h
    h=$(get "$1" /v1/health)
    [[ "$h" == '{"status":"ok",'* ]] || return 1
    ! echo "$h" | grep -o '"next_offset":-*[0-9]*,"high_watermark":-*[0-9]*' |
        sed 's/"next_offset":\(-*[0-9]*\),"high_watermark":\(-*[0-9]*\)/\1 \2/' |
        awk '!($1 == $2 || ($1 == -1 && $2 == 0))' | grep -q .
}

# converge EVENTS HOSTNUM...: waits until the live hosts folded EVENTS events,
# their projections have no lag and two rounds of answers 2 s apart agree on
# every host; fails after 120 s.
converge() {
    local events=$1 deadline=$(($(date +%s) + 120)) i prev="" cur dirs=()
    shift
    for i in "$@"; do dirs+=("$WORK/h$i/data"); done
    while :; do
        [ "$(date +%s)" -lt "$deadline" ] ||
            fail "hosts $* did not converge: folded $(mh_folded "$REFOLD" "${dirs[@]}") of $events"
        sleep 2
        [ "$(mh_folded "$REFOLD" "${dirs[@]}")" -ge "$events" ] || continue
        cur=""
        for i in "$@"; do
            caught_up "${MH_HOSTS[$((i - 1))]}" || continue 2
            ask "${MH_HOSTS[$((i - 1))]}" >"$WORK/answers.h$i"
            cmp -s "$WORK/answers.h$1" "$WORK/answers.h$i" || continue 2
        done
        cur=$(cat "$WORK/answers.h$1")
        [ "$cur" = "$prev" ] && break
        prev=$cur
    done
}

for i in 1 2 3; do start_host $i; done
for i in 1 2 3; do wait_serving $i; done
sleep 6 # the fold group forms (about 3 s on the embedded broker)
say "three hosts up; traffic: 20000 events"
mh_in "$MH_NSK" "$REFOLD" loadgen --brokers "$MH_BROKERS" --events 20000 --programs 16 \
    --referrers 300 --no-throttle >"$WORK/loadgen1.out" 2>&1 || fail "loadgen: $(tail -2 "$WORK/loadgen1.out")"
USER_ID=placeholder
converge 20000 1 2 3
# a referrer with rewards: the top of lg-p1's board
USER_ID=$(get "${MH_HOSTS[0]}" "/v1/programs/lg-p1/leaderboard?top=1" |
    sed -n 's/.*"user":"\([^"]*\)".*/\1/p')
[ -n "$USER_ID" ] || fail "lg-p1's leaderboard is empty"
converge 20000 1 2 3
grep -q '"balances":\[{' "$WORK/answers.h1" || fail "no balance for $USER_ID: $(head -1 "$WORK/answers.h1")"
grep -q '"entries":\[{' "$WORK/answers.h1" || fail "empty leaderboards"
h3_folded=$(mh_folded "$REFOLD" "$WORK/h3/data")
[ "$h3_folded" -gt 0 ] || fail "host 3 folded nothing: killing it would move no state"
say "three hosts answer alike (user $USER_ID; host 3 folded $h3_folded events)"

# host 3 dies: every process of it, SIGKILL
disown -a # no "Killed" notice
ip netns pids "${MH_HOSTS[2]}" | xargs -r kill -9
say "host 3 killed; waiting for the rebalance, then 10000 more events"
sleep 8 # session.timeout.ms=6000: the group drops host 3's member
mh_in "$MH_NSK" "$REFOLD" loadgen --brokers "$MH_BROKERS" --events 10000 --programs 16 \
    --referrers 300 --seed 2 --start 2026-03-01T00:00:00Z --no-throttle \
    >"$WORK/loadgen2.out" 2>&1 || fail "loadgen: $(tail -2 "$WORK/loadgen2.out")"
t_kill=$(date +%s)
converge 30000 1 2
say "hosts 1 and 2 answer alike after the kill ($(($(date +%s) - t_kill)) s after the traffic)"
# an empty ledger assigned a non-empty topic: a partition rebuilt by its new owner
moved=$(grep -hc "assigned: resume at offset 0 (topic 0\.\.[1-9]" "$WORK"/h[12]/fold.err |
    awk '{ n += $1 } END { print n + 0 }')
[ "$moved" -gt 0 ] || fail "no partition moved to hosts 1 and 2"

# host 3 comes back with the stores it had when it died: the group gives it
# partitions that hosts 1 and 2 folded further meanwhile; it must catch up
# (outbox held until its ledger reaches refold.ledger's last record) rather
# than fold or publish from a stale store
mh_relay "${MH_HOSTS[2]}" "$WORK"
sleep 0.3
start_host 3 .2
wait_serving 3
sleep 6 # rejoin and rebalance
mh_in "$MH_NSK" "$REFOLD" loadgen --brokers "$MH_BROKERS" --events 5000 --programs 16 \
    --referrers 300 --seed 3 --start 2026-04-01T00:00:00Z --no-throttle \
    >"$WORK/loadgen3.out" 2>&1 || fail "loadgen: $(tail -2 "$WORK/loadgen3.out")"
converge 35000 1 2 3
stale=$(grep -c "is behind 'refold.ledger'" "$WORK/h3/fold.2.err" || true)
[ "$stale" -gt 0 ] || fail "host 3 came back without a stale partition (no 'is behind' in its log)"
grep -q "equals 'refold.ledger''s" "$WORK/h3/fold.2.err" || fail "host 3 never verified a caught-up seq"
say "host 3 came back: $stale stale partitions caught up and verified; three hosts answer alike"

# single-host fold of the same events: replay from Kafka into a fresh directory
mh_in "$MH_NSK" "$REFOLD" replay --into "$WORK/ref" --brokers "$MH_BROKERS" --no-compare \
    >"$WORK/replay.out" 2>"$WORK/replay.err" || fail "replay: $(tail -2 "$WORK/replay.err")"
mh_heads "$REFOLD" "$WORK/ref" >"$WORK/heads.ref"
mh_heads "$REFOLD" "$WORK/h1/data" "$WORK/h2/data" "$WORK/h3/data" >"$WORK/heads.hosts"
[ "$(wc -l <"$WORK/heads.ref")" -gt 3 ] || fail "the reference fold has too few partitions"
diff "$WORK/heads.ref" "$WORK/heads.hosts" >&2 || fail "fold heads differ from a single-host fold"
say "fold heads of the hosts equal a single-host fold ($(wc -l <"$WORK/heads.ref") partitions)"

# a divergent ledger must never publish: a partial replay (from offset 1, so
# its records differ from the partition's) folded by a worker given that
# partition; it must stop with RF_ERR_CORRUPT and refold.ledger not grow
div_p=$(awk '$4 > 1 { print $1; exit }' "$WORK/heads.ref")
ledger_end() {
    mh_in "$MH_NSK" kcat -b "$MH_BROKERS" -Q -t "refold.ledger:$div_p:-1" 2>/dev/null |
        sed -n 's/.* offset \([0-9]*\).*/\1/p'
}
end0=$(ledger_end)
[ -n "$end0" ] || fail "kcat cannot read refold.ledger's end offsets"
mh_in "$MH_NSK" "$REFOLD" replay --into "$WORK/div" --brokers "$MH_BROKERS" --from-offset 1 \
    --no-compare >"$WORK/div-replay.out" 2>&1 || fail "partial replay: $(tail -2 "$WORK/div-replay.out")"
rc=0
mh_in "$MH_NSK" timeout 60 "$REFOLD" fold --brokers "$MH_BROKERS" --data "$WORK/div" \
    --partitions "$div_p" --exit-at-end >"$WORK/div.out" 2>"$WORK/div.err" || rc=$?
if [ "$rc" != 1 ] || ! grep -q "history diverged; nothing of it was published" "$WORK/div.err"; then
    fail "a divergent ledger of partition $div_p was not refused (exit $rc): $(tail -2 "$WORK/div.err")"
fi
[ "$(ledger_end)" = "$end0" ] || fail "the divergent ledger published to refold.ledger"
say "a divergent ledger of partition $div_p was refused, nothing published"

# the projections: each host applied every seq of every partition once, and
# answers as a fresh replica built from refold.ledger afterwards
awk '{ print $1, $2 }' "$WORK/heads.ref" >"$WORK/seqs.ref"
for i in 1 2 3; do
    get "${MH_HOSTS[$((i - 1))]}" /v1/health | grep -o '"partition":[0-9]*,"applied_seq":[0-9]*' |
        sed 's/"partition":\([0-9]*\),"applied_seq":\([0-9]*\)/\1 \2/' | awk '$2 > 0' |
        sort -n >"$WORK/seqs.h$i"
    diff "$WORK/seqs.ref" "$WORK/seqs.h$i" >&2 || fail "host $i's projection applied other seqs"
done
mkdir -p "$WORK/fresh"
t_fresh=$(date +%s.%N)
mh_in "$MH_NSK" "$REFOLD" project --replica --exit-at-end --brokers "$MH_BROKERS" \
    --data "$WORK/fresh" >"$WORK/fresh.out" 2>"$WORK/fresh.err" || fail "fresh replica failed"
t_fresh=$(awk -v a="$t_fresh" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
recs=$(sed -n 's/^applied \([0-9]*\) records.*/\1/p' "$WORK/fresh.out")
dups=$(sed -n 's/^applied \([0-9]*\) records, dropped \([0-9]*\) duplicates.*/\2/p' "$WORK/fresh.out")
mh_in "$MH_NSK" "$REFOLD" serve --data "$WORK/fresh" --listen 127.0.0.1:8090 \
    >"$WORK/fresh-serve.out" 2>&1 &
for _ in $(seq 1 100); do
    mh_in "$MH_NSK" curl -s -o /dev/null --max-time 2 http://127.0.0.1:8090/v1/health && break
    sleep 0.2
done
ask "$MH_NSK" 8090 >"$WORK/answers.fresh"
diff "$WORK/answers.fresh" "$WORK/answers.h1" >/dev/null ||
    fail "host 1 answers differently from a fresh replica"
say "the hosts answer as a fresh replica ($recs records in $t_fresh s including its start; $dups republished duplicates dropped)"
mib() { du -sk "$1" | awk '{ printf "%.1f MiB", $1 / 1024 }'; }
say "on disk: fold ledgers of all partitions $(mib "$WORK/ref/fold"), projection $(mib "$WORK/fresh/project")"
say "PASS: $moved rebuilds from offset 0 (an empty ledger assigned a non-empty partition)"
OK=1
