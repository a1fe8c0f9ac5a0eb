"""What the client refuses, and the clear errors it gives: functions an
owner did not allow, revealers not allowed, a TEEU running other code, an
AuthManager quote bound to another nonce, an AuthManager that is down; and
a teeud restarted between put and call (works)."""
import concurrent.futures
import os
import socket
import time

import grpc
import numpy as np
import pytest

from authmanager_support import generate_stubs
from client_support import ERR, Cluster, Func, Obj, TeeuError


@pytest.fixture(scope="module")
def cluster(tool, tmp_path_factory, libteeu_path):
    c = Cluster(tool, tmp_path_factory.mktemp("client-refusals"), libteeu_path).start()
    yield c
    c.stop()


def test_function_not_authorized_by_one_owner(cluster):
    lib = cluster.lib
    alice, bob = cluster.client("alice"), cluster.client("bob")
    avg, total = Func(lib, "average", '{"axis":1}'), Func(lib, "sum", '{"axis":0}')
    a = alice.put(np.ones((4, 3)), [avg])
    b = bob.put(np.ones((4, 3)), [total])  # Bob allows only sum over axis 0
    with pytest.raises(TeeuError) as e:
        alice.call(avg, [a, Obj.from_string(lib, b.handle)])
    assert e.value.status == ERR["NOT_AUTHORIZED"]
    msg = e.value.message
    assert 'average@1{"axis":1}' in msg and b.handle.rsplit("/", 1)[1] in msg, msg
    assert "ask the owner" in msg and avg.identity not in msg
    # The function Bob did allow works on his data.
    np.testing.assert_array_equal(bob.reveal(bob.call(total, None, args=[([b], False)])), np.full(3, 4.0))


def test_revealer_not_allowed(cluster):
    lib = cluster.lib
    alice, bob, eve = cluster.client("alice"), cluster.client("bob"), cluster.client("eve")
    avg = Func(lib, "average", '{"axis":1}')
    a, b = alice.put(np.ones((4, 3)), [avg]), bob.put(np.zeros((4, 3)), [avg])
    # Eve owns no input: by default she may not reveal.
    r = alice.call(avg, [a, b])
    with pytest.raises(TeeuError) as e:
        eve.reveal(Obj.from_string(lib, r.handle))
    assert e.value.status == ERR["NOT_AUTHORIZED"]
    assert "revealers" in e.value.message
    # Alice narrows the revealers to herself: Bob, an input owner, is refused; Alice is not.
    r2 = alice.call(avg, [a, b], revealers=[alice.owner_id])
    with pytest.raises(TeeuError) as e:
        bob.reveal(Obj.from_string(lib, r2.handle))
    assert e.value.status == ERR["NOT_AUTHORIZED"]
    np.testing.assert_array_equal(alice.reveal(r2), np.array([[1.0] * 3, [0.0] * 3]))


def test_teeu_with_another_measurement_is_refused_before_any_data(cluster):
    lib = cluster.lib
    other = "AB" * 32
    mallory_target = cluster.client("dora", teeu={"mr_enclave": other})
    before = cluster.spool_files()
    log_before = cluster.teeud.log().count("PutObject")
    with pytest.raises(TeeuError) as e:
        mallory_target.put(np.ones((4, 3)), [Func(lib, "average", '{"axis":1}')])
    assert e.value.status == ERR["POLICY"]
    assert other in e.value.message and cluster.teeu_mr in e.value.message
    st = mallory_target.stats()
    assert st["teeu_calls"] == 1 and st["bytes_sent"] == 0 and st["puts"] == 0  # Attest only
    assert st["am_calls"] == 2  # GetRaCertPems + RegisterInsPubKey: no CreateDataWithAuth
    assert cluster.spool_files() == before
    assert cluster.teeud.log().count("PutObject") == log_before


class NonceSwapProxy:
    """An AuthManager front that asks the real one for a report on ANOTHER
    nonce and hands it to the client as if it answered the client's nonce
    (a replayed report). Every other call is passed through."""

    def __init__(self, pb, upstream, swap=True):
        self.pb, self.swap = pb, swap
        self.channel = grpc.insecure_channel(upstream)
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers([self])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def service(self, details):
        method = details.method

        def forward(req, ctx):
            call = self.channel.unary_unary(method)
            if not method.endswith("/GetRaCertPems"):
                return call(req, timeout=30)
            da = self.pb["dataagent_pb2"]
            q = da.GetRaCertPemsRequest.FromString(req)
            theirs = q.nonces[0]
            if self.swap:
                del q.nonces[:]
                q.nonces.append(os.urandom(32).hex().upper())
            r = da.GetRaCertPemsResponse.FromString(call(q.SerializeToString(), timeout=30))
            r.report_with_certs[0].nonce = theirs
            return r.SerializeToString()
        return grpc.unary_unary_rpc_method_handler(forward)

    def stop(self):
        self.server.stop(0)
        self.channel.close()


