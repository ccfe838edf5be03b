#!/bin/sh
# tests/interop/install.sh: installs the npm packages refold's interop tests
# check against (package.json here: the Standard Webhooks reference library
# for tests/it_webhooks.c) into a cache directory, not the source tree:
#   $REFOLD_INTEROP_DIR, default $HOME/.cache/refold-interop
# Idempotent: a no-op when the pinned versions are installed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${REFOLD_INTEROP_DIR:-${HOME:-/root}/.cache/refold-interop}
if ! command -v npm >/dev/null 2>&1; then
    echo "refold: npm is missing: install Node.js 18+ (ops/install-deps.sh does)" >&2
    exit 1
fi
mkdir -p "$dir"
if [ -f "$dir/node_modules/standardwebhooks/package.json" ] && cmp -s "$here/package.json" "$dir/package.json"; then
    echo "refold: interop packages are installed in $dir"
    exit 0
fi
cp "$here/package.json" "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error
echo "refold: interop packages installed in $dir"
