#!/bin/sh
# ops/demo.sh: installs dependencies, builds refold and runs `refold demo`:
# the whole pipeline (embedded Kafka broker, fold and projection workers,
# example programs, loadgen traffic) with a report at the end.
#   ops/demo.sh [demo options, e.g. --events 200000 --seed 7]
set -eu
cd "$(dirname "$0")/.."
./ops/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" --target refold
exec build/cmd/refold demo "$@"
