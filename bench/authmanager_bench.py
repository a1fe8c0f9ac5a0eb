#!/usr/bin/env python3
"""teeu-authmanager latency: CreateDataWithAuth (one client) and
GetComputeMeta for 1/10/100 inputs, against a simulation daemon in a temp
state folder. Usage: /usr/bin/python3 bench/authmanager_bench.py [BUILD_DIR]
(default build/ci). Client-side signing is done before timing."""
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
import authmanager_support as ams  # noqa: E402

build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "ci")
pb = ams.generate_stubs(tempfile.mkdtemp())
d = ams.Daemon(build / "services" / "authmanager" / "teeu-authmanager", pathlib.Path(tempfile.mkdtemp())/"st", ["--simulation"]).start()
c = ams.Client(pb, d.address)
p = ams.Party(pb); c.stub.RegisterInsPubKey(p.register_request())
k, _, _ = c.am_key()
FUNC = ams.function_code("f")
reqs = [p.create_request(k, functions=[FUNC]) for _ in range(200)]
lat = []
for r, u, _ in reqs:
    t = time.perf_counter(); assert c.stub.CreateDataWithAuth(r).status.code == 0; lat.append(time.perf_counter() - t)
print(f"CreateDataWithAuth, 1 client: median {statistics.median(lat)*1e3:.2f} ms, p95 {sorted(lat)[189]*1e3:.2f} ms")
teeu = ams.Teeu(pb)
for n in (1, 10, 100):
    uu = [u for _, u, _ in reqs[:n]]
    ls = []
    for _ in range(10):
        q = teeu.request(uu, FUNC, p.owner_id)
        t = time.perf_counter(); resp = c.stub.GetComputeMeta(q); ls.append(time.perf_counter() - t)
        assert resp.status.code == 0
    print(f"GetComputeMeta, {n} input(s): median {statistics.median(ls)*1e3:.2f} ms")
c.close(); d.stop()
