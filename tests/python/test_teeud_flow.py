"""teeud driven by an independent Python client (grpcio + cryptography,
written from docs/protocol.md, docs/crypto.md and WIRE.md): put, call and
reveal through a teeu-authmanager with the simulation attestation
authority, and the refusals."""
import hashlib
import json
import os
import subprocess
import uuid

import grpc
import numpy as np
import pytest

import teeud_support as tds

# A recognisable byte pattern: must never appear in any file on disk.
MARK = np.frombuffer(b"PLAINTEXT-MARK!!" * 4, dtype=np.uint8)


pb, env, alice = tds.module_fixtures()


@pytest.fixture(scope="module")
def bob(env):
    return env.register()


def marked(shape, dtype, rng):
    """A random array whose bytes start with MARK (so a plaintext leak is findable)."""
    a = rng.standard_normal(shape) * 10 if np.dtype(dtype).kind in "fc" else rng.integers(-50, 50, size=shape)
    a = a.astype(dtype)
    raw = bytearray(a.tobytes())
    n = min(len(raw), MARK.size)
    raw[:n] = MARK.tobytes()[:n]
    out = np.frombuffer(bytes(raw), dtype=dtype).reshape(shape).copy()
    if out.dtype.kind == "f":
        out[~np.isfinite(out)] = 1.0
    return out


