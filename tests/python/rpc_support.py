"""Test peers for libteeu's gRPC transport and AuthManager client.

- GrpcPeer: a real gRPC server (Debian's python3-grpcio) with generic
  byte-level handlers, optionally over TLS / mutual TLS.
- RawH2Peer: a hand-driven HTTP/2 server (python3-h2) that answers with
  deliberately broken gRPC responses (bad framing, missing trailers, ...).
- run_tool: runs tests/helpers/rpc_tool and parses its line output.
- gen_stubs: Python protobuf/gRPC modules generated from proto/ at test time.
"""
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc

SOURCE_DIR = pathlib.Path(os.environ.get("TEEU_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
PROTO_DIR = SOURCE_DIR / "proto"

# teeu_status values the transport tests expect (include/teeu/status.h).
TEEU_OK = 0
ERR_CONFIG = 7
RPC_BASE = 300
ERR_CONNECT = 350
ERR_TLS = 351
ERR_TIMEOUT = 352
ERR_PROTOCOL = 353
ERR_TOO_LARGE = 354
ERR_PROTOBUF = 355


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_tool(path, args, timeout=60):
    """Runs a helper; returns (returncode, dict of key -> list of values, elapsed seconds)."""
    start = time.monotonic()
    proc = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - start
    out = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(key, []).append(value)
    if proc.returncode not in (0, 1):
        raise AssertionError(f"{path} crashed or misused (rc {proc.returncode}): {proc.stderr}\n{proc.stdout}")
    return proc.returncode, out, elapsed


def status_of(out):
    return int(out["status"][0].split()[0])


# ---- stubs generated from proto/ ---------------------------------------------

_stub_lock = threading.Lock()
_stub_dir = None


def gen_stubs(tmp_root):
    """Generates *_pb2.py / *_pb2_grpc.py from proto/ once per session; adds them to sys.path."""
    global _stub_dir
    with _stub_lock:
        if _stub_dir:
            return _stub_dir
        out = pathlib.Path(tmp_root) / "pystubs"
        out.mkdir(parents=True, exist_ok=True)
        protos = [str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto")]
        try:
            import grpc_tools  # noqa: F401
            cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
                   f"--grpc_python_out={out}", *protos]
        except ImportError:
            cmd = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_out={out}",
                   "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos]
        subprocess.run(cmd, check=True, capture_output=True)
        for d in out.rglob("*"):
            if d.is_dir() and not (d / "__init__.py").exists():
                (d / "__init__.py").write_text("")
        sys.path.insert(0, str(out))
        _stub_dir = out
        return out


# ---- a real gRPC peer ----------------------------------------------------------

class GrpcPeer:
    """grpcio server; handlers maps "/pkg.Svc/Method" -> grpc.RpcMethodHandler."""

    def __init__(self, handlers, tls=None, max_workers=8):
        self.port = free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                                  options=[("grpc.max_receive_message_length", 256 << 20),
                                           ("grpc.max_send_message_length", 256 << 20)])
        self.server.add_generic_rpc_handlers([_Generic(handlers)])
        if tls is None:
            self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        else:
            self.server.add_secure_port(f"127.0.0.1:{self.port}", tls)
        self.endpoint = f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(grace=None).wait(5)


class _Generic(grpc.GenericRpcHandler):
    def __init__(self, handlers):
        self.handlers = handlers

    def service(self, details):
        return self.handlers.get(details.method)


def unary(fn):
    return grpc.unary_unary_rpc_method_handler(fn)


def server_stream(fn):
    return grpc.unary_stream_rpc_method_handler(fn)


def client_stream(fn):
    return grpc.stream_unary_rpc_method_handler(fn)


# ---- a deliberately broken HTTP/2 peer ---------------------------------------

def frame(payload, flag=0, length=None):
    n = len(payload) if length is None else length
    return bytes([flag]) + n.to_bytes(4, "big") + payload


class _Listener:
    """A TCP listener on host, port chosen at run time, that serves each
    accepted connection on its own thread with self._serve(conn) until the
    `with` block ends. Counts accepted connections in .connections."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.connections = 0
        self.requests = []
        self.goaways = []  # error codes of the client's GOAWAY frames
        self.stop = threading.Event()
        self.threads = []

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.sock.close()
        for t in self.threads:
            t.join(5)

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        raise NotImplementedError

    # ("reset",) without a code resets with this one; ("close",) then waits for the client to close.
    reset_code = 0
    drain_on_close = False

    def _perform(self, conn, h2c, sid, actions):
        """Carries out a peer's actions on stream sid; False: the connection is done with."""
        for action in actions:
            kind = action[0]
            if kind == "headers":
                h2c.send_headers(sid, action[1], end_stream=action[2])
            elif kind == "data":
                h2c.send_data(sid, action[1], end_stream=action[2])
            elif kind == "trailers":
                h2c.send_headers(sid, action[1], end_stream=True)
            elif kind == "reset":
                h2c.reset_stream(sid, action[1] if len(action) > 1 else self.reset_code)
            elif kind == "goaway":
                # Written by hand: h2 refuses to send anything after its own GOAWAY,
                # but a graceful GOAWAY lets the streams up to last_stream_id finish.
                conn.sendall(h2c.data_to_send())
                conn.sendall(b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + action[1].to_bytes(4, "big") + bytes(4))
            elif kind == "hang":
                conn.sendall(h2c.data_to_send())
                self.stop.wait(60)
                return False
            elif kind == "close":
                # Idle first (as a server closing an idle connection would), then GOAWAY and
                # a graceful close so the client reads everything sent.
                conn.sendall(h2c.data_to_send())
                time.sleep(0.2)
                h2c.close_connection()
                conn.sendall(h2c.data_to_send())
                conn.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + 2
                while self.drain_on_close and time.monotonic() < deadline and self._recv_some(conn) is not None:
                    pass
                return False
        conn.sendall(h2c.data_to_send())
        return True

    def _recv_some(self, conn):
        try:
            data = conn.recv(65536)
        except socket.timeout:
            return b""
        return data if data else None


class RawH2Peer(_Listener):
    """Answers every gRPC request with behaviour(stream_id, request_body) -> list of actions.

    Actions: ("headers", [(k, v)...], end_stream), ("data", bytes, end_stream),
    ("trailers", [(k, v)...]), ("reset",), ("hang",), ("close",).
    Counts accepted TCP connections in .connections.
    """

    drain_on_close = True

    def __init__(self, behaviour, speak_http1=False):
        super().__init__()
        self.behaviour = behaviour
        self.speak_http1 = speak_http1

    def _serve(self, conn):
        import h2.config
        import h2.connection
        import h2.events
        conn.settimeout(0.2)
        try:
            if self.speak_http1:
                self._recv_some(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                return
            h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            h2c.initiate_connection()
            conn.sendall(h2c.data_to_send())
            bodies = {}
            headers = {}
            while not self.stop.is_set():
                data = self._recv_some(conn)
                if data is None:
                    return
                if not data:
                    continue
                for ev in h2c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        headers[ev.stream_id] = dict(ev.headers)
                        bodies[ev.stream_id] = b""
                    elif isinstance(ev, h2.events.DataReceived):
                        bodies[ev.stream_id] += ev.data
                        h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        self.goaways.append(ev.error_code)
                    elif isinstance(ev, h2.events.StreamEnded):
                        self.requests.append((headers.get(ev.stream_id), bodies.get(ev.stream_id)))
                        if not self._answer(conn, h2c, ev.stream_id, bodies.get(ev.stream_id, b"")):
                            return
                conn.sendall(h2c.data_to_send())
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn, h2c, sid, body):
        return self._perform(conn, h2c, sid, self.behaviour(sid, body))


GRPC_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


def ok_trailers(code=0, message=None):
    t = [("grpc-status", str(code))]
    if message is not None:
        t.append(("grpc-message", message))
    return t


# ---- an HTTP/2 peer for client-streaming calls -------------------------------

def gen_message(k, size):
    """Message k of rpc_tool's client-stream-gen: byte i is (k*31 + i*7) mod 256."""
    base = bytes((i * 7) % 256 for i in range(256))
    shift = (k * 31) % 256
    pattern = bytes((b + shift) % 256 for b in base)
    # i*7 mod 256 repeats every 256 bytes
    return (pattern * (size // 256 + 1))[:size]


def split_messages(body):
    """The gRPC messages of a request body (asserts well-formed framing)."""
    msgs, off = [], 0
    while off < len(body):
        assert body[off] == 0, f"flag byte {body[off]} at {off}"
        n = int.from_bytes(body[off + 1:off + 5], "big")
        msgs.append(body[off + 5:off + 5 + n])
        assert len(msgs[-1]) == n, "truncated message"
        off += 5 + n
    return msgs


class StreamPeer(_Listener):
    """A hand-driven HTTP/2 server (python3-h2) for client-streaming calls.

    on_event(kind, sid, body) -> list of actions or None, for kind "headers"
    (request headers arrived), "data" (after each DATA frame), "end" (the
    request ended). Actions as RawH2Peer's, plus ("goaway", last_stream_id)
    and ("reset", error_code). Every DATA frame's length is recorded in
    .frames. Settings: max_frame (SETTINGS_MAX_FRAME_SIZE), window
    (SETTINGS_INITIAL_WINDOW_SIZE; the connection window is raised to
    match), ack (give window back as data arrives). tls: an ssl.SSLContext.
    host: the address to listen on ("::1" for IPv6).
    """

    reset_code = 2  # INTERNAL_ERROR

    def __init__(self, on_event, max_frame=16384, window=65535, ack=True, tls=None, host="127.0.0.1"):
        super().__init__(host)
        self.on_event = on_event
        self.max_frame = max_frame
        self.window = window
        self.ack = ack
        self.tls = tls
        self.frames = []
        self.errors = []
        self.tls_resumed = []  # per TLS connection: did the client resume a session?

    def _serve(self, conn):
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions
        import h2.settings
        try:
            if self.tls is not None:
                conn.settimeout(5)
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except OSError as e:
                    self.errors.append(f"tls: {e}")
                    return
                self.tls_resumed.append(conn.session_reused)
            conn.settimeout(0.05)
            h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            h2c.initiate_connection()
            # A second SETTINGS frame: the values apply when the client ACKs
            # them, as RFC 9113 says (the client may use the defaults before).
            h2c.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: self.max_frame,
                                 h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.window})
            if self.window > 65535:
                h2c.increment_flow_control_window(self.window - 65535)
            conn.sendall(h2c.data_to_send())
            bodies, entries = {}, {}
            while not self.stop.is_set():
                try:
                    data = conn.recv(1 << 20)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for ev in h2c.receive_data(data):
                    acts = None
                    if isinstance(ev, h2.events.RequestReceived):
                        bodies[ev.stream_id] = bytearray()
                        entries[ev.stream_id] = [dict(ev.headers), None]
                        self.requests.append(entries[ev.stream_id])
                        acts = self.on_event("headers", ev.stream_id, bodies[ev.stream_id])
                    elif isinstance(ev, h2.events.DataReceived):
                        self.frames.append(len(ev.data))
                        if ev.stream_id in bodies:
                            bodies[ev.stream_id] += ev.data
                        if self.ack and ev.flow_controlled_length:
                            # Every byte back at once (h2's own window manager
                            # stalls when a small SETTINGS window drives it negative).
                            h2c.increment_flow_control_window(ev.flow_controlled_length)
                            try:
                                h2c.increment_flow_control_window(ev.flow_controlled_length, ev.stream_id)
                            except h2.exceptions.StreamClosedError:
                                pass  # ended or reset by us: only the connection window matters
                        acts = self.on_event("data", ev.stream_id, bodies.get(ev.stream_id, b""))
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        self.goaways.append(ev.error_code)
                    elif isinstance(ev, h2.events.StreamEnded):
                        entries[ev.stream_id][1] = bytes(bodies.get(ev.stream_id, b""))
                        acts = self.on_event("end", ev.stream_id, bodies.get(ev.stream_id, b""))
                    if acts and not self._perform(conn, h2c, ev.stream_id, acts):
                        return
                conn.sendall(h2c.data_to_send())
        except Exception as e:  # noqa: BLE001 - recorded for the test to show
            import traceback
            self.errors.append(repr(e) + traceback.format_exc())
        finally:
            conn.close()

# ---- certificates (openssl CLI) -------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """ca/otherca, server (127.0.0.1, localhost), client, rogue (otherca) and wrongname under d."""
    for name in ("ca", "otherca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "2", "-subj", f"/CN={name}", cwd=d)
    leaves = [("ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
              ("ca", "client", "extendedKeyUsage=clientAuth\n"),
              ("otherca", "rogue", "extendedKeyUsage=clientAuth\n"),
              ("ca", "wrongname", "subjectAltName=DNS:example.com\nextendedKeyUsage=serverAuth\n")]
    for ca, name, ext in leaves:
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d
