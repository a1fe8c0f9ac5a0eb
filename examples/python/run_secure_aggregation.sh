#!/usr/bin/env bash
# Runs examples/python/secure_aggregation.py against local services, as the C
# demo (scripts/demo.sh) does: a simulation attestation authority,
# teeu-authmanager and teeud on 127.0.0.1 (ports chosen at run time, state
# in a temporary folder), all stopped on exit, failure or Ctrl-C.
#
#   examples/python/run_secure_aggregation.sh [BUILD_DIR]
#
# BUILD_DIR: a configured and built tree (default $TEEU_BUILD_DIR, else
# build/ci, else build/release). Build it first, e.g.
#   cmake -S . -B build/ci && cmake --build build/ci -j2
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${1:-${TEEU_BUILD_DIR:-}}
if [[ -z $build ]]; then
    for cand in "$root/build/ci" "$root/build/release"; do
        if [[ -x $cand/services/teeud/teeud ]]; then build=$cand; break; fi
    done
fi
am_bin=$build/services/authmanager/teeu-authmanager
teeud_bin=$build/services/teeud/teeud
for bin in "$am_bin" "$teeud_bin" "$build/teeu-attest" "$build/libteeu.so"; do
    if [[ ! -e $bin ]]; then
        echo "missing $bin: build first (cmake --build ${build:-build/ci})" >&2
        exit 2
    fi
done

work=$(mktemp -d /tmp/teeu-pyexample-XXXXXX)
source "$root/scripts/services.sh"
teeu_services_begin "$work" example

"$build/teeu-attest" sim-init "$work/sim-ca" >/dev/null
teeu_start_service authmanager "$am_bin" --simulation --sim-authority "$work/sim-ca" \
    --listen 127.0.0.1:0 --state "$work/am-state"
export TEEU_AM_ADDRESS=$addr
teeu_start_service teeud "$teeud_bin" --simulation --sim-authority "$work/sim-ca" \
    --listen 127.0.0.1:0 --state "$work/teeud-state" --authmanager "$TEEU_AM_ADDRESS"
export TEEU_TEEU_ADDRESS=$addr
TEEU_AM_MRENCLAVE=$(sha256sum "$am_bin" | cut -c1-64)
TEEU_TEEU_MRENCLAVE=$("$teeud_bin" --print-mrenclave)
export TEEU_AM_MRENCLAVE TEEU_TEEU_MRENCLAVE
export TEEU_SIM_ROOT=$work/sim-ca/root_ca.pem
export TEEU_LIBRARY=${TEEU_LIBRARY:-$build/libteeu.so}
echo "teeu-authmanager on $TEEU_AM_ADDRESS, teeud on $TEEU_TEEU_ADDRESS"
/usr/bin/python3 "$root/examples/python/secure_aggregation.py"
