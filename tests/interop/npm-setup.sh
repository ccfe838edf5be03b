#!/bin/sh
# tests/interop/npm-setup.sh: installs the npm packages the interop tests run
# (kafkajs, @kafkajs/confluent-schema-registry for tests/it_registry.c,
# standardwebhooks for tests/it_webhooks.c; versions in package.json) into
# a cache dir and prints it. Idempotent: no network when they are there.
# The dir: $REFOLD_NPM_DIR, else ~/.cache/refold/npm.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${REFOLD_NPM_DIR:-${HOME:-/root}/.cache/refold/npm}
mkdir -p "$dir"
if ! cmp -s "$here/package.json" "$dir/package.json" ||
   [ ! -d "$dir/node_modules/kafkajs" ] ||
   [ ! -d "$dir/node_modules/@kafkajs/confluent-schema-registry" ] ||
   [ ! -d "$dir/node_modules/standardwebhooks" ]; then
    command -v npm >/dev/null || { echo "refold: npm is not installed (Node 20)" >&2; exit 1; }
    cp "$here/package.json" "$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dir"
