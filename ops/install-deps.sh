#!/bin/sh
# ops/install-deps.sh: installs refold's build and test dependencies from
# Debian 12's packages. Idempotent: a no-op (no apt-get run) when all is there.
# g++: tests/install builds a C++ app against librefold; dpkg-dev and file:
# ops/package.sh's cpack computes the .deb's Depends with dpkg-shlibdeps;
# help2man: the man page.
set -eu

# prometheus: its promtool checks the workers' /metrics (tests/it_metrics.c);
# iproute2 and socat: tests/multihost (network namespaces; socat carries the
# embedded broker's loopback port between them)
PKGS="build-essential cmake pkg-config git
librdkafka-dev librocksdb-dev libavro-dev uuid-dev libssl-dev libjansson-dev
libcmocka-dev libmicrohttpd-dev kcat wrk clang libclang-rt-14-dev curl
chromium fonts-dejavu-core prometheus openssl
g++ dpkg-dev file help2man
python3-confluent-kafka python3-avro python3-requests libcurl4-openssl-dev
iproute2 socat"
# Node.js and npm: the interop tests run npm's kafkajs, Confluent registry
# client and standardwebhooks (tests/interop/npm-setup.sh); Debian's when no
# node is installed otherwise.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# The npm packages of the interop tests (tests/interop/package.json) into a
# cache dir, after node itself; a no-op when they are there.
npm_packages() {
    "$(dirname "$0")/../tests/interop/npm-setup.sh" >/dev/null
}

if [ -z "$missing" ]; then
    echo "refold: all build dependencies are installed"
    npm_packages
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
# Only promtool is wanted from prometheus: on a host with systemd, do not
# leave the server it installs running (the container has no systemd).
case " $missing " in
*" prometheus "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    ;;
esac
npm_packages
