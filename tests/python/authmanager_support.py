"""Helpers for the teeu-authmanager tests: an independent Python AuthManager
client written from docs/WIRE.md (grpcio + cryptography, no libteeu), and a
daemon runner.

The gRPC stubs are generated from proto/ at test time with protoc and
grpc_python_plugin into a temporary folder.
"""
import base64
import hashlib
import hmac
import importlib
import json
import os
import pathlib
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[2]
PROTO_DIR = SOURCE_DIR / "proto"

OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 0, 3, 5, 6, 7


def generate_stubs(out_dir):
    """protoc + grpc_python_plugin over proto/; returns the imported modules."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    subprocess.run(
        ["protoc", f"-I{PROTO_DIR}", "-I/usr/include", f"--python_out={out_dir}",
         f"--grpc_python_out={out_dir}", "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         *protos],
        check=True)
    for d in out_dir.rglob("*"):
        if d.is_dir() and not (d / "__init__.py").exists():
            (d / "__init__.py").write_text("")
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    mods = {}
    for name in ("common_pb2", "sdc.sdc_pb2", "sdc.dataagent_pb2", "sdc.teeapps_pb2", "sdc.authmanager_pb2",
                 "sdc.authmanager_pb2_grpc"):
        mods[name.split(".")[-1]] = importlib.import_module("secretflowapis.v1." + name)
    return mods


# ---- WIRE.md conventions ----------------------------------------------------

def owner_id_of(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def spki_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(private_key, *parts):
    return private_key.sign(b"".join(parts), padding.PKCS1v15(), hashes.SHA256())


def oaep():
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def le32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def function_code(descriptor):
    return base64.b64encode(hashlib.sha256(descriptor.encode()).digest()).decode()


def load_cert_pem(pem):
    """AuthManager key: SPKI or PKCS#1 PEM."""
    if "BEGIN RSA PUBLIC KEY" in pem:
        return serialization.load_pem_public_key(pem.encode())
    return serialization.load_pem_public_key(pem.encode())


class Party:
    """A data party: its RSA-3072 key and the requests it builds."""

    def __init__(self, pb, key=None):
        self.pb = pb
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=3072)
        self.owner_id = owner_id_of(self.key.public_key())
        self.pem = spki_pem(self.key.public_key())

    def register_request(self, signed=True, ins_id=None):
        dataagent, sdc = self.pb["dataagent_pb2"], self.pb["sdc_pb2"]
        pk = sdc.PublicKey(scheme="RSA", public_key=self.pem)
        ins = ins_id or self.owner_id
        sig = sign(self.key, ins.encode(), pk.SerializeToString(deterministic=True)) if signed else b""
        return dataagent.RegisterInsPubKeyRequest(ins_id=ins, public_key=pk, signature=sig)

    def create_request(self, am_key, data_key=None, data_uuid=None, allowed_ins_ids=("all",),
                       mrenclaves=(), operators=(), functions=(), forge_segment=False, forge_auth=False,
                       auth_owner=True):
        """CreateDataWithAuthRequest per WIRE.md steps 3..7. Returns (request, data_uuid, data_key)."""
        sdc, dataagent = self.pb["sdc_pb2"], self.pb["dataagent_pb2"]
        data_key = data_key or os.urandom(32)
        data_uuid = data_uuid or uuid.uuid4().hex
        part = "default"
        enc_key = am_key.encrypt(data_key, oaep())
        mac = hmac.new(data_key, b"|".join([data_uuid.encode(), part.encode(), le32(0), le32(0)]),
                       hashlib.sha256).digest()
        seg_sig = sign(self.key, data_uuid.encode(), part.encode(), le32(0), le32(0), data_key)
        if forge_segment:
            seg_sig = sign(self.key, data_uuid.encode(), part.encode(), le32(0), le32(0), os.urandom(32))
        seg = sdc.SegmentDataMeta(segment_id=0, secret_shard_id=0, encrypted_data_key=enc_key, mac=mac,
                                  signature=seg_sig)
        meta = sdc.DataMeta(data_uuid=data_uuid, owner_id=self.owner_id, name="t", data_type="NONE",
                            source_type="USER", partition_num=1, secret_shard_num=1,
                            partition_data=[sdc.PartitionDataMeta(partition_id=part, segment_num=1,
                                                                  segment_data=[seg])])
        apps = [sdc.EnclaveInfo(hex_mrenclave=m) for m in mrenclaves]
        extra = json.dumps({"limit_functions": list(functions)}) if functions else ""
        auth = sdc.DataAuth(data_uuid=data_uuid, data_owner_id=self.owner_id if auth_owner else "",
                            allowed_ins_ids=list(allowed_ins_ids),
                            allowed_apps=apps, operators=list(operators), extra_limits=extra)
        parts = [data_uuid.encode()] + [i.encode() for i in allowed_ins_ids] + \
                [a.SerializeToString(deterministic=True) for a in apps] + [o.encode() for o in operators] + \
                [extra.encode()]
        if forge_auth:
            parts[0] = uuid.uuid4().hex.encode()
        auth.signature = sign(self.key, *parts)
        req = dataagent.CreateDataWithAuthRequest(data_info=meta, data_auth=auth)
        return req, data_uuid, data_key


