"""teeu_put sends CreateDataWithAuth (AuthManager) and PutObject (teeud) at
the same time, and keeps clean failure semantics:
- the AuthManager refuses: the put fails with the AuthManager's reason, and
  the object already stored at teeud is deleted;
- teeud refuses the PutObject: the put fails with teeud's reason (the
  AuthManager's registration of the fresh uuid stays; it names no data).

gRPC proxies in front of the real services hold or refuse chosen methods and
forward everything else byte for byte (so quotes and signatures still check)."""
import concurrent.futures
import threading
import time

import grpc
import numpy as np
import pytest

from client_support import Cluster, Func, TeeuError

CREATE = "/secretflowapis.v1.sdc.authmanager.AuthManager/CreateDataWithAuth"
PUT = "/teeu.v1.Teeu/PutObject"


def _raw(b):
    return b


class Proxy:
    """Forwards every method to target; hooks[method](ctx, request) may delay or abort before forwarding."""

    def __init__(self, target, hooks=None):
        self.hooks = hooks or {}
        self.seen = {}
        self.lock = threading.Lock()
        self.channel = grpc.insecure_channel(target)
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers([self])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def _note(self, m, what):
        with self.lock:
            self.seen.setdefault(m, []).append((what, time.monotonic()))

    def _forward(self, call, m, ctx, arg):
        self._note(m, "start")
        hook = self.hooks.get(m)
        if hook is not None:
            hook(ctx, arg)
        try:
            return call(arg, timeout=60)
        except grpc.RpcError as e:
            ctx.abort(e.code(), e.details())
        finally:
            self._note(m, "end")

    def service(self, details):
        m = details.method
        if m == PUT:
            fwd = self.channel.stream_unary(m, _raw, _raw)
            return grpc.stream_unary_rpc_method_handler(lambda it, ctx: self._forward(fwd, m, ctx, it), _raw, _raw)
        if m == "/teeu.v1.Teeu/Reveal":
            fwd = self.channel.unary_stream(m, _raw, _raw)
            return grpc.unary_stream_rpc_method_handler(lambda req, ctx: self._forward(fwd, m, ctx, req), _raw,
                                                        _raw)
        fwd = self.channel.unary_unary(m, _raw, _raw)
        return grpc.unary_unary_rpc_method_handler(lambda req, ctx: self._forward(fwd, m, ctx, req), _raw, _raw)

    def times(self, m, what):
        with self.lock:
            return [t for w, t in self.seen.get(m, []) if w == what]

    def stop(self):
        self.server.stop(0)
        self.channel.close()


@pytest.fixture(scope="module")
def cluster(tool, tmp_path_factory, libteeu_path):
    c = Cluster(tool, tmp_path_factory.mktemp("client-put-concurrent"), libteeu_path).start()
    yield c
    c.stop()


@pytest.fixture
def proxies(cluster):
    made = []

    def make(target, hooks=None):
        p = Proxy(target, hooks)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


def objects_at_teeud(cluster):
    return {f for f in cluster.spool_files() if f.startswith("objects/")}


def test_put_object_is_sent_while_the_authmanager_works(cluster, proxies):
    """The AuthManager's answer is held 0.6 s: PutObject reaches teeud before it, and the
    put takes about max(AuthManager, teeud), not their sum."""
    hold = {"on": False}

    def slow(ctx, _req):
        if hold["on"]:
            time.sleep(0.6)
    am = proxies(cluster.am.address, {CREATE: slow})
    td = proxies(cluster.teeud.address)
    c = cluster.client("paula", auth_manager_config={"host": am.address},
                       cluster_config={"parties": {"paula": {"address": "127.0.0.1:0"},
                                                   "carol": {"address": td.address}}, "self_party": "paula"})
    f = Func(cluster.lib, "stack", '{"axis":0}')
    a = np.arange(12.0).reshape(4, 3)
    c.put(a, [f])  # warm-up
    hold["on"] = True
    t0 = time.monotonic()
    obj = c.put(a, [f])
    elapsed = time.monotonic() - t0
    create_end = am.times(CREATE, "end")[-1]
    put_start = td.times(PUT, "start")[-1]
    put_end = td.times(PUT, "end")[-1]
    assert put_start < create_end and put_end < create_end, "PutObject waited for the AuthManager"
    assert elapsed < 1.1
    hold["on"] = False
    got = c.reveal(c.call(f, [obj]))
    np.testing.assert_array_equal(got[0], a)


def test_authmanager_refusal_fails_the_put_and_deletes_the_stored_object(cluster, proxies):
    refuse = {"on": False}

    def maybe_refuse(ctx, _req):
        if refuse["on"]:
            time.sleep(0.2)  # let the PutObject finish first: the object is stored, then refused
            ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "proxy: this party may not create data")
    am = proxies(cluster.am.address, {CREATE: maybe_refuse})
    c = cluster.client("rita", auth_manager_config={"host": am.address})
    f = Func(cluster.lib, "stack", '{"axis":0}')
    a = np.ones((4, 3))
    c.put(a, [f])  # warm-up
    stored = objects_at_teeud(cluster)
    before = c.stats()
    refuse["on"] = True
    with pytest.raises(TeeuError) as ei:
        c.put(a, [f])
    assert "proxy: this party may not create data" in ei.value.message
    assert "AuthManager" in ei.value.message
    after = c.stats()
    assert after["puts"] == before["puts"]
    # PutObject, then Delete of what it stored.
    assert after["teeu_calls"] - before["teeu_calls"] == 2
    assert objects_at_teeud(cluster) == stored


def test_teeud_refusal_fails_the_put_with_teeuds_reason(cluster, proxies):
    refuse = {"on": False}

    def maybe_refuse(ctx, requests):
        if refuse["on"]:
            for _ in requests:  # read the upload to its end first, as teeud does (docs/rpc.md)
                pass
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "proxy: teeud says the header is wrong")
    td = proxies(cluster.teeud.address, {PUT: maybe_refuse})
    c = cluster.client("tom", cluster_config={"parties": {"tom": {"address": "127.0.0.1:0"},
                                                          "carol": {"address": td.address}}, "self_party": "tom"})
    f = Func(cluster.lib, "stack", '{"axis":0}')
    a = np.ones((4, 3))
    c.put(a, [f])
    before = c.stats()
    refuse["on"] = True
    with pytest.raises(TeeuError) as ei:
        c.put(a, [f])
    assert "proxy: teeud says the header is wrong" in ei.value.message
    after = c.stats()
    assert after["am_calls"] - before["am_calls"] == 1  # the registration was sent (and stays)
    assert after["puts"] == before["puts"]
    refuse["on"] = False
    c.put(a, [f])  # the client is fine afterwards
