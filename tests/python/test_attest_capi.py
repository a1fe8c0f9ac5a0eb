"""The public attestation API of libteeu.so, driven through ctypes."""
import ctypes

import pytest

from attest_support import SAMPLE_MRENCLAVE


class Options(ctypes.Structure):
    _fields_ = [("verify_time", ctypes.c_int64), ("simulation", ctypes.c_bool),
                ("sim_root_pem", ctypes.c_char_p), ("sim_root_pem_len", ctypes.c_size_t)]


class Policy(ctypes.Structure):
    _fields_ = [("mr_enclave", ctypes.c_void_p), ("mr_signer", ctypes.c_void_p),
                ("isv_prod_id", ctypes.c_int32), ("min_isv_svn", ctypes.c_int32),
                ("allow_debug", ctypes.c_bool), ("accepted_statuses", ctypes.c_uint32),
                ("report_data", ctypes.c_void_p), ("report_data_len", ctypes.c_size_t)]


@pytest.fixture(scope="module")
def lib(libteeu_path):
    L = ctypes.CDLL(str(libteeu_path))
    L.teeu_collateral_parse.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
    L.teeu_collateral_free.argtypes = [ctypes.c_void_p]
    L.teeu_attest_options_init.argtypes = [ctypes.POINTER(Options)]
    L.teeu_attest_policy_init.argtypes = [ctypes.POINTER(Policy)]
    L.teeu_attest_verify_quote.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                           ctypes.POINTER(Options), ctypes.POINTER(Policy),
                                           ctypes.POINTER(ctypes.c_void_p)]
    for name in ("teeu_attest_result_platform_status", "teeu_attest_result_qe_status"):
        getattr(L, name).argtypes = [ctypes.c_void_p]
        getattr(L, name).restype = ctypes.c_char_p
    L.teeu_attest_result_advisory_count.argtypes = [ctypes.c_void_p]
    L.teeu_attest_result_advisory_count.restype = ctypes.c_size_t
    L.teeu_attest_result_advisory.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    L.teeu_attest_result_advisory.restype = ctypes.c_char_p
    L.teeu_attest_result_mr_enclave.argtypes = [ctypes.c_void_p]
    L.teeu_attest_result_mr_enclave.restype = ctypes.POINTER(ctypes.c_uint8 * 32)
    L.teeu_attest_result_free.argtypes = [ctypes.c_void_p]
    L.teeu_last_error.restype = ctypes.c_char_p
    return L


def test_verify_through_the_c_api(lib, testdata_dir):
    quote = (testdata_dir / "dcap" / "sgx_quote.bin").read_bytes()
    coll_json = (testdata_dir / "dcap" / "sgx_quote_collateral.json").read_bytes()
    coll = ctypes.c_void_p()
    assert lib.teeu_collateral_parse(coll_json, len(coll_json), ctypes.byref(coll)) == 0
    opts, pol = Options(), Policy()
    lib.teeu_attest_options_init(ctypes.byref(opts))
    lib.teeu_attest_policy_init(ctypes.byref(pol))
    assert pol.isv_prod_id == -1 and pol.accepted_statuses != 0
    opts.verify_time = 1751328000
    result = ctypes.c_void_p()
    st = lib.teeu_attest_verify_quote(quote, len(quote), coll, ctypes.byref(opts), ctypes.byref(pol),
                                      ctypes.byref(result))
    assert st == 0, lib.teeu_last_error()
    assert lib.teeu_attest_result_platform_status(result) == b"ConfigurationAndSWHardeningNeeded"
    assert lib.teeu_attest_result_qe_status(result) == b"UpToDate"
    n = lib.teeu_attest_result_advisory_count(result)
    assert [lib.teeu_attest_result_advisory(result, i) for i in range(n)] == [b"INTEL-SA-00289", b"INTEL-SA-00615"]
    assert bytes(lib.teeu_attest_result_mr_enclave(result).contents).hex().upper() == SAMPLE_MRENCLAVE
    lib.teeu_attest_result_free(result)
    # Now (no time set): the collateral has expired.
    opts.verify_time = 0
    result = ctypes.c_void_p()
    st = lib.teeu_attest_verify_quote(quote, len(quote), coll, ctypes.byref(opts), None, ctypes.byref(result))
    assert st == 407 and b"collateral expired" in lib.teeu_last_error()
    assert not result.value
    lib.teeu_collateral_free(coll)
