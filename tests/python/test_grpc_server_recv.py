"""The receive path of services/common/grpc_server.c (through
grpc_test_server and a hand-driven HTTP/2 client, grpc_h2_support): the
SETTINGS it advertises for large uploads, gRPC messages split across and
packed into large DATA frames at any offset, and flow control still bounding
what a slow incremental handler makes the server buffer."""
import os
import pathlib
import struct

import grpc
import h2.errors
import h2.events
import pytest

import authmanager_support as ams
import grpc_h2_support as gh

MIB = 1 << 20
IDENT = dict(request_serializer=lambda b: b, response_deserializer=lambda b: b)
# The server's receive constants (grpc_server.c, grpc_server.h).
MAX_FRAME, STREAM_WINDOW, CONN_WINDOW, IN_HIGH = MIB, 4 * MIB, 16 * MIB, 8 * MIB


server = ams.grpc_test_server_fixture()


def plain_build(d):
    # (a sanitizer build's quarantine keeps freed memory: memory is measured on plain builds only)
    return b"__asan_init" not in pathlib.Path(d.binary).read_bytes()


def vm_hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_settings_for_large_uploads(server):
    d = server()
    call = gh.H2Call(d.port, "/teeu.test.Echo/Sink")
    try:
        assert call.remote_settings[gh.MAX_FRAME_SIZE] == MAX_FRAME
        assert call.remote_settings[gh.INITIAL_WINDOW_SIZE] == STREAM_WINDOW
        call._read(0.2)
        assert call.c.outbound_flow_control_window == CONN_WINDOW
        assert call.window() == STREAM_WINDOW
        call.end()
        assert call.finish() == ([b"0:0"], "0", None)
    finally:
        call.close()


def body_of(sizes, seed=7):
    msgs = [bytes([(seed + i) & 0xFF]) * n for i, n in enumerate(sizes)]
    return msgs, b"".join(gh.grpc_frame(m) for m in msgs)


@pytest.mark.parametrize("frame_size", [None, 999_999, 16384, 7])
def test_messages_across_large_frames(server, frame_size):
    """Messages start and end anywhere in the frames: several per frame,
    empty ones, prefixes split between frames, messages over many frames."""
    d = server("--max-message", str(16 * MIB))
    # (messages past 4 MiB are grown as they arrive, later ones reuse the consumed buffer)
    sizes = [0, 1, 5, 3, MIB + 3, 0, 3 * MIB, 100_000, 0, 2 * MIB - 5, 17, 9 * MIB + 1, 5 * MIB, 4 * MIB, 2]
    if frame_size == 7:
        sizes = [0, 1, 5, 3, 70_000, 0, 12]  # tiny frames: keep it quick
    msgs, body = body_of(sizes)
    call = gh.H2Call(d.port, "/teeu.test.Echo/Sink")
    try:
        frames = call.send(body, frame_size=frame_size, end=True)
        if frame_size is None:
            assert frames <= len(body) // MAX_FRAME + 4  # the server's large frames were used
        assert call.finish() == ([f"{len(msgs)}:{sum(sizes)}".encode()], "0", None)
    finally:
        call.close()


def test_collected_call_over_large_frames(server):
    """A non-incremental call (the whole request collected) over 1 MiB frames."""
    d = server("--max-message", str(8 * MIB))
    payload = os.urandom(5 * MIB + 11)
    call = gh.H2Call(d.port, "/teeu.test.Echo/Unary")
    try:
        call.send(gh.grpc_frame(payload), end=True)
        assert call.finish() == ([payload], "0", None)
    finally:
        call.close()


def test_many_messages_in_one_read(server):
    """Thousands of small messages arriving together (one recv) all reach the handler, in order."""
    d = server()
    msgs = [struct.pack(">I", i) * (i % 7) for i in range(5000)]
    with grpc.insecure_channel(d.address) as ch:
        pipe = ch.stream_stream("/teeu.test.Echo/Pipe", **IDENT)
        assert list(pipe(iter(msgs), timeout=60)) == msgs


