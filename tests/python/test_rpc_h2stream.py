"""Client-streaming calls on libteeu's nghttp2 transport (lib/rpc/h2stream.c).

Hand-driven HTTP/2 peers (python3-h2, rpc_support.StreamPeer) check what
goes on the wire (DATA frame sizes, flow control, headers, framing) and how
the client reacts to early answers, resets, GOAWAY, stalls, TLS and mutual
TLS; a grpcio server checks a large stream end to end. rpc_tool's
client-stream-gen reuses one buffer for every message, so bytes sent after
the producer's next call would corrupt the stream.
"""
import ssl
import time

import grpc
import pytest

from rpc_support import (ERR_CONNECT, ERR_PROTOCOL, ERR_TIMEOUT, ERR_TLS, ERR_TOO_LARGE, GRPC_HEADERS, RPC_BASE,
                         GrpcPeer, RawH2Peer, StreamPeer, client_stream, frame, gen_message, make_pki, ok_trailers,
                         run_tool, split_messages, status_of)

M = "/teeu.test.Up/Load"
MIB = 1 << 20


@pytest.fixture(scope="module")
def rpc_tool(tool):
    return tool("rpc_tool")


def gen(rpc_tool, endpoint, count, size, extra=(), plaintext=True, timeout=60):
    args = ["--endpoint", endpoint, "--method", M]
    if plaintext:
        args.append("--plaintext")
    return run_tool(rpc_tool, [*args, *map(str, extra), "client-stream-gen", count, size], timeout=timeout)


def answer(reply=b"ok"):
    return [("headers", GRPC_HEADERS, False), ("data", frame(reply), False), ("trailers", ok_trailers())]


def on_end(reply=b"ok"):
    return lambda kind, sid, body: answer(reply) if kind == "end" else None


def check_body(body, count, size):
    msgs = split_messages(body)
    assert len(msgs) == count
    for k, m in enumerate(msgs):
        assert m == gen_message(k, size), f"message {k} corrupted"


def test_big_frames_when_peer_allows(rpc_tool):
    with StreamPeer(on_end(), max_frame=MIB, window=64 * MIB) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 6, 3 * MIB)
    assert rc == 0, (out, peer.errors)
    assert out["msg"] == [b"ok".hex()]
    check_body(peer.requests[0][1], 6, 3 * MIB)
    assert max(peer.frames) == MIB, peer.frames[:20]  # frames as large as the peer allows
    assert len(peer.frames) < 40


def test_16k_frames_by_default(rpc_tool):
    with StreamPeer(on_end(), window=64 * MIB) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 3, MIB)
    assert rc == 0, (out, peer.errors)
    check_body(peer.requests[0][1], 3, MIB)
    assert max(peer.frames) == 16384
    assert len(peer.frames) >= 3 * MIB // 16384


def test_request_headers(rpc_tool):
    with StreamPeer(on_end()) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 2, 10, extra=["--timeout", "4000"])
    assert rc == 0, out
    h = peer.requests[0][0]
    assert h[":method"] == "POST" and h[":scheme"] == "http" and h[":path"] == M
    assert h[":authority"] == peer.endpoint
    assert h["content-type"] == "application/grpc" and h["te"] == "trailers"
    assert h["user-agent"].startswith("grpc-c-libteeu/")
    assert h["grpc-timeout"].endswith("m") and 2000 < int(h["grpc-timeout"][:-1]) <= 4000
    assert "content-length" not in h


def test_empty_stream_and_empty_messages(rpc_tool):
    with StreamPeer(on_end()) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 0, 0)
        assert rc == 0, out
        rc, out, _ = gen(rpc_tool, peer.endpoint, 3, 0)
        assert rc == 0, out
    assert peer.requests[0][1] == b""
    assert peer.requests[1][1] == b"\x00\x00\x00\x00\x00" * 3


def test_small_peer_window_is_respected(rpc_tool):
    # h2 raises a flow-control error (and the call fails) if the client sends past the window.
    with StreamPeer(on_end(), window=1000) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 4, 100000)
    assert rc == 0, (out, peer.errors)
    assert not peer.errors
    check_body(peer.requests[0][1], 4, 100000)
    # Before the client has the SETTINGS it may use the default 65535-byte window.
    total, later = 0, []
    for n in peer.frames:
        if total >= 65535:
            later.append(n)
        total += n
    assert later and max(later) <= 1000


