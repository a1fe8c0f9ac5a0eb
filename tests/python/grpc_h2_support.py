"""A hand-driven HTTP/2 gRPC client (python3-h2) for the receive path of
services/common/grpc_server.c: it honours the server's SETTINGS (DATA
frames up to its SETTINGS_MAX_FRAME_SIZE, or a size the test picks) and
its flow control, and reports how far it got when the server stops
granting window (a slow consumer)."""
import select
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def grpc_frame(msg):
    """One gRPC message: flag 0, 4-byte big-endian length, the bytes."""
    return b"\x00" + struct.pack(">I", len(msg)) + msg


class Stalled(Exception):
    def __init__(self, sent):
        super().__init__(f"no flow-control window after {sent} bytes")
        self.sent = sent


class H2Call:
    """One gRPC call on its own connection to 127.0.0.1:port."""

    def __init__(self, port, path, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.c.initiate_connection()
        self.sock.sendall(self.c.data_to_send())
        self.events = []
        self.remote_settings = None
        # The server's SETTINGS (and its connection WINDOW_UPDATE) come first.
        deadline = time.monotonic() + timeout
        while self.remote_settings is None and time.monotonic() < deadline:
            self._read(1.0)
        assert self.remote_settings is not None, "the server sent no SETTINGS"
        self.sid = self.c.get_next_available_stream_id()
        self.c.send_headers(self.sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                       (":authority", "x"), ("content-type", "application/grpc"),
                                       ("te", "trailers")])
        self.sock.sendall(self.c.data_to_send())
        self.body = bytearray()

    def _read(self, timeout):
        """Reads what arrives within timeout; returns False when the connection ended."""
        if not select.select([self.sock], [], [], timeout)[0]:
            return True
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            return False
        if not data:
            return False
        for ev in self.c.receive_data(data):
            self.events.append(ev)
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.remote_settings = {k: v.new_value for k, v in ev.changed_settings.items()}
            elif isinstance(ev, h2.events.DataReceived):
                self.body += ev.data
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        out = self.c.data_to_send()
        if out:
            self.sock.sendall(out)
        return True

    def window(self):
        return min(self.c.local_flow_control_window(self.sid), self.c.outbound_flow_control_window)

    def send(self, data, frame_size=None, end=False, stall_s=5.0):
        """Sends data in DATA frames of up to frame_size (default: the
        server's maximum), as the window allows; raises Stalled(bytes sent)
        after stall_s without window."""
        view = memoryview(bytes(data))
        off = 0
        waited_since = None
        frames = 0
        while off < len(view):
            size = min(self.window(), frame_size or self.c.max_outbound_frame_size, len(view) - off)
            if size <= 0:
                now = time.monotonic()
                waited_since = waited_since or now
                if now - waited_since > stall_s:
                    raise Stalled(off)
                if not self._read(0.1):
                    raise ConnectionError(f"connection ended after {off} bytes")
                continue
            waited_since = None
            last = off + size == len(view)
            self.c.send_data(self.sid, view[off:off + size].tobytes(), end_stream=end and last)
            self.sock.sendall(self.c.data_to_send())
            off += size
            frames += 1
            # Take WINDOW_UPDATEs as they come without blocking.
            self._read(0)
        if end and len(view) == 0:
            self.c.end_stream(self.sid)
            self.sock.sendall(self.c.data_to_send())
        return frames

    def end(self):
        self.c.end_stream(self.sid)
        self.sock.sendall(self.c.data_to_send())

    def finish(self, timeout=60):
        """Waits for the end of the response; returns (messages, grpc-status, grpc-message)."""
        deadline = time.monotonic() + timeout
        done = False
        while not done and time.monotonic() < deadline:
            if not self._read(0.5):
                break
            done = any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == self.sid
                       for e in self.events)
        trailers = {}
        for ev in self.events:
            if isinstance(ev, (h2.events.TrailersReceived, h2.events.ResponseReceived)) and ev.stream_id == self.sid:
                trailers.update(dict(ev.headers))
        msgs, b = [], bytes(self.body)
        while len(b) >= 5:
            n = struct.unpack(">I", b[1:5])[0]
            msgs.append(b[5:5 + n])
            b = b[5 + n:]
        return msgs, trailers.get("grpc-status"), trailers.get("grpc-message")

    def close(self):
        try:
            self.c.close_connection()
            self.sock.sendall(self.c.data_to_send())
        except OSError:
            pass
        self.sock.close()


MAX_FRAME_SIZE = h2.settings.SettingCodes.MAX_FRAME_SIZE
INITIAL_WINDOW_SIZE = h2.settings.SettingCodes.INITIAL_WINDOW_SIZE
