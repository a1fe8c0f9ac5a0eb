"""Hostile input against teeu-authmanager: mutated protobuf requests for
every method, and raw HTTP/2 misbehaviour (python3-h2). Every request gets an
answer or a reset, and the service keeps serving correct clients."""
import os
import random
import socket

import grpc
import h2.config
import h2.connection
import h2.events
import pytest

import authmanager_support as ams

FUNC = ams.function_code('average@1{"axis":1}')
SVC = "/secretflowapis.v1.sdc.authmanager.AuthManager/"


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return ams.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def daemon(tool, tmp_path_factory):
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path_factory.mktemp("am") / "state",
                   ["--simulation", "--max-message", "65536"]).start()
    yield d
    assert d.stop() == 0, d.log()


@pytest.fixture(scope="module")
def client(pb, daemon):
    c = ams.Client(pb, daemon.address)
    yield c
    c.close()


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            del b[rng.randrange(len(b)):][:rng.randint(1, 16)]
        elif op == 2:
            i = rng.randrange(len(b) + 1)
            b[i:i] = os.urandom(rng.randint(1, 8))
        elif b:
            b = b[:rng.randrange(len(b))]
    return bytes(b)


def test_mutated_requests(pb, client):
    rng = random.Random(1234)
    party = ams.Party(pb)
    am_key, _, _ = client.am_key()
    assert client.stub.RegisterInsPubKey(party.register_request(), timeout=30).status.code == ams.OK
    create, u, _ = party.create_request(am_key, functions=[FUNC])
    assert client.stub.CreateDataWithAuth(create, timeout=30).status.code == ams.OK
    teeu = ams.Teeu(pb)
    seeds = {
        "RegisterInsPubKey": party.register_request().SerializeToString(),
        "CreateDataWithAuth": party.create_request(am_key, functions=[FUNC])[0].SerializeToString(),
        "GetComputeMeta": teeu.request([u], FUNC, party.owner_id).SerializeToString(),
        "GetRaCertPems": pb["dataagent_pb2"].GetRaCertPemsRequest(secret_shard_num=1, nonces=["AB"]).SerializeToString(),
        "GetExportDataKey": pb["authmanager_pb2"].GetExportDataKeyRequest(
            data_uuid=u, public_key=pb["sdc_pb2"].PublicKey(scheme="RSA", public_key=party.pem)).SerializeToString(),
        "CreateDataMacKey": pb["dataagent_pb2"].CreateDataMacKeyRequest(
            data_uuid=u, encryption_algorithm="x", encrypted_mac_key="y").SerializeToString(),
    }
    outcomes = {}
    for method, seed in seeds.items():
        call = client.channel.unary_unary(SVC + method)
        for _ in range(40):
            try:
                resp = call(mutate(rng, seed), timeout=30)
                outcomes["answered"] = outcomes.get("answered", 0) + 1
                assert isinstance(resp, bytes)
            except grpc.RpcError as e:
                assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), e
                outcomes["grpc-error"] = outcomes.get("grpc-error", 0) + 1
    assert outcomes.get("answered") and outcomes.get("grpc-error")
    # still serving, and the original data still releases its key
    _, resp = None, client.stub.GetComputeMeta(teeu.request([u], FUNC, party.owner_id), timeout=30)
    assert resp.status.code == ams.OK, resp.status.message


def h2_conn(daemon):
    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c


def h2_events(s, c, until, limit=200):
    """Reads events until `until(events)` or the connection ends."""
    events = []
    for _ in range(limit):
        try:
            data = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not data:
            break
        events += c.receive_data(data)
        out = c.data_to_send()
        if out:
            s.sendall(out)
        if until(events):
            break
    return events


def headers(path="GetRaCertPems", method="POST", ctype="application/grpc"):
    return [(":method", method), (":scheme", "http"), (":path", SVC + path), (":authority", "x"),
            ("content-type", ctype), ("te", "trailers")]


