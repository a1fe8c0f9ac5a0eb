"""teeud limits (object size, objects per party, concurrent calls) with
clear errors; TLS and mutual TLS; plain text only in simulation; the
production attestation backend refuses to start without SGX."""
import subprocess
import threading

import grpc
import numpy as np
import pytest

import teeud_support as tds
from test_authmanager_tls import pki  # noqa: F401  (the test PKI fixture)


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return tds.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def env(tool, pb, tmp_path_factory):
    e = tds.Env(tool, pb, tmp_path_factory.mktemp("limits"),
                teeud_extra=["--max-object-size", "4096", "--max-objects-per-party", "2",
                             "--max-concurrent-calls", "1"])
    yield e
    assert e.close() == (0, 0)


def test_max_object_size(env):
    alice = env.register()
    data_uuid, key = env.create(alice)
    with pytest.raises(grpc.RpcError) as ei:
        env.client.put(alice, data_uuid, key, b"\0" * 5000)
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max-object-size" in ei.value.details() and "4096" in ei.value.details()
    # A result larger than the bound is refused too (concatenating two 3 KiB objects).
    ua = env.put_array(alice, np.zeros(300))
    ub = env.put_array(alice, np.zeros(300))
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call(alice, "concatenate@1{}", [[ua, ub]])
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max-object-size" in ei.value.details()


def test_max_objects_per_party(env):
    bob = env.register()
    u1 = env.put_array(bob, np.ones(3))
    env.put_array(bob, np.ones(3))
    data_uuid, key = env.create(bob)
    with pytest.raises(grpc.RpcError) as ei:
        env.client.put(bob, data_uuid, key, tds.npy_bytes(np.ones(3)))
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max-objects-per-party" in ei.value.details() and bob.owner_id in ei.value.details()
    # Another party is not affected; deleting frees a place.
    env.put_array(env.register(), np.ones(3))
    assert env.client.delete(bob, u1).deleted
    env.client.put(bob, data_uuid, key, tds.npy_bytes(np.ones(3)))


def test_max_concurrent_calls(env):
    carol = env.register()
    u = env.put_array(carol, np.arange(100.0))
    outcomes = []
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            outcomes.append(("ok", env.client.call(carol, "sum@1{}", [u])))
        except grpc.RpcError as e:
            outcomes.append((e.code(), e.details()))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ok = [o for o in outcomes if o[0] == "ok"]
    busy = [o for o in outcomes if o[0] == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(ok) >= 1 and len(ok) + len(busy) == 4, outcomes
    assert busy, "four simultaneous calls with max-concurrent-calls 1: some must be refused"
    assert all("max-concurrent-calls" in d for _, d in busy)
    assert env.client.reveal(carol, ok[0][1]) == 4950.0


def test_plain_text_refused_outside_simulation(tool, tmp_path):
    p = subprocess.run([str(tool("teeud")), "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--simulation" in p.stderr and "--tls-cert" in p.stderr


def test_production_backend_needs_sgx(tool, tmp_path, pki):  # noqa: F811
    p = subprocess.run([str(tool("teeud")), "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s"),
                        "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"])],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "/dev/attestation" in p.stderr and "Gramine" in p.stderr
    p = subprocess.run([str(tool("teeud")), "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s"),
                        "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]),
                        "--attestation", "sim", "--sim-authority", str(tmp_path / "a")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--simulation" in p.stderr


def test_mutual_tls_end_to_end(tool, pb, tmp_path, pki):  # noqa: F811
    tls = ["--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]), "--client-ca", str(pki["ca.pem"])]
    creds = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"].read_bytes(),
                                         private_key=pki["client.key"].read_bytes(),
                                         certificate_chain=pki["client.pem"].read_bytes())
    e = tds.Env(tool, pb, tmp_path, am_extra=tls, credentials=creds,
                teeud_extra=tls + ["--authmanager-ca", str(pki["ca.pem"]), "--authmanager-cert",
                                   str(pki["client.pem"]), "--authmanager-key", str(pki["client.key"])])
    try:
        alice = e.register()
        a = np.arange(12, dtype=np.int32).reshape(3, 4)
        u = e.put_array(alice, a)
        np.testing.assert_array_equal(e.client.reveal(alice, e.client.call(alice, 'sum@1{"axis":1}', [u])),
                                      a.sum(axis=1))
        # Without a client certificate the worker refuses the connection.
        anon = tds.TeeudClient(pb, e.teeud.address, grpc.ssl_channel_credentials(
            root_certificates=pki["ca.pem"].read_bytes()))
        with pytest.raises(grpc.RpcError):
            anon.health()
        anon.close()
    finally:
        assert e.close() == (0, 0)


def test_config_file_and_flags(tool, pb, tmp_path):
    conf = tmp_path / "teeud.conf"
    conf.write_text("# limits\nmax-object-size = 100\nmax-objects-per-party = 5\nlog-level = debug\n")
    e = tds.Env(tool, pb, tmp_path, teeud_extra=["--config", str(conf), "--max-objects-per-party", "7"])
    try:
        alice = e.register()
        d, k = e.create(alice)
        with pytest.raises(grpc.RpcError) as ei:
            e.client.put(alice, d, k, b"\0" * 200)
        assert "max-object-size of 100 bytes" in ei.value.details()
    finally:
        e.close()
    bad = tmp_path / "bad.conf"
    bad.write_text("max-objects-per-party = many\n")
    p = subprocess.run([str(tool("teeud")), "--config", str(bad), "--simulation"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "bad.conf:1" in p.stderr and "max-objects-per-party" in p.stderr


def test_log_lines_name_requests_but_no_secrets(env):
    alice = env.register()
    data_uuid, key = env.create(alice)
    env.client.put(alice, data_uuid, key, tds.npy_bytes(np.arange(3.0)))
    res = env.client.call(alice, "sum@1{}", [data_uuid])
    env.client.reveal(alice, res)
    log = env.teeud.log()
    for method in ("PutObject", "Call", "Reveal"):
        assert f" {method} grpc-status=0(OK)" in log, log
    assert data_uuid in log and res in log
    for secret in (key.hex(), key.hex().upper(), tds.base64.b64encode(key).decode()):
        assert secret not in log
