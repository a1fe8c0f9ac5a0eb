"""Helpers for the teeud tests: an independent Python client of the TEEU API
written from docs/protocol.md, docs/crypto.md (the segmented streaming AEAD)
and WIRE.md, with grpcio + cryptography only (no libteeu), and a runner
that starts the simulation authority, teeu-authmanager and teeud.
"""
import base64
import importlib
import io
import os
import pathlib
import struct
import subprocess
import time
import uuid

import grpc
import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import authmanager_support as ams

OK, CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 0, 1, 3, 5, 6, 7
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

STREAM_INFO = b"libteeu stream v1"
TAG = 16


def generate_stubs(out_dir):
    pb = ams.generate_stubs(out_dir)
    pb["teeu_pb2"] = importlib.import_module("teeuapis.v1.teeu_pb2")
    pb["teeu_pb2_grpc"] = importlib.import_module("teeuapis.v1.teeu_pb2_grpc")
    return pb


# ---- the segmented streaming AEAD (docs/crypto.md) -----------------------------

def _stream_key(key, header):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=header[8:24], info=STREAM_INFO + header[0:8]).derive(key)


def _nonce(prefix, index, final):
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


class StreamSealer:
    """Seals a plaintext as header + segments (each ciphertext || tag)."""

    def __init__(self, key, aad, segment_size):
        self.segment_size = segment_size
        self.header = b"TS\x01\x00" + struct.pack(">I", segment_size) + os.urandom(16) + os.urandom(7) + b"\x00"
        self.aead = AESGCM(_stream_key(key, self.header))
        self.aad = self.header + aad
        self.index = 0

    def seal(self, chunk, final):
        ct = self.aead.encrypt(_nonce(self.header[24:31], self.index, final), chunk, self.aad)
        self.index += 1
        return ct


def stream_open(key, aad, header, segments):
    """Opens (index, final, ciphertext) segments in order; returns the plaintext."""
    assert header[0:2] == b"TS" and header[2] == 1
    aead = AESGCM(_stream_key(key, header))
    out = []
    for i, (index, final, ct) in enumerate(segments):
        assert index == i
        out.append(aead.decrypt(_nonce(header[24:31], i, final), ct, header + aad))
    assert segments and segments[-1][1], "stream without its final segment"
    return b"".join(out)


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_load(data):
    return np.load(io.BytesIO(data), allow_pickle=False)


# ---- the TEEU API client (docs/protocol.md) -----------------------------------------

def now_ms():
    return int(time.time() * 1000)


