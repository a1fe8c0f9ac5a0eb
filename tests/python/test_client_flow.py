"""teeu_put / teeu_call / teeu_reveal end to end against the real
teeu-authmanager and teeud (simulation attestation authority, quotes fully
checked), through libteeu's C API (ctypes)."""
import time

import numpy as np
import pytest

from client_support import Cluster, Func, Obj


@pytest.fixture(scope="module")
def cluster(tool, tmp_path_factory, libteeu_path):
    c = Cluster(tool, tmp_path_factory.mktemp("client-flow"), libteeu_path).start()
    yield c
    c.stop()


def avg1(lib):
    return Func(lib, "average", '{ "axis" : 1 }')


def test_two_parties_secure_aggregation(cluster):
    lib = cluster.lib
    alice, bob = cluster.client("alice"), cluster.client("bob")
    rng = np.random.default_rng(1)
    a, b = rng.random((4, 3)), rng.random((4, 3))
    f = avg1(lib)
    assert f.descriptor == 'average@1{"axis":1}'
    ha = alice.put(a, [f]).handle
    hb = bob.put(b, [f]).handle
    # Handles travel as strings between parties.
    oa, ob = Obj.from_string(lib, ha), Obj.from_string(lib, hb)
    r = alice.call(f, [oa, ob])
    got = alice.reveal(r)
    np.testing.assert_allclose(got, np.average([a, b], axis=1), rtol=0, atol=1e-12)
    assert got.shape == (2, 3) and got.dtype == np.float64
    # Bob owns an input: he may reveal too (default revealers), from the handle string.
    np.testing.assert_array_equal(bob.reveal(Obj.from_string(lib, r.handle)), got)


def test_three_parties(cluster):
    lib = cluster.lib
    parties = [cluster.client(n) for n in ("p1", "p2", "p3")]
    f = avg1(lib)
    arrays = [np.arange(12, dtype=np.float64).reshape(4, 3) * (i + 1) for i in range(3)]
    objs = [p.put(x, [f]) for p, x in zip(parties, arrays)]
    r = parties[2].call(f, [Obj.from_string(lib, o.handle) for o in objs])
    np.testing.assert_allclose(parties[0].reveal(Obj.from_string(lib, r.handle)), np.average(arrays, axis=1))


DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
          "float64", "complex64", "complex128"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips(cluster, dtype):
    """stack([a]) returns a unchanged (with a new axis): every dtype survives put, call and reveal."""
    lib = cluster.lib
    alice = cluster.client("alice")
    rng = np.random.default_rng(7)
    if dtype == "bool":
        a = rng.random((5, 7)) > 0.5
    elif dtype.startswith("complex"):
        a = (rng.standard_normal((5, 7)) + 1j * rng.standard_normal((5, 7))).astype(dtype)
    elif dtype.startswith("float"):
        a = rng.standard_normal((5, 7)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=(5, 7), dtype=dtype, endpoint=True)
    f = Func(lib, "stack", '{"axis":0}')
    r = alice.call(f, [alice.put(a, [f])])
    got = alice.reveal(r)
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got, a[None])


def test_large_array_256_mib(cluster):
    lib = cluster.lib
    alice = cluster.client("alice")
    n = 32 << 20  # 32 Mi int64 = 256 MiB
    a = np.arange(n, dtype=np.int64)
    f = Func(lib, "sum", '{"axis":null}')
    obj = alice.put(a, [f], timeout_ms=300000)
    st = alice.stats()
    assert st["bytes_sent"] >= a.nbytes
    got = alice.reveal(alice.call(f, [obj], args=[([obj], False)], timeout_ms=300000), timeout_ms=300000)
    assert int(got) == n * (n - 1) // 2


