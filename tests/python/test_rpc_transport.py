"""libteeu's gRPC transport against a real gRPC server and a broken HTTP/2 peer."""
import threading
import time

import grpc
import pytest

from rpc_support import (ERR_CONFIG, ERR_CONNECT, ERR_PROTOBUF, ERR_PROTOCOL, ERR_TIMEOUT, ERR_TOO_LARGE,
                         GRPC_HEADERS, RPC_BASE, GrpcPeer, RawH2Peer, client_stream, frame, free_port,
                         ok_trailers, run_tool, server_stream, status_of, unary)

M = "/teeu.test.Echo/"


@pytest.fixture(scope="module")
def rpc_tool(tool):
    return tool("rpc_tool")


def call(rpc_tool, endpoint, method, mode, *hexes, extra=(), plaintext=True, timeout=60):
    args = ["--endpoint", endpoint, "--method", M + method]
    if plaintext:
        args.append("--plaintext")
    return run_tool(rpc_tool, [*args, *extra, mode, *hexes], timeout=timeout)


class EchoService:
    def __init__(self):
        self.unavailable_left = 0
        self.calls = 0
        self.metadata = []
        self.lock = threading.Lock()

    def handlers(self):
        return {
            M + "Unary": unary(self.echo),
            M + "Fail": unary(self.fail),
            M + "Sleep": unary(self.sleep),
            M + "Flaky": unary(self.flaky),
            M + "Big": unary(lambda req, ctx: b"x" * int(req.decode())),
            M + "Garbage": unary(lambda req, ctx: b"\xff\xff\xff\xff"),
            M + "Status": unary(lambda req, ctx: bytes.fromhex("0807120568656c6c6f")),
            M + "Count": server_stream(self.count),
            M + "Concat": client_stream(self.concat),
        }

    def echo(self, req, ctx):
        with self.lock:
            self.calls += 1
            self.metadata.append(dict(ctx.invocation_metadata()))
            self.remaining = ctx.time_remaining()
        return req

    def fail(self, req, ctx):
        code, _, msg = req.decode().partition(":")
        status = next(s for s in grpc.StatusCode if s.value[0] == int(code))
        ctx.abort(status, msg)

    def sleep(self, req, ctx):
        time.sleep(int(req.decode()) / 1000)
        return req

    def flaky(self, req, ctx):
        with self.lock:
            self.calls += 1
            if self.unavailable_left > 0:
                self.unavailable_left -= 1
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return req

    def count(self, req, ctx):
        for i in range(int(req.decode())):
            yield f"m{i}".encode()

    def concat(self, it, ctx):
        return b"+".join(it)


@pytest.fixture(scope="module")
def echo():
    svc = EchoService()
    with GrpcPeer(svc.handlers()) as peer:
        peer.svc = svc
        yield peer


