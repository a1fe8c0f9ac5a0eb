#!/usr/bin/env bash
# The main job. Until the client API lands this runs the ndarray example:
# it builds libteeu, encodes an array to .npy and checks numpy reads it back.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/setup.sh
build="${TEEU_BUILD_ROOT:-$root/build}/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTEEU_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
out=$(mktemp -d /tmp/teeu-demo-XXXXXX)
trap 'rm -rf "$out"' EXIT INT TERM
"$build/npy_example" "$out/a.npy"
"$build/teeu-npy" info "$out/a.npy"
/usr/bin/python3 - "$out/a.npy" <<'PY'
import sys, numpy as np
a = np.load(sys.argv[1])
expected = np.arange(12, dtype=np.float64).reshape(4, 3) / 4
assert a.dtype == expected.dtype and np.array_equal(a, expected), a
print("numpy.load reads the array libteeu wrote:")
print(a)
PY
