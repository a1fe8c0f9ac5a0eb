#!/usr/bin/env bash
# The main job: the seed's secure aggregation, in simulation, end to end.
#
# Builds libteeu and the services (Release), starts teeu-authmanager and
# teeud on 127.0.0.1 (ports chosen at run time) with a simulation
# attestation authority and state in a temporary folder, makes Alice's and
# Bob's RSA-3072 keys with openssl as the seed does, and runs each party as
# its own process: both put a random 4x3 array allowing only average over
# axis 1, Alice calls average([a, b], axis=1) and reveals it, and the result
# is checked against the plaintext average. Then Bob puts an array that
# does NOT allow average, and the same call is refused.
#
# Everything started here is stopped on exit, failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [[ "${TEEU_DEMO_SKIP_SETUP:-0}" != 1 ]]; then
    bash scripts/setup.sh
fi
build="${TEEU_BUILD_ROOT:-$root/build}/release"

say() { printf '\n== %s\n' "$*"; }

say "building (Release) into $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTEEU_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target teeu teeu-attest teeu-authmanager teeud example_secure_aggregation \
    >/dev/null

work=$(mktemp -d /tmp/teeu-demo-XXXXXX)
source "$root/scripts/services.sh"
teeu_services_begin "$work" demo

say "simulation attestation authority and services (state in $work)"
"$build/teeu-attest" sim-init "$work/sim-ca" >/dev/null
teeu_start_service authmanager "$build/services/authmanager/teeu-authmanager" --simulation --sim-authority "$work/sim-ca" \
    --listen 127.0.0.1:0 --state "$work/am-state"
am_addr=$addr
teeu_start_service teeud "$build/services/teeud/teeud" --simulation --sim-authority "$work/sim-ca" \
    --listen 127.0.0.1:0 --state "$work/teeud-state" --authmanager "$am_addr"
teeu_addr=$addr
am_mr=$(sha256sum "$build/services/authmanager/teeu-authmanager" | cut -c1-64)
teeu_mr=$("$build/services/teeud/teeud" --print-mrenclave)
echo "teeu-authmanager on $am_addr (MRENCLAVE ${am_mr:0:16}...), teeud on $teeu_addr (MRENCLAVE ${teeu_mr:0:16}...)"

say "parties' RSA-3072 keys (openssl genrsa, as the seed)"
for p in alice bob; do
    openssl genrsa -out "$work/$p.key" 3072 2>/dev/null
    cat >"$work/$p.json" <<JSON
{
  "party": "$p",
  "cluster_config": {"parties": {"alice": {"address": "127.0.0.1:0"}, "bob": {"address": "127.0.0.1:0"},
                                 "carol": {"address": "$teeu_addr"}},
                     "self_party": "$p"},
  "party_key_pair": {"$p": {"private_key": "$p.key"}},
  "auth_manager_config": {"host": "$am_addr", "mr_enclave": "$am_mr"},
  "teeu": {"party": "carol", "mr_enclave": "$teeu_mr"},
  "tee_simulation": true,
  "sim_root": "sim-ca/root_ca.pem"
}
JSON
done

sa="$build/secure_aggregation"
say "Alice and Bob put their arrays (each its own process)"
"$sa" --config "$work/alice.json" put --out "$work/a.handle" --save "$work/a.npy"
"$sa" --config "$work/bob.json" put --out "$work/b.handle" --save "$work/b.npy"

say "Alice calls average([a, b], axis=1) and reveals it"
"$sa" --config "$work/alice.json" call --in "$work/a.handle" --in "$work/b.handle" --out "$work/r.handle"
"$sa" --config "$work/alice.json" reveal --in "$work/r.handle" --expect "$work/a.npy" --expect "$work/b.npy"

say "Bob puts an array allowing only sum over axis 0 (not average): the same call is refused"
"$sa" --config "$work/bob.json" put --out "$work/b2.handle" --allow sum --params '{"axis":0}'
set +e
"$sa" --config "$work/alice.json" call --in "$work/a.handle" --in "$work/b2.handle" --out "$work/r2.handle"
rc=$?
set -e
if [[ $rc -ne 3 ]]; then
    echo "expected the unauthorized call to be refused (exit 3), got exit $rc" >&2
    exit 1
fi
echo "refused as expected: Bob did not authorize average"
say "demo finished"
