"""The client against a hostile TEEU (a Python teeu.v1 server written from
docs/protocol.md): a sealed result key bound to another request, a stream
cut short, reordered or altered, an array longer than its header, and a
nonce-less Attest answer are all refused with a clear status; the honest
answer (control) is accepted. The client runs in simulation without a
simulation root, so the fake's attestation reports are not checked: what is
tested here is the reveal path."""
import concurrent.futures
import os

import grpc
import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client_support import Client, Lib, Obj, TeeuError
from teeud_support import StreamSealer, generate_stubs, npy_bytes

DECRYPT, STREAM_ORDER, STREAM_TRUNCATED, NPY_DATA_LENGTH, REPORT_DATA = 205, 207, 208, 110, 411
UUID = "0123456789abcdef0123456789abcdef"


class FakeTeeu:
    def __init__(self, pb, mode, arr):
        self.pb, self.mode, self.arr = pb, mode, arr
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers([self])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def service(self, details):
        t = self.pb["teeu_pb2"]
        if details.method == "/teeu.v1.Teeu/Attest":
            def attest(req, ctx):
                q = t.AttestRequest.FromString(req)
                nonce = "" if self.mode == "attest_nonce" else q.nonce
                return t.AttestResponse(identity_public_key="-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n",
                                        nonce=nonce, simulation=True).SerializeToString()
            return grpc.unary_unary_rpc_method_handler(attest)
        if details.method == "/teeu.v1.Teeu/Reveal":
            return grpc.unary_stream_rpc_method_handler(self.reveal)
        return None

    def reveal(self, req, ctx):
        t, sdc = self.pb["teeu_pb2"], self.pb["sdc_pb2"]
        task = t.RevealTask.FromString(t.RevealRequest.FromString(req).task)
        pub = serialization.load_pem_public_key(task.requester_public_key.encode())
        nonce = task.nonce if self.mode != "wrong_aad" else os.urandom(32).hex().upper()
        aad = f"{task.result_uuid}|{nonce}".encode()
        stream_key, aes = os.urandom(32), os.urandom(32)
        iv = os.urandom(12)
        ct = AESGCM(aes).encrypt(iv, stream_key, aad)
        sealed = sdc.AsymmetricSecret(
            asymmetric_encrypted_key=pub.encrypt(aes, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                                   algorithm=hashes.SHA1(), label=None)),
            symmetric_secret=sdc.SymmetricSecret(encrypted_data=ct[:-16], encrypted_data_cmac=ct[-16:],
                                                 initial_vector=iv, additional_authentication_data=aad))
        plain = npy_bytes(self.arr)
        if self.mode == "overlong":
            plain += b"\x00" * 8
        seg = 64
        sealer = StreamSealer(stream_key, aad, seg)
        chunks = [plain[i:i + seg] for i in range(0, len(plain), seg)]
        segs = [(i, i == len(chunks) - 1, sealer.seal(c, i == len(chunks) - 1)) for i, c in enumerate(chunks)]
        if self.mode == "truncated":
            segs = segs[:-1]
        elif self.mode == "reordered":
            segs[1], segs[2] = segs[2], segs[1]
        elif self.mode == "tampered":
            i, f, c = segs[1]
            segs[1] = (i, f, bytes([c[0] ^ 1]) + c[1:])
        yield t.RevealResponse(header=t.RevealHeader(sealed_key=sealed, stream_header=sealer.header,
                                                     plaintext_size=len(plain), segment_size=seg)).SerializeToString()
        for i, f, c in segs:
            yield t.RevealResponse(segment=t.PutObjectSegment(index=i, final=f, ciphertext=c)).SerializeToString()

    def stop(self):
        self.server.stop(0)


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    import subprocess
    d = tmp_path_factory.mktemp("party")
    subprocess.run(["openssl", "genrsa", "-out", d / "p.key", "3072"], check=True, capture_output=True)
    return d / "p.key"


CASES = [("honest", None), ("wrong_aad", DECRYPT), ("truncated", STREAM_TRUNCATED), ("reordered", STREAM_ORDER),
         ("tampered", DECRYPT), ("overlong", NPY_DATA_LENGTH), ("attest_nonce", REPORT_DATA)]


@pytest.mark.parametrize("mode,status", CASES, ids=[c[0] for c in CASES])
def test_reveal_from_a_hostile_teeu(pb, key, tmp_path, libteeu_path, mode, status):
    import json
    arr = np.arange(40, dtype=np.float64).reshape(5, 8)
    fake = FakeTeeu(pb, mode, arr)
    try:
        cfg = tmp_path / "p.json"
        cfg.write_text(json.dumps({
            "party": "p", "party_key_pair": {"p": {"private_key": str(key)}},
            "auth_manager_config": {"host": "127.0.0.1:1", "mr_enclave": ""},
            "teeu": {"address": f"127.0.0.1:{fake.port}", "mr_enclave": ""},
            "tee_simulation": True, "timeout_ms": 10000}))
        lib = Lib(libteeu_path)
        c = Client(lib, cfg)
        obj = Obj.from_string(lib, f"teeu://127.0.0.1:{fake.port}/{UUID}")
        if status is None:
            np.testing.assert_array_equal(c.reveal(obj), arr)
        else:
            with pytest.raises(TeeuError) as e:
                c.reveal(obj)
            assert e.value.status == status, e.value.message
        c.close()
    finally:
        fake.stop()
