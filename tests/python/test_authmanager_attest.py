"""teeu-authmanager with a simulation attestation authority: its own
GetRaCertPems report binds SHA256(cert_pem | nonce) and verifies, and
GetComputeMeta releases keys only to an attested TEEU named in allowed_apps,
debug off, whose report binds the task and the fresh key."""
import hashlib
import json
import subprocess

import pytest

import authmanager_support as ams

FUNC = ams.function_code('average@1{"axis":1}')
TEEU_MR = "AB" * 32
OTHER_MR = "CD" * 32


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return ams.generate_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def authority(tool, tmp_path_factory):
    d = tmp_path_factory.mktemp("simca") / "ca"
    subprocess.run([str(tool("teeu-attest")), "sim-init", str(d)], check=True, capture_output=True)
    return d


@pytest.fixture(scope="module")
def daemon(tool, authority, tmp_path_factory):
    state = tmp_path_factory.mktemp("am") / "state"
    d = ams.Daemon(tool("teeu-authmanager"), state, ["--simulation", "--sim-authority", str(authority)]).start()
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
    assert client.stub.RegisterInsPubKey(p.register_request(), timeout=30).status.code == ams.OK
    return p


def sim_report(pb, tool, authority, tmp_path, mrenclave, report_data_hex, debug=False):
    out = tmp_path / "q.bin"
    ua = tmp_path / "ua.json"
    args = [str(tool("teeu-attest")), "sim-quote", "--authority", str(authority), "--mrenclave", mrenclave,
            "--report-data", report_data_hex, "--out", str(out), "--ua-report-out", str(ua)]
    if debug:
        args.append("--debug")
    subprocess.run(args, check=True, capture_output=True)
    j = json.loads(ua.read_text())
    return pb["sdc_pb2"].UnifiedAttestationReport(
        str_report_version=j["str_report_version"], str_report_type=j["str_report_type"],
        str_tee_platform=j["str_tee_platform"], json_report=j["json_report"])


def test_ra_cert_report_binds_key_and_nonce(tool, client, authority, tmp_path):
    am_key, rwc, nonce = client.am_key()
    assert rwc.attestation_report.str_report_type == "Passport"
    rep = {"str_report_version": rwc.attestation_report.str_report_version,
           "str_report_type": rwc.attestation_report.str_report_type,
           "str_tee_platform": rwc.attestation_report.str_tee_platform,
           "json_report": rwc.attestation_report.json_report}
    f = tmp_path / "am_report.json"
    f.write_text(json.dumps(rep))
    binding = hashlib.sha256(rwc.cert_pem.encode() + b"|" + nonce.encode()).hexdigest().upper()
    mr = hashlib.sha256(tool("teeu-authmanager").read_bytes()).hexdigest().upper()
    verify = [str(tool("teeu-attest")), "verify", "--ua-report", str(f), "--sim-root", str(authority / "root_ca.pem"),
              "--mrenclave", mr]
    ok = subprocess.run(verify + ["--report-data", binding], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = hashlib.sha256(rwc.cert_pem.encode() + b"|" + b"other").hexdigest().upper()
    bad = subprocess.run(verify + ["--report-data", wrong], capture_output=True, text=True)
    assert bad.returncode != 0


def make_data(client, alice, mrenclaves=(TEEU_MR,)):
    am_key, _, _ = client.am_key()
    req, u, k = alice.create_request(am_key, functions=[FUNC], mrenclaves=mrenclaves)
    resp = client.stub.CreateDataWithAuth(req, timeout=30)
    assert resp.status.code == ams.OK, resp.status.message
    return u, k


def test_attested_teeu_gets_key(pb, tool, authority, client, alice, tmp_path):
    u, k = make_data(client, alice)
    teeu = ams.Teeu(pb)
    req = teeu.request([u], FUNC, alice.owner_id)
    req.attestation_report.CopyFrom(sim_report(pb, tool, authority, tmp_path, TEEU_MR, teeu.user_data(req)))
    resp = client.stub.GetComputeMeta(req, timeout=60)
    assert resp.status.code == ams.OK, resp.status.message
    assert ams.data_key_of(teeu.open(resp).input_metas[0]) == k


def test_report_for_another_enclave_refused(pb, tool, authority, client, alice, tmp_path):
    u, _ = make_data(client, alice)
    teeu = ams.Teeu(pb)
    req = teeu.request([u], FUNC, alice.owner_id)
    req.attestation_report.CopyFrom(sim_report(pb, tool, authority, tmp_path, OTHER_MR, teeu.user_data(req)))
    resp = client.stub.GetComputeMeta(req, timeout=60)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert f"enclave {OTHER_MR} is not in allowed_apps of data {u}" in resp.status.message
    assert not resp.HasField("encrypted_response")


def test_missing_report_refused(pb, client, alice):
    u, _ = make_data(client, alice)
    teeu = ams.Teeu(pb)
    resp = client.stub.GetComputeMeta(teeu.request([u], FUNC, alice.owner_id), timeout=60)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "attestation_report is required" in resp.status.message


def test_debug_enclave_refused(pb, tool, authority, client, alice, tmp_path):
    u, _ = make_data(client, alice)
    teeu = ams.Teeu(pb)
    req = teeu.request([u], FUNC, alice.owner_id)
    req.attestation_report.CopyFrom(sim_report(pb, tool, authority, tmp_path, TEEU_MR, teeu.user_data(req), debug=True))
    resp = client.stub.GetComputeMeta(req, timeout=60)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "attestation report refused" in resp.status.message


def test_report_bound_to_another_key_refused(pb, tool, authority, client, alice, tmp_path):
    """A report replayed with a different fresh key (or task) does not bind it."""
    u, _ = make_data(client, alice)
    teeu = ams.Teeu(pb)
    req = teeu.request([u], FUNC, alice.owner_id)
    report = sim_report(pb, tool, authority, tmp_path, TEEU_MR, teeu.user_data(req))
    thief = ams.Teeu(pb)
    stolen = thief.request([u], FUNC, alice.owner_id)
    stolen.tee_task_params.CopyFrom(req.tee_task_params)
    stolen.attestation_report.CopyFrom(report)
    resp = client.stub.GetComputeMeta(stolen, timeout=60)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "attestation report refused" in resp.status.message


def test_data_without_allowed_apps_refused_when_attesting(pb, tool, authority, client, alice, tmp_path):
    u, _ = make_data(client, alice, mrenclaves=())
    teeu = ams.Teeu(pb)
    req = teeu.request([u], FUNC, alice.owner_id)
    req.attestation_report.CopyFrom(sim_report(pb, tool, authority, tmp_path, TEEU_MR, teeu.user_data(req)))
    resp = client.stub.GetComputeMeta(req, timeout=60)
    assert resp.status.code == ams.PERMISSION_DENIED
    assert "allowed_apps" in resp.status.message
