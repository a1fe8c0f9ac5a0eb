"""Python bindings end to end: the `teeu` package against real teeu-authmanager and teeud
(simulation attestation authority, quotes fully checked). The services come from the
client tests' support (client_support.Cluster)."""
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest

from client_support import Cluster
from pybind_support import SOURCE_DIR, env_with_bindings, flat_memory, import_teeu

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]


@pytest.fixture(scope="module")
def teeu(libteeu_path):
    return import_teeu(libteeu_path)


@pytest.fixture(scope="module")
def cluster(tool, tmp_path_factory, libteeu_path):
    c = Cluster(tool, tmp_path_factory.mktemp("pybind-client"), libteeu_path).start()
    yield c
    c.stop()


def sf_init_kwargs(cluster, *parties, **extra):
    """sf.init-style keyword arguments for parties, from the cluster's config files (keys made there)."""
    keys = {}
    for name in parties:
        cfg = json.loads(cluster.party(name).read_text())
        keys[name] = {"private_key": str(cluster.tmp / cfg["party_key_pair"][name]["private_key"])}
    kwargs = {
        "cluster_config": {"parties": {"carol": {"address": cluster.teeud.address}}},
        "party_key_pair": keys,
        "auth_manager_config": {"host": cluster.am.address, "mr_enclave": cluster.am_mr},
        "tee_simulation": True,
        "sim_root": str(cluster.sim / "root_ca.pem"),
        "timeout": 60,
    }
    kwargs.update(extra)
    return kwargs


@pytest.fixture(scope="module")
def session(teeu, cluster):
    """A Client acting for alice and bob (as the seed's single-driver sf.init), and Carol's TEEU."""
    client = teeu.Client(**sf_init_kwargs(cluster, "alice", "bob"))
    carol = teeu.TEEU("carol", mr_enclave=cluster.teeu_mr, client=client)
    yield client, carol
    client.close()


def values(dtype, shape, seed=3):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


def test_seed_example(teeu, cluster):
    """The seed, line for line: sf.init, PYU, TEEU, a.to(teeu, allow_funcs=average), teeu(average)([a, b]),
    sf.reveal."""
    teeu.init(**sf_init_kwargs(cluster, "alice", "bob"))
    try:
        alice, bob = teeu.PYU("alice"), teeu.PYU("bob")
        carol = teeu.TEEU("carol", mr_enclave=cluster.teeu_mr)
        average = teeu.func("average", axis=1)
        assert average.descriptor == 'average@1{"axis":1}'

        a = alice(lambda: np.random.random([4, 3]))()
        b = bob(lambda: np.random.random([4, 3]))()
        a_tee = a.to(carol, allow_funcs=average)
        b_tee = b.to(carol, allow_funcs=average)
        assert a_tee.party == "alice" and b_tee.party == "bob" and a_tee.handle.startswith("teeu://")

        avg_val = carol(average)([a_tee, b_tee])
        got = teeu.reveal(avg_val)
        expected = np.average([teeu.reveal(a), teeu.reveal(b)], axis=1)
        assert got.shape == (2, 3) and got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        # Bob owns an input, so he may reveal the result too, from its handle string.
        client = teeu.get_client()
        np.testing.assert_array_equal(client.reveal(client.object(avg_val.handle), party="bob"), got)
        # The same through teeu.to and client.call.
        c_tee = teeu.to(np.ones((4, 3)), carol, allow_funcs=[average], party="bob")
        r = client.call(average, [a_tee, c_tee])
        np.testing.assert_allclose(r.reveal(), np.average([teeu.reveal(a), np.ones((4, 3))], axis=1))
    finally:
        teeu.shutdown()
    with pytest.raises(teeu.ConfigError):
        teeu.get_client()


