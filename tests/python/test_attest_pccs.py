"""teeu-attest --pccs: collateral fetched over HTTPS from a local fake PCCS."""
import json

import pytest

from attest_support import SAMPLE_MRENCLAVE, SAMPLE_TIME, FakePccs, make_tls_cert, run_attest


@pytest.fixture(scope="module")
def attest(tool):
    return tool("teeu-attest")


@pytest.fixture(scope="module")
def sample(testdata_dir):
    d = testdata_dir / "dcap"
    return d / "sgx_quote.bin", json.loads((d / "sgx_quote_collateral.json").read_text())


@pytest.fixture()
def tls(tmp_path):
    return make_tls_cert(tmp_path)


def test_fetch_and_verify(attest, sample, tls):
    quote, coll = sample
    with FakePccs(coll, *tls) as pccs:
        rc, doc, err = run_attest(attest, "verify", "--quote", quote, "--pccs", pccs.url,
                                  "--pccs-ca", tls[0], "--at", SAMPLE_TIME)
    assert rc == 0, (doc, err)
    assert doc["platform_status"] == "ConfigurationAndSWHardeningNeeded"
    assert doc["qe_status"] == "UpToDate"
    assert doc["advisories"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert doc["mr_enclave"] == SAMPLE_MRENCLAVE
    paths = sorted(r.split("?")[0] for r in pccs.requests)
    assert paths == ["/sgx/certification/v4/pckcrl", "/sgx/certification/v4/qe/identity",
                     "/sgx/certification/v4/rootcacrl", "/sgx/certification/v4/tcb"]


def test_base_url_without_api_path(attest, sample, tls):
    quote, coll = sample
    with FakePccs(coll, *tls) as pccs:
        rc, doc, _ = run_attest(attest, "verify", "--quote", quote, "--pccs",
                                f"https://127.0.0.1:{pccs.port}/", "--pccs-ca", tls[0], "--at", SAMPLE_TIME)
    assert rc == 0, doc


def test_tampered_answer_refused(attest, sample, tls):
    quote, coll = sample
    with FakePccs(coll, *tls, tamper_tcb=True) as pccs:
        rc, doc, _ = run_attest(attest, "verify", "--quote", quote, "--pccs", pccs.url,
                                "--pccs-ca", tls[0], "--at", SAMPLE_TIME)
    assert rc == 1 and doc["status"] == "collateral signature invalid", doc


def test_untrusted_server_certificate(attest, sample, tls):
    quote, coll = sample
    with FakePccs(coll, *tls) as pccs:
        rc, doc, _ = run_attest(attest, "verify", "--quote", quote, "--pccs", pccs.url, "--at", SAMPLE_TIME)
    assert rc == 1 and doc["status"] == "TLS failure", doc


def test_plain_http_refused(attest, sample):
    quote, _ = sample
    rc, doc, _ = run_attest(attest, "verify", "--quote", quote, "--pccs", "http://127.0.0.1:1/x")
    assert rc == 1 and doc["ok"] is False


def test_background_check_report_with_pccs(attest, sample, tls, tmp_path):
    import base64
    quote, coll = sample
    report = {"str_report_version": "1.0", "str_report_type": "BackgroundCheck",
              "str_tee_platform": "SGX_DCAP",
              "json_report": json.dumps({"b64_quote": base64.b64encode(quote.read_bytes()).decode()})}
    path = tmp_path / "ua.json"
    path.write_text(json.dumps(report))
    rc, doc, _ = run_attest(attest, "verify", "--ua-report", path, "--at", SAMPLE_TIME)
    assert rc == 1 and "BackgroundCheck" in doc["error"]
    with FakePccs(coll, *tls) as pccs:
        rc, doc, _ = run_attest(attest, "verify", "--ua-report", path, "--pccs", pccs.url,
                                "--pccs-ca", tls[0], "--at", SAMPLE_TIME)
    assert rc == 0, doc
    assert doc["platform_status"] == "ConfigurationAndSWHardeningNeeded"
