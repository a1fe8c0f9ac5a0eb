"""teeu-authmanager driven by an independent Python client (grpcio +
cryptography, written from docs/WIRE.md): the data-party flow, the TEEU's
GetComputeMeta, and AuthVerify's refusals."""
import json
import os

import grpc
import pytest

import authmanager_support as ams


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return ams.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def daemon(tool, tmp_path_factory):
    state = tmp_path_factory.mktemp("am") / "state"
    d = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation"]).start()
    yield d
    assert d.stop() == 0, d.log()


@pytest.fixture(scope="module")
def client(pb, daemon):
    c = ams.Client(pb, daemon.address)
    yield c
    c.close()


@pytest.fixture(scope="module")
def alice(pb, client):
    p = ams.Party(pb)
    resp = client.stub.RegisterInsPubKey(p.register_request(), timeout=30)
    assert resp.status.code == ams.OK, resp.status.message
    return p


@pytest.fixture(scope="module")
def bob(pb, client):
    p = ams.Party(pb)
    resp = client.stub.RegisterInsPubKey(p.register_request(signed=False), timeout=30)
    assert resp.status.code == ams.OK, resp.status.message
    return p


FUNC = ams.function_code('average@1{"axis":1}')
OTHER = ams.function_code('sum@1{}')


def create(client, party, **kw):
    am_key, _, _ = client.am_key()
    req, data_uuid, data_key = party.create_request(am_key, **kw)
    resp = client.stub.CreateDataWithAuth(req, timeout=30)
    return resp, data_uuid, data_key


def compute_meta(pb, client, uuids, code, requester, **kw):
    teeu = ams.Teeu(pb)
    resp = client.stub.GetComputeMeta(teeu.request(uuids, code, requester, **kw), timeout=30)
    return teeu, resp


def test_register_twice_is_already_exists(client, alice):
    resp = client.stub.RegisterInsPubKey(alice.register_request(), timeout=30)
    assert resp.status.code == ams.ALREADY_EXISTS


def test_register_refuses_foreign_ins_id(pb, client, alice):
    other = ams.Party(pb)
    resp = client.stub.RegisterInsPubKey(other.register_request(ins_id=alice.owner_id), timeout=30)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "owner_id" in resp.status.message


def test_register_refuses_bad_signature(pb, client):
    p = ams.Party(pb)
    req = p.register_request()
    req.signature = bytes(len(req.signature))
    resp = client.stub.RegisterInsPubKey(req, timeout=30)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "signature" in resp.status.message


def test_register_missing_fields(pb, client):
    dataagent = pb["dataagent_pb2"]
    resp = client.stub.RegisterInsPubKey(dataagent.RegisterInsPubKeyRequest(ins_id="x"), timeout=30)
    assert resp.status.code == ams.INVALID_ARGUMENT
    assert "public_key" in resp.status.message


def test_ra_cert_pems(pb, client):
    am_key, rwc, nonce = client.am_key()
    assert am_key.key_size == 3072
    assert rwc.cert_pem.startswith("-----BEGIN PUBLIC KEY-----")
    dataagent = pb["dataagent_pb2"]
    resp = client.stub.GetRaCertPems(dataagent.GetRaCertPemsRequest(secret_shard_num=2, nonces=["A", "B"]), timeout=30)
    assert resp.status.code == ams.OK
    assert [r.nonce for r in resp.report_with_certs] == ["A", "B"]
    assert [r.secret_shard_id for r in resp.report_with_certs] == [0, 1]


def test_data_party_flow(pb, client, alice, bob):
    """Register, GetRaCertPems, CreateDataWithAuth, then GetComputeMeta as a TEEU: same data keys, in order."""
    r1, u1, k1 = create(client, alice, functions=[FUNC])
    assert r1.status.code == ams.OK, r1.status.message
    assert r1.data_uri.data_uuid == u1
    r2, u2, k2 = create(client, bob, functions=[FUNC], allowed_ins_ids=[alice.owner_id])
    assert r2.status.code == ams.OK, r2.status.message
    teeu, resp = compute_meta(pb, client, [u1, u2], FUNC, alice.owner_id)
    assert resp.status.code == ams.OK, resp.status.message
    cm = teeu.open(resp)
    assert len(cm.input_metas) == 2
    assert cm.input_metas[0].data_uri_with_dks.data_uuid == u1
    assert ams.data_key_of(cm.input_metas[0]) == k1
    assert ams.data_key_of(cm.input_metas[1]) == k2
    # reversed order follows the inputs
    teeu, resp = compute_meta(pb, client, [u2, u1], FUNC, alice.owner_id)
    cm = teeu.open(resp)
    assert [ams.data_key_of(m) for m in cm.input_metas] == [k2, k1]


