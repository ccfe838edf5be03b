#!/bin/sh
# ops/test.sh: installs dependencies, builds refold and runs its test suite.
#   ops/test.sh              build in build/ and run every test (unit, integration, slow)
#   ops/test.sh --sanitize   build in build-asan/ with ASan+UBSan and run unit + integration
#   ops/test.sh --quick      unit + integration only
set -eu
cd "$(dirname "$0")/.."
./ops/install-deps.sh

build=build; cmake_flags=""; labels=""
for arg in "$@"; do
    case "$arg" in
    --sanitize) build=build-asan; cmake_flags="-DREFOLD_SANITIZE=ON"; labels="unit|integration" ;;
    --quick) labels="unit|integration" ;;
    *) echo "usage: ops/test.sh [--sanitize] [--quick]" >&2; exit 2 ;;
    esac
done

jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo $cmake_flags >/dev/null
cmake --build "$build" -j"$jobs"
if [ -n "$labels" ]; then
    ctest --test-dir "$build" --output-on-failure -L "$labels"
else
    ctest --test-dir "$build" --output-on-failure
fi