@pytest.mark.parametrize("swap", [False, True])
def test_authmanager_quote_bound_to_another_nonce(cluster, tmp_path, swap):
    lib = cluster.lib
    proxy = NonceSwapProxy(generate_stubs(tmp_path / "stubs"), cluster.am.address, swap=swap)
    try:
        c = cluster.client("frank" if swap else "gina", auth_manager_config={"host": proxy.address})
        f = Func(lib, "average", '{"axis":1}')
        if not swap:  # control: the pass-through proxy itself is fine
            c.put(np.ones((4, 3)), [f])
            return
        with pytest.raises(TeeuError) as e:
            c.put(np.ones((4, 3)), [f])
        assert e.value.status == ERR["REPORT_DATA"], e.value.message
        assert "AuthManager" in e.value.message and "nonce" in e.value.message
        st = c.stats()
        assert st["am_calls"] == 1 and st["teeu_calls"] == 0 and st["bytes_sent"] == 0
    finally:
        proxy.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_authmanager_down_clear_error_within_deadline(cluster):
    lib = cluster.lib
    c = cluster.client("hank", auth_manager_config={"host": f"127.0.0.1:{free_port()}"})
    t0 = time.monotonic()
    with pytest.raises(TeeuError) as e:
        c.put(np.ones((4, 3)), [Func(lib, "average", '{"axis":1}')], timeout_ms=3000)
    elapsed = time.monotonic() - t0
    assert elapsed < 5, elapsed
    assert e.value.status == ERR["CONNECT"]
    assert "is it running" in e.value.message and "auth_manager" in e.value.message


def test_authmanager_hanging_times_out_within_deadline(cluster):
    """A peer that accepts TCP but never speaks: the deadline bounds the wait."""
    lib = cluster.lib
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        c = cluster.client("ivan", auth_manager_config={"host": f"127.0.0.1:{s.getsockname()[1]}"})
        t0 = time.monotonic()
        with pytest.raises(TeeuError) as e:
            c.put(np.ones((4, 3)), [Func(lib, "average", '{"axis":1}')], timeout_ms=2000)
        elapsed = time.monotonic() - t0
        assert elapsed < 4, elapsed
        assert e.value.status in (ERR["TIMEOUT"], 304), e.value.message
        assert "did not answer in time" in e.value.message
    finally:
        s.close()


def test_teeud_restarted_between_put_and_call(cluster):
    lib = cluster.lib
    alice, bob = cluster.client("alice"), cluster.client("bob")
    avg = Func(lib, "average", '{"axis":1}')
    a, b = np.arange(12.0).reshape(4, 3), np.ones((4, 3))
    oa, ob = alice.put(a, [avg]), bob.put(b, [avg])
    port = cluster.teeud_port
    cluster.teeud.stop()
    cluster.start_teeud(port=port)
    got = alice.reveal(alice.call(avg, [oa, Obj.from_string(lib, ob.handle)]))
    np.testing.assert_allclose(got, np.average([a, b], axis=1))


def test_config_errors_say_what_to_set(cluster):
    lib = cluster.lib
    from client_support import Client

    def refused(**overrides):
        with pytest.raises(TeeuError) as e:
            Client(lib, cluster.party("jill", **overrides))
        return e.value

    e = refused(tee_simulation=False)  # the simulation root is never trusted in production
    assert e.status == ERR["INSECURE"] and "remove sim_root" in e.message
    e = refused(tee_simulation=False, sim_root=None)  # plain text outside simulation
    assert e.status == ERR["INSECURE"] and "ca_file" in e.message and "TLS" in e.message
    e = refused(tee_simulation=False, sim_root=None, teeu={"mr_enclave": ""})
    assert e.status == ERR["CONFIG"] and "teeu.mr_enclave" in e.message
    e = refused(teeu={"mr_enclave": "xyz"})
    assert e.status == ERR["CONFIG"] and "64 hex digits" in e.message
    e = refused(tee_simulaton=True)  # a typo must not silently drop a setting
    assert e.status == ERR["CONFIG"] and "tee_simulaton" in e.message