class TeeudClient:
    def __init__(self, pb, address, credentials=None):
        self.pb = pb
        self.t = pb["teeu_pb2"]
        opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        self.channel = (grpc.secure_channel(address, credentials, options=opts) if credentials is not None
                        else grpc.insecure_channel(address, options=opts))
        self.stub = pb["teeu_pb2_grpc"].TeeuStub(self.channel)

    def close(self):
        self.channel.close()

    def health(self):
        return self.stub.Health(self.t.HealthRequest(), timeout=30)

    def attest(self, nonce=None):
        nonce = nonce or os.urandom(32).hex().upper()
        return self.stub.Attest(self.t.AttestRequest(nonce=nonce), timeout=60), nonce

    # -- put

    def put_requests(self, party, data_uuid, data_key, plaintext, segment_size=1 << 20, stop_after=None,
                     timestamp_ms=None, data_auth=None, plaintext_size=None, size_is_bound=False):
        """Yields the PutObjectRequests; plaintext is bytes or an iterable of chunks (any size).

        With data_auth (a serialized DataAuth), the header carries it and is
        not signed (docs/protocol.md); otherwise the owner signs the header.
        plaintext_size overrides the header's size (default: the real one);
        size_is_bound sets plaintext_size_is_bound."""
        t = self.t
        sealer = StreamSealer(data_key, data_uuid.encode(), segment_size)
        total = len(plaintext) if isinstance(plaintext, (bytes, bytearray, memoryview)) else plaintext.total
        hdr = t.PutObjectHeader(data_uuid=data_uuid, owner_id=party.owner_id, owner_public_key=party.pem,
                                stream_header=sealer.header,
                                plaintext_size=total if plaintext_size is None else plaintext_size,
                                segment_size=segment_size,
                                timestamp_ms=timestamp_ms if timestamp_ms is not None else now_ms(),
                                data_auth=data_auth or b"", plaintext_size_is_bound=size_is_bound)
        raw = hdr.SerializeToString()
        sig = b"" if data_auth else ams.sign(party.key, raw)
        yield t.PutObjectRequest(header=t.SignedPutObjectHeader(header=raw, signature=sig))
        chunks = _segments(plaintext, segment_size, total)
        for i, (chunk, final) in enumerate(chunks):
            if stop_after is not None and i >= stop_after:
                return
            yield t.PutObjectRequest(segment=t.PutObjectSegment(index=i, final=final,
                                                                 ciphertext=sealer.seal(chunk, final)))

    def put(self, party, data_uuid, data_key, plaintext, **kw):
        return self.stub.PutObject(self.put_requests(party, data_uuid, data_key, plaintext, **kw), timeout=600)

    # -- call

    def call(self, party, function, args, revealers=(), allow_plaintext=False, task_id=None, params_override=None,
             timestamp_ms=None):
        """args: list of data_uuid (single) or list of data_uuids (is_list)."""
        t, teeapps = self.t, self.pb["teeapps_pb2"]
        task_id = task_id or uuid.uuid4().hex
        pb_args, flat = [], []
        for a in args:
            if isinstance(a, (list, tuple)):
                pb_args.append(t.Argument(data_uuids=list(a), is_list=True))
                flat.extend(a)
            else:
                pb_args.append(t.Argument(data_uuids=[a]))
                flat.append(a)
        params = teeapps.TeeTaskParams(task_id=task_id, requester_id=party.owner_id, app_type="teeu",
                                       code=ams.function_code(function),
                                       inputs=[teeapps.TeeTaskParams.Input(data_uuid=u, partition_id="default")
                                               for u in flat])
        if params_override:
            params_override(params)
        raw_params = params.SerializeToString()
        task = t.CallTask(task_id=task_id, requester_id=party.owner_id, requester_public_key=party.pem,
                          function=function, args=pb_args, revealers=list(revealers),
                          allow_plaintext_reveal=allow_plaintext,
                          timestamp_ms=timestamp_ms if timestamp_ms is not None else now_ms(),
                          tee_task_params=raw_params, tee_task_params_signature=ams.sign(party.key, raw_params))
        raw = task.SerializeToString()
        return self.stub.Call(t.CallRequest(task=raw, signature=ams.sign(party.key, raw)), timeout=600).result_uuid

    # -- reveal

    def reveal(self, party, result_uuid, plaintext=False, after_first=None):
        """Returns the result array; opens the sealed key with the party's key (WIRE.md envelope).
        after_first: called once the first response has arrived, before the rest is read."""
        t = self.t
        nonce = os.urandom(16).hex()
        task = t.RevealTask(result_uuid=result_uuid, requester_id=party.owner_id, requester_public_key=party.pem,
                            plaintext=plaintext, timestamp_ms=now_ms(), nonce=nonce)
        raw = task.SerializeToString()
        stream = self.stub.Reveal(t.RevealRequest(task=raw, signature=ams.sign(party.key, raw)), timeout=600)
        responses = [next(stream)]
        if after_first is not None:
            after_first()
        responses += list(stream)
        assert responses and responses[0].WhichOneof("part") == "header"
        h = responses[0].header
        segs = [(r.segment.index, r.segment.final, r.segment.ciphertext) for r in responses[1:]]
        assert all(r.WhichOneof("part") == "segment" for r in responses[1:])
        aad = f"{result_uuid}|{nonce}".encode()
        if plaintext:
            assert not h.stream_header and not h.sealed_key.asymmetric_encrypted_key
            data = b"".join(s[2] for s in segs)
        else:
            sk = h.sealed_key
            aes = party.key.decrypt(sk.asymmetric_encrypted_key, ams.oaep())
            sym = sk.symmetric_secret
            assert sym.additional_authentication_data == aad
            key = AESGCM(aes).decrypt(sym.initial_vector, sym.encrypted_data + sym.encrypted_data_cmac, aad)
            assert len(key) == 32
            data = stream_open(key, aad, h.stream_header, segs)
        assert len(data) == h.plaintext_size
        return npy_load(data)

    def delete(self, party, data_uuid):
        t = self.t
        task = t.DeleteTask(data_uuid=data_uuid, requester_id=party.owner_id, requester_public_key=party.pem,
                            timestamp_ms=now_ms())
        raw = task.SerializeToString()
        return self.stub.Delete(t.DeleteRequest(task=raw, signature=ams.sign(party.key, raw)), timeout=60)


class Chunks:
    """A large plaintext given as a generator of byte chunks and its total size."""

    def __init__(self, total, gen):
        self.total, self.gen = total, gen


def _segments(plaintext, segment_size, total):
    """Re-chunks into (segment, final) pairs of exactly segment_size (the last 0..segment_size)."""
    if isinstance(plaintext, (bytes, bytearray, memoryview)):
        source = iter([bytes(plaintext)])
    else:
        source = plaintext.gen
    buf = bytearray()
    sent = 0
    for chunk in source:
        buf += chunk
        while len(buf) >= segment_size and sent + segment_size < total:
            yield bytes(buf[:segment_size]), False
            del buf[:segment_size]
            sent += segment_size
    yield bytes(buf), True