def test_example_script(cluster, libteeu_path):
    """examples/python/secure_aggregation.py against the same services."""
    env = env_with_bindings({
        "TEEU_AM_ADDRESS": cluster.am.address, "TEEU_AM_MRENCLAVE": cluster.am_mr,
        "TEEU_TEEU_ADDRESS": cluster.teeud.address, "TEEU_TEEU_MRENCLAVE": cluster.teeu_mr,
        "TEEU_SIM_ROOT": str(cluster.sim / "root_ca.pem"), "TEEU_LIBRARY": str(libteeu_path),
    })
    proc = subprocess.run([os.environ.get("TEEU_PYTHON", "/usr/bin/python3"),
                           str(SOURCE_DIR / "examples" / "python" / "secure_aggregation.py")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches plaintext average" in proc.stdout


def test_config_file_client(teeu, cluster):
    with teeu.Client(config_file=cluster.party("alice")) as alice:
        f = teeu.func("sum", axis=0)
        a = np.arange(12.0).reshape(4, 3)
        r = alice.call(f, [alice.put(a, allow_funcs=f), alice.put(2 * a, allow_funcs=f)])
        np.testing.assert_array_equal(r.reveal(), np.sum([a, 2 * a], axis=0))
        assert len(alice.owner_id()) == 44
        stats = alice.stats()
        assert stats["puts"] == 2 and stats["rpc_calls"] >= 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype(teeu, session, dtype):
    client, carol = session
    stack = teeu.func("stack", axis=0)
    for byte_order in ("<", ">"):
        a = values(dtype, (5, 7)).astype(np.dtype(dtype).newbyteorder(byte_order))
        got = carol(stack)([client.put(a, allow_funcs=stack, device=carol, party="alice")])
        out = client.reveal(got)
        assert out.dtype.newbyteorder("=") == np.dtype(dtype)
        np.testing.assert_array_equal(out, a[None])


def test_fortran_non_contiguous_zero_d_and_empty(teeu, session):
    client, carol = session
    stack = teeu.func("stack", axis=0)
    base = values("float64", (6, 8))
    cases = {
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "strided": base[::2, 1::3],
        "reversed": base[::-1, ::-2],
        "broadcast": np.broadcast_to(base[:1], (6, 8)),
        "int_column": values("int32", (9, 4))[:, 2],
        "zero_d": np.array(2.5),
        "empty": np.zeros((0, 3)),
        "empty_fortran": np.zeros((3, 0), order="F"),
    }
    for name, a in cases.items():
        obj = client.put(a, allow_funcs=stack, device=carol, party="alice")
        out = client.reveal(carol(stack)([obj]))
        assert out.shape == (1,) + a.shape, name
        np.testing.assert_array_equal(out[0], a, err_msg=name)
        assert out.flags.writeable


def test_reveal_result_owns_its_memory(teeu, session):
    client, carol = session
    s = teeu.func("stack", axis=0)
    out = client.reveal(carol(s)([client.put(np.arange(100.0), allow_funcs=s, party="alice")]))
    out += 1  # writable, ours
    view = out[0, 10:20]
    del out
    np.testing.assert_array_equal(view, np.arange(10.0, 20.0) + 1)


def test_delete_objects_and_results(teeu, session):
    client, carol = session
    average = teeu.func("average", axis=1)
    a = client.put(np.ones((4, 3)), allow_funcs=average, party="alice")
    b = client.put(np.zeros((4, 3)), allow_funcs=average, party="bob")
    r = carol(average, party="alice")([a, b])
    np.testing.assert_array_equal(r.reveal(), np.array([[1.0] * 3, [0.0] * 3]))
    with pytest.raises(teeu.NotAuthorizedError):
        client.delete(a, party="bob")  # only alice, who put it
    r.delete()  # alice, who asked for it
    with pytest.raises(teeu.NotFoundError) as info:
        client.reveal(r)
    assert r.uuid in info.value.message
    client.delete([a, b])  # each by the party that put it
    c = client.put(np.ones(3), allow_funcs=average, party="bob")
    client.delete(c.handle, party="bob")  # a handle string names no party
    with pytest.raises(teeu.NotFoundError):
        c.delete()
    with pytest.raises(teeu.NotFoundError) as info:
        a.delete()
    assert "deleted already" in info.value.message


def test_not_authorized_and_other_service_errors(teeu, session, cluster):
    client, carol = session
    average = teeu.func("average", axis=1)
    total = teeu.func("sum", axis=0)
    a = client.put(np.ones((4, 3)), allow_funcs=average, party="alice")
    b = client.put(np.ones((4, 3)), allow_funcs=total, party="bob")  # Bob did not allow average
    with pytest.raises(teeu.NotAuthorizedError) as info:
        carol(average)([a, b])
    assert isinstance(info.value, teeu.ClientError) and isinstance(info.value, PermissionError)
    assert info.value.message and info.value.status == 500

    # A third party who owns no input may not reveal alice's result.
    r = carol(average)([a])
    other = teeu.Client(**sf_init_kwargs(cluster, "dave"))
    try:
        dave_carol = teeu.TEEU("carol", mr_enclave=cluster.teeu_mr, client=other)
        with pytest.raises(teeu.NotAuthorizedError):
            other.reveal(other.object(r.handle), party="dave")
        del dave_carol
    finally:
        other.close()

    with pytest.raises(teeu.BadHandleError):
        client.object("teeu://nowhere")


def test_configuration_errors(teeu, cluster):
    # An empty MRENCLAVE outside simulation: refused by libteeu.
    kwargs = sf_init_kwargs(cluster, "alice", tee_simulation=False)
    kwargs["auth_manager_config"] = {"host": cluster.am.address, "mr_enclave": ""}
    with teeu.Client(**kwargs) as c:
        carol = teeu.TEEU("carol", mr_enclave="", client=c)
        with pytest.raises(teeu.ConfigError) as info:
            c.put(np.ones(3), allow_funcs="sum", device=carol)
        assert "mr_enclave" in info.value.message.lower() or "mrenclave" in info.value.message.lower()
    # A TEEU whose measurement differs from the expected one: refused before any data is sent.
    with teeu.Client(**sf_init_kwargs(cluster, "alice")) as c:
        wrong = teeu.TEEU("carol", mr_enclave="AB" * 32, client=c)
        with pytest.raises(teeu.AttestationError):
            c.put(np.ones(3), allow_funcs="sum", device=wrong)
    # Missing pieces are caught in Python with a ConfigError naming them.
    with teeu.Client(party_key_pair={"alice": {"private_key": "x"}}, tee_simulation=True) as c:
        with pytest.raises(teeu.ConfigError, match="host"):
            c.put(np.ones(3), allow_funcs="sum", device=teeu.TEEU("carol", client=c))
    with pytest.raises(teeu.ConfigError, match="no-such-config.json"):
        teeu.Client(config_file=cluster.tmp / "no-such-config.json")


def test_unreachable_service_fails_within_the_deadline(teeu, cluster):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    kwargs = sf_init_kwargs(cluster, "alice", timeout=5)
    kwargs["auth_manager_config"] = {"host": f"127.0.0.1:{port}", "mr_enclave": cluster.am_mr}
    with teeu.Client(**kwargs) as c:
        carol = teeu.TEEU("carol", mr_enclave=cluster.teeu_mr, client=c)
        start = time.monotonic()
        with pytest.raises(teeu.RpcError) as info:
            c.put(np.ones(3), allow_funcs="sum", device=carol)
        assert time.monotonic() - start < 30
        assert isinstance(info.value, (teeu.ConnectError, teeu.TeeuTimeoutError, teeu.RpcUnavailableError))
        assert f"127.0.0.1:{port}" in info.value.message


def with_retry(fn, *args, attempts=50, **kwargs):
    """teeud admits a bounded number of concurrent uploads and calls (RESOURCE_EXHAUSTED beyond them):
    back off and retry, as an application would."""
    import teeu
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except teeu.RpcResourceExhaustedError:
            if i == attempts - 1:
                raise
            time.sleep(0.05 * (i + 1))


def test_threads_share_one_client(teeu, session):
    client, carol = session
    average = teeu.func("average", axis=1)
    errors, results = [], []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(3):
                a, b = rng.random((4, 3)), rng.random((4, 3))
                oa = with_retry(client.put, a, allow_funcs=average, party="alice")
                ob = with_retry(client.put, b, allow_funcs=average, party="bob")
                got = client.reveal(with_retry(carol(average), [oa, ob]))
                results.append(np.allclose(got, np.average([a, b], axis=1), rtol=0, atol=1e-12))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors, errors
    assert len(results) == 18 and all(results)


def test_calls_release_the_gil(teeu, session):
    """While a put of a large array runs in C, another Python thread keeps running."""
    client, carol = session
    big = np.random.default_rng(0).random(8 * 1024 * 1024)  # 64 MiB
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    start = time.monotonic()
    t.start()
    client.put(big, allow_funcs="sum", party="alice")
    stop.set()
    t.join()
    elapsed = time.monotonic() - start
    # A held GIL would leave the spinner only the Python parts of put (microseconds).
    rate = ticks[0] / elapsed
    solo = _spin_rate()
    assert rate > 0.2 * solo, f"spinner ran at {rate:.0f}/s during put vs {solo:.0f}/s alone"


def _spin_rate(seconds=0.2):
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n += 1
    return n / seconds


def test_memory_flat_over_1000_put_reveal_cycles_of_1mib(teeu, session):
    client, carol = session
    s = teeu.func("stack", axis=0)
    arr = np.random.default_rng(1).random(128 * 1024)  # 1 MiB
    result = carol(s)([client.put(arr, allow_funcs=s, party="alice")])

    def cycle():
        obj = client.put(arr, allow_funcs=s, party="alice")
        out = client.reveal(result)
        assert out.nbytes == arr.nbytes and obj.handle

    before, after, ok = flat_memory(cycle, warmup=50, cycles=1000)
    print(f"RSS after warm-up {before / 2**20:.1f} MiB, after 1000 put+reveal cycles {after / 2**20:.1f} MiB")
    assert ok, f"RSS grew from {before >> 20} MiB to {after >> 20} MiB over 1000 put+reveal cycles of 1 MiB"


def test_presign_setting_and_counters(teeu, cluster):
    """Client(presign=N) reaches teeu_config.presign; stats() carries the presign counters."""
    f = teeu.func("sum", axis=0)
    a = np.arange(12.0).reshape(4, 3)
    carol = {"party": "carol", "mr_enclave": cluster.teeu_mr}
    with teeu.Client(**sf_init_kwargs(cluster, "alice", presign=0, teeu=carol)) as off:
        for _ in range(3):
            off.put(a, allow_funcs=f)
        st = off.stats()
        assert st["rsa_private_ops_precomputed"] == 0 and st["puts_presigned"] == 0
    with teeu.Client(**sf_init_kwargs(cluster, "alice", presign=1, teeu=carol)) as on:
        on.put(a, allow_funcs=f)
        deadline = time.monotonic() + 30
        while on.stats()["rsa_private_ops_precomputed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        on.put(a, allow_funcs=f)
        st = on.stats()
        assert st["puts_presigned"] == 1 and st["rsa_private_ops_precomputed"] >= 1
    with pytest.raises(teeu.ConfigError, match="presign"):
        with teeu.Client(**sf_init_kwargs(cluster, "alice", presign=65, teeu=carol)) as bad:
            bad.put(a, allow_funcs=f)