def test_malformed_framing_inside_large_frames(server):
    d = server("--max-message", str(2 * MIB))
    for bad, why in ((b"\x01" + struct.pack(">I", 3) + b"abc", "compressed"),
                     (b"\x07" + struct.pack(">I", 3) + b"abc", "flag"),
                     (b"\x00" + struct.pack(">I", 2 * MIB + 1), "maximum message size")):
        call = gh.H2Call(d.port, "/teeu.test.Echo/Sink")
        try:
            call.send(gh.grpc_frame(b"x" * MIB) + bad, end=True)
            msgs, status, message = call.finish()
            assert status == str(grpc.StatusCode.CANCELLED.value[0]) and why in message, (status, message)
        finally:
            call.close()
    # A request that ends inside a message.
    call = gh.H2Call(d.port, "/teeu.test.Echo/Sink")
    try:
        call.send(gh.grpc_frame(b"y" * MIB)[:-1], end=True)
        _, status, message = call.finish()
        assert status == "1" and "ends inside a gRPC message" in message
    finally:
        call.close()
    with grpc.insecure_channel(d.address) as ch:
        assert ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)(b"ok", timeout=30) == b"ok"


def test_slow_consumer_bounds_what_is_buffered(server):
    """The handler sleeps before reading: the server takes at most its queue
    bound (TU_GRPC_CALL_IN_HIGH) plus one stream window and a message, then
    grants no more window; once the handler reads, the upload completes."""
    d = server()
    msg = os.urandom(MIB)
    n = 40
    call = gh.H2Call(d.port, "/teeu.test.Echo/SlowSink")
    try:
        call.send(gh.grpc_frame(b"6000"))
        with pytest.raises(gh.Stalled) as ei:
            call.send(gh.grpc_frame(msg) * n, stall_s=2.0)
        held = ei.value.sent
        print(f"\nserver took {held / MIB:.2f} MiB before withholding window")
        assert IN_HIGH <= held <= IN_HIGH + STREAM_WINDOW + 2 * (MIB + 5), held
        # The connection keeps window for other streams: the stalled stream holds at most its
        # own window of it (and nghttp2 returns connection window once half of it is consumed).
        assert call.c.outbound_flow_control_window >= CONN_WINDOW // 2 - STREAM_WINDOW
        rest = (gh.grpc_frame(msg) * n)[held:]
        call.send(rest, end=True, stall_s=30)
        assert call.finish() == ([f"{n}:{n * MIB}".encode()], "0", None)
    finally:
        call.close()
    if plain_build(d):
        peak = vm_hwm_kib(d.proc.pid)
        print(f"grpc_test_server peak RSS: {peak / 1024:.1f} MiB")
        assert peak < 80 * 1024


def test_interleaved_padded_large_frames_on_one_connection(server):
    """Two incremental calls on one connection, their large DATA frames
    interleaved, one of them padded (received through the read buffer), a
    message past 4 MiB (grown while received in place), a frame ending in
    the middle of a prefix: each handler gets exactly its own bytes."""
    d = server("--max-message", str(8 * MIB))
    call = gh.H2Call(d.port, "/teeu.test.Echo/Sink")
    try:
        c = call.c
        s1 = call.sid
        s2 = c.get_next_available_stream_id()
        c.send_headers(s2, [(":method", "POST"), (":scheme", "http"), (":path", "/teeu.test.Echo/Sink"),
                            (":authority", "x"), ("content-type", "application/grpc"), ("te", "trailers")])
        call.sock.sendall(c.data_to_send())
        m1, b1 = body_of([300_000, 0, 5 * MIB + 7, 70_000], seed=1)   # 5.4 MiB: within the 16 MiB connection window
        m2, b2 = body_of([200_000, 1, 2 * MIB + 3], seed=9)            # 2.2 MiB
        cuts1 = [0, 65536 * 2 + 3, 300_005 + 2, 1 << 20, 3 << 20, len(b1)]
        cuts2 = [0, 70_000, 200_005 + 3, 1 << 20, len(b2)]
        pieces1 = [b1[a:b] for a, b in zip(cuts1, cuts1[1:])]
        pieces2 = [b2[a:b] for a, b in zip(cuts2, cuts2[1:])]
        # Stream windows are 4 MiB: send what fits, then wait for WINDOW_UPDATEs.
        while pieces1 or pieces2:
            for sid, pieces, pad in ((s1, pieces1, None), (s2, pieces2, 200)):
                if not pieces:
                    continue
                piece = pieces[0]
                room = min(c.local_flow_control_window(sid), c.outbound_flow_control_window)
                chunk = piece[:min(room, c.max_outbound_frame_size - (pad + 1 if pad else 0))]
                if not chunk:
                    call._read(0.2)
                    continue
                pieces[0] = piece[len(chunk):]
                if not pieces[0]:
                    pieces.pop(0)
                c.send_data(sid, chunk, end_stream=not pieces, pad_length=pad)
                call.sock.sendall(c.data_to_send())
                call._read(0)
        _, status, _ = call.finish()
        assert status == "0"
        got = {}
        for ev in call.events:
            if isinstance(ev, h2.events.DataReceived):
                got[ev.stream_id] = got.get(ev.stream_id, b"") + ev.data
        assert got[s1][5:] == f"{len(m1)}:{sum(map(len, m1))}".encode()
        call.sid = s2
        for _ in range(50):
            if any(isinstance(e, h2.events.StreamEnded) and e.stream_id == s2 for e in call.events):
                break
            call._read(0.2)
        got2 = b"".join(e.data for e in call.events if isinstance(e, h2.events.DataReceived) and e.stream_id == s2)
        assert got2[5:] == f"{len(m2)}:{sum(map(len, m2))}".encode()
    finally:
        call.close()


