"""teeud driven by an independent Python client (grpcio + cryptography,
written from docs/protocol.md, docs/crypto.md and WIRE.md): put, call and
reveal through a teeu-authmanager with the simulation attestation
authority, and the refusals."""
import os
import uuid

import grpc
import numpy as np
import pytest

import teeud_support as tds

# A recognisable byte pattern: must never appear in any file on disk.
MARK = np.frombuffer(b"PLAINTEXT-MARK!!" * 4, dtype=np.uint8)


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return tds.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def env(tool, pb, tmp_path_factory):
    e = tds.Env(tool, pb, tmp_path_factory.mktemp("teeud"))
    yield e
    rc = e.close()
    assert rc == (0, 0), e.teeud.log()


@pytest.fixture(scope="module")
def alice(env):
    return env.register()


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


def test_health_and_attest(env):
    h = env.client.health()
    assert h.status == "SERVING" and h.api_version == "teeu.v1" and h.simulation
    r, nonce = env.client.attest()
    assert r.nonce == nonce and r.simulation
    assert "BEGIN PUBLIC KEY" in r.identity_public_key
    assert r.report.str_report_type == "Passport" and r.report.str_tee_platform == "SGX_DCAP"


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
