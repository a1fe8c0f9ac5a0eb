#!/usr/bin/env bash
# Python bindings' calling overhead: a put of a 4x3 float64 array from Python
# vs the same put from C, in one run against local services
# (bench/bench_python_put.py; target: Python at most 10% slower).
#
#   bash bench/python_put.sh [ARGS...]   (env BUILD_DIR, default build/release)
#
# Builds the Release tree (library, services, bench_put), then runs
# /usr/bin/python3 bench/bench_python_put.py --build-dir BUILD_DIR ARGS...
# e.g. --puts 500 --batches 50 --json put-overhead.json
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build/release}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTEEU_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target teeu teeu-attest teeu-authmanager teeud bench_put >/dev/null
exec /usr/bin/python3 bench/bench_python_put.py --build-dir "$build" "$@"
