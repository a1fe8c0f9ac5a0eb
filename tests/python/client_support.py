"""Helpers for the client (teeu_put / teeu_call / teeu_reveal) integration
tests: a ctypes wrapper over libteeu's client API, and a simulation cluster
(simulation attestation authority, teeu-authmanager, teeud) on 127.0.0.1
with run-time ports, plus per-party keys and config files.
"""
import ctypes as C
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import threading

import numpy as np

TEEU_OK = 0
ERR = {
    "CONFIG": 7, "INSECURE": 8, "POLICY": 410, "REPORT_DATA": 411, "NOT_AUTHORIZED": 500, "NOT_FOUND": 501,
    "BAD_HANDLE": 502, "CONNECT": 350, "TIMEOUT": 352, "INVALID_ARGUMENT": 1,
}

DTYPES = {  # numpy dtype -> teeu_dtype
    np.dtype(np.bool_): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
    np.dtype(np.int64): 5, np.dtype(np.uint8): 6, np.dtype(np.uint16): 7, np.dtype(np.uint32): 8,
    np.dtype(np.uint64): 9, np.dtype(np.float16): 10, np.dtype(np.float32): 11, np.dtype(np.float64): 12,
    np.dtype(np.complex64): 13, np.dtype(np.complex128): 14,
}
NP_OF = {v: k for k, v in DTYPES.items()}


class TeeuError(Exception):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status, self.message = status, message


class Stats(C.Structure):
    _fields_ = [(n, C.c_uint64) for n in ("rpc_calls", "am_calls", "teeu_calls", "rsa_private_ops", "puts",
                                          "bytes_sent", "rsa_private_ops_precomputed", "puts_presigned",
                                          "puts_presigned_auth")]


class Arg(C.Structure):
    _fields_ = [("objs", C.POINTER(C.c_void_p)), ("n_objs", C.c_size_t), ("is_list", C.c_int)]


class CallOptions(C.Structure):
    _fields_ = [("revealers", C.POINTER(C.c_char_p)), ("n_revealers", C.c_size_t),
                ("allow_plaintext_reveal", C.c_int), ("timeout_ms", C.c_long)]


class PutOptions(C.Structure):
    _fields_ = [("allowed_parties", C.POINTER(C.c_char_p)), ("n_allowed_parties", C.c_size_t),
                ("timeout_ms", C.c_long), ("zstd_level", C.c_int)]


class Desc(C.Structure):
    _fields_ = [("dtype", C.c_int), ("byte_order", C.c_int), ("ndim", C.c_size_t), ("shape", C.POINTER(C.c_size_t)),
                ("strides", C.POINTER(C.c_ssize_t)), ("layout", C.c_int), ("offset", C.c_size_t)]


class Lib:
    """The client API of libteeu.so through ctypes."""

    def __init__(self, path):
        self.L = L = C.CDLL(str(path))
        vp, st = C.c_void_p, C.c_int
        sigs = {
            "teeu_client_new_from_file": (st, [C.c_char_p, C.POINTER(vp)]),
            "teeu_client_free": (None, [vp]),
            "teeu_client_owner_id": (C.c_char_p, [vp]),
            "teeu_client_get_stats": (st, [vp, C.POINTER(Stats)]),
            "teeu_func_new": (st, [C.c_char_p, C.c_char_p, C.POINTER(vp)]),
            "teeu_func_descriptor": (C.c_char_p, [vp]),
            "teeu_func_identity": (C.c_char_p, [vp]),
            "teeu_func_free": (None, [vp]),
            "teeu_ndarray_view": (st, [C.c_int, C.c_size_t, C.POINTER(C.c_size_t), vp, C.c_size_t, C.POINTER(vp)]),
            "teeu_ndarray_free": (None, [vp]),
            "teeu_ndarray_view_desc": (st, [C.POINTER(Desc), vp, C.c_size_t, C.POINTER(vp)]),
            "teeu_ndarray_dtype": (C.c_int, [vp]),
            "teeu_ndarray_byte_order": (C.c_int, [vp]),
            "teeu_ndarray_ndim": (C.c_size_t, [vp]),
            "teeu_ndarray_shape": (C.POINTER(C.c_size_t), [vp]),
            "teeu_ndarray_nbytes": (C.c_size_t, [vp]),
            "teeu_ndarray_is_c_contiguous": (C.c_int, [vp]),
            "teeu_ndarray_data": (vp, [vp]),
            "teeu_put_ex": (st, [vp, vp, C.POINTER(vp), C.c_size_t, C.POINTER(PutOptions), C.POINTER(vp)]),
            "teeu_call_ex": (st, [vp, vp, C.POINTER(Arg), C.c_size_t, C.POINTER(CallOptions), C.POINTER(vp)]),
            "teeu_reveal_ex": (st, [vp, vp, C.c_long, C.POINTER(vp)]),
            "teeu_delete": (st, [vp, vp]),
            "teeu_object_handle": (C.c_char_p, [vp]),
            "teeu_object_from_string": (st, [C.c_char_p, C.POINTER(vp)]),
            "teeu_object_free": (None, [vp]),
            "teeu_last_error": (C.c_char_p, []),
        }
        for name, (res, args) in sigs.items():
            f = getattr(L, name)
            f.restype, f.argtypes = res, args

    def check(self, status):
        if status != TEEU_OK:
            raise TeeuError(status, self.L.teeu_last_error().decode(errors="replace"))


