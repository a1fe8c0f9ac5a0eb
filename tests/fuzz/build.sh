#!/bin/sh
# Builds the libFuzzer targets with clang into build/fuzz (not part of the default build).
set -eu
cd "$(dirname "$0")/../.."
out=build/fuzz
mkdir -p "$out"
cmake -S . -B "$out/lib" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTEEU_BUILD_TESTS=OFF \
    -DTEEU_BUILD_SERVICES=OFF -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
cmake --build "$out/lib" --target teeu_static -j2 >/dev/null
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I"$out/lib/include" "$src" \
        "$out/lib/libteeu.a" $(pkg-config --libs libzstd openssl libcurl libprotobuf-c) -lpthread -o "$out/$name"
    echo "built $out/$name"
done