def test_stalled_window_hits_deadline(rpc_tool):
    with StreamPeer(on_end(), window=1000, ack=False) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 4, 100000, extra=["--timeout", "800"])
    assert status_of(out) == ERR_TIMEOUT, out
    assert "deadline" in out["error"][0] and peer.endpoint in out["error"][0]
    assert elapsed < 4


def test_early_trailers_only_error_stops_upload(rpc_tool):
    def ev(kind, sid, body):
        if kind == "data":
            return [("headers", GRPC_HEADERS + ok_trailers(7, "no%20upload%20for%20you"), True)]
        return None

    with StreamPeer(ev, window=65535, ack=False) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 64, MIB, extra=["--timeout", "5000"])
    assert status_of(out) == RPC_BASE + 7, out
    assert "no upload for you" in out["error"][0]
    assert "PERMISSION_DENIED" in out["error"][0] and peer.endpoint in out["error"][0]
    assert elapsed < 4


def test_reset_mid_upload(rpc_tool):
    reset = set()

    def ev(kind, sid, body):
        if kind == "data" and len(body) > 100000 and sid not in reset:
            reset.add(sid)
            return [("reset", 2)]
        return None

    with StreamPeer(ev, window=4 * MIB) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 32, MIB, extra=["--timeout", "5000"])
    assert status_of(out) == ERR_PROTOCOL, (out, peer.errors)
    assert "reset" in out["error"][0] and "INTERNAL_ERROR" in out["error"][0]
    assert elapsed < 4


def test_goaway_refusing_the_stream(rpc_tool):
    with StreamPeer(lambda kind, sid, body: [("goaway", 0)] if kind == "headers" else None) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 4, 1000, extra=["--timeout", "5000", "--retries", "0"])
    assert status_of(out) == ERR_PROTOCOL, out
    assert peer.endpoint in out["error"][0]
    assert elapsed < 4


def test_graceful_goaway_finishes_call_then_reconnects(rpc_tool):
    def ev(kind, sid, body):
        if kind == "headers":
            return [("goaway", sid)]  # this stream is still processed
        return answer() if kind == "end" else None

    with StreamPeer(ev) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 2, 5000, extra=["--repeat", "3"])
    assert rc == 0, (out, peer.errors)
    assert out["connections"] == ["3"]
    assert peer.connections == 3


def wait_for(cond, seconds=3.0):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()


@pytest.mark.parametrize("use_tls", [False, True])
def test_channel_free_says_goodbye(rpc_tool, pki, use_tls):
    tls = tls_ctx(pki) if use_tls else None
    extra = ["--ca", pki / "ca.pem"] if use_tls else []
    with StreamPeer(on_end(), tls=tls) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=not use_tls, extra=extra)
        assert rc == 0, out
        assert wait_for(lambda: peer.goaways == [0]), peer.goaways  # GOAWAY(NO_ERROR) on channel free


def test_connection_reused(rpc_tool):
    with StreamPeer(on_end()) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 3, 2000, extra=["--repeat", "10"])
    assert rc == 0, out
    assert out["connections"] == ["1"] and peer.connections == 1
    assert len(peer.requests) == 10


def test_idle_connection_closed_by_peer_is_replaced(rpc_tool):
    acts = answer() + [("close",)]
    with RawH2Peer(lambda sid, body: acts) as peer:
        rc, out, _ = run_tool(rpc_tool, ["--endpoint", peer.endpoint, "--method", M, "--plaintext", "--repeat", "3",
                                         "--pause", "600", "client-stream-gen", "2", "100"])
    assert rc == 0, out
    assert peer.connections == 3


def test_server_never_answers(rpc_tool):
    with StreamPeer(lambda kind, sid, body: [("hang",)] if kind == "end" else None) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 2, 1000, extra=["--timeout", "700"])
    assert status_of(out) == ERR_TIMEOUT, out
    assert elapsed < 3


