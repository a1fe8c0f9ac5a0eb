"""libteeu's AuthManager messages and client against an independent Python AuthManager."""
import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from am_support import (OAEP, Refused, FakeAuthManager, owner_id_of, spki_pem, stubs, task_user_data,
                        verify_create, verify_register)
from rpc_support import run_tool, status_of

RPC_BASE = 300
ERR_DECRYPT = 205
ERR_POLICY = 410
ERR_REPORT_DATA = 411
ERR_PROTOBUF = 355
ERR_INVALID_ARGUMENT = 1

MRENCLAVE = "AB" * 32


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def am_tool(tool):
    return tool("am_tool")


def write_key(path, key, fmt=serialization.PrivateFormat.PKCS8):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="module")
def parties(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    alice = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    bob = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return {"alice": (alice, write_key(d / "alice.pem", alice)),
            "bob": (bob, write_key(d / "bob.pem", bob, serialization.PrivateFormat.TraditionalOpenSSL))}


@pytest.fixture(scope="module")
def am_pub_file(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("am") / "am_pub.pem"
    path.write_text(spki_pem(key.public_key()))
    return key, path


def fid(descriptor):
    return base64.b64encode(hashlib.sha256(descriptor.encode()).digest()).decode()


def new_uuid():
    return os.urandom(16).hex()


def am_call(am_tool, peer, *args):
    return run_tool(am_tool, [args[0], "--endpoint", peer.endpoint, "--plaintext", *args[1:]], timeout=120)


# ---- encoding: libteeu-built messages decode in Python to the intended values -------

def test_register_request_encoding(am_tool, pb, parties):
    common, sdc, agent, _, _ = pb
    key, path = parties["alice"]
    rc, out, _ = run_tool(am_tool, ["build-register", "--key", path])
    assert rc == 0, out
    req = agent.RegisterInsPubKeyRequest.FromString(bytes.fromhex(out["req"][0]))
    assert req.ins_id == owner_id_of(key.public_key())
    assert req.public_key.scheme == "RSA"
    assert req.public_key.public_key == spki_pem(key.public_key())
    assert verify_register(req, sdc)[0] == req.ins_id
    # the independent check really checks: a flipped bit is refused
    req.signature = bytes([req.signature[0] ^ 1]) + req.signature[1:]
    with pytest.raises(Refused):
        verify_register(req, sdc)


def test_register_request_pkcs1_private_key(am_tool, pb, parties):
    _, sdc, agent, _, _ = pb
    key, path = parties["bob"]
    rc, out, _ = run_tool(am_tool, ["build-register", "--key", path])
    assert rc == 0, out
    req = agent.RegisterInsPubKeyRequest.FromString(bytes.fromhex(out["req"][0]))
    assert verify_register(req, sdc)[0] == owner_id_of(key.public_key())


def test_get_ra_request_encoding(am_tool, pb):
    _, _, agent, _, _ = pb
    nonce = os.urandom(32).hex().upper()
    rc, out, _ = run_tool(am_tool, ["build-ra", "--nonce", nonce])
    assert rc == 0, out
    req = agent.GetRaCertPemsRequest.FromString(bytes.fromhex(out["req"][0]))
    assert req.secret_shard_num == 1 and list(req.nonces) == [nonce]
    assert not req.HasField("header")


@pytest.mark.parametrize("allow,funcs,ops", [
    ([], [], []),
    (["ALLOWED_ID_1=", "ALLOWED_ID_2="], [fid('average@1{"axis":1}'), fid("sum@1{}")], []),
    ([], [fid("mean@1{}")], ["TEEU", "OTHER"]),
])
def test_create_request_encoding(am_tool, pb, parties, am_pub_file, allow, funcs, ops):
    _, sdc, agent, _, _ = pb
    key, path = parties["alice"]
    am_key, am_path = am_pub_file
    uuid, data_key = new_uuid(), os.urandom(32)
    args = ["build-create", "--key", path, "--am-pub", am_path, "--uuid", uuid, "--data-key", data_key.hex(),
            "--mrenclave", MRENCLAVE, "--mrenclave", "cd" * 32]
    for a in allow:
        args += ["--allow", a]
    for f in funcs:
        args += ["--func", f]
    for o in ops:
        args += ["--op", o]
    rc, out, _ = run_tool(am_tool, args)
    assert rc == 0, out
    req = agent.CreateDataWithAuthRequest.FromString(bytes.fromhex(out["req"][0]))
    owner = owner_id_of(key.public_key())
    meta, auth = req.data_info, req.data_auth
    assert (meta.data_uuid, meta.owner_id, meta.data_type, meta.source_type) == (uuid, owner, "NONE", "USER")
    assert (meta.partition_num, meta.secret_shard_num) == (1, 1)
    assert meta.partition_data[0].partition_id == "default" and meta.partition_data[0].segment_num == 1
    assert list(auth.allowed_ins_ids) == (allow or ["all"])
    assert [a.hex_mrenclave for a in auth.allowed_apps] == [MRENCLAVE, "cd" * 32]
    assert all(a.hex_mrsigner == "" and a.min_svn == 0 for a in auth.allowed_apps)
    assert list(auth.operators) == ops
    assert auth.extra_limits == (json.dumps({"limit_functions": funcs}) if funcs else "")
    assert (req.algorithm, req.owner_id, req.signature) == ("", "", b"")
    # every key, MAC and signature recomputed independently
    unsealed = verify_create(req, am_key, {owner: key.public_key()}, sdc)
    assert unsealed == data_key
    # and tampering with what the DataAuth signature covers is caught
    auth.allowed_ins_ids.append("intruder")
    with pytest.raises(Refused, match="DataAuth signature"):
        verify_create(req, am_key, {owner: key.public_key()}, sdc)


@pytest.mark.parametrize("bad", [
    ["--uuid", "NOT-A-UUID"],
    ["--data-key", "00" * 16],
    ["--mrenclave", "xyz"],
    ["--func", 'evil"]}'],
    ["--allow", "has space"],
])
def test_create_request_rejects_bad_input(am_tool, parties, am_pub_file, bad):
    _, path = parties["alice"]
    args = {"--uuid": new_uuid(), "--data-key": "11" * 32}
    extra = []
    if bad[0] in args:
        args[bad[0]] = bad[1]
    else:
        extra = bad
    flat = [x for kv in args.items() for x in kv]
    rc, out, _ = run_tool(am_tool, ["build-create", "--key", path, "--am-pub", am_pub_file[1], *flat, *extra])
    assert status_of(out) == ERR_INVALID_ARGUMENT, out


def test_task_params_and_user_data(am_tool, pb, tmp_path):
    _, _, _, teeapps, am = pb
    pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / "pub.pem").write_text(spki_pem(pub))
    u1, u2 = new_uuid(), new_uuid()
    code = fid('average@1{"axis":1}')
    rc, out, _ = run_tool(am_tool, ["build-task", "--code", code, "--input", u1, "--input", u2, "--requester",
                                    "REQ=", "--task-id", "t1", "--app-type", "TEEU", "--pub", tmp_path / "pub.pem"])
    assert rc == 0, out
    params = teeapps.TeeTaskParams.FromString(bytes.fromhex(out["params"][0]))
    assert (params.task_id, params.requester_id, params.app_type, params.code) == ("t1", "REQ=", "TEEU", code)
    assert [(i.data_uuid, i.partition_id) for i in params.inputs] == [(u1, "default"), (u2, "default")]
    assert params.SerializeToString(deterministic=True) == bytes.fromhex(out["params"][0])
    assert out["user_data"][0] == task_user_data(params, spki_pem(pub))
    req = am.GetComputeMetaRequest.FromString(bytes.fromhex(out["req"][-1]))
    assert req.tee_task_params == params
    assert (req.public_key.scheme, req.public_key.public_key) == ("RSA", spki_pem(pub))
    assert not req.HasField("attestation_report")


# ---- the client against the independent AuthManager ------------------------------------

@pytest.fixture()
def am(tmp_path_factory):
    peer_state = FakeAuthManager(tmp_path_factory.mktemp("am"))
    with peer_state.serve() as server:
        server.state = peer_state
        yield server


def test_get_ra_cert_and_hook(am_tool, am):
    rc, out, _ = am_call(am_tool, am, "get-ra", "--expect-platform", "SIM")
    assert rc == 0, out
    assert bytes.fromhex(out["cert_pem_hex"][0]).decode() == am.state.cert_pem
    req = am.state.requests["GetRaCertPems"][0]
    assert out["hook"] == [f"nonce:{req.nonces[0]} platform:SIM cert_len:{len(am.state.cert_pem)}"]
    rc, out, _ = am_call(am_tool, am, "get-ra", "--expect-platform", "SGX_DCAP")
    assert status_of(out) == ERR_POLICY
    assert "attestation check" in out["error"][0] and am.endpoint in out["error"][0]
    nonces = [r.nonces[0] for r in am.state.requests["GetRaCertPems"]]
    assert len(set(nonces)) == 2  # fresh nonce per call


def test_get_ra_pkcs1_cert(am_tool, tmp_path_factory):
    state = FakeAuthManager(tmp_path_factory.mktemp("am"), cert_format="pkcs1")
    assert state.cert_pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    with state.serve() as peer:
        rc, out, _ = am_call(am_tool, peer, "get-ra")
    assert rc == 0, out


def test_get_ra_wrong_nonce_refused(am_tool, am):
    am.state.wrong_nonce = True
    rc, out, _ = am_call(am_tool, am, "get-ra")
    assert status_of(out) == ERR_REPORT_DATA, out


def test_get_ra_garbage_and_body_status(am_tool, am):
    am.state.garbage.add("GetRaCertPems")
    rc, out, _ = am_call(am_tool, am, "get-ra")
    assert status_of(out) == ERR_PROTOBUF, out
    am.state.garbage.clear()
    am.state.body_status["GetRaCertPems"] = (14, "enclave restarting")
    rc, out, _ = am_call(am_tool, am, "get-ra")
    assert status_of(out) == RPC_BASE + 14
    assert "enclave restarting" in out["error"][0]


def test_register_twice_is_success(am_tool, am, parties):
    _, path = parties["alice"]
    rc, out, _ = am_call(am_tool, am, "register", "--key", path)
    assert rc == 0, out
    rc, out, _ = am_call(am_tool, am, "register", "--key", path)
    assert rc == 0, out  # ALREADY_EXISTS in the body is success
    assert am.state.errors == ["RegisterInsPubKey: public key already registered"]
    assert len(am.state.owners) == 1


def test_register_refusal_is_reported(am_tool, am, parties):
    am.state.body_status["RegisterInsPubKey"] = (16, "signature required")
    rc, out, _ = am_call(am_tool, am, "register", "--key", parties["bob"][1])
    assert status_of(out) == RPC_BASE + 16
    assert "signature required" in out["error"][0]


def create(am_tool, am, path, uuid, data_key, *extra):
    return am_call(am_tool, am, "create", "--key", path, "--uuid", uuid, "--data-key", data_key.hex(),
                   "--mrenclave", MRENCLAVE, *extra)


def test_create_verified_by_independent_peer(am_tool, am, parties):
    key, path = parties["alice"]
    uuid, data_key = new_uuid(), os.urandom(32)
    rc, out, _ = create(am_tool, am, path, uuid, data_key, "--func", fid("sum@1{}"))
    assert rc == 0, out
    assert am.state.errors == []
    stored_key, meta, auth = am.state.data[uuid]
    assert stored_key == data_key
    assert meta.owner_id == owner_id_of(key.public_key())
    assert json.loads(auth.extra_limits) == {"limit_functions": [fid("sum@1{}")]}
    # the owner can export its key back
    rc, out, _ = am_call(am_tool, am, "export-key", "--key", path, "--uuid", uuid)
    assert rc == 0, out
    assert out["key"] == [data_key.hex()]
    # someone else cannot
    rc, out, _ = am_call(am_tool, am, "export-key", "--key", parties["bob"][1], "--uuid", uuid)
    assert status_of(out) == RPC_BASE + 7


def test_create_refused_is_reported(am_tool, am, parties):
    _, path = parties["alice"]
    uuid = new_uuid()
    assert create(am_tool, am, path, uuid, os.urandom(32))[0] == 0
    rc, out, _ = create(am_tool, am, path, uuid, os.urandom(32))
    assert status_of(out) == RPC_BASE + 6  # the object exists: creation is not "already registered"
    assert "data exists" in out["error"][0]


def compute(am_tool, am, code, uuids, *extra):
    args = ["compute-meta", "--code", code]
    for u in uuids:
        args += ["--input", u]
    return am_call(am_tool, am, *args, *extra)


@pytest.mark.parametrize("seal_key_len", [16, 32])
def test_compute_meta_keys_in_input_order(am_tool, am, parties, seal_key_len):
    am.state.seal_key_len = seal_key_len
    code = fid('average@1{"axis":1}')
    objs = []
    for name in ("alice", "bob", "alice"):
        uuid, data_key = new_uuid(), os.urandom(32)
        rc, out, _ = create(am_tool, am, parties[name][1], uuid, data_key, "--func", code)
        assert rc == 0, out
        objs.append((uuid, data_key))
    rc, out, _ = compute(am_tool, am, code, [u for u, _ in objs], "--report",
                         "--requester", owner_id_of(parties["bob"][0].public_key()))
    assert rc == 0, out
    assert out["key"] == [k.hex() for _, k in objs]
    req = am.state.requests["GetComputeMeta"][-1]
    assert req.attestation_report.str_report_type == "Passport"
    assert [e for e in am.state.errors if "already registered" not in e] == []


def test_compute_meta_refusals(am_tool, am, parties):
    code = fid("sum@1{}")
    uuid = new_uuid()
    assert create(am_tool, am, parties["alice"][1], uuid, os.urandom(32), "--func", code)[0] == 0
    rc, out, _ = compute(am_tool, am, fid("other@1{}"), [uuid])
    assert status_of(out) == RPC_BASE + 7
    assert "not authorized" in out["error"][0]
    am.state.tamper_tag = True
    rc, out, _ = compute(am_tool, am, code, [uuid])
    assert status_of(out) == ERR_DECRYPT, out
    am.state.tamper_tag = False
    am.state.drop_input_meta = True
    rc, out, _ = compute(am_tool, am, code, [uuid])
    assert status_of(out) == ERR_PROTOBUF
    assert "0 input metas for 1 inputs" in out["error"][0]