def trailers_of(events, sid):
    for ev in events:
        if isinstance(ev, (h2.events.TrailersReceived, h2.events.ResponseReceived)) and ev.stream_id == sid:
            d = dict(ev.headers)
            if "grpc-status" in d:
                return d
    return None


def ended(sid):
    return lambda evs: any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == sid
                           for e in evs)


def test_raw_h2_misbehaviour(pb, daemon, client):
    s, c = h2_conn(daemon)
    try:
        # GET instead of POST -> UNIMPLEMENTED, trailers-only
        c.send_headers(1, headers(method="GET"), end_stream=True)
        s.sendall(c.data_to_send())
        assert trailers_of(h2_events(s, c, ended(1)), 1)["grpc-status"] == "12"
        # wrong content-type -> INVALID_ARGUMENT
        c.send_headers(3, headers(ctype="text/plain"), end_stream=True)
        s.sendall(c.data_to_send())
        assert trailers_of(h2_events(s, c, ended(3)), 3)["grpc-status"] == "3"
        # compressed flag -> UNIMPLEMENTED
        c.send_headers(5, headers(), end_stream=False)
        c.send_data(5, b"\x01\x00\x00\x00\x01x", end_stream=True)
        s.sendall(c.data_to_send())
        assert trailers_of(h2_events(s, c, ended(5)), 5)["grpc-status"] == "12"
        # truncated frame prefix -> INTERNAL
        c.send_headers(7, headers(), end_stream=False)
        c.send_data(7, b"\x00\x00\x00", end_stream=True)
        s.sendall(c.data_to_send())
        assert trailers_of(h2_events(s, c, ended(7)), 7)["grpc-status"] == "13"
        # a declared length past the data -> INTERNAL
        c.send_headers(9, headers(), end_stream=False)
        c.send_data(9, b"\x00\x00\x00\x10\x00abc", end_stream=True)
        s.sendall(c.data_to_send())
        assert trailers_of(h2_events(s, c, ended(9)), 9)["grpc-status"] == "13"
        # a client that resets its stream mid-request is simply forgotten
        c.send_headers(11, headers(), end_stream=False)
        c.send_data(11, b"\x00\x00\x00\x00\x10", end_stream=False)
        c.reset_stream(11)
        # a valid request on the same connection still works
        req = pb["dataagent_pb2"].GetRaCertPemsRequest(secret_shard_num=1, nonces=["N"]).SerializeToString()
        c.send_headers(13, headers(), end_stream=False)
        c.send_data(13, b"\x00" + len(req).to_bytes(4, "big") + req, end_stream=True)
        s.sendall(c.data_to_send())
        evs = h2_events(s, c, ended(13))
        assert trailers_of(evs, 13)["grpc-status"] == "0"
        body = b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived) and e.stream_id == 13)
        resp = pb["dataagent_pb2"].GetRaCertPemsResponse()
        resp.ParseFromString(body[5:])
        assert resp.report_with_certs[0].nonce == "N"
    finally:
        s.close()
    # and other clients are unaffected
    client.am_key()


def test_too_many_streams_are_refused(pb, daemon, client):
    """Streams past the server's concurrency bound get REFUSED_STREAM, not memory."""
    s, c = h2_conn(daemon)
    try:
        # do not wait for the server's SETTINGS: open 100 request streams at once
        for i in range(100):
            c.send_headers(1 + 2 * i, headers(), end_stream=False)
        try:
            s.sendall(c.data_to_send())
        except OSError:
            pass
        evs = h2_events(s, c, lambda e: sum(isinstance(x, h2.events.StreamReset) for x in e) >= 36, limit=50)
        resets = [e for e in evs if isinstance(e, h2.events.StreamReset)]
        assert len(resets) >= 36
    except h2.exceptions.ProtocolError:
        pass  # h2 itself may refuse to open streams past the server's advertised limit
    finally:
        s.close()
    client.am_key()


def test_preface_garbage_and_half_frames(daemon, client):
    for junk in (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\xff\x04\x00\x00\x00\x00\x00",  # bad SETTINGS
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00",  # then silence
                 os.urandom(64)):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
    client.am_key()
