"""libteeu's crypto layer against an independent implementation (Debian's
python3-cryptography): every primitive checked in both directions, key
formats and their errors, owner_id, and the documented stream format."""
import base64
import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import crypto_support as cs

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


@pytest.fixture(scope="module")
def crypto_tool(tool):
    return tool("crypto_tool")


@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    return tmp_path_factory.mktemp("keys")


def write_private(path, key, fmt=serialization.PrivateFormat.PKCS8, password=None):
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, enc))
    path.chmod(0o600)
    return path


def write_public(path, key, fmt=serialization.PublicFormat.SubjectPublicKeyInfo):
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, fmt))
    return path


@pytest.fixture(scope="module")
def py_key(keydir):
    """A party key made by Python: (key object, private PEM path, public PEM path)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return key, write_private(keydir / "py.pem", key), write_public(keydir / "py_pub.pem", key)


@pytest.fixture(scope="module")
def teeu_key(keydir, crypto_tool):
    """A party key made by libteeu: (key object loaded in Python, private path, public path)."""
    priv, pub = keydir / "teeu.pem", keydir / "teeu_pub.pem"
    cs.run(crypto_tool, "genkey", priv, pub)
    key = serialization.load_pem_private_key(priv.read_bytes(), password=None)
    return key, priv, pub


def owner_id(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def fails_with(crypto_tool, status_name, *args):
    with pytest.raises(cs.ToolError) as err:
        cs.run(crypto_tool, *args)
    assert err.value.returncode == 1
    assert err.value.stderr.startswith(status_name), err.value.stderr
    return err.value.stderr


# ---- keys and identity ----------------------------------------------------------


def test_owner_id_matches_python(crypto_tool, py_key, teeu_key):
    for key, priv, pub in (py_key, teeu_key):
        want = owner_id(key)
        assert cs.run(crypto_tool, "owner-id", priv) == [want]
        assert cs.run(crypto_tool, "owner-id", pub) == [want]


def test_libteeu_generates_rsa_3072_pkcs8(teeu_key):
    key, priv, pub = teeu_key
    assert key.key_size == 3072
    assert key.public_key().public_numbers().e == 65537
    assert priv.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (priv.stat().st_mode & 0o777) == 0o600


def test_every_private_key_format_loads(crypto_tool, keydir, py_key):
    key = py_key[0]
    trad = serialization.PrivateFormat.TraditionalOpenSSL
    pkcs8 = serialization.PrivateFormat.PKCS8
    assert cs.run(crypto_tool, "load-private", write_private(keydir / "p1.pem", key, trad)) == ["3072"]
    assert cs.run(crypto_tool, "load-private", write_private(keydir / "p8.pem", key, pkcs8)) == ["3072"]
    for name, fmt in (("e8.pem", pkcs8), ("e1.pem", trad)):  # encrypted PKCS#8 and legacy encrypted PKCS#1
        path = write_private(keydir / name, key, fmt, password=b"s3cret pass")
        assert cs.run(crypto_tool, "load-private", path, "s3cret pass") == ["3072"]
        msg = fails_with(crypto_tool, "wrong or missing key passphrase", "load-private", path, "wrong")
        assert "passphrase given does not decrypt" in msg
        msg = fails_with(crypto_tool, "wrong or missing key passphrase", "load-private", path)
        assert "no passphrase was given" in msg


def test_bad_keys_give_distinct_errors(crypto_tool, keydir):
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    msg = fails_with(crypto_tool, "key too small", "load-private", write_private(keydir / "small.pem", small))
    assert "RSA-2048" in msg and "3072" in msg
    ec_key = ec.generate_private_key(ec.SECP256R1())
    msg = fails_with(crypto_tool, "wrong key type", "load-private", write_private(keydir / "ec.pem", ec_key))
    assert "EC" in msg and "RSA" in msg
    garbage = keydir / "garbage.pem"
    garbage.write_bytes(os.urandom(300))
    fails_with(crypto_tool, "unreadable key", "load-private", garbage)
    fails_with(crypto_tool, "I/O error", "load-private", keydir / "does-not-exist.pem")


def test_pkcs1_public_key_accepted(crypto_tool, keydir, py_key):
    key = py_key[0]
    path = write_public(keydir / "pkcs1_pub.pem", key, serialization.PublicFormat.PKCS1)
    assert path.read_text().startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert cs.run(crypto_tool, "owner-id", path) == [owner_id(key)]


# ---- signatures -----------------------------------------------------------------------


def test_libteeu_signature_verifies_in_python(crypto_tool, teeu_key):
    key, priv, _ = teeu_key
    parts = [b"3f2a" * 8, b"default", (0).to_bytes(4, "little"), os.urandom(32)]
    sig = bytes.fromhex(cs.run(crypto_tool, "sign", priv, *(p.hex() for p in parts))[0])
    key.public_key().verify(sig, b"".join(parts), padding.PKCS1v15(), hashes.SHA256())


def test_python_signature_verifies_in_libteeu(crypto_tool, py_key):
    key, _, pub = py_key
    message = b"data_uuid" + b"all" + os.urandom(100)
    sig = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert cs.run(crypto_tool, "verify", pub, sig.hex(), message[:9].hex(), message[9:].hex()) == []
    bad = bytearray(sig)
    bad[-1] ^= 1
    fails_with(crypto_tool, "signature does not verify", "verify", pub, bad.hex(), message.hex())
    fails_with(crypto_tool, "signature does not verify", "verify", pub, sig.hex(), (message + b"x").hex())
    pss = key.sign(message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    fails_with(crypto_tool, "signature does not verify", "verify", pub, pss.hex(), message.hex())


# ---- OAEP -------------------------------------------------------------------------------


def test_oaep_libteeu_to_python(crypto_tool, py_key):
    key, _, pub = py_key
    secret = os.urandom(32)
    ct = bytes.fromhex(cs.run(crypto_tool, "oaep-enc", pub, secret.hex())[0])
    assert len(ct) == 384
    assert key.decrypt(ct, OAEP) == secret


def test_oaep_python_to_libteeu(crypto_tool, teeu_key):
    key, priv, _ = teeu_key
    for n in (16, 32, 342):
        secret = os.urandom(n)
        ct = key.public_key().encrypt(secret, OAEP)
        assert cs.run(crypto_tool, "oaep-dec", priv, ct.hex()) == [secret.hex()]
    # OAEP with SHA-256 is a different scheme: refused, not misread.
    ct256 = key.public_key().encrypt(b"k" * 32, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    fails_with(crypto_tool, "decryption failed", "oaep-dec", priv, ct256.hex())


# ---- AES-GCM -------------------------------------------------------------------------------


@pytest.mark.parametrize("key_len", [16, 32])
def test_gcm_both_directions(crypto_tool, key_len):
    key, nonce, aad = os.urandom(key_len), os.urandom(12), b"0123456789abcdef0123456789abcdef"
    for size in (0, 1, 1000):
        pt = os.urandom(size)
        sealed = bytes.fromhex(cs.run(crypto_tool, "gcm-seal", key.hex(), nonce.hex(), aad.hex(), pt.hex() or "-")[0])
        assert sealed == AESGCM(key).encrypt(nonce, pt, aad)
        assert AESGCM(key).decrypt(nonce, sealed, aad) == pt
        py_sealed = AESGCM(key).encrypt(nonce, pt, aad)
        out = cs.run(crypto_tool, "gcm-open", key.hex(), nonce.hex(), aad.hex(), py_sealed.hex())
        assert out == ([pt.hex()] if size else [])
    bad = bytearray(AESGCM(key).encrypt(nonce, b"payload", aad))
    bad[0] ^= 0x80
    fails_with(crypto_tool, "decryption failed", "gcm-open", key.hex(), nonce.hex(), aad.hex(), bad.hex())


# ---- envelope -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key_len", [16, 32])
def test_python_envelope_opens_in_libteeu(crypto_tool, teeu_key, key_len):
    """As SecretFlow's AuthManager seals (16-byte key, empty AAD) and as other peers do (32)."""
    key, priv, _ = teeu_key
    payload = os.urandom(2000)
    data_key, nonce = os.urandom(key_len), os.urandom(12)
    aad = b"" if key_len == 16 else b"aad bytes"
    sealed_key = key.public_key().encrypt(data_key, OAEP)
    ct_tag = AESGCM(data_key).encrypt(nonce, payload, aad)
    ct, tag = ct_tag[:-16], ct_tag[-16:]
    out = cs.run(crypto_tool, "env-open", priv, sealed_key.hex(), nonce.hex(), aad.hex() or "-", ct.hex(), tag.hex())
    assert out == [payload.hex()]
    bad_tag = bytes([tag[0] ^ 1]) + tag[1:]
    fails_with(crypto_tool, "decryption failed", "env-open", priv, sealed_key.hex(), nonce.hex(),
               aad.hex() or "-", ct.hex(), bad_tag.hex())


