"""teeu-attest end to end: the real DCAP sample, tampering, simulation, unified reports."""
import json

import pytest

from attest_support import (SAMPLE_MRENCLAVE, SAMPLE_TIME, independent_signature_check,
                            parse_quote, run_attest)


@pytest.fixture(scope="module")
def attest(tool):
    return tool("teeu-attest")


@pytest.fixture(scope="module")
def sample(testdata_dir):
    d = testdata_dir / "dcap"
    return d / "sgx_quote.bin", d / "sgx_quote_collateral.json"


def verify_sample(attest, sample, *extra, quote=None):
    q, c = sample
    return run_attest(attest, "verify", "--quote", quote or q, "--collateral", c, *extra)


def test_real_sample_verdict(attest, sample):
    rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, "--mrenclave", SAMPLE_MRENCLAVE,
                               "--report-data", b"Hello, world!".hex())
    assert rc == 0, doc
    assert doc["ok"] is True
    assert doc["platform_status"] == "ConfigurationAndSWHardeningNeeded"
    assert doc["qe_status"] == "UpToDate"
    assert doc["advisories"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert doc["mr_enclave"] == SAMPLE_MRENCLAVE
    assert doc["debug"] is False
    assert bytes.fromhex(doc["report_data"]).startswith(b"Hello, world!")
    assert doc["report_data"] == doc["report_data"].upper()
    assert "error" not in doc


def test_real_sample_refused_now(attest, sample):
    rc, doc, _ = verify_sample(attest, sample)
    assert rc == 1
    assert doc["ok"] is False
    assert "collateral expired" in doc["error"]
    # The identity is still shown, from the quote itself.
    assert doc["mr_enclave"] == SAMPLE_MRENCLAVE


def test_real_sample_signatures_independently(sample):
    q, _ = sample
    certs = independent_signature_check(q.read_bytes())
    assert len(certs) == 3


@pytest.mark.parametrize("what,offset,status", [
    ("ISV report body", 48 + 64, "quote signature invalid"),
    ("QE report", 436 + 128 + 64, "quote signature invalid"),
    ("attestation key", 436 + 64 + 7, "quote signature invalid"),
    ("QE auth data", 436 + 578 + 1, "quote signature invalid"),
])
def test_tampered_quote(attest, sample, tmp_path, what, offset, status):
    q = bytearray(sample[0].read_bytes())
    q[offset] ^= 0x04
    bad = tmp_path / "q.bin"
    bad.write_bytes(bytes(q))
    rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, quote=bad)
    assert rc == 1 and doc["ok"] is False, what
    assert doc["status"] == status, (what, doc["error"])


def test_tampered_pck_certificate(attest, sample, tmp_path):
    q = bytearray(sample[0].read_bytes())
    p = parse_quote(bytes(q))
    start = bytes(q).index(p["certs"]) + 400
    q[start] = ord("A") if q[start] != ord("A") else ord("B")
    bad = tmp_path / "q.bin"
    bad.write_bytes(bytes(q))
    rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, quote=bad)
    assert rc == 1 and doc["status"] == "certificate chain invalid", doc


@pytest.mark.parametrize("field,old,new", [
    ("tcb_info", '"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":16'),
    ("qe_identity", '"isvprodid":1', '"isvprodid":2'),
])
def test_tampered_collateral_body(attest, sample, tmp_path, field, old, new):
    c = json.loads(sample[1].read_text())
    assert old in c[field]
    c[field] = c[field].replace(old, new)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(c))
    rc, doc, _ = run_attest(attest, "verify", "--quote", sample[0], "--collateral", path, "--at", SAMPLE_TIME)
    assert rc == 1 and doc["status"] == "collateral signature invalid", doc


def test_before_certificates(attest, sample):
    rc, doc, _ = verify_sample(attest, sample, "--at", "2018-01-01T00:00:00Z")
    assert rc == 1 and doc["status"] == "certificate not valid at this time", doc


def test_policy_refusals(attest, sample):
    rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, "--mrenclave", "00" * 32)
    assert rc == 1 and "MRENCLAVE" in doc["error"]
    assert doc["platform_status"] == "ConfigurationAndSWHardeningNeeded"  # verdict still shown
    rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, "--mrsigner", "00" * 32)
    assert rc == 1 and "MRSIGNER" in doc["error"]
    rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, "--report-data", "00")
    assert rc == 1 and doc["status"] == "report data binding mismatch"


