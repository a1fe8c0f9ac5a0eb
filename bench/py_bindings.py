#!/usr/bin/python3
"""libteeu through its Python bindings (the `teeu` package, bindings/python)
for bench/run.sh: what a Python user of libteeu gets, to set beside the
Python reference path (bench/py_reference.py) on the same services.

  py_bindings.py --lib LIBTEEU.so --am HOST:PORT --teeu HOST:PORT --key PARTY.pem
                 [--teeu-mrenclave HEX] [--am-mrenclave HEX] [--sim-root FILE]
                 put --size BYTES --data random|compressible --reps N
  py_bindings.py ... latency --iters N --warmup W

put: one warm-up put of 12 elements, then N timed `client.put` of a 1-D
float64 array (the same data as bench_client and py_reference.py), zstd off,
each object deleted after its put (not timed). latency: N timed puts of a
4x3 array after W warm-up puts. Prints one JSON object (seconds; peak RSS of
this process in KiB).
"""
import argparse
import json
import pathlib
import resource
import sys
import time

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE_DIR / "bindings" / "python"))
sys.path.insert(0, str(SOURCE_DIR / "bench"))

import numpy as np  # noqa: E402

import teeu  # noqa: E402
from py_reference import add_workloads, make_array  # noqa: E402

FUNC = ("average", {"axis": 1})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--am", required=True)
    ap.add_argument("--teeu", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--teeu-mrenclave", default="")
    ap.add_argument("--am-mrenclave", default="")
    ap.add_argument("--sim-root")
    add_workloads(ap.add_subparsers(dest="cmd", required=True))
    args = ap.parse_args()

    teeu.load_library(args.lib)
    client = teeu.Client(party="alice", cluster_config={"parties": {"carol": {"address": args.teeu}}},
                         party_key_pair={"alice": {"private_key": args.key}},
                         auth_manager_config={"host": args.am, "mr_enclave": args.am_mrenclave}, tee_simulation=True,
                         sim_root=args.sim_root, teeu={"party": "carol", "mr_enclave": args.teeu_mrenclave},
                         timeout=600)
    average = teeu.func(FUNC[0], **FUNC[1])
    out = {"bench": "py_bindings", "cmd": args.cmd}
    try:
        if args.cmd == "put":
            arr = make_array(args.size, args.data)
            client.delete(client.put(make_array(96, args.data), allow_funcs=average))
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                obj = client.put(arr, allow_funcs=average)
                times.append(time.perf_counter() - t0)
                client.delete(obj)  # not timed, as the Python path and bench_client
            out.update(size=arr.nbytes, data=args.data, times=times)
        else:
            arr = np.arange(12, dtype=np.float64).reshape(4, 3)
            for _ in range(args.warmup):
                client.put(arr, allow_funcs=average)
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                client.put(arr, allow_funcs=average)
                times.append(time.perf_counter() - t0)
            out.update(size=arr.nbytes, put_times=times)
    finally:
        client.close()
    out.update(maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