class Func:
    def __init__(self, lib, name, params=None):
        self.lib, self.p = lib, C.c_void_p()
        lib.check(lib.L.teeu_func_new(name.encode(), params.encode() if params else None, C.byref(self.p)))
        self.descriptor = lib.L.teeu_func_descriptor(self.p).decode()
        self.identity = lib.L.teeu_func_identity(self.p).decode()

    def __del__(self):
        self.lib.L.teeu_func_free(self.p)


class Obj:
    def __init__(self, lib, p):
        self.lib, self.p = lib, p
        self.handle = lib.L.teeu_object_handle(p).decode()

    @classmethod
    def from_string(cls, lib, handle):
        p = C.c_void_p()
        lib.check(lib.L.teeu_object_from_string(handle.encode(), C.byref(p)))
        return cls(lib, p)

    def __del__(self):
        self.lib.L.teeu_object_free(self.p)


class Client:
    """One party's teeu_client, from its config file."""

    def __init__(self, lib, config_path):
        self.lib, self.p = lib, C.c_void_p()
        lib.check(lib.L.teeu_client_new_from_file(str(config_path).encode(), C.byref(self.p)))
        self.owner_id = lib.L.teeu_client_owner_id(self.p).decode()

    def close(self):
        if self.p:
            self.lib.L.teeu_client_free(self.p)
            self.p = C.c_void_p()

    def __del__(self):
        self.close()

    def stats(self):
        s = Stats()
        self.lib.check(self.lib.L.teeu_client_get_stats(self.p, C.byref(s)))
        return {n: getattr(s, n) for n, _ in Stats._fields_}

    def put(self, arr, funcs, allowed_parties=None, timeout_ms=0, zstd_level=-1):
        """Puts arr as it lies in memory (any strides and byte order: a view, not a copy)."""
        shape = (C.c_size_t * max(arr.ndim, 1))(*arr.shape)
        strides = (C.c_ssize_t * max(arr.ndim, 1))(*arr.strides)
        order = {">": 2, "<": 1}.get(arr.dtype.byteorder, 0)
        base = arr.base if arr.base is not None else arr
        while getattr(base, "base", None) is not None:
            base = base.base
        base_addr, base_len = base.ctypes.data, base.nbytes
        desc = Desc(DTYPES[arr.dtype.newbyteorder("=")], order, arr.ndim, shape, strides, 0,
                    arr.ctypes.data - base_addr)
        view = C.c_void_p()
        self.lib.check(self.lib.L.teeu_ndarray_view_desc(C.byref(desc), C.c_void_p(base_addr), base_len,
                                                         C.byref(view)))
        try:
            fptrs = (C.c_void_p * len(funcs))(*[f.p.value for f in funcs])
            opts = PutOptions(None, 0, timeout_ms, zstd_level)
            keep = None
            if allowed_parties:
                keep = (C.c_char_p * len(allowed_parties))(*[p.encode() for p in allowed_parties])
                opts.allowed_parties, opts.n_allowed_parties = keep, len(allowed_parties)
            out = C.c_void_p()
            self.lib.check(self.lib.L.teeu_put_ex(self.p, view, fptrs, len(funcs), C.byref(opts), C.byref(out)))
            return Obj(self.lib, out)
        finally:
            self.lib.L.teeu_ndarray_free(view)

    def call(self, func, objs, revealers=None, timeout_ms=0, args=None):
        """objs as ONE list argument (the seed's teeu(average)([a, b])), or args = [(objs, is_list), ...]."""
        args = args if args is not None else [(objs, True)]
        keep = []
        cargs = (Arg * len(args))()
        for i, (group, is_list) in enumerate(args):
            ptrs = (C.c_void_p * len(group))(*[o.p.value for o in group])
            keep.append(ptrs)
            cargs[i] = Arg(ptrs, len(group), 1 if is_list else 0)
        opts = CallOptions(None, 0, 0, timeout_ms)
        if revealers:
            r = (C.c_char_p * len(revealers))(*[x.encode() for x in revealers])
            keep.append(r)
            opts.revealers, opts.n_revealers = r, len(revealers)
        out = C.c_void_p()
        self.lib.check(self.lib.L.teeu_call_ex(self.p, func.p, cargs, len(args), C.byref(opts), C.byref(out)))
        return Obj(self.lib, out)

    def delete(self, obj):
        self.lib.check(self.lib.L.teeu_delete(self.p, obj.p))

    def reveal(self, obj, timeout_ms=0):
        out = C.c_void_p()
        self.lib.check(self.lib.L.teeu_reveal_ex(self.p, obj.p, timeout_ms, C.byref(out)))
        try:
            return to_numpy(self.lib, out)
        finally:
            self.lib.L.teeu_ndarray_free(out)