def test_health_and_attest(env, tool, tmp_path):
    h = env.client.health()
    assert h.status == "SERVING" and h.api_version == "teeu.v1" and h.simulation
    r, nonce = env.client.attest()
    assert r.nonce == nonce and r.simulation
    assert "BEGIN PUBLIC KEY" in r.identity_public_key
    assert r.report.str_report_type == "Passport" and r.report.str_tee_platform == "SGX_DCAP"
    # The report verifies under the simulation root, names teeud's measurement and
    # binds UPPERHEX(SHA256(identity_public_key | nonce)).
    f = tmp_path / "teeud_report.json"
    f.write_text(json.dumps({"str_report_version": r.report.str_report_version,
                             "str_report_type": r.report.str_report_type,
                             "str_tee_platform": r.report.str_tee_platform, "json_report": r.report.json_report}))
    verify = [str(tool("teeu-attest")), "verify", "--ua-report", str(f), "--sim-root",
              str(env.authority / "root_ca.pem"), "--mrenclave", env.mrenclave]
    binding = hashlib.sha256(r.identity_public_key.encode() + b"|" + nonce.encode()).hexdigest().upper()
    ok = subprocess.run(verify + ["--report-data", binding], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert env.mrenclave == hashlib.sha256(tool("teeud").read_bytes()).hexdigest().upper()
    other = hashlib.sha256(r.identity_public_key.encode() + b"|" + b"0" * 64).hexdigest().upper()
    assert subprocess.run(verify + ["--report-data", other], capture_output=True, text=True).returncode != 0
    # The identity key is stable across calls, the nonce must be 32 bytes of uppercase hex.
    assert env.client.attest()[0].identity_public_key == r.identity_public_key
    assert (env.teeud_state / "identity.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(grpc.RpcError) as ei:
        env.client.attest(nonce="abc")
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_put_call_reveal_average(env, alice, bob):
    rng = np.random.default_rng(1)
    a = marked((4, 6), np.float64, rng)
    b = marked((4, 6), np.float64, rng)
    ua = env.put_array(alice, a)
    ub = env.put_array(bob, b)
    res = env.client.call(alice, 'average@1{"axis":1}', [[ua, ub]])
    got = env.client.reveal(alice, res)
    np.testing.assert_allclose(got, np.average([a, b], axis=1))
    # The input owner may reveal too (default revealers).
    np.testing.assert_allclose(env.client.reveal(bob, res), got)


def rng_for(name):
    return np.random.default_rng(abs(hash(name)) % (2 ** 32))


def _check(got, want):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-6 if want.dtype == np.float32 else 1e-12, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


# (descriptor, dtypes, shapes of the inputs, how the arguments are grouped, numpy reference)
KERNEL_CASES = [
    ('average@1{"axis":1}', ["float64", "int32"], [(3, 5), (3, 5)], "list",
     lambda a, b: np.average([a, b], axis=1)),
    ('average@1{"axis":0,"weights":true}', ["float64", "float32"], [(4, 3), (4, 3)], "single",
     lambda a, w: np.average(a, axis=0, weights=np.abs(w) + 1)),
    ('mean@1{"axis":0}', ["float32", "int64"], [(5, 4)], "single", lambda a: np.mean(a, axis=0)),
    ('sum@1{}', ["int32", "float64", "uint8"], [(6, 7)], "single", lambda a: np.sum(a)),
    ('min@1{"axis":1}', ["int16", "float64"], [(3, 8)], "single", lambda a: np.min(a, axis=1)),
    ('max@1{"axis":[0,1]}', ["float32", "int64"], [(3, 4, 2)], "single", lambda a: np.max(a, axis=(0, 1))),
    ('var@1{"axis":0,"ddof":1}', ["float64", "int32"], [(6, 3)], "single", lambda a: np.var(a, axis=0, ddof=1)),
    ('std@1{"axis":1}', ["float32", "float64"], [(4, 9)], "single", lambda a: np.std(a, axis=1)),
    ('count@1{"axis":0}', ["int32", "float64"], [(5, 5)], "single", lambda a: np.count_nonzero(a, axis=0)),
    ('concatenate@1{"axis":1}', ["float64", "int8"], [(2, 3), (2, 4)], "list",
     lambda a, b: np.concatenate([a, b], axis=1)),
    ('stack@1{"axis":1}', ["int64", "float32"], [(3, 2), (3, 2)], "list", lambda a, b: np.stack([a, b], axis=1)),
    ('add@1{}', ["float64", "int32"], [(3, 4), (4,)], "single", lambda a, b: np.add(a, b)),
    ('subtract@1{}', ["int64", "float32"], [(2, 5), (2, 5)], "single", lambda a, b: np.subtract(a, b)),
    ('multiply@1{}', ["float32", "int16"], [(4, 1), (1, 3)], "single", lambda a, b: np.multiply(a, b)),
    ('divide@1{}', ["float64", "int32"], [(3, 3), (3, 3)], "single", lambda a, b: np.divide(a, b)),
    ('matmul@1{}', ["float64", "int32"], [(3, 4), (4, 2)], "single", lambda a, b: np.matmul(a, b)),
]


@pytest.mark.parametrize("descriptor,dtypes,shapes,grouping,ref", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
def test_kernel_full_path(env, alice, bob, descriptor, dtypes, shapes, grouping, ref):
    rng = rng_for(descriptor)
    for dtype in dtypes:
        arrays = [marked(s, dtype, rng) for s in shapes]
        if descriptor.startswith("divide"):
            arrays[1][arrays[1] == 0] = 3
        if "weights" in descriptor:
            arrays[1] = (np.abs(arrays[1]) + 1).astype(dtype)
            want = np.average(arrays[0], axis=0, weights=arrays[1])
        else:
            want = ref(*arrays)
        owners = [alice, bob]
        uuids = [env.put_array(owners[i % 2], a) for i, a in enumerate(arrays)]
        args = [uuids] if grouping == "list" else uuids
        res = env.client.call(alice, descriptor, args)
        _check(env.client.reveal(alice, res), np.asarray(want))


def _call_error(env, party, descriptor, args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call(party, descriptor, args, **kw)
    return ei.value


def test_unauthorized_function_is_permission_denied(env, alice):
    rng = rng_for("fn")
    u = env.put_array(alice, marked((4, 4), np.float64, rng), functions=(tds.ams.function_code("sum@1{}"),))
    # The authorized function works...
    env.client.call(alice, "sum@1{}", [u])
    # ...another one is refused by the AuthManager, and the reason is passed on.
    err = _call_error(env, alice, 'mean@1{"axis":0}', [u])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "AuthManager refused" in err.details()
    assert "extra_limits" in err.details() or "function" in err.details(), err.details()


def test_owner_did_not_authorize_requester(env, alice, bob):
    carol = env.register()
    u = env.put_array(bob, marked((3, 3), np.float64, rng_for("owner")), allowed=(alice.owner_id,))
    env.client.call(alice, "sum@1{}", [u])
    err = _call_error(env, carol, "sum@1{}", [u])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "AuthManager refused" in err.details()
    assert carol.owner_id in err.details() or "allowed_ins_ids" in err.details(), err.details()


def test_measurement_not_in_allowed_apps(env, alice):
    other = "AB" * 32
    u = env.put_array(alice, marked((3, 3), np.float64, rng_for("mr")), mrenclaves=(other,))
    err = _call_error(env, alice, "sum@1{}", [u])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "allowed_apps" in err.details() and env.mrenclave in err.details(), err.details()


def test_revealers_default_and_narrowed(env, alice, bob):
    carol = env.register()
    rng = rng_for("rev")
    ua = env.put_array(alice, marked((2, 3), np.float64, rng))
    ub = env.put_array(bob, marked((2, 3), np.float64, rng))
    res = env.client.call(alice, "add@1{}", [ua, ub])
    with pytest.raises(grpc.RpcError) as ei:
        env.client.reveal(carol, res)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert alice.owner_id in ei.value.details() and bob.owner_id in ei.value.details()
    narrowed = env.client.call(alice, "add@1{}", [ua, ub], revealers=[alice.owner_id])
    env.client.reveal(alice, narrowed)
    with pytest.raises(grpc.RpcError) as ei:
        env.client.reveal(bob, narrowed)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not reveal" in ei.value.details()
    # Revealers may only narrow the default set.
    err = _call_error(env, alice, "add@1{}", [ua, ub], revealers=[carol.owner_id])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_plaintext_reveal_only_when_allowed(env, alice):
    a = marked((3, 2), np.int64, rng_for("plain"))
    u = env.put_array(alice, a)
    sealed_only = env.client.call(alice, "sum@1{}", [u])
    with pytest.raises(grpc.RpcError) as ei:
        env.client.reveal(alice, sealed_only, plaintext=True)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
    allowed = env.client.call(alice, "sum@1{}", [u], allow_plaintext=True)
    assert env.client.reveal(alice, allowed, plaintext=True) == a.sum()


def test_signed_requests_are_checked(env, alice, bob):
    u = env.put_array(alice, marked((2, 2), np.float64, rng_for("sig")))
    err = _call_error(env, alice, "sum@1{}", [u], timestamp_ms=tds.now_ms() - 3600 * 1000)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "timestamp" in err.details()

    def wrong_code(p):
        p.code = tds.ams.function_code("max@1{}")
    err = _call_error(env, alice, "sum@1{}", [u], params_override=wrong_code)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "code" in err.details()
    # A forged signature (bob signs a task claiming alice's key).
    t = env.client.t
    task = t.CallTask(task_id="x", requester_id=alice.owner_id, requester_public_key=alice.pem, function="sum@1{}",
                      args=[t.Argument(data_uuids=[u])], timestamp_ms=tds.now_ms())
    raw = task.SerializeToString()
    with pytest.raises(grpc.RpcError) as ei:
        env.client.stub.Call(t.CallRequest(task=raw, signature=tds.ams.sign(bob.key, raw)), timeout=30)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED and "signature" in ei.value.details()
    err = _call_error(env, alice, "sum@1{}", [uuid.uuid4().hex])
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = _call_error(env, alice, "nosuch@1{}", [u])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_put_refusals(env, alice, bob):
    a = marked((2, 2), np.float64, rng_for("dup"))
    data_uuid, key = env.create(alice)
    env.client.put(alice, data_uuid, key, tds.npy_bytes(a))
    with pytest.raises(grpc.RpcError) as ei:
        env.client.put(alice, data_uuid, key, tds.npy_bytes(a))
    assert ei.value.code() == grpc.StatusCode.ALREADY_EXISTS
    # A header signed by someone else.
    d2, k2 = env.create(alice)
    reqs = list(env.client.put_requests(alice, d2, k2, tds.npy_bytes(a)))
    reqs[0].header.signature = tds.ams.sign(bob.key, reqs[0].header.header)
    with pytest.raises(grpc.RpcError) as ei:
        env.client.stub.PutObject(iter(reqs), timeout=30)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Segments out of order.
    reqs = list(env.client.put_requests(alice, d2, k2, os.urandom(5000), segment_size=1024))
    reqs[2], reqs[3] = reqs[3], reqs[2]
    with pytest.raises(grpc.RpcError) as ei:
        env.client.stub.PutObject(iter(reqs), timeout=30)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "order" in ei.value.details()
    # Nothing was stored: the uuid is still free.
    env.client.put(alice, d2, k2, tds.npy_bytes(a))


def test_put_authenticated_by_data_auth(env, alice, bob):
    """A header carrying the owner's signed DataAuth needs no signature of its own."""
    a = marked((3, 2), np.float64, rng_for("dataauth"))
    avg = 'average@1{"axis":0}'
    d1, k1, auth1 = env.create(alice, functions=(tds.ams.function_code(avg),), with_auth=True)
    d2, k2, auth2 = env.create(alice, with_auth=True)

    def refused(data_uuid, key, party, data_auth, why):
        with pytest.raises(grpc.RpcError) as ei:
            env.client.put(party, data_uuid, key, tds.npy_bytes(a), data_auth=data_auth)
        assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED, why
        return ei.value.details()

    # Another object's DataAuth does not authorize this one.
    assert "not " + d1 in refused(d1, k1, alice, auth2, "DataAuth of another data_uuid")
    # Bob cannot present Alice's DataAuth as his own.
    refused(d1, k1, bob, auth1, "DataAuth signed by another owner")
    # A DataAuth whose signed fields were changed does not verify.
    forged = env.pb["sdc_pb2"].DataAuth.FromString(auth1)
    forged.extra_limits = ""
    assert "signature" in refused(d1, k1, alice, forged.SerializeToString(), "forged DataAuth")
    # The genuine one is accepted, and the object computes.
    assert env.client.put(alice, d1, k1, tds.npy_bytes(a), data_auth=auth1).data_uuid == d1
    result = env.client.call(alice, avg, [[d1]])
    np.testing.assert_allclose(env.client.reveal(alice, result), np.average([a], axis=0))


def test_wrong_data_key_fails_cleanly(env, alice):
    data_uuid, key = env.create(alice)
    env.client.put(alice, data_uuid, os.urandom(32), tds.npy_bytes(np.arange(4.0)))
    err = _call_error(env, alice, "sum@1{}", [data_uuid])
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "decrypt" in err.details()


def test_delete(env, alice, bob):
    u = env.put_array(alice, marked((2, 2), np.float64, rng_for("del")))
    res = env.client.call(alice, "sum@1{}", [u])
    with pytest.raises(grpc.RpcError) as ei:
        env.client.delete(bob, u)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert env.client.delete(alice, u).deleted
    assert env.client.delete(alice, res).deleted
    with pytest.raises(grpc.RpcError) as ei:
        env.client.reveal(alice, res)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND


def test_zz_no_plaintext_on_disk(env):
    """Runs last in this module: every marked array ever put or computed is absent from the state folders."""
    pattern = MARK.tobytes()[:16]
    assert tds.scan_for(env.root, pattern) == []
    # The scan works: the pattern is findable when present.
    probe = env.root / "probe.bin"
    probe.write_bytes(b"xx" + pattern)
    assert tds.scan_for(env.root, pattern) == [str(probe)]
    probe.unlink()


def test_list_of_one_object_is_stacked_like_numpy(env, alice):
    a = marked((3, 4), np.float64, rng_for("lift"))
    u = env.put_array(alice, a)
    _check(env.client.reveal(alice, env.client.call(alice, 'mean@1{"axis":0}', [[u]])), np.mean([a], axis=0))
    _check(env.client.reveal(alice, env.client.call(alice, 'sum@1{"axis":1}', [[u]])), np.sum([a], axis=1))
    # A single (non-list) argument is the array itself.
    _check(env.client.reveal(alice, env.client.call(alice, 'mean@1{"axis":0}', [u])), np.mean(a, axis=0))