def _wait_precomputed(client, want, timeout=30.0):
    """Waits until the presign thread has done `want` RSA operations in all (it
    counts a credential's operations when it puts the credential in the pool)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = client.stats()
        if st["rsa_private_ops_precomputed"] >= want:
            return st
        time.sleep(0.005)
    raise AssertionError(f"the presign thread did not reach {want} operations: {client.stats()}")


def test_warm_put_costs_at_most_2_rsa_ops_and_2_round_trips(cluster):
    """After warm-up, a 4x3 float64 put is one CreateDataWithAuth and one PutObject stream.

    RSA private-key operations: CreateDataWithAuth needs two signatures by
    WIRE.md (SegmentDataMeta.signature over the data key, and
    DataAuth.signature); the PutObject header carries that signed DataAuth
    instead of a signature of its own (docs/protocol.md), so 2 in all. With
    presign off both are on the put's path; with presign on (the default)
    the background thread makes them ahead (rsa_private_ops_precomputed) and
    a put that finds a credential ready for its policy makes none."""
    lib = cluster.lib
    f = avg1(lib)
    a = np.ones((4, 3))
    bob = cluster.client("bob", presign=0)
    s0 = bob.stats()
    bob.put(a, [f])  # warm-up: GetRaCertPems + RegisterInsPubKey + Attest, then the put
    s1 = bob.stats()
    assert s1["am_calls"] - s0["am_calls"] == 3 and s1["teeu_calls"] - s0["teeu_calls"] == 2
    for _ in range(3):
        before = bob.stats()
        bob.put(a, [f])
        after = bob.stats()
        assert after["rpc_calls"] - before["rpc_calls"] == 2
        assert after["am_calls"] - before["am_calls"] == 1
        assert after["teeu_calls"] - before["teeu_calls"] == 1
        assert after["rsa_private_ops"] - before["rsa_private_ops"] == 2
        assert after["puts"] - before["puts"] == 1
    assert after["rsa_private_ops_precomputed"] == 0 and after["puts_presigned"] == 0

    # One credential kept ready: the pool is full exactly when the thread has counted its operations.
    alice = cluster.client("alice", presign=1)
    alice.put(a, [f])  # warm-up (signs inline); starts the thread and sets the policy it speculates on
    st = _wait_precomputed(alice, 1)
    alice.put(a, [f])  # takes the credential made while the policy may not have been known yet
    st = _wait_precomputed(alice, st["rsa_private_ops_precomputed"] + 2)
    for _ in range(3):
        before = st
        alice.put(a, [f])
        after = alice.stats()
        assert after["rpc_calls"] - before["rpc_calls"] == 2
        assert after["am_calls"] - before["am_calls"] == 1
        assert after["teeu_calls"] - before["teeu_calls"] == 1
        assert after["rsa_private_ops"] - before["rsa_private_ops"] == 0
        assert after["puts_presigned"] - before["puts_presigned"] == 1
        assert after["puts_presigned_auth"] - before["puts_presigned_auth"] == 1
        # The thread replaces the credential taken: exactly the 2 operations the put did not do.
        st = _wait_precomputed(alice, before["rsa_private_ops_precomputed"] + 2)
        time.sleep(0.05)
        assert alice.stats()["rsa_private_ops_precomputed"] - before["rsa_private_ops_precomputed"] == 2
    # Another policy: the DataAuth is signed inline (1), the segment signature still comes from the pool.
    g = Func(lib, "sum", '{"axis":0}')
    before = st
    alice.put(a, [f, g])
    after = alice.stats()
    assert after["rsa_private_ops"] - before["rsa_private_ops"] == 1
    assert after["puts_presigned"] - before["puts_presigned"] == 1
    assert after["puts_presigned_auth"] - before["puts_presigned_auth"] == 0


def test_zstd_put(cluster):
    lib = cluster.lib
    alice = cluster.client("alice", zstd_level=3)
    a = np.zeros((300, 300))
    a[::7] = 1.5
    f = Func(lib, "sum", '{"axis":0}')
    obj = alice.put(a, [f])
    got = alice.reveal(alice.call(f, None, args=[([obj], False)]))
    np.testing.assert_allclose(got, a.sum(axis=0))
    assert alice.stats()["bytes_sent"] < a.nbytes // 4


def test_multi_segment_result_reveal(cluster):
    """A 40 MiB result comes back in many sealed segments, decrypted straight into the array."""
    lib = cluster.lib
    alice = cluster.client("alice")
    a = np.random.default_rng(3).standard_normal((5 << 20,)).astype(np.float64)
    f = Func(lib, "stack", '{"axis":0}')
    got = alice.reveal(alice.call(f, [alice.put(a, [f], timeout_ms=120000)], timeout_ms=120000), timeout_ms=120000)
    assert got.shape == (1, a.size)
    np.testing.assert_array_equal(got[0], a)


def test_one_client_shared_by_threads(cluster):
    """A fresh client used by 6 threads at once: the warm-up runs once, every put works."""
    import concurrent.futures
    lib = cluster.lib
    c = cluster.client("tina")
    f = avg1(lib)
    arrays = [np.full((4, 3), float(i)) for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        objs = list(ex.map(lambda x: c.put(x, [f]), arrays))
    st = c.stats()
    assert st["puts"] == 6
    assert st["am_calls"] == 2 + 6 and st["teeu_calls"] == 1 + 6  # warm-up once, then 1 + 1 per put
    got = c.reveal(c.call(f, objs))
    np.testing.assert_array_equal(got, np.average(arrays, axis=1))


@pytest.mark.parametrize("kind", ["fortran_big_endian", "strided_reversed", "zero_d"])
def test_put_reads_any_layout_in_place(cluster, kind):
    lib = cluster.lib
    alice = cluster.client("alice")
    base = np.arange(60, dtype=np.int32).reshape(6, 10)
    if kind == "fortran_big_endian":
        a = np.asfortranarray(base.astype(">i4"))
    elif kind == "strided_reversed":
        a = base[::2, ::-3]
    else:
        a = np.array(7.25)
    f = Func(lib, "stack", '{"axis":0}')
    got = alice.reveal(alice.call(f, [alice.put(a, [f])]))
    np.testing.assert_array_equal(got, np.asarray(a)[None])


@pytest.mark.parametrize("nbytes", [0, 8, 4096 - 128, 4096, 8192 + 8, 40 * 1024 + 24])
def test_contiguous_put_sealed_from_the_callers_memory_at_every_boundary(cluster, nbytes):
    """A contiguous array is sealed straight from its memory with the .npy
    header as a separate first part: small segments put the header/data and
    segment boundaries everywhere, and the TEEU must see exactly numpy's bytes."""
    alice = cluster.client("alice", segment_size=4096)
    rng = np.random.default_rng(nbytes)
    a = rng.standard_normal(nbytes // 8)
    f = Func(cluster.lib, "stack", '{"axis":0}')
    got = alice.reveal(alice.call(f, [alice.put(a, [f])]))
    np.testing.assert_array_equal(got, a[None])
