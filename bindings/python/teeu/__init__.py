"""teeu — Python bindings of libteeu, the C SDK for SecretFlow's TEEU.

The seed's secure aggregation, in this API (see docs/python.md):

    import numpy as np
    import teeu

    teeu.init(party="alice", cluster_config=cluster_config, party_key_pair=party_key_pair,
              auth_manager_config=auth_manager_config, tee_simulation=True)
    carol = teeu.TEEU("carol", mr_enclave="")
    average = teeu.func("average", axis=1)
    a_tee = teeu.to(np.random.random((4, 3)), carol, allow_funcs=average)
    avg = carol(average)([a_tee, b_tee])
    print(teeu.reveal(avg))

libteeu is loaded (cffi, ABI mode) on first use from: the path given to
teeu.load_library(path), else $TEEU_LIBRARY, else the build tree when this
package is imported from a libteeu checkout ($TEEU_BUILD_DIR, build/ci,
build/release), else the installed library. Every libteeu error is raised
as a subclass of teeu.TeeuError (see teeu.errors).
"""
from . import errors, keys, log, ndarray
from ._lib import LibraryNotFoundError, library_path, load_library
from .client import (PYU, TEEU, Client, Func, Object, PYUObject, func, get_client, init, reveal,
                     shutdown, to)
from .errors import *  # noqa: F401,F403,E402  (TeeuError and one class per status)
from .keys import Key, owner_id
from .log import log_to_logging, set_log_handler, set_log_level
from .ndarray import SUPPORTED_DTYPES, ArrayView, decode_npy, encode_npy, npy_info

__version__ = "0.1.0"


def library_version():
    """Version string of the loaded libteeu (loading it if needed)."""
    from ._lib import ffi, lib
    return ffi.string(lib().teeu_version_string()).decode()


def has_client_api():
    """True if the loaded libteeu includes put/call/reveal."""
    from ._lib import has_symbol
    return has_symbol("teeu_put")


__all__ = ["errors", "keys", "log", "ndarray", "LibraryNotFoundError", "library_path", "load_library",
           "library_version", "has_client_api", "PYU", "TEEU", "Client", "Func", "Object", "PYUObject",
           "func", "get_client", "init", "reveal", "shutdown", "to", "Key", "owner_id", "log_to_logging",
           "set_log_handler", "set_log_level", "SUPPORTED_DTYPES", "ArrayView", "decode_npy", "encode_npy",
           "npy_info"] + errors.__all__
