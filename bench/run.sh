#!/usr/bin/env bash
# libteeu's benchmark: one command for every figure of docs/performance.md.
#
#   bash bench/run.sh [--quick] [--disk] [--latency-iters N] [--call-iters N]
#                     [--pause-ms N] [--update-docs]
#
# 1. Builds in Release in its own build folder (build/bench; env BUILD_DIR).
# 2. Makes a temporary state folder: two RSA-3072 party keys (Alice, Bob) and
#    a simulation attestation authority (teeu-attest sim-init).
# 3. Starts teeu-authmanager and teeud in simulation on 127.0.0.1 with ports
#    chosen at run time, and stops them on exit (trap), whatever happens.
# 4. Runs bench/bench.py: the physical reference (single-core
#    `openssl speed -evp aes-256-gcm`, memcpy), libteeu's client
#    (bench_client, one process per measurement so its peak RSS is the
#    client's), and the Python reference path (bench/py_reference.py), then
#    prints the table and writes it with every raw figure to
#    build/bench/results.json.
#
# --quick skips the 1 GiB size and runs 200 put-latency iterations instead
# of 1,000 and 20 call/reveal iterations instead of 100 (each teeud Call
# generates a fresh RSA-3072 key for GetComputeMeta: ~1 s). The full run takes under ~10 minutes on a 2-core machine.
#
# The services' state (teeud's objects, the AuthManager's database) lives in
# /dev/shm (tmpfs) by default, so the figures show the software rather than
# this machine's disk (whose write+fsync speed is printed as a reference);
# --disk puts it in $TMPDIR (or /tmp) instead.
#
# --pause-ms N: the small-put latency is also measured for a client idle N ms
# before each put (default 20; 0 skips it), libteeu and Python alike.
# --update-docs: also writes the table into docs/performance.md (between its
# "generated" markers) and the raw results to docs/performance-results.json,
# recording this command line and the commit; nothing in that table is typed
# by hand (tests/python/test_bench_docs.py checks the two agree).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
extra=()
disk=0
update_docs=()
cmdline="bash bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=(--quick) ;;
    --disk) disk=1 ;;
    --latency-iters) extra+=(--latency-iters "$2"); shift ;;
    --call-iters) extra+=(--call-iters "$2"); shift ;;
    --pause-ms) extra+=(--pause-ms "$2"); shift ;;
    --update-docs) update_docs=(--update-docs docs/performance.md) ;;
    -h | --help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

commit="$(git rev-parse --short HEAD 2>/dev/null || true)"
if [ -n "$commit" ] && ! git diff --quiet HEAD -- 2>/dev/null; then
    commit="$commit (with uncommitted changes)"
fi

build="${BUILD_DIR:-build/bench}"
mkdir -p "$build"
echo "[bench] building in Release ($build)" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTEEU_BUILD_TESTS=OFF >"$build/cmake.log" 2>&1 ||
    { cat "$build/cmake.log" >&2; exit 1; }
cmake --build "$build" -j2 >"$build/build.log" 2>&1 || { tail -40 "$build/build.log" >&2; exit 1; }

am_bin="$build/services/authmanager/teeu-authmanager"
teeud_bin="$build/services/teeud/teeud"
[ -x "$am_bin" ] || { echo "run.sh: $am_bin was not built" >&2; exit 1; }

diskdir="${TMPDIR:-/tmp}"
if [ "$disk" = 0 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    tmp="$(mktemp -d /dev/shm/teeu-bench.XXXXXX)"
    state_fs="tmpfs /dev/shm"
else
    tmp="$(mktemp -d "$diskdir/teeu-bench.XXXXXX")"
    state_fs="disk $diskdir"
fi
source scripts/services.sh
teeu_services_begin "$tmp" bench

echo "[bench] keys and simulation authority in $tmp" >&2
for party in alice bob; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$tmp/$party.pem" 2>/dev/null
done
"$build/teeu-attest" sim-init "$tmp/sim-ca" >/dev/null

teeu_start_service authmanager "$am_bin" --simulation --sim-authority "$tmp/sim-ca" \
    --listen 127.0.0.1:0 --state "$tmp/am" --log-level=info
am_addr=$addr
# The simulated MRENCLAVE of each service is the SHA-256 of its binary: the
# clients check both quotes against it.
am_mr="$(sha256sum "$am_bin" | cut -c1-64 | tr a-f A-F)"
echo "[bench] teeu-authmanager on $am_addr (MRENCLAVE $am_mr)" >&2

teeu_args=()
if [ -x "$teeud_bin" ]; then
    teeu_mr="$("$teeud_bin" --print-mrenclave)"
    teeu_start_service teeud "$teeud_bin" --simulation --sim-authority "$tmp/sim-ca" \
        --listen 127.0.0.1:0 --state "$tmp/teeud" --authmanager "$am_addr" --log-level=info
    teeu_addr=$addr
    echo "[bench] teeud on $teeu_addr (MRENCLAVE $teeu_mr)" >&2
    teeu_args=(--teeu "$teeu_addr" --teeu-mrenclave "$teeu_mr" --sim-root "$tmp/sim-ca/root_ca.pem")
else
    echo "[bench] no teeud in this tree: libteeu rows are skipped, the Python path is timed up to the send" >&2
fi

# The services log one line per request (info level) with its handling time:
# bench.py reads them for the server-side part of the latencies.
/usr/bin/python3 bench/bench.py --build "$build" --am "$am_addr" --key "$tmp/alice.pem" --key2 "$tmp/bob.pem" \
    --am-log "$tmp/authmanager.log" --teeu-log "$tmp/teeud.log" --am-mrenclave "$am_mr" \
    --state-dir "$tmp" --state-fs "$state_fs" --disk-dir "$diskdir" \
    "${teeu_args[@]}" "${quick[@]}" "${extra[@]}" --json "$build/results.json" \
    --command "$cmdline" --commit "$commit" "${update_docs[@]}"
