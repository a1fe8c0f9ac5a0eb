"""The reusable gRPC server of services/common (under teeu-authmanager and
teeud), through grpc_test_server and grpcio's generic calls: unary, client
and server streaming, status/message trailers, limits, parallel handlers,
graceful stop."""
import concurrent.futures
import os
import pathlib
import signal
import time

import grpc
import pytest

import authmanager_support as ams

IDENT = dict(request_serializer=lambda b: b, response_deserializer=lambda b: b)


server = ams.grpc_test_server_fixture()


def channel(d):
    return grpc.insecure_channel(d.address)


def test_unary_echo_sizes(server):
    d = server()
    with channel(d) as ch:
        call = ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)
        for n in (0, 1, 100, 70000, 1 << 20):
            payload = bytes(range(256)) * (n // 256) + b"x" * (n % 256)
            assert call(payload, timeout=30) == payload


def test_client_streaming(server):
    d = server()
    with channel(d) as ch:
        call = ch.stream_unary("/teeu.test.Echo/Collect", **IDENT)
        assert call(iter([]), timeout=30) == b"0:0"
        assert call(iter([b"a", b"bb", b"", b"cccc", b"d" * 100000]), timeout=30) == b"5:100007"


def test_server_streaming(server):
    d = server()
    with channel(d) as ch:
        call = ch.unary_stream("/teeu.test.Echo/Split", **IDENT)
        assert list(call(b"abc", timeout=30)) == [b"a", b"b", b"c"]
        assert list(call(b"", timeout=30)) == []


def test_status_and_percent_encoded_message(server):
    d = server()
    with channel(d) as ch:
        call = ch.unary_unary("/teeu.test.Echo/Fail", **IDENT)
        msg = "nicht erlaubt: 100% \u00e9t\u00e9\nzweite Zeile"
        with pytest.raises(grpc.RpcError) as e:
            call(bytes([7]) + msg.encode(), timeout=30)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert e.value.details() == msg


def test_unknown_method_and_unary_with_two_messages(server):
    d = server()
    with channel(d) as ch:
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/teeu.test.Echo/Nope", **IDENT)(b"", timeout=30)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.RpcError) as e:
            ch.stream_unary("/teeu.test.Echo/Unary", **IDENT)(iter([b"a", b"b"]), timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as e:
            ch.stream_unary("/teeu.test.Echo/Unary", **IDENT)(iter([]), timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_message_size_limit(server):
    d = server("--max-message", "1024")
    with channel(d) as ch:
        call = ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)
        assert call(b"y" * 1024, timeout=30) == b"y" * 1024
        with pytest.raises(grpc.RpcError) as e:
            call(b"y" * 1025, timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as e:
            call(b"y" * (3 << 20), timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert call(b"still serving", timeout=30) == b"still serving"


def test_server_wide_memory_bound(server):
    d = server("--workers", "1", "--max-message", str(2 << 20), "--max-buffered", str(3 << 20))
    with channel(d) as ch:
        slow = ch.unary_unary("/teeu.test.Echo/Slow", **IDENT).future(b"1500", timeout=30)
        time.sleep(0.3)  # the only worker is busy: requests now wait holding their bytes
        echo = ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)
        first = echo.future(b"a" * (3 << 19), timeout=30)
        time.sleep(0.3)
        with pytest.raises(grpc.RpcError) as e:
            echo(b"b" * (3 << 19), timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert slow.result() == b"done"
        assert first.result() == b"a" * (3 << 19)
        # the bytes were released: the same request now passes
        assert echo(b"b" * (3 << 19), timeout=30) == b"b" * (3 << 19)


def test_idle_connections_closed_but_running_calls_kept(server):
    import socket
    d = server("--idle-timeout-ms", "400")
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        assert s.recv(4096) != b""  # the server's SETTINGS
        while s.recv(4096):  # then EOF once idle
            pass
    assert time.time() - t0 < 5
    with channel(d) as ch:
        # a call longer than the idle timeout is not cut
        assert ch.unary_unary("/teeu.test.Echo/Slow", **IDENT)(b"1200", timeout=30) == b"done"
        time.sleep(1.0)  # the idle channel's connection is closed; the next call reconnects
        assert ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)(b"again", timeout=30) == b"again"


def test_handlers_run_in_parallel(server):
    d = server("--workers", "4")
    with channel(d) as ch:
        call = ch.unary_unary("/teeu.test.Echo/Slow", **IDENT)
        t0 = time.time()
        futs = [call.future(b"500", timeout=30) for _ in range(4)]
        assert [f.result() for f in futs] == [b"done"] * 4
        assert time.time() - t0 < 1.6  # serial would take 2 s


def test_many_concurrent_streams_one_connection(server):
    d = server()
    with channel(d) as ch:
        call = ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)
        futs = [call.future(str(i).encode() * 100, timeout=60) for i in range(300)]
        assert [f.result() for f in futs] == [str(i).encode() * 100 for i in range(300)]


def test_many_connections(server):
    d = server()
    chans = [channel(d) for _ in range(20)]
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as ex:
            res = list(ex.map(lambda c: c.unary_unary("/teeu.test.Echo/Unary", **IDENT)(b"hi", timeout=30), chans))
        assert res == [b"hi"] * 20
    finally:
        for c in chans:
            c.close()


def test_sigterm_finishes_running_calls(server):
    d = server()
    with channel(d) as ch:
        fut = ch.unary_unary("/teeu.test.Echo/Slow", **IDENT).future(b"800", timeout=30)
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        assert fut.result() == b"done"
    assert d.proc.wait(30) == 0


def _vm_hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_incremental_upload_memory_stays_bounded(server):
    """100 MiB uploaded in 1 MiB messages through an incremental handler: the
    server's peak memory stays far below the upload size (flow control)."""
    d = server()
    chunk = os.urandom(1 << 20)
    with channel(d) as ch:
        call = ch.stream_unary("/teeu.test.Echo/Sink", **IDENT)
        assert call(iter([chunk] * 100), timeout=120) == b"100:104857600"
        assert call(iter([]), timeout=30) == b"0:0"
    # (a sanitizer build's quarantine keeps freed memory: measure only plain builds)
    if b"__asan_init" not in pathlib.Path(d.binary).read_bytes():
        peak = _vm_hwm_kib(d.proc.pid)
        print(f"grpc_test_server peak RSS after a 100 MiB upload: {peak / 1024:.1f} MiB")
        assert peak < 80 * 1024


def test_incremental_bidi_and_cancel(server):
    d = server()
    with channel(d) as ch:
        pipe = ch.stream_stream("/teeu.test.Echo/Pipe", **IDENT)
        msgs = [os.urandom(i * 1000) for i in range(50)]
        assert list(pipe(iter(msgs), timeout=60)) == msgs
        # a client that walks away mid-call: the server keeps serving
        def endless():
            while True:
                yield b"x" * 65536
        it = pipe(endless(), timeout=60)
        next(it)
        it.cancel()
        assert ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)(b"ok", timeout=30) == b"ok"
        # malformed framing inside an incremental call ends it with an error
        sink = ch.stream_unary("/teeu.test.Echo/Sink", **IDENT)
        assert sink(iter([b"a", b"b"]), timeout=30) == b"2:2"
