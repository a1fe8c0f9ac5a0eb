#!/usr/bin/python3
"""The Python reference path of bench/run.sh: SecretFlow's data-party steps
for `x.to(teeu)`, written in Python with Debian's python3-cryptography,
python3-grpcio and pickle, against the same teeu-authmanager (and teeud)
that libteeu's benchmark uses.

One put, timed from the in-memory numpy array to the TEEU's acknowledgement:

  1. pickle.dumps(array)                       (SecretFlow serializes with pickle)
  2. fresh 32-byte data key, UUIDv4 data_uuid
  3. CreateDataWithAuth to the AuthManager (WIRE.md): OAEP-seal the data key
     to the AuthManager key, HMAC the segment, sign the segment and the
     DataAuth (SHA256withRSA), one unary gRPC call
  4. AES-256-GCM encryption of the pickle and its transfer to the TEEU: with
     --teeu, a teeud PutObject stream (signed header, then the ciphertext as
     segments in libteeu's stream format, docs/crypto.md, so the same teeud
     accepts it; each segment is encrypted lazily while grpcio sends the
     previous one); without --teeu, the segments are encrypted the same way
     and dropped (timed up to the network send).

Done once per client and not timed per put, as libteeu does: GetRaCertPems
(the AuthManager key) and RegisterInsPubKey.

  py_reference.py --am HOST:PORT [--teeu HOST:PORT] --key PARTY.pem --stubs DIR
                  [--mrenclave HEX] [--function DESC]
                  put --size BYTES --data random|compressible --reps N
  py_reference.py ... latency --iters N --warmup W

Each command prints one JSON object on stdout (times in seconds, peak RSS of
this process from getrusage in KiB).
"""
import argparse
import base64
import hashlib
import hmac
import importlib
import json
import os
import pathlib
import pickle
import resource
import struct
import subprocess
import sys
import time
import uuid

import grpc
import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[1]
PROTO_DIR = SOURCE_DIR / "proto"
SEGMENT = 4 << 20
PARTITION = "default"


def generate_stubs(out_dir):
    """protoc + grpc_python_plugin over proto/ into out_dir (once), then import."""
    out_dir = pathlib.Path(out_dir)
    marker = out_dir / ".generated"
    if not marker.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
        subprocess.run(["protoc", f"-I{PROTO_DIR}", "-I/usr/include", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}",
                        "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", *protos], check=True)
        for d in out_dir.rglob("*"):
            if d.is_dir() and not (d / "__init__.py").exists():
                (d / "__init__.py").write_text("")
        marker.write_text("")
    sys.path.insert(0, str(out_dir))
    names = {"sdc": "secretflowapis.v1.sdc.sdc_pb2", "dataagent": "secretflowapis.v1.sdc.dataagent_pb2",
             "am_grpc": "secretflowapis.v1.sdc.authmanager_pb2_grpc", "teeu": "teeuapis.v1.teeu_pb2",
             "teeu_grpc": "teeuapis.v1.teeu_pb2_grpc"}
    return {k: importlib.import_module(v) for k, v in names.items()}


PRIVATE_OPS = [0]  # RSA private-key operations done by this process


def sign(key, *parts):
    PRIVATE_OPS[0] += 1
    return key.sign(b"".join(parts), padding.PKCS1v15(), hashes.SHA256())


OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def le32(v):
    return struct.pack("<I", v)


def function_identity(descriptor):
    return base64.b64encode(hashlib.sha256(descriptor.encode()).digest()).decode()