def test_bad_arguments(attest, sample):
    rc, _, _ = run_attest(attest, "verify", "--quote", sample[0])
    assert rc == 2
    rc, doc, _ = verify_sample(attest, sample, "--at", "yesterday")
    assert rc == 1 and "RFC 3339" in doc["error"]
    rc, doc, _ = verify_sample(attest, sample, "--mrenclave", "abc")
    assert rc == 1 and "--mrenclave" in doc["error"]


def test_truncated_and_garbage_inputs(attest, sample, tmp_path):
    q = sample[0].read_bytes()
    for n in (0, 10, 431, 436, 1000, len(q) - 1):
        path = tmp_path / f"q{n}.bin"
        path.write_bytes(q[:n])
        rc, doc, _ = verify_sample(attest, sample, "--at", SAMPLE_TIME, quote=path)
        assert rc == 1 and doc["status"] == "malformed quote", (n, doc)
    coll = tmp_path / "c.json"
    coll.write_text(sample[1].read_text()[:5000])
    rc, doc, _ = run_attest(attest, "verify", "--quote", sample[0], "--collateral", coll)
    assert rc == 1 and doc["status"] == "malformed collateral"


@pytest.fixture(scope="module")
def authority(attest, tmp_path_factory):
    d = tmp_path_factory.mktemp("sim") / "authority"
    rc, doc, err = run_attest(attest, "sim-init", d)
    assert rc == 0, err
    return d


def sim_quote(attest, authority, tmp_path, *extra, name="q.bin"):
    out = tmp_path / name
    rc, doc, err = run_attest(attest, "sim-quote", "--authority", authority, "--mrenclave", "11" * 32,
                              "--mrsigner", "22" * 32, "--report-data", "33" * 64,
                              "--isv-prod-id", "4", "--isv-svn", "5", "--out", out, *extra)
    assert rc == 0, err
    return out


def test_simulation_end_to_end(attest, authority, tmp_path):
    q = sim_quote(attest, authority, tmp_path, "--ua-report-out", tmp_path / "ua.json")
    independent_signature_check(q.read_bytes())
    coll = authority / "collateral.json"
    root = authority / "root_ca.pem"
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", coll, "--sim-root", root,
                            "--mrenclave", "11" * 32, "--mrsigner", "22" * 32, "--report-data", "33" * 64)
    assert rc == 0, doc
    assert doc["platform_status"] == "UpToDate" and doc["qe_status"] == "UpToDate"
    assert doc["isv_prod_id"] == 4 and doc["isv_svn"] == 5 and doc["simulated"] is True
    # Simulation off: the pinned Intel root refuses it.
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", coll)
    assert rc == 1 and doc["status"] == "simulation attestation outside simulation", doc
    # The unified report form carries the same.
    rc, doc, _ = run_attest(attest, "verify", "--ua-report", tmp_path / "ua.json", "--sim-root", root)
    assert rc == 0, doc
    rc, doc, _ = run_attest(attest, "verify", "--ua-report", tmp_path / "ua.json")
    assert rc == 1


def test_simulation_debug_and_revocation(attest, authority, tmp_path, tmp_path_factory):
    q = sim_quote(attest, authority, tmp_path, "--debug")
    coll = authority / "collateral.json"
    root = authority / "root_ca.pem"
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", coll, "--sim-root", root)
    assert rc == 1 and doc["debug"] is True and "DEBUG" in doc["error"]
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", coll, "--sim-root", root,
                            "--allow-debug")
    assert rc == 0, doc
    # A separate authority whose PCK serial goes on its PCK CRL.
    d = tmp_path_factory.mktemp("sim-revoked") / "authority"
    assert run_attest(attest, "sim-init", d)[0] == 0
    q2 = sim_quote(attest, d, tmp_path, name="q2.bin")
    assert run_attest(attest, "sim-revoke-pck", "--authority", d)[0] == 0
    rc, doc, _ = run_attest(attest, "verify", "--quote", q2, "--collateral", d / "collateral.json",
                            "--sim-root", d / "root_ca.pem")
    assert rc == 1 and doc["status"] == "certificate revoked", doc
    # Another authority's collateral: chain rooted elsewhere.
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", d / "collateral.json",
                            "--sim-root", root, "--allow-debug")
    assert rc == 1 and doc["status"] == "certificate chain invalid", doc