def test_secretflow_style_client(pb, client):
    """As SecretFlow's data-party client does it: unsigned registration, no
    data_owner_id in DataAuth, allowed_ins_ids ["all"]; its TEEU (simulation)
    sends no requester_id."""
    p = ams.Party(pb)
    assert client.stub.RegisterInsPubKey(p.register_request(signed=False), timeout=30).status.code == ams.OK
    r, u, k = create(client, p, functions=[FUNC], mrenclaves=["AB" * 32], auth_owner=False)
    assert r.status.code == ams.OK, r.status.message
    teeu, resp = compute_meta(pb, client, [u], FUNC, "")
    assert resp.status.code == ams.OK, resp.status.message
    assert ams.data_key_of(teeu.open(resp).input_metas[0]) == k


def test_create_for_mismatched_auth_owner_refused(pb, client, alice, bob):
    am_key, _, _ = client.am_key()
    req, _, _ = alice.create_request(am_key, functions=[FUNC])
    req.data_auth.data_owner_id = bob.owner_id
    resp = client.stub.CreateDataWithAuth(req, timeout=30)
    assert resp.status.code == ams.INVALID_ARGUMENT
    assert "data_owner_id" in resp.status.message


def test_owner_may_always_request(pb, client, alice, bob):
    r, u, k = create(client, bob, functions=[FUNC], allowed_ins_ids=[alice.owner_id])
    assert r.status.code == ams.OK
    teeu, resp = compute_meta(pb, client, [u], FUNC, bob.owner_id)
    assert resp.status.code == ams.OK, resp.status.message
    assert ams.data_key_of(teeu.open(resp).input_metas[0]) == k


def test_create_twice_is_already_exists(client, alice):
    am_key, _, _ = client.am_key()
    req, _, _ = alice.create_request(am_key, functions=[FUNC])
    assert client.stub.CreateDataWithAuth(req, timeout=30).status.code == ams.OK
    assert client.stub.CreateDataWithAuth(req, timeout=30).status.code == ams.ALREADY_EXISTS


def test_refuses_unlisted_function(pb, client, alice):
    r, u, _ = create(client, alice, functions=[FUNC])
    _, resp = compute_meta(pb, client, [u], OTHER, alice.owner_id)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert f"function {OTHER} is not in extra_limits of data {u}" in resp.status.message
    assert not resp.HasField("encrypted_response")


def test_refuses_requester_outside_allowed(pb, client, alice, bob):
    r, u, _ = create(client, alice, functions=[FUNC], allowed_ins_ids=[alice.owner_id])
    _, resp = compute_meta(pb, client, [u], FUNC, bob.owner_id)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "allowed_ins_ids" in resp.status.message
    _, resp = compute_meta(pb, client, [u], FUNC, "")
    assert resp.status.code == ams.PERMISSION_DENIED


def test_refuses_unlisted_operator(pb, client, alice):
    r, u, _ = create(client, alice, functions=[FUNC], operators=["TEEU"])
    _, resp = compute_meta(pb, client, [u], FUNC, alice.owner_id, app_type="OTHER")
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "operators" in resp.status.message
    teeu, resp = compute_meta(pb, client, [u], FUNC, alice.owner_id, app_type="TEEU")
    assert resp.status.code == ams.OK, resp.status.message


def test_refuses_forged_segment_signature(client, alice):
    r, u, _ = create(client, alice, functions=[FUNC], forge_segment=True)
    assert r.status.code == ams.PERMISSION_DENIED
    assert "segment signature" in r.status.message


def test_refuses_forged_dataauth_signature(client, alice):
    r, u, _ = create(client, alice, functions=[FUNC], forge_auth=True)
    assert r.status.code == ams.PERMISSION_DENIED
    assert "DataAuth signature" in r.status.message


