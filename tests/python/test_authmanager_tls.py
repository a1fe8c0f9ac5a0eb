"""teeu-authmanager over TLS (ALPN h2) and mutual TLS; plain text is refused
outside simulation; production mode insists on attestation."""
import datetime
import ipaddress
import subprocess

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import authmanager_support as ams

FUNC = ams.function_code('average@1{"axis":1}')


def _cert(subject, key, issuer, issuer_key, ca=False, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                         x509.DNSName("localhost")]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, "test CA", ca_key, ca=True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = _cert("127.0.0.1", srv_key, "test CA", ca_key, server=True)
    cli_key = ec.generate_private_key(ec.SECP256R1())
    cli = _cert("alice", cli_key, "test CA", ca_key)
    files = {}
    for name, data in {"ca.pem": ca.public_bytes(serialization.Encoding.PEM),
                       "server.pem": srv.public_bytes(serialization.Encoding.PEM), "server.key": _pem_key(srv_key),
                       "client.pem": cli.public_bytes(serialization.Encoding.PEM),
                       "client.key": _pem_key(cli_key)}.items():
        (d / name).write_bytes(data)
        files[name] = d / name
    return files


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return ams.generate_stubs(tmp_path_factory.mktemp("stubs"))


def secure_client(pb, address, pki, with_cert):
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki["ca.pem"].read_bytes(),
        private_key=pki["client.key"].read_bytes() if with_cert else None,
        certificate_chain=pki["client.pem"].read_bytes() if with_cert else None)
    return ams.Client(pb, address, grpc.secure_channel(address, creds))


def test_plain_text_refused_outside_simulation(tool, tmp_path):
    p = subprocess.run([str(tool("teeu-authmanager")), "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--simulation" in p.stderr and "--tls-cert" in p.stderr


def test_sim_authority_refused_outside_simulation(tool, tmp_path, pki):
    p = subprocess.run([str(tool("teeu-authmanager")), "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s"),
                        "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]),
                        "--sim-authority", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--simulation" in p.stderr


def test_tls_production_mode(pb, tool, tmp_path, pki):
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "state",
                   ["--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"])]).start()
    try:
        c = secure_client(pb, d.address, pki, with_cert=False)
        am_key, rwc, _ = c.am_key()
        alice = ams.Party(pb)
        assert c.stub.RegisterInsPubKey(alice.register_request(), timeout=30).status.code == ams.OK
        req, u, _ = alice.create_request(am_key, functions=[FUNC], mrenclaves=["AB" * 32])
        assert c.stub.CreateDataWithAuth(req, timeout=30).status.code == ams.OK
        # outside simulation a TEEU must bring an attestation report
        teeu = ams.Teeu(pb)
        resp = c.stub.GetComputeMeta(teeu.request([u], FUNC, alice.owner_id), timeout=30)
        assert resp.status.code == ams.PERMISSION_DENIED
        assert "attestation_report is required outside simulation" in resp.status.message
        c.close()
        # a plain-text client gets nowhere
        plain = ams.Client(pb, d.address)
        with pytest.raises(grpc.RpcError):
            plain.stub.GetRaCertPems(pb["dataagent_pb2"].GetRaCertPemsRequest(), timeout=5)
        plain.close()
    finally:
        assert d.stop() == 0, d.log()


def test_mutual_tls(pb, tool, tmp_path, pki):
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path / "state",
                   ["--simulation", "--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]),
                    "--client-ca", str(pki["ca.pem"])]).start()
    try:
        c = secure_client(pb, d.address, pki, with_cert=True)
        c.am_key()
        c.close()
        anon = secure_client(pb, d.address, pki, with_cert=False)
        with pytest.raises(grpc.RpcError) as e:
            anon.stub.GetRaCertPems(pb["dataagent_pb2"].GetRaCertPemsRequest(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        anon.close()
    finally:
        assert d.stop() == 0, d.log()
