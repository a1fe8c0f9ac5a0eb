"""teeu-authmanager driven by libteeu's own AuthManager client (through the
am_tool test helper): register, create with auth, GetComputeMeta released
for an authorized function and refused otherwise, GetExportDataKey."""
import os
import subprocess
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import authmanager_support as ams

FUNC = ams.function_code('average@1{"axis":1}')
OTHER = ams.function_code('sum@1{}')


def party_key(path):
    k = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return ams.owner_id_of(k.public_key())


@pytest.fixture(scope="module")
def daemon(tool, tmp_path_factory):
    d = ams.Daemon(tool("teeu-authmanager"), tmp_path_factory.mktemp("am") / "state", ["--simulation"]).start()
    yield d
    assert d.stop() == 0, d.log()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {name: (d / f"{name}.pem", party_key(d / f"{name}.pem")) for name in ("alice", "bob")}


def am(tool, daemon, *args):
    p = subprocess.run([str(tool("am_tool")), args[0], "--endpoint", daemon.address, "--plaintext", *args[1:]],
                       capture_output=True, text=True, timeout=120)
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("status="):  # "status=<int> name=<str>"
            status, _, name = line.partition(" name=")
            out["status"], out["name"] = status[len("status="):], name
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    out.setdefault("error", p.stderr)
    return out


def create(tool, daemon, key, *auth):
    u, k = uuid.uuid4().hex, os.urandom(32).hex()
    out = am(tool, daemon, "create", "--key", str(key), "--uuid", u, "--data-key", k, *auth)
    assert out.get("status") == "0", out
    return u, k


def test_libteeu_client_flow(tool, daemon, keys):
    (alice, alice_id), (bob, bob_id) = keys["alice"], keys["bob"]
    u1, k1 = create(tool, daemon, alice, "--func", FUNC)
    u2, k2 = create(tool, daemon, bob, "--func", FUNC, "--allow", alice_id)
    out = subprocess.run([str(tool("am_tool")), "compute-meta", "--endpoint", daemon.address, "--plaintext",
                          "--code", FUNC, "--input", u1, "--input", u2, "--requester", alice_id],
                         capture_output=True, text=True, timeout=120)
    assert "status=0" in out.stdout, out.stdout + out.stderr
    got = [line.split("=", 1)[1] for line in out.stdout.splitlines() if line.startswith("key=")]
    assert got == [k1, k2]
    exported = am(tool, daemon, "export-key", "--key", str(alice), "--uuid", u1)
    assert exported.get("status") == "0" and exported["key"] == k1


def test_libteeu_client_sees_refusals(tool, daemon, keys):
    (alice, alice_id), (bob, bob_id) = keys["alice"], keys["bob"]
    u, _ = create(tool, daemon, alice, "--func", FUNC, "--allow", alice_id)
    out = am(tool, daemon, "compute-meta", "--code", OTHER, "--input", u, "--requester", alice_id)
    assert out["status"] != "0" and "permission denied" in out["name"]
    assert f"function {OTHER} is not in extra_limits of data {u}" in out["error"]
    out = am(tool, daemon, "compute-meta", "--code", FUNC, "--input", u, "--requester", bob_id)
    assert out["status"] != "0" and "allowed_ins_ids" in out["error"]
    out = am(tool, daemon, "export-key", "--key", str(bob), "--uuid", u)
    assert out["status"] != "0"
