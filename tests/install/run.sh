#!/bin/sh
# Installs the build tree into a scratch prefix, then builds two consumers
# out of tree against the installed files only: a C program with pkg-config
# and a C++ program with CMake's find_package(teeu CONFIG).
set -eu
build_dir="$1"
cc="${2:-cc}"
cxx="${3:-c++}"
# A sanitizer build of libteeu needs its consumers linked with the same runtime.
extra_flags="${4:-}"
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d /tmp/teeu-install-XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM

cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
pcdir=$(dirname "$(find "$scratch/prefix" -name teeu.pc | head -n 1)")
libdir=$(dirname "$pcdir")

echo "== pkg-config consumer (C)"
export PKG_CONFIG_PATH="$pcdir"
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $extra_flags -o "$scratch/consumer_c" \
    "$here/consumer/consumer.c" $(pkg-config --cflags --libs teeu)
LD_LIBRARY_PATH="$libdir" "$scratch/consumer_c"

echo "== find_package consumer (C++)"
cmake -S "$here/consumer" -B "$scratch/cmake-build" \
    -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS="$extra_flags" -DCMAKE_EXE_LINKER_FLAGS="$extra_flags" >/dev/null
cmake --build "$scratch/cmake-build" >/dev/null
"$scratch/cmake-build/consumer_cxx"
echo "install consumers: ok"
