"""Status checking and string helpers shared by the modules."""
import os

from ._lib import ffi, lib
from .errors import make_error

NULL = ffi.NULL


def last_error():
    """teeu_last_error() of the calling thread, as str."""
    return ffi.string(lib().teeu_last_error()).decode("utf-8", "replace")


def status_str(status):
    return ffi.string(lib().teeu_status_str(status)).decode("utf-8", "replace")


def check(status):
    """Raises the exception for a failed libteeu call.

    Must run right after the call, on the same thread: the detail message is
    per thread and replaced by the next libteeu call there.
    """
    if status != 0:
        L = lib()
        message = ffi.string(L.teeu_last_error()).decode("utf-8", "replace")
        raise make_error(status, message, ffi.string(L.teeu_status_str(status)).decode("utf-8", "replace"))


def cstr(value, keep):
    """A NUL-terminated char* for value (str, bytes, os.PathLike or None), kept alive by the keep list."""
    if value is None:
        return NULL
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise TypeError(f"expected a string or path, got {type(value).__name__}")
    if b"\0" in value:
        raise ValueError("string contains a NUL byte")
    buf = ffi.new("char[]", value)
    keep.append(buf)
    return buf


def pystr(ptr):
    """A str from a libteeu-owned const char* (None for NULL)."""
    return None if ptr == NULL else ffi.string(ptr).decode("utf-8", "replace")
