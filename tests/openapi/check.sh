#!/bin/sh
# tests/openapi/check.sh DOC: validates an OpenAPI document (docs/openapi.json)
# against the OpenAPI 3.0 specification with @apidevtools/swagger-parser from
# npm, a validator nobody on this project wrote. Installs it on first use into
# $REFOLD_NPM_CACHE (default ~/.cache/refold-npm); fails loudly when node or
# npm is missing. Used by tests/it_http.c.
set -eu
doc=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${REFOLD_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/refold-npm}/openapi
version=10.1.1 # the last release that supports Node 20 (Debian's nodejs)
for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "check.sh: $tool is not installed" >&2; exit 3; }
done
if [ ! -f "$cache/node_modules/@apidevtools/swagger-parser/package.json" ] ||
    ! grep -q "\"version\": \"$version\"" "$cache/node_modules/@apidevtools/swagger-parser/package.json"; then
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-audit --no-fund --silent \
        "@apidevtools/swagger-parser@$version" >&2
fi
NODE_PATH="$cache/node_modules" exec node "$here/validate.js" "$doc"
