#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR: installs the build into a temporary
# prefix (cmake --install --prefix) and uses it as an app would: the files
# docs/operations.md lists are there; librefold has its SONAME, needs no
# RocksDB and exports exactly the functions of its headers; each installed header
# compiles alone as C11 and as C++11 (-pedantic -Werror) without leaking
# refold's internal macros; the C and C++ examples compile and link with
# `pkg-config --cflags --libs refold` alone (and statically), then run:
# each starts the embedded broker and must get its events delivered.
# Registered in tests/CMakeLists.txt as it_install (label slow).
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
fail() { echo "it_install: FAIL: $*" >&2; exit 1; }
for tool in cc c++ pkg-config readelf nm; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (ops/install-deps.sh installs it)"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }

pc=$(find "$prefix" -name refold.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no pkgconfig/refold.pc installed"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir refold)
includedir=$(pkg-config --variable=includedir refold)
[ "$(pkg-config --variable=prefix refold)" = "$prefix" ] || fail "refold.pc's prefix is not $prefix"

# 1. what an install holds
headers="rf_producer.h rf_event.h rf_codec.h rf_kafka.h rf_broker.h rf_common.h rf_limits.h rf_sign.h"
for f in "$prefix/bin/refold" "$libdir/librefold.a" "$libdir/librefold.so" \
         "$prefix/share/refold/programs/double_sided.json" "$prefix/share/refold/schemas/event.avsc" \
         "$prefix/share/doc/refold/README.md" "$prefix/share/doc/refold/c-library.md" \
         "$prefix/share/doc/refold/operations.md" "$prefix/share/doc/refold/examples/emit_purchase.c" \
         "$prefix/share/refold/refold.env.example" \
         "$prefix/lib/systemd/system/refold-fold@.service" \
         "$prefix/lib/systemd/system/refold-project@.service" \
         "$prefix/lib/systemd/system/refold-serve.service" \
         "$prefix/lib/systemd/system/refold-webhooks.service" \
         "$prefix/lib/systemd/system/refold-gateway.service" \
         "$prefix/lib/systemd/system/refold-replica@.service"; do
    [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
[ -f "$prefix/share/man/man1/refold.1" ] ||
    fail "no man page share/man/man1/refold.1: help2man was not found when the build was configured (ops/install-deps.sh installs it)"
grep -q '^\.SH "SEE ALSO"' "$prefix/share/man/man1/refold.1" || fail "refold.1 has no SEE ALSO section"
for h in $headers; do
    [ -f "$includedir/refold/$h" ] || fail "header not installed: include/refold/$h"
done
# the units start the installed binary
for u in "$prefix"/lib/systemd/system/refold-*.service; do
    exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u")
    [ "$exe" = "$prefix/bin/refold" ] || fail "$(basename "$u"): ExecStart=$exe, not $prefix/bin/refold"
    ! grep -q '@RF_' "$u" || fail "$(basename "$u"): an unconfigured @RF_...@ is left"
done
"$prefix/bin/refold" --version >/dev/null || fail "the installed refold --version"

# 2. librefold.so: SONAME, no RocksDB or libmicrohttpd, the headers' functions exported
readelf -d "$libdir/librefold.so" | grep -q 'SONAME.*\[librefold\.so\.0\]' ||
    fail "librefold.so has no SONAME librefold.so.0"
needed=$(readelf -d "$libdir/librefold.so" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in *rocksdb* | *microhttpd*) fail "librefold.so needs: $needed" ;; esac
nm -D --defined-only "$libdir/librefold.so" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
for h in $headers; do
    # a prototype: a line starting with a return type, then rf_name(
    sed -n '/^static /d; s/^[a-z_][a-z0-9_ ]*[ *]\(rf_[a-z0-9_]*\)(.*/\1/p' "$includedir/refold/$h"
done | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || fail "no function declarations found in the headers"
missing=$(comm -23 "$tmp/declared" "$tmp/exported" | tr '\n' ' ')
[ -z "$missing" ] || fail "declared in the headers but not exported by librefold.so: $missing"
extra=$(comm -13 "$tmp/declared" "$tmp/exported" | grep -v '^REFOLD_' | tr '\n' ' ' || true)
[ -z "$extra" ] || fail "librefold.so exports what no installed header declares: $extra"

# 3. each header alone, C and C++, strict, without refold's internals
cflags=$(pkg-config --cflags refold)
for h in $headers; do
    printf '#include <refold/%s>\n#if defined(RF_ASSERT) || defined(RF_INTERNAL)\n#error internal macro\n#endif\ntypedef int rf_test_nonempty;\n' "$h" >"$tmp/h.c"
    # shellcheck disable=SC2086
    cc -std=c11 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only "$tmp/h.c" ||
        fail "include/refold/$h does not compile alone as C11"
    cp "$tmp/h.c" "$tmp/h.cpp"
    # shellcheck disable=SC2086
    c++ -std=c++11 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only "$tmp/h.cpp" ||
        fail "include/refold/$h does not compile alone as C++11"
done

# 4. the examples, with pkg-config alone (refold-static: librefold.a, its dependencies shared)
ex=$src/producers/examples
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/emit_c" "$ex/emit_purchase.c" $(pkg-config --cflags --libs refold) ||
    fail "the C example does not build with pkg-config --cflags --libs refold"
# shellcheck disable=SC2046
c++ -std=c++11 -Wall -Wextra -Werror -o "$tmp/emit_cpp" "$ex/emit_purchase.cpp" $(pkg-config --cflags --libs refold) ||
    fail "the C++ example does not build with pkg-config --cflags --libs refold"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/emit_static" "$ex/emit_purchase.c" $(pkg-config --cflags --libs refold-static) ||
    fail "the C example does not link with pkg-config --cflags --libs refold-static"
readelf -d "$tmp/emit_c" | grep -q 'NEEDED.*librefold\.so\.0' || fail "the C example does not need librefold.so.0"
! readelf -d "$tmp/emit_static" | grep -q 'librefold' || fail "the static C example still needs librefold.so"

for b in emit_c emit_cpp emit_static; do
    LD_LIBRARY_PATH=$libdir "$tmp/$b" >"$tmp/$b.out" 2>&1 || { cat "$tmp/$b.out" >&2; fail "$b exited non-zero"; }
    grep -q '^delivered ' "$tmp/$b.out" || { cat "$tmp/$b.out" >&2; fail "$b printed no delivery"; }
    # the dynamic ones ran the installed library, not the build tree's
    if [ "$b" != emit_static ]; then
        LD_LIBRARY_PATH=$libdir ldd "$tmp/$b" | grep -q "$libdir/librefold.so.0" || fail "$b did not load $libdir/librefold.so.0"
    fi
done
echo "it_install: ok (prefix $prefix; C, C++ and static examples delivered their events)"
