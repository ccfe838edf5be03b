#!/bin/sh
# ops/package.sh: builds refold's .deb with CPack's DEB generator in build-deb/:
# a Release build installed under /usr (the binary, librefold and its headers,
# refold.pc, docs, systemd units, schemas, example programs), Depends computed
# by dpkg-shlibdeps. docs/operations.md, "Install and packaging".
#   ops/package.sh          build build-deb/refold_<version>_<arch>.deb
#   ops/package.sh --test   also install it with apt, run the installed refold
#                           (--version, help, a 2,000-event demo) and an app built
#                           against the installed librefold with pkg-config alone,
#                           then remove it again (apt remove). Needs root; CI runs it.
set -eu
cd "$(dirname "$0")/.."
test=0
for arg in "$@"; do
    case "$arg" in
    --test) test=1 ;;
    *) echo "usage: ops/package.sh [--test]" >&2; exit 2 ;;
    esac
done
./ops/install-deps.sh >/dev/null

build="build-deb"
rm -f "$build"/refold_*.deb
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$PWD/$build"/refold_*.deb)
echo "refold: built $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends
[ "$test" -eq 1 ] || exit 0

# ---- --test: the package as a user gets it ------------------------------------
fail() { echo "package test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (apt install)"
tmp=$(mktemp -d)
# what the postinst creates, when this machine did not have it: checked, then
# undone at the end (apt remove keeps users, data and /etc/refold)
had_env=0; [ -e /etc/refold/refold.env ] && had_env=1
had_user=0; getent passwd refold >/dev/null && had_user=1
cleanup() {
    apt-get remove -y -qq refold >/dev/null 2>&1 || true
    dpkg --purge refold >/dev/null 2>&1 || true
    [ "$had_env" -eq 1 ] || rm -f /etc/refold/refold.env
    [ "$had_env" -eq 1 ] || rmdir /etc/refold 2>/dev/null || true
    if [ "$had_user" -eq 0 ] && getent passwd refold >/dev/null; then
        rmdir /var/lib/refold 2>/dev/null || true
        userdel refold 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "$deb" >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; fail "apt install $deb"; }
version=$(dpkg-deb --field "$deb" Version)

# shellcheck disable=SC2230
[ "$(command -v refold)" = /usr/bin/refold ] || fail "refold is not /usr/bin/refold"
refold --version | grep -q "$version" || fail "refold --version does not say $version"
refold help >"$tmp/help" || fail "refold help"
grep -q demo "$tmp/help" || fail "refold help does not list demo"
refold demo --events 2000 --data "$tmp/d" >"$tmp/demo" 2>&1 || { cat "$tmp/demo" >&2; fail "refold demo"; }
grep -q "programs from /usr/bin/../share/refold/programs" "$tmp/demo" ||
    fail "the demo did not use the installed example programs"
grep -q "^verify: OK" "$tmp/demo" || fail "the demo's ledger does not verify"
for u in refold-fold@.service refold-project@.service refold-serve.service refold-webhooks.service refold-gateway.service refold-replica@.service; do
    grep -q "^ExecStart=/usr/bin/refold " "/usr/lib/systemd/system/$u" || fail "$u does not start /usr/bin/refold"
done
getent passwd refold >/dev/null || fail "postinst did not create the user refold"
[ "$(stat -c %U /var/lib/refold)" = refold ] || fail "/var/lib/refold is not the user refold's"
if [ "$had_env" -eq 0 ]; then
    cmp -s /etc/refold/refold.env /usr/share/refold/refold.env.example ||
        fail "postinst did not write /etc/refold/refold.env from the example"
fi
[ -f /usr/share/man/man1/refold.1 ] || fail "no man page /usr/share/man/man1/refold.1"
# an app built against the installed library with pkg-config alone
[ "$(pkg-config --variable=prefix refold)" = /usr ] || fail "refold.pc's prefix is not /usr"
# shellcheck disable=SC2046
cc -o "$tmp/emit" producers/examples/emit_purchase.c $(pkg-config --cflags --libs refold) ||
    fail "cannot build an app against the installed librefold"
"$tmp/emit" >"$tmp/emit.out" 2>&1 || { cat "$tmp/emit.out" >&2; fail "the app built against librefold"; }

apt-get remove -y -qq refold >/dev/null 2>&1 || fail "apt remove refold"
[ ! -e /usr/bin/refold ] || fail "/usr/bin/refold is still there after apt remove"
echo "package test: ok ($(basename "$deb"): installed, refold --version/help/demo, an app linked with librefold, removed)"