def test_refuses_signature_by_other_party(pb, client, alice):
    """A party cannot create data in another owner's name."""
    mallory = ams.Party(pb)
    am_key, _, _ = client.am_key()
    req, _, _ = mallory.create_request(am_key, functions=[FUNC])
    req.data_info.owner_id = alice.owner_id
    req.data_auth.data_owner_id = alice.owner_id
    resp = client.stub.CreateDataWithAuth(req, timeout=30)
    assert resp.status.code == ams.PERMISSION_DENIED


def test_refuses_unregistered_owner(pb, client):
    p = ams.Party(pb)
    r, u, _ = create(client, p, functions=[FUNC])
    assert r.status.code == ams.PERMISSION_DENIED
    assert "RegisterInsPubKey" in r.status.message


def test_bad_mac_refused(client, alice):
    am_key, _, _ = client.am_key()
    req, _, _ = alice.create_request(am_key, functions=[FUNC])
    seg = req.data_info.partition_data[0].segment_data[0]
    seg.mac = bytes(32)
    resp = client.stub.CreateDataWithAuth(req, timeout=30)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "MAC" in resp.status.message


def test_unknown_data_not_found(pb, client, alice):
    _, resp = compute_meta(pb, client, ["0" * 32], FUNC, alice.owner_id)
    assert resp.status.code == ams.NOT_FOUND


def test_missing_fields(pb, client):
    am, dataagent = pb["authmanager_pb2"], pb["dataagent_pb2"]
    resp = client.stub.GetComputeMeta(am.GetComputeMetaRequest(), timeout=30)
    assert resp.status.code == ams.INVALID_ARGUMENT
    resp = client.stub.CreateDataWithAuth(dataagent.CreateDataWithAuthRequest(), timeout=30)
    assert resp.status.code == ams.INVALID_ARGUMENT


def test_export_data_key_owner_only(pb, client, alice, bob):
    r, u, k = create(client, alice, functions=[FUNC])
    am, sdc = pb["authmanager_pb2"], pb["sdc_pb2"]
    resp = client.stub.GetExportDataKey(am.GetExportDataKeyRequest(
        data_uuid=u, partition_id="default", public_key=sdc.PublicKey(scheme="RSA", public_key=alice.pem)), timeout=30)
    assert resp.status.code == ams.OK, resp.status.message
    assert alice.key.decrypt(resp.data_keys[0].encrypted_data_key, ams.oaep()) == k
    resp = client.stub.GetExportDataKey(am.GetExportDataKeyRequest(
        data_uuid=u, public_key=sdc.PublicKey(scheme="RSA", public_key=bob.pem)), timeout=30)
    assert resp.status.code == ams.PERMISSION_DENIED


def test_create_data_mac_key(pb, client, alice):
    r, u, _ = create(client, alice, functions=[FUNC])
    dataagent = pb["dataagent_pb2"]
    req = dataagent.CreateDataMacKeyRequest(data_uuid=u, encryption_algorithm="RSA-OAEP", encrypted_mac_key="abc")
    assert client.stub.CreateDataMacKey(req, timeout=30).status.code == ams.OK
    assert client.stub.CreateDataMacKey(req, timeout=30).status.code == ams.OK
    req.encrypted_mac_key = "other"
    assert client.stub.CreateDataMacKey(req, timeout=30).status.code == ams.ALREADY_EXISTS
    req.data_uuid = "f" * 32
    assert client.stub.CreateDataMacKey(req, timeout=30).status.code == ams.NOT_FOUND


def test_unknown_method_unimplemented(client):
    call = client.channel.unary_unary("/secretflowapis.v1.sdc.authmanager.AuthManager/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as e:
        call(b"", timeout=30)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_garbage_message_invalid_argument(client):
    call = client.channel.unary_unary("/secretflowapis.v1.sdc.authmanager.AuthManager/GetComputeMeta")
    with pytest.raises(grpc.RpcError) as e:
        call(b"\xff\xff\xff\xff\x0f garbage", timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_oversize_message_refused_and_service_keeps_serving(pb, client):
    call = client.channel.unary_unary("/secretflowapis.v1.sdc.authmanager.AuthManager/GetComputeMeta")
    with pytest.raises(grpc.RpcError) as e:
        call(os.urandom(5 << 20), timeout=60)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    client.am_key()


def test_garbage_bytes_on_socket(daemon, client):
    import socket
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096))
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
    client.am_key()
