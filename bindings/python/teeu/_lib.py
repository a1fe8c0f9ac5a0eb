"""Finding and loading libteeu (cffi, ABI mode: no compiler needed)."""
import ctypes.util
import os
import pathlib
import sys
import sysconfig
import threading

from cffi import FFI

from ._cdef import CDEF

ffi = FFI()
ffi.cdef(CDEF)

# The oldest library these bindings accept: 0.1.x (the first release).
MIN_VERSION_NUMBER = 0x000100

_lock = threading.RLock()
_lib = None
# Run once, right after the library is loaded (the log bridge registers here).
_on_load = []
_lib_path = None

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_LIB_NAMES = ("libteeu.so.0", "libteeu.so", "libteeu.dylib")


class LibraryNotFoundError(ImportError):
    """libteeu could not be found or loaded; the message lists every place tried."""


def _source_tree():
    """The libteeu checkout this package is imported from, or None when installed elsewhere."""
    root = _PACKAGE_DIR.parent.parent.parent  # <repo>/bindings/python/teeu
    if (root / "include" / "teeu" / "ndarray.h").is_file() and (root / "CMakeLists.txt").is_file():
        return root
    return None


def _build_tree_candidates():
    out = []
    build_dir = os.environ.get("TEEU_BUILD_DIR")
    if build_dir:
        out.append(pathlib.Path(build_dir))
    root = _source_tree()
    if root is not None:
        build_root = pathlib.Path(os.environ.get("TEEU_BUILD_ROOT", root / "build"))
        out += [build_root / "ci", build_root / "release", build_root, build_root / "asan"]
    return [d / name for d in out for name in _LIB_NAMES[:2]]


def _installed_candidates():
    out = []
    found = ctypes.util.find_library("teeu")  # ldconfig's cache (e.g. /usr/local/lib after ldconfig)
    if found:
        out.append(found)
    dirs = [sysconfig.get_config_var("LIBDIR"), os.path.join(sys.prefix, "lib"), "/usr/local/lib",
            "/usr/local/lib64", "/usr/lib", "/usr/lib64"]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        dirs += [f"/usr/local/lib/{multiarch}", f"/usr/lib/{multiarch}"]
    for d in dict.fromkeys(d for d in dirs if d):
        out += [os.path.join(d, name) for name in _LIB_NAMES[:2]]
    # Last: a bare soname, resolved by the dynamic loader (LD_LIBRARY_PATH, rpath).
    out.append(_LIB_NAMES[0])
    return out


def candidates(path=None):
    """Where load_library looks, in order: path, $TEEU_LIBRARY, the build tree, the installed library."""
    if path is not None:
        return [os.fspath(path)]
    env = os.environ.get("TEEU_LIBRARY")
    if env:
        return [env]
    return [os.fspath(p) for p in _build_tree_candidates()] + _installed_candidates()


def _open(path):
    lib = ffi.dlopen(path)
    number = lib.teeu_version_number()
    if number < MIN_VERSION_NUMBER or (number >> 16) != (MIN_VERSION_NUMBER >> 16):
        raise LibraryNotFoundError(
            f"{path} is libteeu {ffi.string(lib.teeu_version_string()).decode()}, these bindings need "
            f"{MIN_VERSION_NUMBER >> 16}.{(MIN_VERSION_NUMBER >> 8) & 0xff}.x or a later minor release")
    return lib


def load_library(path=None):
    """Loads libteeu once per process and returns the cffi library object.

    path: an explicit file (for example build/ci/libteeu.so). Without it the
    library is searched as candidates() lists. A later call with another
    path than the loaded one is an error: one process uses one libteeu.
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            if path is not None and os.path.realpath(path) != os.path.realpath(_lib_path):
                raise LibraryNotFoundError(f"libteeu is already loaded from {_lib_path}; cannot switch to {path}")
            return _lib
        tried = []
        for cand in candidates(path):
            explicit = path is not None or os.environ.get("TEEU_LIBRARY")
            if os.sep in cand and not os.path.exists(cand):
                tried.append(f"{cand} (missing)")
                if explicit:
                    break
                continue
            try:
                _lib = _open(cand)
            except OSError as exc:
                tried.append(f"{cand} ({exc})")
                if explicit:
                    break
                continue
            _lib_path = cand
            for hook in _on_load:
                hook()
            return _lib
        raise LibraryNotFoundError(
            "cannot load libteeu; tried: " + "; ".join(tried) +
            ". Build it (cmake --build build/ci), install it, or set TEEU_LIBRARY to the file's path.")


def lib():
    """The loaded library (loading it from the default places on first use)."""
    return _lib if _lib is not None else load_library()


def library_path():
    """Path (or soname) libteeu was loaded from, or None before loading."""
    return _lib_path


def has_symbol(name):
    """True if the loaded libteeu exports name (the client API is absent from older builds)."""
    try:
        getattr(lib(), name)
    except AttributeError:
        return False
    return True