# ---- the services ------------------------------------------------------------------

class Env:
    """A simulation authority, a teeu-authmanager and a teeud on 127.0.0.1."""

    def __init__(self, tool, pb, root, teeud_extra=(), authority=True, am_extra=(), credentials=None):
        """credentials: grpc channel credentials for both services (TLS tests), else plain h2c."""
        self.tool, self.pb, self.root = tool, pb, pathlib.Path(root)
        self.credentials = credentials
        self.authority = self.root / "authority" if authority else None
        if authority:
            subprocess.run([str(tool("teeu-attest")), "sim-init", str(self.authority)], check=True,
                           capture_output=True)
        sim = ["--simulation"] + (["--sim-authority", str(self.authority)] if authority else [])
        self.am = ams.Daemon(tool("teeu-authmanager"), self.root / "am-state", sim + list(am_extra)).start()
        self.teeud_state = self.root / "teeud-state"
        self.teeud_extra = list(teeud_extra)
        self.mrenclave = subprocess.run([str(tool("teeud")), "--print-mrenclave"], check=True,
                                        capture_output=True, text=True).stdout.strip()
        self.teeud = None
        self.start_teeud()
        self.amc = ams.Client(pb, self.am.address, grpc.secure_channel(self.am.address, credentials)
                              if credentials is not None else None)

    def start_teeud(self, extra=()):
        sim = ["--simulation"] + (["--sim-authority", str(self.authority)] if self.authority else [])
        self.teeud = ams.Daemon(self.tool("teeud"), self.teeud_state,
                                sim + ["--authmanager", self.am.address] + self.teeud_extra + list(extra)).start()
        self.client = TeeudClient(self.pb, self.teeud.address, self.credentials)
        return self.teeud

    def restart_teeud(self, kill=True, extra=()):
        self.client.close()
        if kill:
            self.teeud.kill()
        else:
            self.teeud.stop()
        return self.start_teeud(extra)

    def register(self):
        p = ams.Party(self.pb)
        resp = self.amc.stub.RegisterInsPubKey(p.register_request(), timeout=30)
        assert resp.status.code == OK, resp.status.message
        return p

    def create(self, party, allowed=("all",), mrenclaves=None, functions=(), operators=(), with_auth=False):
        """CreateDataWithAuth; returns (data_uuid, data_key), plus the serialized DataAuth with with_auth."""
        am_key, _, _ = self.amc.am_key()
        req, data_uuid, data_key = party.create_request(
            am_key, allowed_ins_ids=allowed, mrenclaves=(self.mrenclave,) if mrenclaves is None else mrenclaves,
            functions=functions, operators=operators)
        resp = self.amc.stub.CreateDataWithAuth(req, timeout=30)
        assert resp.status.code == OK, resp.status.message
        if with_auth:
            return data_uuid, data_key, req.data_auth.SerializeToString()
        return data_uuid, data_key

    def put_array(self, party, arr, **create_kw):
        data_uuid, key = self.create(party, **create_kw)
        r = self.client.put(party, data_uuid, key, npy_bytes(arr))
        assert r.data_uuid == data_uuid
        return data_uuid

    def close(self):
        for c in (getattr(self, "client", None), getattr(self, "amc", None)):
            if c:
                c.close()
        rc_t = self.teeud.stop() if self.teeud else 0
        rc_a = self.am.stop()
        return rc_t, rc_a


def scan_for(root, pattern):
    """Files under root whose bytes contain pattern."""
    hits = []
    for p in pathlib.Path(root).rglob("*"):
        if p.is_file():
            try:
                if pattern in p.read_bytes():
                    hits.append(str(p))
            except OSError:
                pass
    return hits


def vm_hwm_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def module_fixtures(teeud_extra=()):
    """The module-scoped fixtures most teeud test modules share: `pb` (the
    generated stubs), `env` (an AuthManager and a teeud with teeud_extra
    flags, stopped cleanly at the end of the module) and `alice` (a
    registered party). Use: `pb, env, alice = tds.module_fixtures()`."""
    import pytest

    @pytest.fixture(scope="module", name="pb")
    def pb_fixture(tmp_path_factory):
        return generate_stubs(tmp_path_factory.mktemp("stubs"))

    @pytest.fixture(scope="module", name="env")
    def env_fixture(tool, pb, tmp_path_factory):
        e = Env(tool, pb, tmp_path_factory.mktemp("teeud"), teeud_extra=list(teeud_extra))
        yield e
        rc = e.close()
        assert rc == (0, 0), e.teeud.log()

    @pytest.fixture(scope="module", name="alice")
    def alice_fixture(env):
        return env.register()

    return pb_fixture, env_fixture, alice_fixture