from test_authmanager_tls import pki  # noqa: E402,F401  (the test PKI fixture)


def test_tls_large_uploads_intact(server, pki):  # noqa: F811
    """Over TLS (mutual) the same: large incremental and collected uploads
    arrive intact, and small ones still answer at once."""
    d = server("--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]),
               "--client-ca", str(pki["ca.pem"]), "--max-message", str(8 * MIB))
    creds = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"].read_bytes(),
                                         private_key=pki["client.key"].read_bytes(),
                                         certificate_chain=pki["client.pem"].read_bytes())
    opts = [("grpc.max_receive_message_length", 16 * MIB), ("grpc.max_send_message_length", 16 * MIB)]
    with grpc.secure_channel(d.address, creds, options=opts) as ch:
        sink = ch.stream_unary("/teeu.test.Echo/Sink", **IDENT)
        msgs = [os.urandom(MIB + i) for i in range(30)] + [b""] + [os.urandom(5 * MIB)]
        assert sink(iter(msgs), timeout=120) == f"{len(msgs)}:{sum(map(len, msgs))}".encode()
        pipe = ch.stream_stream("/teeu.test.Echo/Pipe", **IDENT)
        back = [os.urandom(n) for n in (3 * MIB, 0, 70_000, 2 * MIB + 1)]
        assert list(pipe(iter(back), timeout=120)) == back
        payload = os.urandom(7 * MIB)
        assert ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)(payload, timeout=60) == payload
        for _ in range(20):
            assert ch.unary_unary("/teeu.test.Echo/Unary", **IDENT)(b"ok", timeout=30) == b"ok"


def test_oversized_data_frame_ends_the_connection_only(server):
    """A DATA frame longer than the advertised maximum (the receive path sizes
    its reads from frame headers) is a connection error: GOAWAY
    FRAME_SIZE_ERROR, and other connections are unaffected."""
    d = server()
    call = gh.H2Call(d.port, "/teeu.test.Echo/Sink")
    try:
        call.send(gh.grpc_frame(b"z" * 200_000))  # a large frame first: bulk mode
        bad = struct.pack(">I", 2 * MIB)[1:] + b"\x00\x00" + struct.pack(">I", call.sid)
        call.sock.sendall(bad + b"\x00" * 65536)
        for _ in range(50):
            if any(isinstance(e, h2.events.ConnectionTerminated) for e in call.events) or not call._read(0.2):
                break
        terms = [e for e in call.events if isinstance(e, h2.events.ConnectionTerminated)]
        assert terms and terms[0].error_code == h2.errors.ErrorCodes.FRAME_SIZE_ERROR, call.events
    finally:
        call.close()
    with grpc.insecure_channel(d.address) as ch:
        sink = ch.stream_unary("/teeu.test.Echo/Sink", **IDENT)
        assert sink(iter([b"a" * MIB] * 3), timeout=30) == f"3:{3 * MIB}".encode()
