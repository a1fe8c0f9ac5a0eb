# Sourced (not run) by scripts/demo.sh, examples/python/run_secure_aggregation.sh
# and bench/run.sh: starts libteeu's services in the background, waits until
# each listens, and stops everything on exit, failure or Ctrl-C.
#
#   teeu_services_begin WORKDIR LABEL   trap cleanup; WORKDIR is removed on exit
#   teeu_start_service NAME CMD ARGS... start CMD, wait for "listening on
#                                       HOST:PORT"; sets $addr. Logs go to
#                                       WORKDIR/NAME.log.
# teeu_start_service runs in the calling shell (never inside $(...)), so the
# process ids it records are the ones cleanup stops.

teeu_service_pids=()

teeu_services_begin() {
    teeu_services_work=$1
    teeu_services_label=$2
    trap teeu_services_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

teeu_services_cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${teeu_service_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${teeu_service_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 ]]; then
        echo "$teeu_services_label failed (exit $rc); service logs:" >&2
        tail -n 20 "$teeu_services_work"/*.log >&2 2>/dev/null || true
    fi
    rm -rf "$teeu_services_work"
    exit "$rc"
}

teeu_start_service() {
    local name=$1
    shift
    local fifo="$teeu_services_work/$name.out"
    mkfifo "$fifo"
    "$@" >"$fifo" 2>"$teeu_services_work/$name.log" &
    teeu_service_pids+=($!)
    exec {fd}<"$fifo"
    addr=""
    local line
    while IFS= read -r -t 30 line <&"$fd"; do
        if [[ $line == "listening on "* ]]; then
            addr=${line#listening on }
            break
        fi
    done
    if [[ -z $addr ]]; then
        echo "$name did not start; its log:" >&2
        cat "$teeu_services_work/$name.log" >&2
        exit 1
    fi
    # Keep draining its stdout so it never blocks on a full pipe.
    cat <&"$fd" >/dev/null &
    teeu_service_pids+=($!)
    exec {fd}<&-
}