def test_oversized_response_refused(rpc_tool):
    def ev(kind, sid, body):
        if kind == "end":
            return [("headers", GRPC_HEADERS, False), ("data", frame(b"", length=5000), False)]
        return None

    with StreamPeer(ev) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 1, 10, extra=["--max-message", "4096", "--timeout", "5000"])
    assert status_of(out) == ERR_TOO_LARGE, out
    assert "4096" in out["error"][0]
    assert elapsed < 4


@pytest.mark.parametrize("name,actions,expected,needle", [
    ("no-status", [("headers", GRPC_HEADERS, False), ("data", frame(b"x"), True)], ERR_PROTOCOL, "grpc-status"),
    ("two-messages", [("headers", GRPC_HEADERS, False), ("data", frame(b"x") + frame(b"y"), False),
                      ("trailers", ok_trailers())], ERR_PROTOCOL, "more than one"),
    ("no-message", [("headers", GRPC_HEADERS, False), ("trailers", ok_trailers())], ERR_PROTOCOL,
     "without a response message"),
    ("http-503", [("headers", [(":status", "503")], True)], RPC_BASE + 14, "503"),
    ("html-200", [("headers", [(":status", "200"), ("content-type", "text/html")], False),
                  ("data", b"<html>hi</html>", True)], ERR_PROTOCOL, "grpc-status"),
    ("truncated", [("headers", GRPC_HEADERS, False), ("data", frame(b"abc", length=100), False),
                   ("trailers", ok_trailers())], ERR_PROTOCOL, "ended inside"),
    ("compressed", [("headers", GRPC_HEADERS, False), ("data", frame(b"x", flag=1), False),
                    ("trailers", ok_trailers())], ERR_PROTOCOL, "compressed"),
])
def test_malformed_answers(rpc_tool, name, actions, expected, needle):
    with StreamPeer(lambda kind, sid, body: actions if kind == "end" else None) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 2, 100, extra=["--timeout", "5000"])
    assert status_of(out) == expected, out
    assert needle in out["error"][0], out
    assert elapsed < 4


def test_http1_server_is_protocol_error(rpc_tool):
    with RawH2Peer(None, speak_http1=True) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 2, 100, extra=["--timeout", "3000"])
    assert status_of(out) == ERR_PROTOCOL, out
    assert "HTTP/2" in out["error"][0]
    assert elapsed < 3


def test_connect_refused_is_retried_then_reported(rpc_tool):
    from rpc_support import free_port
    port = free_port()
    rc, out, elapsed = gen(rpc_tool, f"127.0.0.1:{port}", 1, 10, extra=["--retries", "2", "--backoff", "50"])
    assert status_of(out) == ERR_CONNECT, out
    assert f"127.0.0.1:{port}" in out["error"][0]
    assert 0.1 < elapsed < 5  # two backoffs: 50 + 100 ms


def test_ipv6_endpoint(rpc_tool):
    try:
        peer = StreamPeer(on_end(), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 2, 1000)
    assert rc == 0, (out, peer.errors)
    assert peer.requests[0][0][":authority"] == peer.endpoint
    check_body(peer.requests[0][1], 2, 1000)


@pytest.fixture
def unanswered_port():
    """A listener whose accept queue is full: further connects hang in SYN_SENT."""
    import socket
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    yield port
    for c in fillers:
        c.close()
    lst.close()


def test_connect_timeout(rpc_tool, unanswered_port):
    ep = f"127.0.0.1:{unanswered_port}"
    rc, out, elapsed = gen(rpc_tool, ep, 1, 10, extra=["--connect-timeout", "300", "--retries", "0"])
    assert status_of(out) == ERR_CONNECT, out
    assert "300 ms" in out["error"][0] and ep in out["error"][0]
    assert elapsed < 3
    rc, out, elapsed = gen(rpc_tool, ep, 1, 10, extra=["--timeout", "300"])
    assert status_of(out) == ERR_TIMEOUT, out
    assert elapsed < 3


