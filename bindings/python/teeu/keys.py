"""RSA keys of data parties and their owner_ids (include/teeu/keys.h)."""
from ._core import check, cstr
from ._lib import ffi, lib

PARTY_KEY_MIN_BITS = 3072
PEER_KEY_MIN_BITS = 2048
OWNER_ID_LEN = 44


def _bytes(value):
    if isinstance(value, str):
        return value.encode("ascii")
    return bytes(value)


class Key:
    """An RSA key: a private key (with its public half) or a public key.

    Private material lives only in libteeu's memory and is wiped when the
    key is closed or garbage collected.
    """

    __slots__ = ("_ptr",)

    def __init__(self, ptr):
        self._ptr = ffi.gc(ptr, lib().teeu_key_free)

    @classmethod
    def _make(cls, fn, *args):
        out = ffi.new("teeu_key **")
        check(fn(*args, out))
        return cls(out[0])

    @classmethod
    def generate(cls, bits=PARTY_KEY_MIN_BITS):
        """A fresh RSA key pair (3072 bits by default)."""
        return cls._make(lib().teeu_key_generate, bits)

    @classmethod
    def load_private(cls, path, passphrase=None):
        """A party's private key from a PEM file (PKCS#1, PKCS#8 or encrypted PKCS#8; >= 3072 bits)."""
        keep = []
        return cls._make(lib().teeu_key_load_private_file, cstr(path, keep), cstr(passphrase, keep))

    @classmethod
    def from_private_pem(cls, pem, passphrase=None):
        keep = []
        data = _bytes(pem)
        return cls._make(lib().teeu_key_load_private_pem, data, len(data), cstr(passphrase, keep))

    @classmethod
    def load_public(cls, path, min_bits=0):
        """A public key (SPKI or PKCS#1 PEM) of at least min_bits bits (0: 2048)."""
        keep = []
        return cls._make(lib().teeu_key_load_public_file, cstr(path, keep), min_bits)

    @classmethod
    def from_public_pem(cls, pem, min_bits=0):
        data = _bytes(pem)
        return cls._make(lib().teeu_key_load_public_pem, data, len(data), min_bits)

    def _handle(self):
        if self._ptr is None:
            raise ValueError("key is closed")
        return self._ptr

    def close(self):
        """Frees the key now (wiping private material)."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            ffi.release(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def bits(self):
        return lib().teeu_key_bits(self._handle())

    @property
    def is_private(self):
        return bool(lib().teeu_key_is_private(self._handle()))

    @property
    def owner_id(self):
        """SecretFlow's owner_id: base64(SHA-256(DER SubjectPublicKeyInfo))."""
        out = ffi.new("char[]", OWNER_ID_LEN + 1)
        check(lib().teeu_key_owner_id(self._handle(), out))
        return ffi.string(out).decode("ascii")

    def public_pem(self):
        """The public half as SPKI PEM text."""
        pem = ffi.new("char **")
        n = ffi.new("size_t *")
        check(lib().teeu_key_public_pem(self._handle(), pem, n))
        try:
            return ffi.unpack(pem[0], n[0]).decode("ascii")
        finally:
            lib().teeu_free(pem[0])

    def private_pem(self, passphrase=None):
        """The private key as PKCS#8 PEM bytes, encrypted (AES-256-CBC) when passphrase is given.

        The library's copy is wiped; the returned bytes are an ordinary
        Python object, which Python cannot wipe: keep it short-lived.
        """
        keep = []
        pem = ffi.new("char **")
        n = ffi.new("size_t *")
        check(lib().teeu_key_private_pem(self._handle(), cstr(passphrase, keep), pem, n))
        try:
            return ffi.unpack(pem[0], n[0])
        finally:
            lib().teeu_free_secret(pem[0], n[0])

    def __repr__(self):
        if self._ptr is None:
            return "<teeu.Key closed>"
        kind = "private" if self.is_private else "public"
        return f"<teeu.Key {kind} RSA-{self.bits} owner_id={self.owner_id}>"


def owner_id(public_key_pem_or_path):
    """owner_id of a public key given as PEM text/bytes or a path to a PEM file."""
    value = public_key_pem_or_path
    text = value.encode() if isinstance(value, str) else value
    if isinstance(text, (bytes, bytearray)) and b"-----BEGIN" in text:
        return Key.from_public_pem(text).owner_id
    return Key.load_public(value).owner_id


__all__ = ["Key", "owner_id", "PARTY_KEY_MIN_BITS", "PEER_KEY_MIN_BITS", "OWNER_ID_LEN"]