@pytest.mark.parametrize("key_len", [16, 32])
def test_libteeu_envelope_opens_in_python(crypto_tool, py_key, key_len):
    key, _, pub = py_key
    payload = os.urandom(500)
    lines = cs.run(crypto_tool, "env-seal", pub, key_len, b"ctx".hex(), payload.hex())
    sealed_key, nonce, aad, ct, tag = (bytes.fromhex(x) for x in lines)
    data_key = key.decrypt(sealed_key, OAEP)
    assert len(data_key) == key_len
    assert aad == b"ctx"
    assert AESGCM(data_key).decrypt(nonce, ct + tag, aad) == payload


# ---- hashing with separator --------------------------------------------------------------------


def test_hash_and_hmac_with_separator(crypto_tool):
    parts = [b"data_uuid", b"default", (0).to_bytes(4, "little"), (0).to_bytes(4, "little")]
    key = os.urandom(32)
    joined = b"|".join(parts)
    assert cs.run(crypto_tool, "sha256-sep", *(p.hex() for p in parts)) == [hashlib.sha256(joined).hexdigest()]
    want = hmac.new(key, joined, hashlib.sha256).hexdigest()
    assert cs.run(crypto_tool, "hmac-sep", key.hex(), *(p.hex() for p in parts)) == [want]


