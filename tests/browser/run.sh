#!/bin/sh
# tests/browser/run.sh: the pages' browser test (issue 20). Makes a demo data
# directory (three programs), starts `refold serve` with a token and a
# referral secret, and drives Debian's chromium through puppeteer-core
# (installed from npm into a cache dir) with pages.test.js: every number the
# pages show must equal the JSON API's, no console error, no request leaves
# refold; screenshots at desktop and phone width go to OUT.
#   tests/browser/run.sh BUILD_DIR [OUT_DIR]   (OUT_DIR: BUILD_DIR/browser)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [OUT_DIR]}" && pwd)
out=${2:-$build/browser}
mkdir -p "$out"
out=$(cd "$out" && pwd)
refold=$build/cmd/refold
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$refold" ] || { echo "browser test: no $refold (build first)" >&2; exit 1; }
[ -x "$chromium" ] || { echo "browser test: no $chromium: run ops/install-deps.sh (Debian's chromium)" >&2; exit 1; }
command -v node >/dev/null || { echo "browser test: node is missing" >&2; exit 1; }

# puppeteer-core from npm, pinned by package-lock.json, into a cache dir
# (no browser download: it drives Debian's chromium).
cache=${REFOLD_NPM_CACHE:-$build/npm-browser}
mkdir -p "$cache"
if ! cmp -s "$here/package-lock.json" "$cache/package-lock.json" || [ ! -d "$cache/node_modules/puppeteer-core" ]; then
    cp "$here/package.json" "$here/package-lock.json" "$cache/"
    (cd "$cache" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/refold-browser.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
"$refold" demo --events 20000 --seed 7 --data "$tmp/data" >"$tmp/demo.log" 2>&1 ||
    { cat "$tmp/demo.log" >&2; exit 1; }

# a verify result for the operations strip (DIR/verify.json)
"$refold" verify --data "$tmp/data" >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; exit 1; }

token=browser-test-token
secret=browser-test-referral-secret
# the iframe test's parent page is served by pages.test.js on FRAME_PORT
frame_port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
REFOLD_HTTP_TOKEN=$token REFOLD_REF_SECRET=$secret "$refold" serve --data "$tmp/data" \
    --listen 127.0.0.1:0 --link-base https://shop.example \
    --frame-ancestors "'self' http://127.0.0.1:$frame_port" >"$tmp/serve.log" 2>&1 &
pid=$!
i=0
until grep -q '^listening on' "$tmp/serve.log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$tmp/serve.log" >&2; exit 1; }
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$tmp/serve.log")
NODE_PATH=$cache/node_modules REFOLD=$refold DATA=$tmp/data BASE=$base TOKEN=$token SECRET=$secret OUT=$out \
    CHROMIUM=$chromium FRAME_PORT=$frame_port node "$here/pages.test.js"
