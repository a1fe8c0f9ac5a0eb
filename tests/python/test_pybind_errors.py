"""Python bindings: every teeu_status is an exception class carrying libteeu's message."""
import os
import pickle
import stat

import numpy as np
import pytest

from pybind_support import import_teeu


@pytest.fixture(scope="module")
def teeu(libteeu_path):
    return import_teeu(libteeu_path)


def library_statuses(teeu):
    """Every status the loaded libteeu has a name for (teeu_status_str of an unknown one is generic)."""
    from teeu._core import status_str
    unknown = status_str(599)
    return {s: status_str(s) for s in range(1, 600) if status_str(s) != unknown}


def test_every_library_status_has_its_class(teeu):
    known = library_statuses(teeu)
    assert len(known) >= 70
    for status, text in known.items():
        cls = teeu.errors.error_class(status)
        assert cls.status == status, f"status {status} ({text}) has no class of its own"
        assert issubclass(cls, teeu.TeeuError)
    for status in teeu.errors.STATUS_NAMES:
        assert status in known, f"bindings know status {status}, the library does not"


@pytest.mark.parametrize("status,group", [(1, "GeneralError"), (12, "GeneralError"), (100, "NpyError"),
                                          (114, "NpyError"), (200, "CryptoError"), (209, "CryptoError"),
                                          (301, "RpcError"), (355, "RpcError"), (400, "AttestationError"),
                                          (412, "AttestationError"), (500, "ClientError"), (502, "ClientError")])
def test_groups(teeu, status, group):
    cls = teeu.errors.error_class(status)
    assert issubclass(cls, getattr(teeu, group))


def test_builtin_bases_and_names(teeu):
    assert issubclass(teeu.InvalidArgumentError, ValueError)
    assert issubclass(teeu.NoMemoryError, MemoryError)
    assert issubclass(teeu.TeeuIOError, OSError)
    assert issubclass(teeu.TeeuTimeoutError, TimeoutError)
    assert issubclass(teeu.ConnectError, ConnectionError)
    assert issubclass(teeu.NotAuthorizedError, PermissionError)
    assert issubclass(teeu.NotFoundError, LookupError)
    assert teeu.ConfigError.status_name == "TEEU_ERR_CONFIG"
    # A status newer than the bindings still maps to its group and keeps its number.
    exc = teeu.errors.make_error(577, "new client failure")
    assert type(exc) is teeu.ClientError and exc.status == 577 and "577" in str(exc)
    exc = teeu.errors.make_error(3000, "out of every range")
    assert type(exc) is teeu.TeeuError


def test_real_failures_raise_their_class_with_the_message(teeu, tmp_path):
    with pytest.raises(teeu.TeeuIOError, match="no-such-key.pem") as info:
        teeu.Key.load_private(tmp_path / "no-such-key.pem")
    assert info.value.status == 3 and info.value.status_str and info.value.message in str(info.value)

    with pytest.raises(teeu.KeyFormatError):
        teeu.Key.from_private_pem(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")

    with pytest.raises(teeu.InvalidArgumentError, match="RSA-1024"):
        teeu.Key.generate(1024)

    small = teeu.Key.generate(2048)
    with pytest.raises(teeu.KeyTooSmallError):
        teeu.Key.from_private_pem(small.private_pem())
    with pytest.raises(teeu.KeyTooSmallError):
        teeu.Key.from_public_pem(small.public_pem(), min_bits=3072)

    encrypted = small.private_pem(passphrase="open sesame")
    assert b"ENCRYPTED" in encrypted
    with pytest.raises(teeu.KeyPassphraseError):
        teeu.Key.from_private_pem(encrypted, passphrase="wrong")

    with pytest.raises(teeu.NpyMagicError, match="NUMPY"):
        teeu.decode_npy(b"\x00" * 64)


def test_exceptions_pickle(teeu):
    try:
        teeu.decode_npy(b"junk")
    except teeu.TeeuError as exc:
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and back.message == exc.message and back.status == exc.status


def test_keys_roundtrip_and_owner_id(teeu, tmp_path):
    from cryptography.hazmat.primitives import hashes, serialization
    import base64
    key = teeu.Key.generate()
    assert key.bits == 3072 and key.is_private
    pem = key.private_pem()
    path = tmp_path / "k.pem"
    path.write_bytes(pem)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    again = teeu.Key.load_private(path)
    assert again.owner_id == key.owner_id
    # owner_id is base64(SHA-256(DER SPKI)), checked against the cryptography package.
    pub = serialization.load_pem_public_key(key.public_pem().encode())
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert key.owner_id == base64.b64encode(digest.finalize()).decode()
    (tmp_path / "pub.pem").write_text(key.public_pem())
    assert teeu.owner_id(tmp_path / "pub.pem") == key.owner_id
    assert teeu.owner_id(key.public_pem()) == key.owner_id
    public = teeu.Key.from_public_pem(key.public_pem())
    assert not public.is_private and public.owner_id == key.owner_id
    key.close()
    with pytest.raises(ValueError, match="closed"):
        key.owner_id
    assert "closed" in repr(key)


def test_error_messages_are_per_thread(teeu):
    """Two threads failing differently at once each get their own message."""
    import threading
    results = {}
    barrier = threading.Barrier(2)

    def fail(name, fn, rounds=200):
        barrier.wait()
        got = set()
        for _ in range(rounds):
            try:
                fn()
            except teeu.TeeuError as exc:
                got.add((type(exc).__name__, exc.message))
        results[name] = got

    t1 = threading.Thread(target=fail, args=("npy", lambda: teeu.decode_npy(b"garbage bytes here")))
    t2 = threading.Thread(target=fail, args=("key", lambda: teeu.Key.from_public_pem(b"nope")))
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    assert len(results["npy"]) == 1 and next(iter(results["npy"]))[0] == "NpyMagicError"
    assert len(results["key"]) == 1 and next(iter(results["key"]))[0] == "KeyFormatError"


def test_unsupported_dtype_is_a_type_error_before_any_call(teeu):
    with pytest.raises(TypeError, match="float64"):
        teeu.encode_npy(np.array(["text"]))


def test_classes_match_status_h(teeu):
    """Every TEEU_ERR_* of include/teeu/status.h has its class, under its C name and number."""
    import re
    from pybind_support import SOURCE_DIR
    header = (SOURCE_DIR / "include" / "teeu" / "status.h").read_text()
    declared = {int(num): f"TEEU_ERR_{name}" for name, num in re.findall(r"TEEU_ERR_(\w+)\s*=\s*(\d+)", header)}
    assert declared == teeu.errors.STATUS_NAMES
    for status, name in declared.items():
        cls = teeu.errors.error_class(status)
        assert cls.status == status and cls.status_name == name and cls.__name__ in teeu.errors.__all__
