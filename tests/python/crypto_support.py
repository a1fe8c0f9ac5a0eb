"""Helpers for the crypto cross-implementation tests: run crypto_tool, and a
Python reference implementation of libteeu's stream format (docs/crypto.md)."""
import subprocess

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

STREAM_HEADER_LEN = 32
TAG_LEN = 16


class ToolError(Exception):
    def __init__(self, returncode, stderr):
        super().__init__(f"crypto_tool exited {returncode}: {stderr}")
        self.returncode = returncode
        self.stderr = stderr


def run(tool_path, *args):
    """Runs crypto_tool; returns stdout lines; raises ToolError on failure."""
    proc = subprocess.run([str(tool_path), *map(str, args)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise ToolError(proc.returncode, proc.stderr.strip())
    return proc.stdout.split()


def stream_subkey(key, header):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=header[8:24],
                info=b"libteeu stream v1" + header[:8]).derive(key)


def stream_nonce(header, index, final):
    return header[24:31] + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def stream_segment_size(header):
    return int.from_bytes(header[4:8], "big")


def stream_open(key, aad, blob):
    """Opens a whole stream per the documented format (raises on any failure)."""
    header = blob[:STREAM_HEADER_LEN]
    assert header[:4] == b"TS\x01\x00" and header[31] == 0
    seg = stream_segment_size(header)
    aead = AESGCM(stream_subkey(key, header))
    body = blob[STREAM_HEADER_LEN:]
    unit = seg + TAG_LEN
    chunks = [body[i:i + unit] for i in range(0, len(body), unit)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        final = i == len(chunks) - 1
        out.append(aead.decrypt(stream_nonce(header, i, final), chunk, header + aad))
    return b"".join(out)


def stream_seal(key, aad, data, segment_size, header_random):
    """Seals per the documented format with caller-given salt||prefix (23 bytes)."""
    header = b"TS\x01\x00" + segment_size.to_bytes(4, "big") + header_random + b"\x00"
    assert len(header) == STREAM_HEADER_LEN
    aead = AESGCM(stream_subkey(key, header))
    pieces = [data[i:i + segment_size] for i in range(0, len(data), segment_size)] or [b""]
    out = [header]
    for i, piece in enumerate(pieces):
        out.append(aead.encrypt(stream_nonce(header, i, i == len(pieces) - 1), piece, header + aad))
    return b"".join(out)