class Teeu:
    """What a TEEU sends for GetComputeMeta, and how it opens the answer."""

    def __init__(self, pb):
        self.pb = pb
        self.fresh = rsa.generate_private_key(public_exponent=65537, key_size=3072)

    def request(self, data_uuids, code, requester_id, app_type="", report=None):
        am, sdc, teeapps = self.pb["authmanager_pb2"], self.pb["sdc_pb2"], self.pb["teeapps_pb2"]
        params = teeapps.TeeTaskParams(task_id=uuid.uuid4().hex, requester_id=requester_id, app_type=app_type,
                                       code=code,
                                       inputs=[teeapps.TeeTaskParams.Input(data_uuid=u, partition_id="default")
                                               for u in data_uuids])
        req = am.GetComputeMetaRequest(tee_task_params=params,
                                       public_key=sdc.PublicKey(scheme="RSA", public_key=spki_pem(self.fresh.public_key())))
        if report is not None:
            req.attestation_report.CopyFrom(report)
        return req

    def user_data(self, req):
        """UPPERHEX(SHA256(serialize(tee_task_params) | public_key_pem))."""
        h = hashlib.sha256(req.tee_task_params.SerializeToString(deterministic=True) + b"|" +
                           req.public_key.public_key.encode())
        return h.hexdigest().upper()

    def open(self, resp):
        """Opens encrypted_response -> ComputeMeta."""
        sec = resp.encrypted_response
        aes_key = self.fresh.decrypt(sec.asymmetric_encrypted_key, oaep())
        assert len(aes_key) in (16, 32)
        sym = sec.symmetric_secret
        plain = AESGCM(aes_key).decrypt(sym.initial_vector, sym.encrypted_data + sym.encrypted_data_cmac,
                                        sym.additional_authentication_data or None)
        cm = self.pb["authmanager_pb2"].ComputeMeta()
        cm.ParseFromString(plain)
        return cm


def data_key_of(input_meta):
    return input_meta.data_uri_with_dks.part_data_uris[0].seg_data_uris[0].data_key


# ---- the daemon --------------------------------------------------------------

class Daemon:
    """teeu-authmanager on 127.0.0.1, a run-time port, a given state folder."""

    def __init__(self, binary, state_dir, extra=(), port=0, argv=None):
        """argv replaces the default `--listen 127.0.0.1:PORT --state DIR` (other servers)."""
        self.binary, self.state_dir, self.extra, self.argv = str(binary), str(state_dir), list(extra), argv
        self.port, self.proc, self.stderr_path = port, None, pathlib.Path(state_dir).parent / (
            pathlib.Path(state_dir).name + ".log")

    def start(self, timeout=60):
        args = [self.binary, *(self.argv if self.argv is not None else
                               ["--listen", f"127.0.0.1:{self.port}", "--state", self.state_dir]), *self.extra]
        self.errf = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.errf)
        line = [None]

        def read():
            line[0] = self.proc.stdout.readline().decode()
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not line[0] or not line[0].startswith("listening on "):
            self.kill()
            raise RuntimeError(f"teeu-authmanager did not start: {line[0]!r}\n{self.log()}")
        self.port = int(line[0].strip().rsplit(":", 1)[1])
        self.address = f"127.0.0.1:{self.port}"
        return self

    def log(self):
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close()

    def _close(self):
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "errf", None):
            self.errf.close()
            self.errf = None


class Client:
    """An AuthManager stub on an insecure channel (or a given channel)."""

    def __init__(self, pb, address, channel=None):
        self.pb = pb
        self.channel = channel or grpc.insecure_channel(address)
        self.stub = pb["authmanager_pb2_grpc"].AuthManagerStub(self.channel)

    def close(self):
        self.channel.close()

    def am_key(self, nonce=None):
        dataagent = self.pb["dataagent_pb2"]
        nonce = nonce or os.urandom(32).hex().upper()
        resp = self.stub.GetRaCertPems(dataagent.GetRaCertPemsRequest(secret_shard_num=1, nonces=[nonce]), timeout=30)
        assert resp.status.code == OK, resp.status.message
        rwc = resp.report_with_certs[0]
        assert rwc.nonce == nonce
        return load_cert_pem(rwc.cert_pem), rwc, nonce


def grpc_test_server_fixture():
    """A `server` fixture: server(*flags) starts a grpc_test_server (port
    chosen at run time, state in the test's tmp_path) and returns its
    Daemon; every one started is stopped after the test and must exit
    cleanly (no sanitizer report). Use: `server = ams.grpc_test_server_fixture()`."""
    import pytest

    @pytest.fixture(name="server")
    def server_fixture(tool, tmp_path):
        started = []

        def start(*extra):
            d = Daemon(tool("grpc_test_server"), tmp_path / f"s{len(started)}", extra, argv=["--port", "0"])
            started.append(d.start())
            return d
        yield start
        for d in started:
            assert d.stop() == 0, d.log()

    return server_fixture