def test_threads_share_a_channel(rpc_tool):
    """Concurrent client streams take separate pooled connections; each stream arrives intact."""
    with StreamPeer(on_end(), window=8 * MIB) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 5, 70000, extra=["--threads", "4", "--repeat", "5"])
    assert rc == 0, (out, peer.errors)
    assert len(out["msg"]) == 20
    assert 1 <= int(out["connections"][0]) <= 4 and peer.connections == int(out["connections"][0])
    for _, body in peer.requests:
        check_body(body, 5, 70000)


def test_started_producer_is_never_replayed(rpc_tool):
    """UNAVAILABLE after the upload: the producer ran, so even --retry-unavailable does not repeat the call."""
    acts = [("headers", GRPC_HEADERS + ok_trailers(14, "busy"), True)]
    with StreamPeer(lambda kind, sid, body: acts if kind == "end" else None) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 2, 100,
                         extra=["--retry-unavailable", "--retries", "3", "--backoff", "10"])
    assert status_of(out) == RPC_BASE + 14, out
    assert "busy" in out["error"][0]
    assert len(peer.requests) == 1


def test_connect_failure_retried_until_server_comes_up(rpc_tool):
    import threading
    from rpc_support import free_port
    port = free_port()
    holder = {}

    def start_late():
        time.sleep(0.4)
        holder["peer"] = GrpcPeer({M: client_stream(lambda it, ctx: str(len(list(it))).encode())})
        holder["peer"].server.add_insecure_port(f"127.0.0.1:{port}")
        holder["peer"].server.start()

    t = threading.Thread(target=start_late)
    t.start()
    try:
        rc, out, _ = gen(rpc_tool, f"127.0.0.1:{port}", 3, 1000,
                         extra=["--retries", "6", "--backoff", "100", "--timeout", "20000"])
    finally:
        t.join()
        holder["peer"].server.stop(None).wait(5)
    assert rc == 0, out
    assert out["msg"] == [b"3".hex()]


def test_large_stream_to_grpc_server(rpc_tool):
    """64 MiB through a real gRPC server; it checks every byte."""
    seen = {}

    def load(it, ctx):
        n = 0
        for k, m in enumerate(it):
            if m != gen_message(k, len(m)):
                ctx.abort(grpc.StatusCode.DATA_LOSS, f"message {k} corrupted")
            n += 1
        seen["n"] = n
        return str(n).encode()

    with GrpcPeer({M: client_stream(load)}) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 64, MIB, extra=["--repeat", "2"], timeout=120)
    assert rc == 0, out
    assert out["msg"] == [b"64".hex()] * 2
    assert out["connections"] == ["1"]


# ---- TLS ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("h2pki"))


def tls_ctx(pki, cert="server", require_client=False, alpn=("h2",)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / f"{cert}.pem", pki / f"{cert}.key")
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki / "ca.pem")
    return ctx


def test_tls_stream_and_reuse(rpc_tool, pki):
    with StreamPeer(on_end(), max_frame=MIB, window=16 * MIB, tls=tls_ctx(pki)) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 4, MIB, plaintext=False,
                         extra=["--ca", pki / "ca.pem", "--repeat", "3"])
    assert rc == 0, (out, peer.errors)
    assert out["connections"] == ["1"]
    for _, body in peer.requests:
        check_body(body, 4, MIB)
    assert peer.requests[0][0][":scheme"] == "https"


def test_tls_new_connections_resume_the_session(rpc_tool, pki):
    """The server closes after each answer: every reconnect resumes the TLS session instead of a full handshake."""
    with StreamPeer(lambda kind, sid, body: answer() + [("close",)] if kind == "end" else None,
                    tls=tls_ctx(pki)) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 2, 1000, plaintext=False,
                         extra=["--ca", pki / "ca.pem", "--repeat", "3", "--pause", "500"])
    assert rc == 0, (out, peer.errors)
    assert out["connections"] == ["3"]
    assert peer.tls_resumed == [False, True, True]


@pytest.mark.parametrize("ca", ["otherca.pem", None])
def test_tls_untrusted_server(rpc_tool, pki, ca):
    with StreamPeer(on_end(), tls=tls_ctx(pki)) as peer:
        extra = ["--ca", pki / ca] if ca else []
        rc, out, _ = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=False, extra=extra)
    assert status_of(out) == ERR_TLS, out
    assert peer.endpoint in out["error"][0] and "CA file" in out["error"][0]