def test_unary_echo(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Unary", "unary", "68656c6c6f")
    assert rc == 0, out
    assert out["msg"] == ["68656c6c6f"]
    md = echo.svc.metadata[-1]
    assert md["user-agent"].startswith("grpc-c-libteeu/")
    assert 0 < echo.svc.remaining <= 30  # grpc-timeout reached the server


def test_unary_empty_message(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Unary", "unary", "")
    assert rc == 0, out
    assert out["msg"] == [""]


def test_deadline_propagates_as_grpc_timeout(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Unary", "unary", "00", extra=["--timeout", "4000"])
    assert rc == 0, out
    assert 2.0 < echo.svc.remaining <= 4.0


def test_large_message_both_ways(rpc_tool, echo, tmp_path):
    payload = "ab" * (3 << 20)
    (tmp_path / "big.hex").write_text(payload)
    rc, out, _ = call(rpc_tool, echo.endpoint, "Unary", "unary", f"@{tmp_path / 'big.hex'}")
    assert rc == 0, out
    assert out["msg"][0] == payload


@pytest.mark.parametrize("code", range(1, 17))
def test_every_grpc_status_maps(rpc_tool, echo, code):
    msg = f"reason {code}: 100% sure, ünïcode"
    rc, out, _ = call(rpc_tool, echo.endpoint, "Fail", "unary", f"{code}:{msg}".encode().hex())
    assert rc == 1
    if code == 1 and status_of(out) == ERR_PROTOCOL:
        # grpcio may reset a CANCELLED stream before curl has read its trailers
        return
    assert status_of(out) == RPC_BASE + code
    err = out["error"][0]
    assert msg in err  # percent-decoded server message survives
    assert echo.endpoint in err and "Fail" in err


def test_unknown_method_is_unimplemented(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Nope", "unary", "00")
    if status_of(out) == ERR_PROTOCOL:
        # grpcio answers trailers-only and resets the stream at once; libcurl
        # 7.88 drops that answer when both arrive in one read (docs/rpc.md)
        assert "check that the server implements /teeu.test.Echo/Nope" in out["error"][0]
        return
    assert status_of(out) == RPC_BASE + 12


def test_server_stream(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Count", "server-stream", b"5".hex())
    assert rc == 0, out
    assert out["msg"] == [f"m{i}".encode().hex() for i in range(5)]


def test_server_stream_zero_messages(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Count", "server-stream", b"0".hex())
    assert rc == 0, out
    assert "msg" not in out


def test_client_stream(rpc_tool, echo, tmp_path):
    parts = [b"a", b"", b"ccc" * 100000]
    (tmp_path / "big.hex").write_text(parts[2].hex())
    rc, out, _ = call(rpc_tool, echo.endpoint, "Concat", "client-stream", parts[0].hex(), parts[1].hex(),
                      f"@{tmp_path / 'big.hex'}")
    assert rc == 0, out
    assert bytes.fromhex(out["msg"][0]) == b"+".join(parts)


def test_client_stream_no_messages(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Concat", "client-stream")
    assert rc == 0, out
    assert out["msg"] == [""]


def test_deadline_enforced(rpc_tool, echo):
    rc, out, elapsed = call(rpc_tool, echo.endpoint, "Sleep", "unary", b"5000".hex(), extra=["--timeout", "500"])
    assert rc == 1
    # the server may answer DEADLINE_EXCEEDED itself (it got grpc-timeout) or curl times out
    assert status_of(out) in (ERR_TIMEOUT, RPC_BASE + 4), out
    assert elapsed < 3.0


def test_response_bound(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Big", "unary", b"100000".hex(), extra=["--max-message", "1000"])
    assert status_of(out) == ERR_TOO_LARGE
    assert "1000" in out["error"][0]


def test_garbage_protobuf_is_protobuf_error(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Garbage", "unary", "00", extra=["--decode-status"])
    assert status_of(out) == ERR_PROTOBUF
    assert "secretflowapis.v1.Status" in out["error"][0]


def test_valid_protobuf_decodes(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Status", "unary", "00", extra=["--decode-status"])
    assert rc == 0, out
    assert out["code"] == ["7 message=hello"]


def test_connection_reused(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Unary", "unary", "01", extra=["--repeat", "20"])
    assert rc == 0, out
    assert len(out["msg"]) == 20
    assert out["connections"] == ["1"]


def test_threads_share_channel(rpc_tool, echo):
    rc, out, _ = call(rpc_tool, echo.endpoint, "Unary", "unary", "0102", extra=["--repeat", "25", "--threads", "8"])
    assert rc == 0, out
    assert out["msg"] == ["0102"] * 200
    assert 1 <= int(out["connections"][0]) <= 8


def test_connect_refused_names_endpoint(rpc_tool):
    port = free_port()
    rc, out, elapsed = call(rpc_tool, f"127.0.0.1:{port}", "Unary", "unary", "00",
                            extra=["--retries", "2", "--backoff", "50"])
    assert status_of(out) == ERR_CONNECT
    assert f"127.0.0.1:{port}" in out["error"][0]
    assert elapsed < 5


def test_retry_until_server_comes_up(rpc_tool):
    """A connect failure is retried with backoff; the server appears meanwhile."""
    port = free_port()
    svc = EchoService()

    def start_late():
        time.sleep(0.4)
        holder["peer"] = GrpcPeer(svc.handlers())
        holder["peer"].port = port
        holder["peer"].server.add_insecure_port(f"127.0.0.1:{port}")
        holder["peer"].server.start()

    holder = {}
    t = threading.Thread(target=start_late)
    t.start()
    try:
        rc, out, _ = call(rpc_tool, f"127.0.0.1:{port}", "Unary", "unary", "2a",
                          extra=["--retries", "6", "--backoff", "100", "--timeout", "20000"])
    finally:
        t.join()
        holder["peer"].server.stop(None).wait(5)
    assert rc == 0, out
    assert out["msg"] == ["2a"]


def test_unavailable_retried_only_when_allowed(rpc_tool, echo):
    echo.svc.unavailable_left = 1
    rc, out, _ = call(rpc_tool, echo.endpoint, "Flaky", "unary", "05", extra=["--retries", "3", "--backoff", "20"])
    assert status_of(out) == RPC_BASE + 14  # not retried by default
    echo.svc.unavailable_left = 2
    rc, out, _ = call(rpc_tool, echo.endpoint, "Flaky", "unary", "05",
                      extra=["--retries", "3", "--backoff", "20", "--retry-unavailable"])
    assert rc == 0, out
    echo.svc.unavailable_left = 5
    rc, out, _ = call(rpc_tool, echo.endpoint, "Flaky", "unary", "05",
                      extra=["--retries", "2", "--backoff", "20", "--retry-unavailable"])
    assert status_of(out) == RPC_BASE + 14
    assert echo.svc.unavailable_left == 2  # exactly 1 + 2 attempts


@pytest.mark.parametrize("endpoint", ["", "localhost", "http://127.0.0.1:1", "127.0.0.1:0", "127.0.0.1:99999",
                                      "a b:1", "::1:80", "h:1/x"])
def test_bad_endpoint_is_config_error(rpc_tool, endpoint):
    rc, out, _ = call(rpc_tool, endpoint, "Unary", "unary", "00")
    assert status_of(out) == ERR_CONFIG, out


# ---- malformed peers ---------------------------------------------------------------

def raw(rpc_tool, behaviour, extra=(), **kw):
    with RawH2Peer(behaviour, **kw) as peer:
        rc, out, elapsed = call(rpc_tool, peer.endpoint, "Unary", "unary", "0a0b", extra=extra)
    return rc, out, elapsed, peer


def test_raw_peer_sees_grpc_request(rpc_tool):
    rc, out, _, peer = raw(rpc_tool, lambda sid, body: [("headers", GRPC_HEADERS, False),
                                                        ("data", frame(body[5:]), False),
                                                        ("trailers", ok_trailers())])
    assert rc == 0, out
    assert out["msg"] == ["0a0b"]
    headers, body = peer.requests[0]
    assert body == b"\x00\x00\x00\x00\x02\x0a\x0b"  # flag + BE32 length + message
    assert headers[":method"] == "POST"
    assert headers[":path"] == "/teeu.test.Echo/Unary"
    assert headers["content-type"] == "application/grpc"
    assert headers["te"] == "trailers"
    assert headers["grpc-timeout"].endswith("m")
    assert headers["content-length"] == "7"  # a known size ends the upload with its last DATA frame
    assert "transfer-encoding" not in headers


def test_messages_split_across_data_frames(rpc_tool):
    payload = bytes(range(200))
    f = frame(payload)
    chunks = [f[:2], f[2:7], f[7:50], f[50:]]
    acts = [("headers", GRPC_HEADERS, False)] + [("data", c, False) for c in chunks] + [("trailers", ok_trailers())]
    rc, out, _, _ = raw(rpc_tool, lambda sid, body: acts)
    assert rc == 0, out
    assert out["msg"] == [payload.hex()]


@pytest.mark.parametrize("name,actions,expected,needle", [
    ("compressed", [("headers", GRPC_HEADERS, False), ("data", frame(b"x", flag=1), False),
                    ("trailers", ok_trailers())], ERR_PROTOCOL, "compressed"),
    ("bad-flag", [("headers", GRPC_HEADERS, False), ("data", frame(b"x", flag=0x80), False),
                  ("trailers", ok_trailers())], ERR_PROTOCOL, "flag"),
    ("truncated", [("headers", GRPC_HEADERS, False), ("data", frame(b"abc", length=100), False),
                   ("trailers", ok_trailers())], ERR_PROTOCOL, "ended inside"),
    ("half-header", [("headers", GRPC_HEADERS, False), ("data", b"\x00\x00", False),
                     ("trailers", ok_trailers())], ERR_PROTOCOL, "frame header"),
    ("oversize", [("headers", GRPC_HEADERS, False), ("data", frame(b"", length=0xFFFFFFF0), False),
                  ("trailers", ok_trailers())], ERR_TOO_LARGE, "exceeds"),
    ("no-status", [("headers", GRPC_HEADERS, False), ("data", frame(b"x"), True)], ERR_PROTOCOL, "grpc-status"),
    ("bad-status", [("headers", GRPC_HEADERS, False), ("data", frame(b"x"), False),
                    ("trailers", [("grpc-status", "OK")])], ERR_PROTOCOL, "grpc-status"),
    ("two-messages", [("headers", GRPC_HEADERS, False), ("data", frame(b"x") + frame(b"y"), False),
                      ("trailers", ok_trailers())], ERR_PROTOCOL, "more than one"),
    ("no-message", [("headers", GRPC_HEADERS, False), ("trailers", ok_trailers())], ERR_PROTOCOL,
     "without a response message"),
    ("trailers-only", [("headers", GRPC_HEADERS + ok_trailers(7, "denied%20for%0Ayou%ZZ"), True)],
     RPC_BASE + 7, "denied for?you?ZZ"),
    ("http-404", [("headers", [(":status", "404"), ("content-type", "text/html")], False),
                  ("data", b"<html>nope</html>", True)], RPC_BASE + 12, "HTTP status 404"),
    ("http-503", [("headers", [(":status", "503")], True)], RPC_BASE + 14, "503"),
    ("html-200", [("headers", [(":status", "200"), ("content-type", "text/html")], False),
                  ("data", b"<html>hi</html>", True)], ERR_PROTOCOL, "grpc-status"),
    ("ok-html", [("headers", [(":status", "200"), ("content-type", "text/html")], False),
                 ("data", b"<html>hi</html>", False), ("trailers", ok_trailers())], ERR_PROTOCOL, "content-type"),
    ("reset", [("headers", GRPC_HEADERS, False), ("data", b"\x00\x00", False), ("reset",)], ERR_PROTOCOL, "HTTP/2"),
    ("closed", [("close",)], ERR_PROTOCOL, "127.0.0.1"),
])
def test_malformed_responses(rpc_tool, name, actions, expected, needle):
    rc, out, elapsed, _ = raw(rpc_tool, lambda sid, body: actions, extra=["--timeout", "5000"])
    assert rc == 1, out
    assert status_of(out) == expected, out
    assert needle in out["error"][0], out
    assert elapsed < 5


def test_server_never_answers(rpc_tool):
    rc, out, elapsed, _ = raw(rpc_tool, lambda sid, body: [("hang",)], extra=["--timeout", "700"])
    assert status_of(out) == ERR_TIMEOUT
    assert "deadline" in out["error"][0]
    assert elapsed < 3


def test_server_sends_headers_then_stalls(rpc_tool):
    rc, out, elapsed, _ = raw(rpc_tool, lambda sid, body: [("headers", GRPC_HEADERS, False),
                                                           ("data", b"\x00\x00\x00", False), ("hang",)],
                              extra=["--timeout", "700"])
    assert status_of(out) == ERR_TIMEOUT
    assert elapsed < 3


def test_http1_server_is_protocol_error(rpc_tool):
    rc, out, elapsed, _ = raw(rpc_tool, None, extra=["--timeout", "3000"], speak_http1=True)
    assert status_of(out) == ERR_PROTOCOL, out
    assert elapsed < 3


def test_peer_closing_idle_connection_is_survived(rpc_tool):
    """The server drops the connection after each answer: the next call reconnects (h2c prior knowledge)."""
    acts = [("headers", GRPC_HEADERS, False), ("data", frame(b"ok"), False), ("trailers", ok_trailers()),
            ("close",)]
    with RawH2Peer(lambda sid, body: acts) as peer:
        rc, out, _ = call(rpc_tool, peer.endpoint, "Unary", "unary", "00", extra=["--repeat", "4", "--pause", "700"])
        assert rc == 0, out
        assert out["msg"] == [b"ok".hex()] * 4
        assert peer.connections == 4


def test_raw_peer_connection_reuse_counted_by_server(rpc_tool):
    acts = [("headers", GRPC_HEADERS, False), ("data", frame(b"ok"), False), ("trailers", ok_trailers())]
    with RawH2Peer(lambda sid, body: acts) as peer:
        rc, out, _ = call(rpc_tool, peer.endpoint, "Unary", "unary", "00", extra=["--repeat", "10"])
        assert rc == 0, out
        assert peer.connections == 1
        assert len(peer.requests) == 10


def test_server_stream_message_bound(rpc_tool, echo):
    """Each streamed message is bounded on its own: small ones pass, the bound applies per message."""
    rc, out, _ = call(rpc_tool, echo.endpoint, "Count", "server-stream", b"3".hex(), extra=["--max-message", "2"])
    assert rc == 0, out  # "m0".."m2" are 2 bytes each
    rc, out, _ = call(rpc_tool, echo.endpoint, "Count", "server-stream", b"12".hex(), extra=["--max-message", "2"])
    assert status_of(out) == ERR_TOO_LARGE  # "m10" is 3 bytes
    assert len(out["msg"]) == 10  # the messages before it were delivered


def test_client_stream_producer_error_aborts(rpc_tool, echo):
    rc, out, elapsed = call(rpc_tool, echo.endpoint, "Concat", "client-stream", "0a", "zz", "0b")
    assert status_of(out) == 12  # TEEU_ERR_ENCODING from the producer, passed through
    assert "Concat" in out["error"][0]
    assert elapsed < 5