# ---- streaming AEAD: libteeu against the documented format --------------------------------------


@pytest.mark.parametrize("size,segment", [(0, 64), (1, 64), (64, 64), (65, 64), (1000, 64), (300000, 65536)])
def test_stream_libteeu_to_reference(crypto_tool, tmp_path, size, segment):
    key, aad, data = os.urandom(32), b"data-uuid-aad", os.urandom(size)
    (tmp_path / "in").write_bytes(data)
    cs.run(crypto_tool, "stream-seal", key.hex(), aad.hex(), segment, tmp_path / "in", tmp_path / "out")
    blob = (tmp_path / "out").read_bytes()
    segments = max(1, -(-size // segment))
    assert len(blob) == cs.STREAM_HEADER_LEN + size + segments * cs.TAG_LEN
    assert cs.stream_segment_size(blob[:32]) == segment
    assert cs.stream_open(key, aad, blob) == data


def test_stream_reference_to_libteeu_and_tamper(crypto_tool, tmp_path):
    key, aad, segment = os.urandom(32), b"aad", 100
    data = os.urandom(450)  # 5 segments: 4 full, final of 50
    blob = cs.stream_seal(key, aad, data, segment, os.urandom(23))
    (tmp_path / "good").write_bytes(blob)
    cs.run(crypto_tool, "stream-open", key.hex(), aad.hex(), tmp_path / "good", tmp_path / "plain")
    assert (tmp_path / "plain").read_bytes() == data

    unit = segment + cs.TAG_LEN
    head, body = blob[:32], blob[32:]
    segs = [body[i:i + unit] for i in range(0, len(body), unit)]
    variants = {
        "swapped": head + segs[1] + segs[0] + b"".join(segs[2:]),
        "dropped": head + segs[0] + b"".join(segs[2:]),
        "duplicated": head + segs[0] + b"".join(segs[:]),
        "cut": head + b"".join(segs[:-1]),
        "header bit": head[:10] + bytes([head[10] ^ 1]) + head[11:] + body,
        "body bit": head + body[:7] + bytes([body[7] ^ 4]) + body[8:],
    }
    for name, bad in variants.items():
        (tmp_path / "bad").write_bytes(bad)
        fails_with(crypto_tool, "decryption failed", "stream-open", key.hex(), aad.hex(), tmp_path / "bad",
                   tmp_path / "plain")
    fails_with(crypto_tool, "decryption failed", "stream-open", key.hex(), b"other".hex(), tmp_path / "good",
               tmp_path / "plain")
