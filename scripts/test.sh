#!/usr/bin/env bash
# Every test of libteeu, from a clean checkout:
#   1. installs dependencies (scripts/setup.sh);
#   2. a warnings-as-errors build + ctest (unit, install and integration tests);
#   3. an AddressSanitizer + UBSan build + ctest;
#   4. pytest (numpy cross-checks, Python bindings) against build 2.
# Build folders: build/ci and build/asan (override with TEEU_BUILD_ROOT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/setup.sh

build_root="${TEEU_BUILD_ROOT:-$root/build}"
jobs=$(nproc 2>/dev/null || echo 2)
python=/usr/bin/python3
status=0

run_build() { # name, extra cmake args...
    local name="$1"; shift
    echo "=== [$name] configure + build"
    cmake -S "$root" -B "$build_root/$name" -DTEEU_WERROR=ON "$@" >/dev/null
    cmake --build "$build_root/$name" -j "$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]' || true
    # grep hides progress lines; re-run quietly to surface a failure's exit code.
    cmake --build "$build_root/$name" -j "$jobs" >/dev/null
}

run_ctest() { # name
    echo "=== [$1] ctest"
    (cd "$build_root/$1" && ctest --output-on-failure -j "$jobs") || status=1
}

run_build ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_ctest ci

run_build asan -DCMAKE_BUILD_TYPE=Debug -DTEEU_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest asan

echo "=== pytest"
TEEU_BUILD_DIR="$build_root/ci" TEEU_SOURCE_DIR="$root" \
    "$python" -m pytest -q -p no:cacheprovider --timeout=600 tests/python || status=1

if [ "$status" -ne 0 ]; then
    echo "=== some tests FAILED" >&2
fi
exit "$status"
