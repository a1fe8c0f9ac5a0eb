"""libteeu's diagnostics as Python logging records.

libteeu writes nothing on its own; it hands messages to one process-wide
handler. When the bindings load the library they install a bridge to the
`teeu` logger (standard `logging`) at WARNING, so warnings such as "tee
simulation: nothing is protected" show up like any Python warning log.
libteeu's levels are numerically the same as logging's (DEBUG 10, INFO 20,
WARNING 30, ERROR 40).

    teeu.set_log_level(logging.DEBUG)     # pass more to the `teeu` logger
    teeu.set_log_handler(fn, level)       # fn(level: int, message: str), from any thread
    teeu.set_log_handler(None)            # discard everything
"""
import atexit
import logging
import threading

from ._lib import ffi, lib

DEBUG, INFO, WARN, ERROR, OFF = 10, 20, 30, 40, 100

logger = logging.getLogger("teeu")

_lock = threading.Lock()
_state = {"fn": None, "level": WARN, "callback": None}


def _to_logging(level, message):
    logger.log(level, "%s", message)


def _dispatch(level, message, _user_data):
    fn = _state["fn"]
    if fn is not None:
        fn(level, ffi.string(message).decode("utf-8", "replace"))


def _on_error(exc_type, exc, tb):
    # An exception cannot cross into C: report it the way threading does and go on.
    logging.getLogger("teeu.log").error("log handler raised", exc_info=(exc_type, exc, tb))


def _install(fn, level):
    L = lib()
    with _lock:
        if _state["callback"] is None:
            # One callback for the life of the process: libteeu may call it from any thread.
            _state["callback"] = ffi.callback("void(int, const char *, void *)", _dispatch, onerror=_on_error)
        _state["fn"] = fn
        _state["level"] = level
        L.teeu_set_log_handler(_state["callback"] if fn is not None else ffi.NULL, ffi.NULL,
                               level if fn is not None else OFF)


def set_log_handler(fn, level=WARN):
    """Sends libteeu's messages of at least `level` to fn(level, message); None discards them.

    fn runs on whichever thread libteeu logs from (with the GIL held) and
    must be thread-safe. As with teeu_set_log_handler, set it before other
    threads use libteeu.
    """
    if fn is not None and not callable(fn):
        raise TypeError("log handler must be callable or None")
    _install(fn, int(level))


def set_log_level(level):
    """Lowest level passed to the `teeu` logger bridge (logging.DEBUG ... logging.ERROR)."""
    _install(_to_logging, int(level))


def log_to_logging(level=WARN):
    """(Re)installs the default bridge to the `teeu` logger."""
    _install(_to_logging, int(level))


def _default_on_load():
    _install(_to_logging, WARN)


def _at_exit():
    # Interpreter shutdown: stop libteeu calling into Python before Python goes away.
    from . import _lib as lib_module
    if lib_module._lib is not None:
        lib_module._lib.teeu_set_log_handler(ffi.NULL, ffi.NULL, OFF)
        _state["fn"] = None


atexit.register(_at_exit)

from . import _lib as _lib_module  # noqa: E402

_lib_module._on_load.append(_default_on_load)
