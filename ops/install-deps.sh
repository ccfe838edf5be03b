#!/bin/sh
# ops/install-deps.sh: installs refold's build and test dependencies from
# Debian 12's packages. Idempotent: a no-op (no apt-get run) when all is there.
set -eu

# iproute2 and socat: tests/multihost (network namespaces; socat carries the
# embedded broker's loopback port between them)
PKGS="build-essential cmake pkg-config git
librdkafka-dev librocksdb-dev libavro-dev uuid-dev libssl-dev libjansson-dev
libcmocka-dev libmicrohttpd-dev kcat wrk clang libclang-rt-14-dev curl
chromium fonts-dejavu-core
iproute2 socat"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "refold: all build dependencies are installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "refold: missing packages:$missing" >&2
    echo "refold: run this script as root (or: sudo $0)" >&2
    exit 1
fi
echo "refold: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
