# shellcheck shell=bash
# tests/multihost/lib.sh: three refold hosts as network namespaces on this
# machine, sourced by run.sh (the test) and bench.sh (docs/operations.md,
# "Several hosts"). Nothing is shared between the hosts but the broker:
# each host has its own data directory and reaches the broker over a veth
# pair into a bridge that lives in a fourth namespace, the broker's.
#
# The embedded broker (librdkafka 2.0.2's mock cluster) binds 127.0.0.1 and
# advertises 127.0.0.1:PORT in its metadata, with no option to change either
# (rd_kafka_mock_broker_new in src/rdkafka_mock.c). Loopback is per
# namespace, so socat carries it: in the broker's namespace from
# 10.213.0.254:PORT to its loopback, and in each host's namespace from
# 127.0.0.1:PORT to 10.213.0.254:PORT. Clients on a host use 127.0.0.1:PORT
# as on one machine; their bytes cross the bridge.

MH_NET=10.213.0
MH_BROKER_IP=$MH_NET.254

# mh_require: exits 77 (ctest: skipped) where namespaces cannot be made,
# 1 where a tool the test needs is missing (CI installs them).
mh_require() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: the multi-host test needs root to create network namespaces (ip netns)"
        exit 77
    fi
    if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
        echo "SKIP: 'ip netns' is not available here (iproute2, or namespaces not allowed)"
        exit 77
    fi
    local t
    for t in socat curl; do
        if ! command -v $t >/dev/null 2>&1; then
            echo "FAIL: '$t' is missing (ops/install-deps.sh installs it)" >&2
            exit 1
        fi
    done
}

# mh_setup TAG NHOSTS: namespaces ${TAG}k (bridge, broker) and ${TAG}h1..N.
mh_setup() {
    MH_TAG=$1
    local n=$2 i
    MH_NSK=${MH_TAG}k
    MH_HOSTS=()
    ip netns add "$MH_NSK"
    ip -n "$MH_NSK" link set lo up
    ip -n "$MH_NSK" link add br0 type bridge
    ip -n "$MH_NSK" addr add "$MH_BROKER_IP/24" dev br0
    ip -n "$MH_NSK" link set br0 up
    for i in $(seq 1 "$n"); do
        local ns=${MH_TAG}h$i
        ip netns add "$ns"
        MH_HOSTS+=("$ns")
        ip -n "$MH_NSK" link add "vh$i" type veth peer name eth0 netns "$ns"
        ip -n "$MH_NSK" link set "vh$i" master br0
        ip -n "$MH_NSK" link set "vh$i" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$MH_NET.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

# mh_teardown: kills what runs in the namespaces (only ours: started here)
# and deletes them, which deletes the veths and the bridge.
mh_teardown() {
    local ns
    disown -a 2>/dev/null || true # no "Killed" notices for our own kills
    for ns in "${MH_HOSTS[@]}" "$MH_NSK"; do
        [ -n "$ns" ] || continue
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    done
    sleep 0.2
    for ns in "${MH_HOSTS[@]}" "$MH_NSK"; do
        if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
    done
}

# mh_broker REFOLD DIR: the broker in its namespace, reachable from the
# hosts; sets MH_PORT and MH_BROKERS (the address clients on a host use).
mh_broker() {
    local refold=$1 dir=$2 i
    ip netns exec "$MH_NSK" "$refold" broker --bootstrap-file "$dir/bootstrap" \
        >"$dir/broker.out" 2>"$dir/broker.err" &
    for i in $(seq 1 150); do
        [ -s "$dir/bootstrap" ] && break
        sleep 0.2
    done
    [ -s "$dir/bootstrap" ] || { echo "FAIL: the broker did not start" >&2; return 1; }
    MH_PORT=$(sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' "$dir/bootstrap")
    [ -n "$MH_PORT" ] || { echo "FAIL: bootstrap '$(cat "$dir/bootstrap")'" >&2; return 1; }
    # shellcheck disable=SC2034 # used by the scripts that source this
    MH_BROKERS=127.0.0.1:$MH_PORT
    ip netns exec "$MH_NSK" socat "TCP-LISTEN:$MH_PORT,bind=$MH_BROKER_IP,fork,reuseaddr" \
        "TCP:127.0.0.1:$MH_PORT" 2>"$dir/relay-k.err" &
    local ns
    for ns in "${MH_HOSTS[@]}"; do mh_relay "$ns" "$dir"; done
    sleep 0.5
}

# mh_relay NS DIR: the host's loopback end of the broker (after mh_broker;
# again when a killed host comes back).
mh_relay() {
    ip netns exec "$1" socat "TCP-LISTEN:$MH_PORT,bind=127.0.0.1,fork,reuseaddr" \
        "TCP:$MH_BROKER_IP:$MH_PORT" 2>>"$2/relay-$1.err" &
}

# mh_in NS CMD...: runs CMD in namespace NS.
mh_in() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# mh_heads REFOLD DIR...: per partition the furthest head over the data
# directories (the partition's current owner), "partition seq hash
# next_offset" per line; stale copies on former owners are behind it.
mh_heads() {
    local refold=$1 d
    shift
    for d in "$@"; do
        if [ -d "$d/fold" ]; then "$refold" head --data "$d" 2>/dev/null || true; fi
    done | sed 's/[a-z_]*=//g' | awk '$4 >= 0 {
        if (!($1 in seq) || $2 > seq[$1] || ($2 == seq[$1] && $4 > off[$1])) {
            seq[$1] = $2; hash[$1] = $3; off[$1] = $4 } }
        END { for (p in seq) print p, seq[p], hash[p], off[p] }' | sort -n
}

# mh_folded REFOLD DIR...: events folded over all partitions (sum of the
# furthest next offsets).
mh_folded() {
    mh_heads "$@" | awk '{ n += $4 } END { print n + 0 }'
}
