#!/bin/sh
# Fails when libteeu.so exports any symbol outside the teeu_ namespace.
set -eu
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^teeu_' || true)
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^teeu_' || true)
if [ -n "$bad" ]; then
    echo "symbols exported without the teeu_ prefix:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "$count exported symbols, all teeu_*"
