"""An independent test AuthManager for libteeu's client (written from docs/WIRE.md).

Every signature, MAC and sealed key that libteeu sends is recomputed here with
python3-cryptography and the Python protobuf runtime (stubs generated from
proto/ at test time); any mismatch is refused with a non-zero status in the
response body and recorded in .errors.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import struct
import threading

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rpc_support import GrpcPeer, gen_stubs, unary

SERVICE = "/secretflowapis.v1.sdc.authmanager.AuthManager/"
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def stubs(tmp_root):
    gen_stubs(tmp_root)
    from secretflowapis.v1 import common_pb2
    from secretflowapis.v1.sdc import authmanager_pb2, dataagent_pb2, sdc_pb2, teeapps_pb2
    return common_pb2, sdc_pb2, dataagent_pb2, teeapps_pb2, authmanager_pb2


def owner_id_of(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def spki_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def verify_sig(public_key, sig, data):
    public_key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())


def le32(v):
    return struct.pack("<I", v)


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def check(cond, message, code=3):
    if not cond:
        raise Refused(code, message)


# ---- independent verification of each request (also used by encoding tests) ------

def verify_register(req, sdc_pb2):
    """Returns (owner_id, public key) or raises Refused."""
    check(req.public_key.scheme == "RSA", f"scheme {req.public_key.scheme!r} is not RSA")
    pem = req.public_key.public_key
    check(pem.startswith("-----BEGIN PUBLIC KEY-----"), "public key is not SPKI PEM")
    pub = serialization.load_pem_public_key(pem.encode())
    check(req.ins_id == owner_id_of(pub), "ins_id is not the owner_id of the key")
    signed = req.ins_id.encode() + req.public_key.SerializeToString(deterministic=True)
    try:
        verify_sig(pub, req.signature, signed)
    except Exception:
        raise Refused(16, "RegisterInsPubKey signature does not verify")
    return req.ins_id, pub


def verify_create(req, am_private, owner_keys, sdc_pb2):
    """Checks WIRE.md steps 3-7; returns the unsealed data key."""
    meta, auth = req.data_info, req.data_auth
    uuid = meta.data_uuid
    check(re.fullmatch(r"[0-9a-f]{32}", uuid), f"data_uuid {uuid!r} is not 32 lowercase hex")
    check(meta.owner_id in owner_keys, "owner is not registered", code=9)
    owner = owner_keys[meta.owner_id]
    check(meta.data_type == "NONE" and meta.source_type == "USER", "data_type/source_type")
    check(meta.partition_num == 1 and meta.secret_shard_num == 1, "partition_num/secret_shard_num")
    check(len(meta.partition_data) == 1, "one partition")
    part = meta.partition_data[0]
    check(part.partition_id == "default" and part.segment_num == 1 and len(part.segment_data) == 1, "partition")
    seg = part.segment_data[0]
    check(seg.segment_id == 0 and seg.secret_shard_id == 0, "segment ids")
    try:
        data_key = am_private.decrypt(seg.encrypted_data_key, OAEP)
    except Exception:
        raise Refused(3, "encrypted_data_key does not open with OAEP-SHA1")
    check(len(data_key) == 32, "data key is not 32 bytes")
    mac = hmac.new(data_key, b"|".join([uuid.encode(), b"default", le32(0), le32(0)]), hashlib.sha256).digest()
    check(hmac.compare_digest(mac, seg.mac), "segment MAC mismatch")
    try:
        verify_sig(owner, seg.signature, uuid.encode() + b"default" + le32(0) + le32(0) + data_key)
    except Exception:
        raise Refused(16, "segment signature does not verify")
    check(auth.data_uuid == uuid and auth.data_owner_id == meta.owner_id, "DataAuth ids")
    signed = uuid.encode()
    signed += b"".join(i.encode() for i in auth.allowed_ins_ids)
    signed += b"".join(a.SerializeToString(deterministic=True) for a in auth.allowed_apps)
    signed += b"".join(o.encode() for o in auth.operators)
    signed += auth.extra_limits.encode()
    if auth.HasField("schema"):
        signed += auth.schema.SerializeToString(deterministic=True)
    try:
        verify_sig(owner, auth.signature, signed)
    except Exception:
        raise Refused(16, "DataAuth signature does not verify")
    if auth.extra_limits:
        limits = json.loads(auth.extra_limits)
        check(isinstance(limits.get("limit_functions"), list), "extra_limits lacks limit_functions")
    return data_key


def task_user_data(params, pem):
    return hashlib.sha256(params.SerializeToString(deterministic=True) + b"|" + pem.encode()).hexdigest().upper()


class FakeAuthManager:
    """The peer. Knobs (attributes) let tests make it misbehave."""

    def __init__(self, tmp_root, cert_format="spki"):
        (self.common, self.sdc, self.agent, self.teeapps, self.am) = stubs(tmp_root)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fmt = (serialization.PublicFormat.PKCS1 if cert_format == "pkcs1"
               else serialization.PublicFormat.SubjectPublicKeyInfo)
        self.cert_pem = self.key.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode()
        self.owners = {}
        self.data = {}
        self.errors = []
        self.requests = {}
        self.lock = threading.Lock()
        # misbehaviour knobs
        self.body_status = {}          # method -> (code, message)
        self.wrong_nonce = False
        self.seal_key_len = 16         # SecretFlow's AuthManager: AES-128
        self.tamper_tag = False
        self.drop_input_meta = False
        self.garbage = set()           # methods answering undecodable bytes

    def handlers(self):
        def wrap(name, req_cls, fn):
            def handle(raw, ctx):
                req = req_cls.FromString(raw)
                with self.lock:
                    self.requests.setdefault(name, []).append(req)
                if name in self.garbage:
                    return b"\x0a\xff\xff\xff\xff"
                status, resp = self.common.Status(), None
                try:
                    if name in self.body_status:
                        raise Refused(*self.body_status[name])
                    resp = fn(req)
                except Refused as e:
                    with self.lock:
                        self.errors.append(f"{name}: {e}")
                    status.code, status.message = e.code, str(e)
                    resp = self.response_class(name)()
                if status.code:
                    resp.status.CopyFrom(status)
                return resp.SerializeToString()
            return unary(handle)

        return {
            SERVICE + "GetRaCertPems": wrap("GetRaCertPems", self.agent.GetRaCertPemsRequest, self.get_ra),
            SERVICE + "RegisterInsPubKey": wrap("RegisterInsPubKey", self.agent.RegisterInsPubKeyRequest,
                                                self.register),
            SERVICE + "CreateDataWithAuth": wrap("CreateDataWithAuth", self.agent.CreateDataWithAuthRequest,
                                                 self.create),
            SERVICE + "GetExportDataKey": wrap("GetExportDataKey", self.am.GetExportDataKeyRequest, self.export),
            SERVICE + "GetComputeMeta": wrap("GetComputeMeta", self.am.GetComputeMetaRequest, self.compute_meta),
        }

    def response_class(self, name):
        return {"GetRaCertPems": self.agent.GetRaCertPemsResponse,
                "RegisterInsPubKey": self.agent.RegisterInsPubKeyResponse,
                "CreateDataWithAuth": self.agent.CreateDataWithAuthResponse,
                "GetExportDataKey": self.am.GetExportDataKeyResponse,
                "GetComputeMeta": self.am.GetComputeMetaResponse}[name]

    def serve(self):
        return GrpcPeer(self.handlers())

    # ---- methods -------------------------------------------------------------------

    def get_ra(self, req):
        check(req.secret_shard_num == 1 and len(req.nonces) == 1, "one shard, one nonce")
        nonce = req.nonces[0]
        check(re.fullmatch(r"[0-9A-F]{64}", nonce), f"nonce {nonce!r} is not uppercase hex of 32 bytes")
        user_data = hashlib.sha256(self.cert_pem.encode() + b"|" + nonce.encode()).hexdigest().upper()
        report = self.sdc.UnifiedAttestationReport(str_report_version="1.0", str_report_type="Passport",
                                                   str_tee_platform="SIM",
                                                   json_report=json.dumps({"hex_user_data": user_data}))
        item = self.agent.ReportWithCertPem(secret_shard_id=0, cert_pem=self.cert_pem,
                                            nonce="00" * 32 if self.wrong_nonce else nonce,
                                            attestation_report=report)
        return self.agent.GetRaCertPemsResponse(report_with_certs=[item])

    def register(self, req):
        owner_id, pub = verify_register(req, self.sdc)
        with self.lock:
            if owner_id in self.owners:
                raise Refused(6, "public key already registered")
            self.owners[owner_id] = pub
        return self.agent.RegisterInsPubKeyResponse()

    def create(self, req):
        data_key = verify_create(req, self.key, self.owners, self.sdc)
        with self.lock:
            check(req.data_info.data_uuid not in self.data, "data exists", code=6)
            self.data[req.data_info.data_uuid] = (data_key, req.data_info, req.data_auth)
        return self.agent.CreateDataWithAuthResponse()

    def export(self, req):
        check(req.data_uuid in self.data, "unknown data", code=5)
        data_key, meta, _ = self.data[req.data_uuid]
        pub = serialization.load_pem_public_key(req.public_key.public_key.encode())
        check(owner_id_of(pub) == meta.owner_id, "only the owner may export", code=7)
        seg = meta.partition_data[0].segment_data[0]
        out = self.sdc.SegmentDataMeta(segment_id=0, secret_shard_id=0,
                                       encrypted_data_key=pub.encrypt(data_key, OAEP), mac=seg.mac)
        return self.am.GetExportDataKeyResponse(data_keys=[out])

    def compute_meta(self, req):
        params, pem = req.tee_task_params, req.public_key.public_key
        check(req.public_key.scheme == "RSA", "scheme")
        fresh = serialization.load_pem_public_key(pem.encode())
        check(fresh.key_size == 3072, "fresh key must be RSA-3072")
        if req.HasField("attestation_report"):
            rep = json.loads(req.attestation_report.json_report)
            check(rep.get("hex_user_data") == task_user_data(params, pem), "report does not bind task and key",
                  code=7)
        meta = self.am.ComputeMeta(cmd="run")
        for inp in params.inputs:
            check(inp.partition_id == "default", "partition")
            check(inp.data_uuid in self.data, f"unknown data {inp.data_uuid}", code=5)
            data_key, dmeta, auth = self.data[inp.data_uuid]
            allowed = list(auth.allowed_ins_ids)
            check("all" in allowed or params.requester_id in allowed or params.requester_id == dmeta.owner_id,
                  "requester not allowed", code=7)
            if auth.extra_limits:
                check(params.code in json.loads(auth.extra_limits)["limit_functions"],
                      f"function {params.code} not authorized", code=7)
            seg = self.sdc.SegmentDataUri(segment_id=0, secret_shard_id=0, data_key=data_key)
            uri = self.sdc.DataUri(data_uuid=inp.data_uuid,
                                   part_data_uris=[self.sdc.PartitionDataUri(partition_id="default",
                                                                            seg_data_uris=[seg])])
            meta.input_metas.append(self.am.ComputeMeta.InputMeta(data_uri_with_dks=uri))
        if self.drop_input_meta:
            del meta.input_metas[-1]
        return self.am.GetComputeMetaResponse(encrypted_response=self.seal(fresh, meta.SerializeToString()))

    def seal(self, pub, payload):
        key = os.urandom(self.seal_key_len)
        iv = os.urandom(12)
        ct = AESGCM(key).encrypt(iv, payload, b"")
        body, tag = ct[:-16], ct[-16:]
        if self.tamper_tag:
            tag = bytes([tag[0] ^ 1]) + tag[1:]
        sym = self.sdc.SymmetricSecret(encrypted_data=body, encrypted_data_cmac=tag, initial_vector=iv)
        return self.sdc.AsymmetricSecret(asymmetric_encrypted_key=pub.encrypt(key, OAEP), symmetric_secret=sym)
