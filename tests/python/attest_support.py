"""Helpers for the attestation tests: run teeu-attest, parse quotes, a fake PCCS."""
import datetime
import http.server
import ipaddress
import json
import ssl
import struct
import subprocess
import threading
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

SAMPLE_TIME = "2025-07-01T00:00:00Z"
SAMPLE_MRENCLAVE = "33D8736DB756ED4997E04BA358D27833188F1932FF7B1D156904D3F560452FBB"


def run_attest(tool_path, *args, timeout=60):
    """Runs teeu-attest; returns (exit code, parsed JSON line or None, stderr)."""
    proc = subprocess.run([str(tool_path), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout.strip()
    lines = out.splitlines()
    doc = json.loads(lines[0]) if lines else None
    if doc is not None:
        assert len(lines) == 1, f"expected one JSON line, got {out!r}"
    return proc.returncode, doc, proc.stderr


def parse_quote(q):
    """Splits a quote v3 into its parts (an independent reading of DCAP.md)."""
    sig_len = struct.unpack_from("<I", q, 432)[0]
    assert 436 + sig_len == len(q)
    s = q[436:]
    auth_len = struct.unpack_from("<H", s, 576)[0]
    cert_type, cert_len = struct.unpack_from("<HI", s, 578 + auth_len)
    return {
        "signed": q[:432],
        "isv_body": q[48:432],
        "isv_sig": s[0:64],
        "att_key": s[64:128],
        "qe_body": s[128:512],
        "qe_sig": s[512:576],
        "qe_auth": s[578:578 + auth_len],
        "cert_type": cert_type,
        "certs": s[584 + auth_len:584 + auth_len + cert_len],
    }


def raw_sig_to_der(sig):
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def independent_signature_check(q):
    """Checks the quote's QE and ISV signatures and key binding with `cryptography`."""
    import hashlib
    p = parse_quote(q)
    marker = b"-----BEGIN CERTIFICATE-----"
    pem_certs = [x509.load_pem_x509_certificate(marker + part)
                 for part in p["certs"].rstrip(b"\0").split(marker)[1:]]
    pck_key = pem_certs[0].public_key()
    pck_key.verify(raw_sig_to_der(p["qe_sig"]), p["qe_body"], ec.ECDSA(hashes.SHA256()))
    binding = hashlib.sha256(p["att_key"] + p["qe_auth"]).digest()
    assert p["qe_body"][320:352] == binding and p["qe_body"][352:384] == bytes(32)
    att = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + p["att_key"])
    att.verify(raw_sig_to_der(p["isv_sig"]), p["signed"], ec.ECDSA(hashes.SHA256()))
    return pem_certs


def make_tls_cert(tmp_path):
    """A throwaway self-signed server certificate for 127.0.0.1; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = tmp_path / "pccs.pem"
    key_path = tmp_path / "pccs.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class FakePccs:
    """Serves one collateral (DCAP.md JSON form) the way a PCCS / Intel PCS v4 does."""

    def __init__(self, collateral, cert_path, key_path, tamper_tcb=False):
        self.c = collateral
        self.tamper_tcb = tamper_tcb
        self.requests = []
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert_path), str(key_path))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}/sgx/certification/v4"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def _handler(self):
        fake = self
        c = self.c

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, body, ctype, headers=()):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                fake.requests.append(self.path)
                base = "/sgx/certification/v4/"
                if url.path == base + "pckcrl" and q.get("ca") == ["processor"]:
                    self._send(bytes.fromhex(c["pck_crl"]), "application/pkix-crl",
                               [("SGX-PCK-CRL-Issuer-Chain", urllib.parse.quote(c["pck_crl_issuer_chain"]))])
                elif url.path == base + "rootcacrl":
                    self._send(c["root_ca_crl"].encode(), "text/plain")
                elif url.path == base + "tcb" and q.get("fmspc") == ["00A067110000"]:
                    tcb = c["tcb_info"]
                    if fake.tamper_tcb:
                        tcb = tcb.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18')
                    # Unusual spacing: only the raw bytes of tcbInfo are signed.
                    body = '{ "tcbInfo" : ' + tcb + ' , "signature" : "' + c["tcb_info_signature"] + '" }'
                    self._send(body.encode(), "application/json",
                               [("SGX-TCB-Info-Issuer-Chain", urllib.parse.quote(c["tcb_info_issuer_chain"]))])
                elif url.path == base + "qe/identity":
                    body = '{"enclaveIdentity":' + c["qe_identity"] + ',"signature":"' + c["qe_identity_signature"] + '"}'
                    self._send(body.encode(), "application/json",
                               [("SGX-Enclave-Identity-Issuer-Chain",
                                 urllib.parse.quote(c["qe_identity_issuer_chain"]))])
                else:
                    self.send_error(404)

        return Handler
