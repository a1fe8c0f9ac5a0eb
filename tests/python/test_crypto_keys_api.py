"""The public key API (include/teeu/keys.h) through ctypes on libteeu.so,
checked against python3-cryptography."""
import base64
import ctypes
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

TEEU_OK = 0
TEEU_ERR_INVALID_ARGUMENT = 1
TEEU_ERR_KEY_FORMAT = 200
TEEU_ERR_KEY_TYPE = 201
TEEU_ERR_KEY_TOO_SMALL = 202
TEEU_ERR_KEY_PASSPHRASE = 203
OWNER_ID_LEN = 44


@pytest.fixture(scope="module")
def lib(libteeu_path):
    lib = ctypes.CDLL(str(libteeu_path))
    vp, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    lib.teeu_key_generate.argtypes = [ctypes.c_uint, ctypes.POINTER(vp)]
    lib.teeu_key_load_private_pem.argtypes = [cp, sz, cp, ctypes.POINTER(vp)]
    lib.teeu_key_load_public_pem.argtypes = [cp, sz, ctypes.c_uint, ctypes.POINTER(vp)]
    lib.teeu_key_owner_id.argtypes = [vp, ctypes.c_char_p]
    lib.teeu_key_public_pem.argtypes = [vp, ctypes.POINTER(vp), ctypes.POINTER(sz)]
    lib.teeu_key_private_pem.argtypes = [vp, cp, ctypes.POINTER(vp), ctypes.POINTER(sz)]
    lib.teeu_key_bits.argtypes = [vp]
    lib.teeu_key_bits.restype = ctypes.c_uint
    lib.teeu_key_is_private.argtypes = [vp]
    lib.teeu_key_free.argtypes = [vp]
    lib.teeu_free.argtypes = [vp]
    lib.teeu_free_secret.argtypes = [vp, sz]
    lib.teeu_last_error.restype = ctypes.c_char_p
    for fn in ("teeu_key_generate", "teeu_key_load_private_pem", "teeu_key_load_public_pem",
               "teeu_key_owner_id", "teeu_key_public_pem", "teeu_key_private_pem"):
        getattr(lib, fn).restype = ctypes.c_int
    return lib


def take_pem(lib, fn, key, *extra, secret=False):
    buf, n = ctypes.c_void_p(), ctypes.c_size_t()
    assert fn(key, *extra, ctypes.byref(buf), ctypes.byref(n)) == TEEU_OK
    text = ctypes.string_at(buf, n.value)
    if secret:
        lib.teeu_free_secret(buf, n)
    else:
        lib.teeu_free(buf)
    return text


def owner_id(lib, key):
    out = ctypes.create_string_buffer(OWNER_ID_LEN + 1)
    assert lib.teeu_key_owner_id(key, out) == TEEU_OK
    return out.value.decode()


def load_private(lib, pem, passphrase=None):
    key = ctypes.c_void_p()
    st = lib.teeu_key_load_private_pem(pem, len(pem), passphrase, ctypes.byref(key))
    return st, key


def test_generate_export_and_owner_id(lib):
    key = ctypes.c_void_p()
    assert lib.teeu_key_generate(0, ctypes.byref(key)) == TEEU_OK
    try:
        assert lib.teeu_key_bits(key) == 3072 and lib.teeu_key_is_private(key) == 1
        pub_pem = take_pem(lib, lib.teeu_key_public_pem, key)
        pub = serialization.load_pem_public_key(pub_pem)
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert owner_id(lib, key) == base64.b64encode(hashlib.sha256(der).digest()).decode()
        enc = take_pem(lib, lib.teeu_key_private_pem, key, b"pw", secret=True)
        assert enc.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        priv = serialization.load_pem_private_key(enc, password=b"pw")
        assert priv.public_key().public_numbers() == pub.public_numbers()
    finally:
        lib.teeu_key_free(key)


def test_python_keys_load_with_clear_errors(lib):
    good = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    pem = good.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"pw"))
    st, key = load_private(lib, pem, b"pw")
    assert st == TEEU_OK
    pub_pem = good.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    pub = ctypes.c_void_p()
    assert lib.teeu_key_load_public_pem(pub_pem, len(pub_pem), 0, ctypes.byref(pub)) == TEEU_OK
    assert lib.teeu_key_is_private(pub) == 0
    assert owner_id(lib, pub) == owner_id(lib, key)
    lib.teeu_key_free(pub)
    lib.teeu_key_free(key)

    assert load_private(lib, pem, b"nope")[0] == TEEU_ERR_KEY_PASSPHRASE
    assert load_private(lib, pem, None)[0] == TEEU_ERR_KEY_PASSPHRASE
    assert b"no passphrase" in lib.teeu_last_error()
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    assert load_private(lib, small)[0] == TEEU_ERR_KEY_TOO_SMALL
    assert b"RSA-2048" in lib.teeu_last_error() and b"3072" in lib.teeu_last_error()
    ec_pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert load_private(lib, ec_pem)[0] == TEEU_ERR_KEY_TYPE
    assert load_private(lib, b"not a key")[0] == TEEU_ERR_KEY_FORMAT
    assert lib.teeu_key_generate(512, ctypes.byref(ctypes.c_void_p())) == TEEU_ERR_INVALID_ARGUMENT
    lib.teeu_key_free(None)