def test_passport_report_built_independently(attest, sample, tmp_path):
    """A Passport report written by Python (SecretFlow's JSON form) verifies."""
    import base64
    q, c = sample
    inner = {"b64_quote": base64.b64encode(q.read_bytes()).decode(), "json_collateral": c.read_text()}
    report = {"str_report_version": "1.0", "str_report_type": "Passport", "str_tee_platform": "SGX_DCAP",
              "json_report": json.dumps(inner)}
    path = tmp_path / "ua.json"
    path.write_text(json.dumps(report))
    rc, doc, _ = run_attest(attest, "verify", "--ua-report", path, "--at", SAMPLE_TIME,
                            "--mrenclave", SAMPLE_MRENCLAVE)
    assert rc == 0, doc
    assert doc["advisories"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    rc, doc, _ = run_attest(attest, "verify", "--ua-report", path)
    assert rc == 1 and "collateral expired" in doc["error"]


@pytest.mark.parametrize("platform,qe,accepted", [
    ("SWHardeningNeeded", "UpToDate", True),
    ("OutOfDateConfigurationNeeded", "UpToDate", False),
    ("OutOfDate", "UpToDate", False),
    ("Revoked", "UpToDate", False),
    ("UpToDate", "OutOfDate", False),
])
def test_tcb_status_policy(attest, tmp_path, platform, qe, accepted):
    d = tmp_path / "authority"
    assert run_attest(attest, "sim-init", d)[0] == 0
    rc, _, err = run_attest(attest, "sim-set-status", "--authority", d, "--platform-status", platform,
                            "--qe-status", qe)
    assert rc == 0, err
    q = sim_quote(attest, d, tmp_path)
    args = ["verify", "--quote", q, "--collateral", d / "collateral.json", "--sim-root", d / "root_ca.pem"]
    rc, doc, _ = run_attest(attest, *args)
    assert doc["platform_status"] == platform and doc["qe_status"] == qe, doc
    if platform != "UpToDate":
        assert doc["advisories"] == ["LIBTEEU-SIM-0001", "LIBTEEU-SIM-0002"]  # sorted
    assert (rc == 0) == accepted, doc
    if not accepted:
        assert doc["status"] == "TCB status not accepted"
        # The caller's policy may accept it explicitly.
        refused = platform if platform != "UpToDate" else qe
        rc, doc, _ = run_attest(attest, *args, "--accept-status", refused)
        assert rc == 0, doc


def test_sim_set_status_rejects_unknown(attest, authority):
    rc, _, err = run_attest(attest, "sim-set-status", "--authority", authority, "--platform-status", "Fine")
    assert rc == 1 and "TCB status" in err


def test_secretflow_collateral_form(attest, sample, tmp_path):
    """SecretFlow's SgxQlQveCollateral JSON (str_* members, whole PCCS answers, PEM CRLs)."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import serialization
    q, c = sample
    c = json.loads(c.read_text())

    def pem_crl(hexder):
        crl = cx509.load_der_x509_crl(bytes.fromhex(hexder))
        return crl.public_bytes(serialization.Encoding.PEM).decode()

    sf = {
        "version": 3,
        "str_pck_crl_issuer_chain": c["pck_crl_issuer_chain"] + "\0",
        "str_root_ca_crl": pem_crl(c["root_ca_crl"]) + "\0",
        "str_pck_crl": c["pck_crl"],
        "str_tcb_info_issuer_chain": c["tcb_info_issuer_chain"],
        "str_tcb_info": '{"tcbInfo":' + c["tcb_info"] + ',"signature":"' + c["tcb_info_signature"] + '"}\0',
        "str_qe_identity_issuer_chain": c["qe_identity_issuer_chain"],
        "str_qe_identity": '{"enclaveIdentity":' + c["qe_identity"] + ',"signature":"'
                           + c["qe_identity_signature"] + '"}',
    }
    path = tmp_path / "sf.json"
    path.write_text(json.dumps(sf))
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", path, "--at", SAMPLE_TIME)
    assert rc == 0, doc
    assert doc["platform_status"] == "ConfigurationAndSWHardeningNeeded"
    sf["str_tcb_info"] = sf["str_tcb_info"].replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":16')
    path.write_text(json.dumps(sf))
    rc, doc, _ = run_attest(attest, "verify", "--quote", q, "--collateral", path, "--at", SAMPLE_TIME)
    assert rc == 1 and doc["status"] == "collateral signature invalid", doc
