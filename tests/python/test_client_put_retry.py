"""teeu_put survives a PutObject stream that breaks in transport: it retries
once on a fresh stream, and a retry answered ALREADY_EXISTS means the first
attempt was stored (the uuid is fresh, and teeud admits a put for it only
with the owner's signed DataAuth).

A gRPC proxy in front of the real teeud breaks the first PutObject of each
test with UNAVAILABLE, either before anything reaches teeud or after teeud
stored the object; every other call is forwarded unchanged."""
import concurrent.futures
import threading

import grpc
import numpy as np
import pytest

from client_support import Cluster, Func

PUT = "/teeu.v1.Teeu/PutObject"


def _raw(b):
    return b


def _forward(call, ctx, *args):
    """Calls teeud, passing its gRPC status through to the client."""
    try:
        return call(*args, timeout=60)
    except grpc.RpcError as e:
        ctx.abort(e.code(), e.details())


class BreakFirstPut:
    """Forwards teeu.v1 to teeud; the first PutObject fails as `mode` says."""

    def __init__(self, target, mode):
        self.mode, self.puts, self.lock = mode, 0, threading.Lock()
        self.channel = grpc.insecure_channel(target)
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers([self])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def service(self, details):
        m = details.method
        if m == PUT:
            return grpc.stream_unary_rpc_method_handler(self.put, _raw, _raw)
        if m == "/teeu.v1.Teeu/Reveal":
            fwd = self.channel.unary_stream(m, _raw, _raw)
            return grpc.unary_stream_rpc_method_handler(lambda req, ctx: _forward(fwd, ctx, req), _raw, _raw)
        fwd = self.channel.unary_unary(m, _raw, _raw)
        return grpc.unary_unary_rpc_method_handler(lambda req, ctx: _forward(fwd, ctx, req), _raw, _raw)

    def put(self, requests, ctx):
        with self.lock:
            self.puts += 1
            first = self.puts == 1
        fwd = self.channel.stream_unary(PUT, _raw, _raw)
        if first and self.mode == "lost_before_store":
            for _ in requests:  # swallow the upload, store nothing
                pass
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "proxy: connection lost")
        answer = _forward(fwd, ctx, requests)
        if first and self.mode == "lost_after_store":
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "proxy: connection lost after the upload")
        return answer

    def stop(self):
        self.server.stop(0)
        self.channel.close()


@pytest.fixture(scope="module")
def cluster(tool, tmp_path_factory, libteeu_path):
    c = Cluster(tool, tmp_path_factory.mktemp("client-put-retry"), libteeu_path).start()
    yield c
    c.stop()


@pytest.mark.parametrize("zstd", [0, 1])
@pytest.mark.parametrize("mode", ["lost_before_store", "lost_after_store"])
def test_put_retries_once_after_a_broken_stream(cluster, mode, zstd):
    """With zstd the retry restarts the compressor: the object is compressed again from its first byte
    (several segments here)."""
    proxy = BreakFirstPut(cluster.teeud.address, mode)
    try:
        name = f"p_{mode}_{zstd}"
        client = cluster.client(name, segment_size=65536, cluster_config={
            "parties": {name: {"address": "127.0.0.1:0"}, "carol": {"address": f"127.0.0.1:{proxy.port}"}},
            "self_party": name})
        f = Func(cluster.lib, "sum", '{"axis":0}')
        if zstd:
            a = np.random.default_rng(5).standard_normal((30000, 3))  # ~700 KiB compressed: 11 segments
        else:
            a = np.arange(12, dtype=np.float64).reshape(4, 3)
        before = client.stats()
        obj = client.put(a, [f], zstd_level=zstd)
        after = client.stats()
        assert proxy.puts == 2
        assert after["teeu_calls"] - before["teeu_calls"] >= 2  # the retry is a second round trip
        # The object teeud holds is the one the client put.
        np.testing.assert_array_equal(client.reveal(client.call(f, [obj], args=[([obj], False)])), a.sum(axis=0))
    finally:
        proxy.stop()
