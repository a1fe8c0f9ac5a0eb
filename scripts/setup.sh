#!/usr/bin/env bash
# Installs libteeu's build and test dependencies from Debian's archive.
# Idempotent: only missing packages are installed (apt-get update runs once,
# only when something is missing). Run as root or with sudo available.
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    libssl-dev openssl libcurl4-openssl-dev libzstd-dev zstd
    libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
    libnghttp2-dev libevent-dev libsqlite3-dev libjansson-dev
    check libsubunit-dev
    python3 python3-numpy python3-cffi python3-pytest python3-pytest-timeout python3-cryptography
    python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc python3-h2
    python3-pip python3-setuptools
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} Debian packages present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
