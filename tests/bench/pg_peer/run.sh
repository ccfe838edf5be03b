#!/bin/sh
# tests/bench/pg_peer/run.sh FILE.jsonl [BATCH]: the PostgreSQL peer of ops/bench.sh --peer.
# Folds refold loadgen's JSON lines into PostgreSQL 15 (Debian) the way a PostgreSQL ledger
# would (pg_fold_jsonl.c: idempotency row, event row, postings and balance upserts per batch,
# synchronous commit; no rules, no hash chain: an optimistic peer), once with one connection
# and once with two (the file split by program, each program's events in order in one half).
# The owner's ../shared/peers/run-pg-peer.sh, with a JSON line at the end for ops/bench.sh:
#   {"bench":"pg_peer","events":N,"one_connection_per_s":R1,"two_connections_per_s":R2}
# Needs root (apt-get, su postgres): installs postgresql-15 libpq-dev libjansson-dev when
# missing, starts the cluster when it is down and leaves it running. Scratch databases:
# refold_peer1, refold_peer2 (their tables are dropped and made again on each run).
set -eu
file=${1:?usage: run.sh FILE.jsonl [BATCH]}
batch=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "pg_peer: needs root (apt-get, su postgres)" >&2; exit 2; }
work=$(mktemp -d /tmp/refold-pg-peer.XXXXXX)
trap 'rm -rf "$work"' EXIT
need=""
for p in postgresql-15 libpq-dev libjansson-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    echo "pg_peer: installing$need" >&2
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get update -qq && apt-get install -y -qq $need >/dev/null
fi
pg_lsclusters -h | grep -q " online " || pg_ctlcluster 15 main start
cc -O2 -o "$work/pg_fold_jsonl" "$here/pg_fold_jsonl.c" -I/usr/include/postgresql -lpq -ljansson
chmod 755 "$work" "$work/pg_fold_jsonl"
for db in refold_peer1 refold_peer2; do
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 ||
        su postgres -c "createdb $db"
done
awk -v d="$work" '{ if (match($0, /"program_id":"[^"]*"/)) { p = substr($0, RSTART, RLENGTH); h = 0;
    for (i = 1; i <= length(p); i++) h = (h * 31 + index("abcdefghijklmnopqrstuvwxyz0123456789-_", substr(p, i, 1))) % 2;
    print > (d "/half" h ".jsonl") } }' "$file"
cp "$file" "$work/all.jsonl"
chmod 644 "$work"/*.jsonl
n=$(wc -l <"$file")
echo "== PostgreSQL peer, one connection"
su postgres -c "$work/pg_fold_jsonl dbname=refold_peer1 $work/all.jsonl $batch" 2>&1 | tee "$work/one.out" | grep pg_fold
one=$(sed -n 's/.* = \([0-9]*\) events\/s.*/\1/p' "$work/one.out")
echo "== PostgreSQL peer, two connections"
t0=$(date +%s.%N)
su postgres -c "$work/pg_fold_jsonl dbname=refold_peer1 $work/half0.jsonl $batch" 2>&1 | grep pg_fold &
su postgres -c "$work/pg_fold_jsonl dbname=refold_peer2 $work/half1.jsonl $batch" 2>&1 | grep pg_fold &
wait
t1=$(date +%s.%N)
two=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "pg_peer_two_connections: $n events in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s = $two events/s"
if [ -z "$one" ] || [ -z "$two" ]; then echo "pg_peer: a run failed" >&2; exit 1; fi
echo "{\"bench\":\"pg_peer\",\"events\":$n,\"one_connection_per_s\":$one,\"two_connections_per_s\":$two}"
