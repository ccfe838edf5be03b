#!/bin/sh
# ops/test.sh: installs dependencies, builds refold and runs its test suite.
# Warnings are errors here (-DREFOLD_WERROR=ON), so CI and developers see them;
# a plain cmake build (users, packagers) keeps them warnings.
#   ops/test.sh              build in build/ and run every test (unit, integration, slow)
#   ops/test.sh --sanitize   build in build-asan/ with ASan+UBSan and run unit + integration
#   ops/test.sh --quick      unit + integration only
#   ops/test.sh --release    build in build-release/ as CMAKE_BUILD_TYPE=Release (-O3, what
#                            ops/package.sh ships) and run the unit tests
set -eu
cd "$(dirname "$0")/.."
./ops/install-deps.sh

build=build; build_type=RelWithDebInfo; cmake_flags=""; labels=""
for arg in "$@"; do
    case "$arg" in
    --sanitize) build="build-asan"; cmake_flags="-DREFOLD_SANITIZE=ON"; labels="unit|integration" ;;
    --quick) labels="unit|integration" ;;
    --release) build="build-release"; build_type=Release; labels="unit" ;;
    *) echo "usage: ops/test.sh [--sanitize] [--quick] [--release]" >&2; exit 2 ;;
    esac
done

jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="$build_type" -DREFOLD_WERROR=ON $cmake_flags >/dev/null
cmake --build "$build" -j"$jobs"
if [ -n "$labels" ]; then
    ctest --test-dir "$build" --output-on-failure -L "$labels"
else
    ctest --test-dir "$build" --output-on-failure
fi