class DataParty:
    """One data party: its key, the AuthManager key, the stubs."""

    def __init__(self, args, pb):
        self.pb = pb
        self.key = serialization.load_pem_private_key(pathlib.Path(args.key).read_bytes(), None)
        pub = self.key.public_key()
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.owner_id = base64.b64encode(hashlib.sha256(der).digest()).decode()
        self.pem = pub.public_bytes(serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.mrenclaves = [args.mrenclave] if args.mrenclave else []
        self.functions = [function_identity(args.function)]
        self.am = pb["am_grpc"].AuthManagerStub(grpc.insecure_channel(args.am))
        self.teeu = pb["teeu_grpc"].TeeuStub(grpc.insecure_channel(args.teeu)) if args.teeu else None
        self.am_key = None

    def setup(self):
        """Once per client: AuthManager key and party key registration."""
        da, sdc = self.pb["dataagent"], self.pb["sdc"]
        nonce = os.urandom(32).hex().upper()
        resp = self.am.GetRaCertPems(da.GetRaCertPemsRequest(secret_shard_num=1, nonces=[nonce]), timeout=60)
        if resp.status.code != 0:
            raise RuntimeError(f"GetRaCertPems: {resp.status.message}")
        self.am_key = serialization.load_pem_public_key(resp.report_with_certs[0].cert_pem.encode())
        pk = sdc.PublicKey(scheme="RSA", public_key=self.pem)
        req = da.RegisterInsPubKeyRequest(ins_id=self.owner_id, public_key=pk,
                                          signature=sign(self.key, self.owner_id.encode(),
                                                         pk.SerializeToString(deterministic=True)))
        resp = self.am.RegisterInsPubKey(req, timeout=60)
        if resp.status.code not in (0, 6):
            raise RuntimeError(f"RegisterInsPubKey: {resp.status.message}")

    def create_data_with_auth(self, data_uuid, data_key):
        sdc, da = self.pb["sdc"], self.pb["dataagent"]
        u = data_uuid.encode()
        seg = sdc.SegmentDataMeta(
            segment_id=0, secret_shard_id=0, encrypted_data_key=self.am_key.encrypt(data_key, OAEP),
            mac=hmac.new(data_key, b"|".join([u, PARTITION.encode(), le32(0), le32(0)]), hashlib.sha256).digest(),
            signature=sign(self.key, u, PARTITION.encode(), le32(0), le32(0), data_key))
        meta = sdc.DataMeta(data_uuid=data_uuid, owner_id=self.owner_id, name="bench", data_type="NONE",
                            source_type="USER", partition_num=1, secret_shard_num=1,
                            partition_data=[sdc.PartitionDataMeta(partition_id=PARTITION, segment_num=1,
                                                                  segment_data=[seg])])
        apps = [sdc.EnclaveInfo(hex_mrenclave=m) for m in self.mrenclaves]
        extra = json.dumps({"limit_functions": self.functions})
        parts = [u, b"all"] + [a.SerializeToString(deterministic=True) for a in apps] + [extra.encode()]
        auth = sdc.DataAuth(data_uuid=data_uuid, data_owner_id=self.owner_id, allowed_ins_ids=["all"],
                            allowed_apps=apps, extra_limits=extra, signature=sign(self.key, *parts))
        resp = self.am.CreateDataWithAuth(da.CreateDataWithAuthRequest(data_info=meta, data_auth=auth), timeout=60)
        if resp.status.code != 0:
            raise RuntimeError(f"CreateDataWithAuth: {resp.status.message}")

    def put(self, array):
        """The timed data-party steps for one object."""
        data = pickle.dumps(array)
        data_key = os.urandom(32)
        data_uuid = uuid.uuid4().hex
        self.create_data_with_auth(data_uuid, data_key)
        header = b"TS\x01\x00" + SEGMENT.to_bytes(4, "big") + os.urandom(23) + b"\x00"
        aad = header + data_uuid.encode()
        aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=header[8:24],
                           info=b"libteeu stream v1" + header[:8]).derive(data_key))
        n = max(1, -(-len(data) // SEGMENT))

        def segments():
            for i in range(n):
                final = i == n - 1
                nonce = header[24:31] + i.to_bytes(4, "big") + (b"\x01" if final else b"\x00")
                yield i, final, aead.encrypt(nonce, data[i * SEGMENT:(i + 1) * SEGMENT], aad)

        if self.teeu is None:
            for _ in segments():
                pass
            return data_uuid
        t = self.pb["teeu"]
        hdr = t.PutObjectHeader(data_uuid=data_uuid, owner_id=self.owner_id, owner_public_key=self.pem,
                                stream_header=header, plaintext_size=len(data), segment_size=SEGMENT,
                                timestamp_ms=int(time.time() * 1000)).SerializeToString()

        def requests():
            yield t.PutObjectRequest(header=t.SignedPutObjectHeader(header=hdr, signature=sign(self.key, hdr)))
            for i, final, ct in segments():
                yield t.PutObjectRequest(segment=t.PutObjectSegment(index=i, final=final, ciphertext=ct))

        resp = self.teeu.PutObject(requests(), timeout=600)
        if resp.data_uuid != data_uuid:
            raise RuntimeError(f"PutObject answered {resp.data_uuid!r} for {data_uuid}")
        return data_uuid

    def delete(self, data_uuid):
        """Removes an object from the TEEU (not timed: keeps the services' state small)."""
        if self.teeu is None:
            return
        t = self.pb["teeu"]
        task = t.DeleteTask(data_uuid=data_uuid, requester_id=self.owner_id, requester_public_key=self.pem,
                            timestamp_ms=int(time.time() * 1000)).SerializeToString()
        self.teeu.Delete(t.DeleteRequest(task=task, signature=sign(self.key, task)), timeout=60)


def make_array(nbytes, kind):
    """float64 array of nbytes: uniform random, or a short repeating pattern."""
    n = max(1, nbytes // 8)
    if kind == "random":
        return np.random.default_rng(1).random(n)
    return np.tile(np.arange(64, dtype=np.float64), -(-n // 64))[:n]


def add_workloads(sub):
    """The `put` and `latency` commands (shared with py_bindings.py); returns the latency parser."""
    p = sub.add_parser("put")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--data", choices=("random", "compressible"), default="random")
    p.add_argument("--reps", type=int, default=3)
    lat = sub.add_parser("latency")
    lat.add_argument("--iters", type=int, default=1000)
    lat.add_argument("--warmup", type=int, default=50)
    return lat


def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--am", required=True)
    ap.add_argument("--teeu")
    ap.add_argument("--key", required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--mrenclave", default="")
    ap.add_argument("--function", default='average@1{"axis":1}')
    sub = ap.add_subparsers(dest="cmd", required=True)
    lat = add_workloads(sub)
    lat.add_argument("--pause-ms", type=float, default=0,
                     help="idle time before each timed put (a client that puts now and then)")
    args = ap.parse_args()

    party = DataParty(args, generate_stubs(args.stubs))
    party.setup()
    out = {"bench": "py_reference", "cmd": args.cmd, "teeu_send": party.teeu is not None}
    if args.cmd == "put":
        arr = make_array(args.size, args.data)
        party.delete(party.put(make_array(96, args.data)))  # warm the connections
        rss_before = peak_rss_kib()
        times, uuids = [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            data_uuid = party.put(arr)
            times.append(time.perf_counter() - t0)
            uuids.append(data_uuid)
            party.delete(data_uuid)
        out.update(size=arr.nbytes, data=args.data, times=times, uuids=uuids, rss_before_kib=rss_before,
                   maxrss_kib=peak_rss_kib())
    else:
        arr = np.arange(12, dtype=np.float64).reshape(4, 3)
        for _ in range(args.warmup):
            party.put(arr)
        times = []
        ops0 = PRIVATE_OPS[0]
        for _ in range(args.iters):
            if args.pause_ms > 0:
                time.sleep(args.pause_ms / 1e3)
            t0 = time.perf_counter()
            party.put(arr)
            times.append(time.perf_counter() - t0)
        out.update(size=arr.nbytes, pause_ms=args.pause_ms, put_times=times, rsa_private_ops_per_put=(PRIVATE_OPS[0] - ops0) / args.iters)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
