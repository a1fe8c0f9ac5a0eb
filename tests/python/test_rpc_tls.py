"""libteeu's gRPC transport over TLS and mutual TLS (certificates made with the openssl CLI)."""
import grpc
import pytest

from rpc_support import ERR_CONFIG, ERR_PROTOCOL, ERR_TLS, GrpcPeer, make_pki, run_tool, status_of, unary

M = "/teeu.test.Echo/Unary"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_creds(pki, cert="server", require_client=False):
    pair = ((pki / f"{cert}.key").read_bytes(), (pki / f"{cert}.pem").read_bytes())
    if require_client:
        return grpc.ssl_server_credentials([pair], root_certificates=(pki / "ca.pem").read_bytes(),
                                           require_client_auth=True)
    return grpc.ssl_server_credentials([pair])


HANDLERS = {M: unary(lambda req, ctx: req[::-1])}


@pytest.fixture(scope="module")
def rpc_tool(tool):
    return tool("rpc_tool")


def call(rpc_tool, endpoint, *opts):
    return run_tool(rpc_tool, ["--endpoint", endpoint, "--method", M, "--timeout", "5000", *map(str, opts),
                               "unary", "0102"])


def test_tls_with_right_ca(rpc_tool, pki):
    with GrpcPeer(HANDLERS, tls=server_creds(pki)) as peer:
        rc, out, _ = call(rpc_tool, peer.endpoint, "--ca", pki / "ca.pem", "--repeat", "3")
    assert rc == 0, out
    assert out["msg"] == ["0201"] * 3
    assert out["connections"] == ["1"]


@pytest.mark.parametrize("ca", ["otherca.pem", None])
def test_tls_untrusted_server(rpc_tool, pki, ca):
    with GrpcPeer(HANDLERS, tls=server_creds(pki)) as peer:
        extra = ["--ca", pki / ca] if ca else []
        rc, out, _ = call(rpc_tool, peer.endpoint, *extra)
    assert status_of(out) == ERR_TLS, out
    assert peer.endpoint in out["error"][0]
    assert "CA file" in out["error"][0]


def test_tls_wrong_server_name(rpc_tool, pki):
    with GrpcPeer(HANDLERS, tls=server_creds(pki, cert="wrongname")) as peer:
        rc, out, _ = call(rpc_tool, peer.endpoint, "--ca", pki / "ca.pem")
    assert status_of(out) == ERR_TLS, out


def test_tls_client_to_plaintext_server(rpc_tool, pki):
    with GrpcPeer(HANDLERS) as peer:
        rc, out, elapsed = call(rpc_tool, peer.endpoint, "--ca", pki / "ca.pem")
    assert status_of(out) == ERR_TLS, out
    assert elapsed < 5


def test_plaintext_client_to_tls_server(rpc_tool, pki):
    with GrpcPeer(HANDLERS, tls=server_creds(pki)) as peer:
        rc, out, elapsed = call(rpc_tool, peer.endpoint, "--plaintext")
    assert status_of(out) == ERR_PROTOCOL, out
    assert elapsed < 5


def test_mtls_with_client_cert(rpc_tool, pki):
    with GrpcPeer(HANDLERS, tls=server_creds(pki, require_client=True)) as peer:
        rc, out, _ = call(rpc_tool, peer.endpoint, "--ca", pki / "ca.pem", "--cert", pki / "client.pem",
                          "--key", pki / "client.key")
    assert rc == 0, out
    assert out["msg"] == ["0201"]


@pytest.mark.parametrize("who", [None, "rogue"])
def test_mtls_refuses_missing_or_foreign_client_cert(rpc_tool, pki, who):
    with GrpcPeer(HANDLERS, tls=server_creds(pki, require_client=True)) as peer:
        extra = ["--cert", pki / f"{who}.pem", "--key", pki / f"{who}.key"] if who else []
        rc, out, _ = call(rpc_tool, peer.endpoint, "--ca", pki / "ca.pem", *extra)
    assert status_of(out) == ERR_TLS, out
    assert peer.endpoint in out["error"][0]


def test_mtls_key_not_matching_cert(rpc_tool, pki):
    with GrpcPeer(HANDLERS, tls=server_creds(pki, require_client=True)) as peer:
        rc, out, _ = call(rpc_tool, peer.endpoint, "--ca", pki / "ca.pem", "--cert", pki / "client.pem",
                          "--key", pki / "rogue.key")
    assert status_of(out) == ERR_TLS, out


def test_half_client_identity_is_config_error(rpc_tool, pki):
    rc, out, _ = call(rpc_tool, "127.0.0.1:1", "--ca", pki / "ca.pem", "--cert", pki / "client.pem")
    assert status_of(out) == ERR_CONFIG


def test_plaintext_with_tls_files_is_config_error(rpc_tool, pki):
    rc, out, _ = call(rpc_tool, "127.0.0.1:1", "--plaintext", "--ca", pki / "ca.pem")
    assert status_of(out) == ERR_CONFIG