def test_tls_wrong_server_name(rpc_tool, pki):
    with StreamPeer(on_end(), tls=tls_ctx(pki, cert="wrongname")) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=False, extra=["--ca", pki / "ca.pem"])
    assert status_of(out) == ERR_TLS, out


def test_tls_without_h2_alpn(rpc_tool, pki):
    with StreamPeer(on_end(), tls=tls_ctx(pki, alpn=("http/1.1",))) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=False, extra=["--ca", pki / "ca.pem"])
    assert status_of(out) == ERR_PROTOCOL, out
    assert "HTTP/2" in out["error"][0]


def test_tls_client_to_plaintext_server(rpc_tool, pki):
    with StreamPeer(on_end()) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=False, extra=["--ca", pki / "ca.pem"])
    assert status_of(out) == ERR_TLS, out
    assert elapsed < 5


def test_plaintext_client_to_tls_server(rpc_tool, pki):
    with StreamPeer(on_end(), tls=tls_ctx(pki)) as peer:
        rc, out, elapsed = gen(rpc_tool, peer.endpoint, 1, 10, extra=["--timeout", "4000"])
    assert status_of(out) == ERR_PROTOCOL, out
    assert elapsed < 5


def test_mtls_with_client_cert(rpc_tool, pki):
    with StreamPeer(on_end(), tls=tls_ctx(pki, require_client=True)) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 3, 70000, plaintext=False,
                         extra=["--ca", pki / "ca.pem", "--cert", pki / "client.pem", "--key", pki / "client.key"])
    assert rc == 0, (out, peer.errors)
    check_body(peer.requests[0][1], 3, 70000)


@pytest.mark.parametrize("who", [None, "rogue"])
def test_mtls_refuses_missing_or_foreign_client_cert(rpc_tool, pki, who):
    with StreamPeer(on_end(), tls=tls_ctx(pki, require_client=True)) as peer:
        extra = ["--cert", pki / f"{who}.pem", "--key", pki / f"{who}.key"] if who else []
        rc, out, _ = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=False,
                         extra=["--ca", pki / "ca.pem", "--timeout", "5000", *extra])
    assert status_of(out) == ERR_TLS, out
    assert peer.endpoint in out["error"][0]


def test_mtls_key_not_matching_cert(rpc_tool, pki):
    rc, out, _ = gen(rpc_tool, "127.0.0.1:1", 1, 10, plaintext=False,
                     extra=["--ca", pki / "ca.pem", "--cert", pki / "client.pem", "--key", pki / "rogue.key"])
    assert status_of(out) == ERR_TLS, out
    assert "client key" in out["error"][0]


def test_tls_to_grpc_server(rpc_tool, pki):
    creds = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())])
    with GrpcPeer({M: client_stream(lambda it, ctx: str(sum(len(m) for m in it)).encode())}, tls=creds) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 8, MIB, plaintext=False, extra=["--ca", pki / "ca.pem"])
    assert rc == 0, out
    assert out["msg"] == [str(8 * MIB).encode().hex()]


def test_mtls_to_grpc_server(rpc_tool, pki):
    creds = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
                                        root_certificates=(pki / "ca.pem").read_bytes(), require_client_auth=True)
    with GrpcPeer({M: client_stream(lambda it, ctx: str(sum(len(m) for m in it)).encode())}, tls=creds) as peer:
        rc, out, _ = gen(rpc_tool, peer.endpoint, 4, MIB, plaintext=False,
                         extra=["--ca", pki / "ca.pem", "--cert", pki / "client.pem", "--key", pki / "client.key",
                                "--repeat", "3"])
        assert rc == 0, out
        assert out["msg"] == [str(4 * MIB).encode().hex()] * 3
        assert out["connections"] == ["1"]
        rc, out, _ = gen(rpc_tool, peer.endpoint, 1, 10, plaintext=False, extra=["--ca", pki / "ca.pem"])
        assert status_of(out) == ERR_TLS, out
