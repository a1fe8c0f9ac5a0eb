#!/usr/bin/env python3
"""Calling overhead of the Python bindings: a put of a 4x3 float64 array from Python
(`teeu.Client.put`) against the same put from C (bench/bench_put.c), in one run,
against the same local services.

    /usr/bin/python3 bench/bench_python_put.py [--build-dir DIR] [--puts N] [--batches B]
                                               [--warmup N] [--json FILE]

or bench/python_put.sh, which builds the Release tree first. The run starts a
simulation attestation authority, teeu-authmanager and teeud on 127.0.0.1
(tests/python/client_support.py's Cluster) and writes one party config.
The Python side is a teeu.Client in this process; the C side is the put
loop of bench/bench_put.c (bench_put_batch, compiled here as a shared
library with cc) run on that same client's teeu_client handle: one process,
one connection, one warm-up, so the two differ only by the bindings. A
third side, the bench_put executable in its own process (--serve, its own
client), is printed for reference. The run rotates B batches among the
sides (N puts per side in all), so load from other processes on a shared
machine falls on all alike. Each put is timed alone (monotonic clock); the
ratio of the Python and C medians (p50) is the figure, the ratio of means
is printed too. The target is at most 1.10 (exit
status 1 above it). As the put itself is dominated by the services' work,
the run also prints the bindings' own cost: the Python time of a put spent
outside the teeu_put call, measured directly.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

import numpy as np  # noqa: E402

TARGET = 1.10


def find_tool(build_dir):
    def find(name):
        for cand in (build_dir / name, *build_dir.glob(f"*/{name}"), *build_dir.glob(f"*/*/{name}")):
            if cand.is_file() and os.access(cand, os.X_OK):
                return cand
        raise SystemExit(f"{name} is not built in {build_dir}: build first (bench/python_put.sh does)")
    return find


class CSide:
    """bench_put --serve: a C client, warmed up, running timed batches on request."""

    def __init__(self, bench_put, config, warmup):
        self.proc = subprocess.Popen([str(bench_put), str(config), "--serve", str(warmup)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def batch(self, n):
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench_put exited ({self.proc.wait()})")
        return json.loads(line)["lat_us"]

    def close(self):
        self.proc.stdin.close()
        if self.proc.wait(60) != 0:
            raise SystemExit(f"bench_put failed ({self.proc.returncode})")


class CInProcess:
    """The C put loop (bench_put.c's bench_put_batch, built as a shared library) on the Python client's
    own teeu_client: same process, same connection, same warm-up; only the bindings differ."""

    def __init__(self, build, workdir, client):
        import shutil
        from cffi import FFI
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise SystemExit("no C compiler to build the in-process C loop (build-essential)")
        so = pathlib.Path(workdir) / "libbench_put.so"
        subprocess.run([cc, "-std=c11", "-O2", "-D_GNU_SOURCE", "-DBENCH_PUT_LIBRARY", "-shared", "-fPIC",
                        "-fvisibility=hidden", "-I", str(ROOT / "include"), "-I", str(build / "include"),
                        str(ROOT / "bench" / "bench_put.c"), "-o", str(so), "-L", str(build), "-lteeu",
                        f"-Wl,-rpath,{build}"], check=True)
        self.ffi = FFI()
        self.ffi.cdef("int bench_put_batch(void *client, long n, double *lat_us);")
        self.lib = self.ffi.dlopen(str(so))
        from teeu._lib import ffi as teeu_ffi
        handle = client._handle(client.party, None)
        self.client = self.ffi.cast("void *", int(teeu_ffi.cast("uintptr_t", handle)))

    def batch(self, n):
        lat = self.ffi.new("double[]", n)
        status = self.lib.bench_put_batch(self.client, n, lat)
        if status != 0:
            import teeu._core
            raise SystemExit(f"bench_put_batch failed: status {status}: {teeu._core.last_error()}")
        return list(lat)

    def close(self):
        pass


class PythonSide:
    """The same put through the bindings, in this process."""

    def __init__(self, teeu, config, warmup):
        self.client = teeu.Client(config_file=config)
        self.average = teeu.func("average", axis=1)
        self.array = np.arange(12, dtype=np.float64).reshape(4, 3) * 0.25
        for _ in range(warmup):
            self.client.put(self.array, allow_funcs=self.average)

    def batch(self, n):
        put, a, f, clock = self.client.put, self.array, self.average, time.perf_counter_ns
        lat = []
        for _ in range(n):
            t0 = clock()
            put(a, allow_funcs=f)
            lat.append((clock() - t0) / 1000.0)
        return lat

    def overhead(self, n, teeu):
        """Python time per put spent outside the teeu_put C call itself (the bindings' own cost).

        Swaps the client module's library accessor for a proxy that times
        teeu_put from Python; the proxy's own cost (well under a microsecond)
        counts as overhead, so the figure errs high.
        """
        import teeu.client as client_module
        real_lib = client_module.lib()
        clock = time.perf_counter_ns
        inside = [0]

        class Timed:
            def __getattr__(self, name):
                return getattr(real_lib, name)

            @staticmethod
            def teeu_put(*a):
                t0 = clock()
                try:
                    return real_lib.teeu_put(*a)
                finally:
                    inside[0] += clock() - t0

        proxy = Timed()
        saved = client_module.lib
        client_module.lib = lambda: proxy
        out = []
        try:
            for _ in range(n):
                inside[0] = 0
                t0 = clock()
                self.client.put(self.array, allow_funcs=self.average)
                out.append((clock() - t0 - inside[0]) / 1000.0)
        finally:
            client_module.lib = saved
        return out

    def close(self):
        self.client.close()


def summarize(lat):
    lat = sorted(lat)
    return {"puts": len(lat), "mean_us": statistics.fmean(lat), "p50_us": statistics.median(lat),
            "p90_us": lat[(len(lat) * 9) // 10], "min_us": lat[0]}


def main():
    p = argparse.ArgumentParser(description="Python vs C put latency (4x3 float64)")
    p.add_argument("--build-dir", default=os.environ.get("TEEU_BUILD_DIR", str(ROOT / "build" / "release")))
    p.add_argument("--puts", type=int, default=500, help="timed puts per side")
    p.add_argument("--batches", type=int, default=50, help="alternating batches the puts are split into")
    p.add_argument("--warmup", type=int, default=20, help="warm-up puts per side")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    build = pathlib.Path(args.build_dir).resolve()
    tool = find_tool(build)
    bench_put = tool("bench_put")
    libteeu = build / "libteeu.so"

    import teeu
    teeu.load_library(libteeu)
    from client_support import Cluster

    with tempfile.TemporaryDirectory(prefix="teeu-bench-put-") as tmp:
        cluster = Cluster(tool, tmp, libteeu).start()
        try:
            config = cluster.party("alice")
            py_side = PythonSide(teeu, config, args.warmup)
            c_side = CInProcess(build, tmp, py_side.client)
            c_proc = CSide(bench_put, config, args.warmup)
            lat = {"c": [], "python": [], "c_process": []}
            sides = {"c": c_side, "python": py_side, "c_process": c_proc}
            batch = max(1, args.puts // args.batches)
            names = ["c", "python", "c_process"]
            for i in range(args.batches):
                # Rotate the order, so no side always runs right after another.
                for name in names[i % 3:] + names[:i % 3]:
                    lat[name] += sides[name].batch(batch)
            overhead = summarize(py_side.overhead(max(100, batch), teeu))
            c_proc.close()
            py_side.close()
        finally:
            cluster.stop()

    c, py, cp = summarize(lat["c"]), summarize(lat["python"]), summarize(lat["c_process"])
    summary = {
        "array": "4x3 float64", "batches": args.batches, "puts_per_side": c["puts"], "warmup": args.warmup,
        "c": c, "python": py, "c_separate_process": cp,
        "c_p50_us": c["p50_us"], "python_p50_us": py["p50_us"],
        "c_mean_us": c["mean_us"], "python_mean_us": py["mean_us"], "library": str(libteeu),
        "python_overhead": overhead,
    }
    summary["ratio_p50"] = summary["python_p50_us"] / summary["c_p50_us"]
    summary["ratio_mean"] = summary["python_mean_us"] / summary["c_mean_us"]
    summary["target"] = TARGET
    summary["ok"] = summary["ratio_p50"] <= TARGET
    print(f"put 4x3 float64: C p50 {summary['c_p50_us']:.1f} us, Python p50 {summary['python_p50_us']:.1f} us, "
          f"ratio {summary['ratio_p50']:.3f} (mean: {summary['c_mean_us']:.1f} vs "
          f"{summary['python_mean_us']:.1f} us, ratio {summary['ratio_mean']:.3f}); "
          f"target <= {TARGET}: {'OK' if summary['ok'] else 'MISSED'}")
    print(f"reference: the same C loop in its own process (bench_put --serve, own client and connection): "
          f"p50 {cp['p50_us']:.1f} us, mean {cp['mean_us']:.1f} us")
    print(f"bindings' own cost per put (Python time outside teeu_put): p50 {overhead['p50_us']:.1f} us, "
          f"mean {overhead['mean_us']:.1f} us = {100 * overhead['p50_us'] / summary['c_p50_us']:.3f}% of the C put p50")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