def to_numpy(lib, p):
    L = lib.L
    dt = NP_OF[L.teeu_ndarray_dtype(p)]
    if L.teeu_ndarray_byte_order(p) == 2:
        dt = dt.newbyteorder(">")
    elif dt.itemsize > 1:
        dt = dt.newbyteorder("<")
    nd = L.teeu_ndarray_ndim(p)
    shape = tuple(L.teeu_ndarray_shape(p)[i] for i in range(nd))
    n = L.teeu_ndarray_nbytes(p)
    assert L.teeu_ndarray_is_c_contiguous(p)
    raw = C.string_at(L.teeu_ndarray_data(p), n) if n else b""
    return np.frombuffer(raw, dtype=dt).reshape(shape).astype(dt.newbyteorder("="))


# ---- the services ------------------------------------------------------------------

class Service:
    """A service on 127.0.0.1 that prints `listening on HOST:PORT`."""

    def __init__(self, name, argv, log_path):
        self.name, self.argv, self.log_path = name, [str(a) for a in argv], pathlib.Path(log_path)
        self.proc, self.address = None, None

    def start(self, timeout=60):
        self.errf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.errf)
        line = [b""]
        t = threading.Thread(target=lambda: line.__setitem__(0, self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        text = line[0].decode(errors="replace")
        if not text.startswith("listening on "):
            self.kill()
            raise RuntimeError(f"{self.name} did not start: {text!r}\n{self.log()}")
        self.address = text.strip()[len("listening on "):]
        # Drain stdout so the service never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self):
        if getattr(self, "errf", None):
            self.errf.close()
            self.errf = None


def sha256_file(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest().upper()


class Cluster:
    """Simulation authority + teeu-authmanager + teeud in tmp, and parties with configs."""

    def __init__(self, tool, tmp, libteeu_path):
        self.tool, self.tmp = tool, pathlib.Path(tmp)
        self.lib = Lib(libteeu_path)
        self.sim = self.tmp / "sim-ca"
        subprocess.run([tool("teeu-attest"), "sim-init", self.sim], check=True, stdout=subprocess.DEVNULL)
        self.am_bin, self.teeud_bin = tool("teeu-authmanager"), tool("teeud")
        self.am_mr = sha256_file(self.am_bin)
        self.teeu_mr = subprocess.run([self.teeud_bin, "--print-mrenclave"], check=True, capture_output=True,
                                      text=True).stdout.strip().upper()
        self.am = self.teeud = None
        self.teeud_port = 0
        self.clients = []

    def start(self):
        self.am = Service("teeu-authmanager", [self.am_bin, "--simulation", "--sim-authority", self.sim,
                                               "--listen", "127.0.0.1:0", "--state", self.tmp / "am-state"],
                          self.tmp / "am.log").start()
        self.start_teeud()
        return self

    def start_teeud(self, port=None):
        port = self.teeud_port if port is None else port
        self.teeud = Service("teeud", [self.teeud_bin, "--simulation", "--sim-authority", self.sim,
                                       "--listen", f"127.0.0.1:{port}", "--state", self.tmp / "teeud-state",
                                       "--authmanager", self.am.address], self.tmp / "teeud.log").start()
        self.teeud_port = int(self.teeud.address.rsplit(":", 1)[1])
        return self.teeud

    def stop(self):
        for c in self.clients:
            c.close()
        for s in (self.teeud, self.am):
            if s is not None:
                s.stop()

    def party(self, name, **overrides):
        """Writes NAME.key (RSA-3072, openssl genrsa) and NAME.json; returns the config path."""
        key = self.tmp / f"{name}.key"
        if not key.exists():
            subprocess.run(["openssl", "genrsa", "-out", key, "3072"], check=True, capture_output=True)
        cfg = {
            "party": name,
            "cluster_config": {"parties": {name: {"address": "127.0.0.1:0"},
                                           "carol": {"address": self.teeud.address}},
                               "self_party": name},
            "party_key_pair": {name: {"private_key": f"{name}.key"}},
            "auth_manager_config": {"host": self.am.address, "mr_enclave": self.am_mr},
            "teeu": {"party": "carol", "mr_enclave": self.teeu_mr},
            "tee_simulation": True,
            "sim_root": "sim-ca/root_ca.pem",
            "timeout_ms": 60000,
        }
        for k, v in overrides.items():
            if v is None:
                cfg.pop(k, None)
            elif isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = {**cfg[k], **v}
            else:
                cfg[k] = v
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(cfg, indent=1))
        return path

    def client(self, name, **overrides):
        c = Client(self.lib, self.party(name, **overrides))
        self.clients.append(c)
        return c

    def spool_files(self):
        d = self.tmp / "teeud-state"
        return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()) if d.exists() else []
