"""The client API: put, call, reveal, in SecretFlow's shape.

    import teeu
    teeu.init(party="alice", cluster_config=..., party_key_pair=...,
              auth_manager_config=..., tee_simulation=True)
    carol = teeu.TEEU("carol", mr_enclave="")
    average = teeu.func("average", axis=1)
    a_tee = teeu.to(a, carol, allow_funcs=average)       # a.to(teeu, allow_funcs=average)
    avg = carol(average)([a_tee, b_tee])                 # teeu(average)([a_tee, b_tee])
    print(teeu.reveal(avg))                              # sf.reveal(avg)

A Client holds one libteeu teeu_client per (party, TEEU device) it acts
for, created on first use; all of them are thread-safe, and every libteeu
call runs without the GIL, so several Python threads may put, call and
reveal at once.
"""
import contextlib
import json
import os
import threading

import numpy as np

from ._core import NULL, check, cstr, pystr
from ._lib import ffi, has_symbol, lib
from .errors import ConfigError
from .ndarray import ArrayView, to_numpy

__all__ = ["Client", "TEEU", "PYU", "PYUObject", "Func", "Object", "func", "init", "shutdown",
           "get_client", "to", "reveal"]


def _need_client_api():
    if not has_symbol("teeu_put"):
        from . import _lib
        raise ConfigError(f"the loaded libteeu ({_lib.library_path()}) has no client API (teeu_put); "
                          "build a libteeu that includes lib/client or point TEEU_LIBRARY at one")


def _timeout_ms(timeout):
    """Seconds (float) to libteeu milliseconds; None -> 0 (the client's default)."""
    if timeout is None:
        return 0
    ms = int(round(float(timeout) * 1000))
    if ms <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    return ms


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"function parameter {value!r} is not JSON-serialisable")


class Func:
    """A function a TEEU can run: a kernel name, a version and keyword parameters.

    `teeu.func("average", axis=1)` is descriptor `average@1{"axis":1}`;
    authorising it (allow_funcs) authorises that exact descriptor only.
    """

    __slots__ = ("_ptr", "name", "version", "params", "descriptor", "identity")

    def __init__(self, name, version=1, **params):
        _need_client_api()
        keep = []
        params_json = json.dumps(params, sort_keys=True, separators=(",", ":"),
                                 default=_json_default) if params else None
        out = ffi.new("teeu_func **")
        check(lib().teeu_func_new_version(cstr(name, keep), version, cstr(params_json, keep), out))
        self._ptr = ffi.gc(out[0], lib().teeu_func_free)
        self.name = name
        self.version = version
        self.params = dict(params)
        self.descriptor = pystr(lib().teeu_func_descriptor(self._ptr))
        self.identity = pystr(lib().teeu_func_identity(self._ptr))

    def __repr__(self):
        return f"teeu.func({self.descriptor!r})"

    def __eq__(self, other):
        return isinstance(other, Func) and other.descriptor == self.descriptor

    def __hash__(self):
        return hash(self.descriptor)


def func(name, version=1, **params):
    """A Func: `teeu.func("average", axis=1)`."""
    return name if isinstance(name, Func) else Func(name, version, **params)


def _funcs(allow_funcs):
    if allow_funcs is None:
        return []
    if isinstance(allow_funcs, (Func, str)):
        allow_funcs = [allow_funcs]
    return [func(f) for f in allow_funcs]


class Object:
    """An array held, encrypted, by a TEEU: a put object or a call result.

    `handle` is the string other parties use to refer to it
    (client.object(handle)); it holds no secret.
    """

    __slots__ = ("_ptr", "client", "party", "device", "handle", "uuid", "__weakref__")

    def __init__(self, ptr, client, party, device):
        self._ptr = ffi.gc(ptr, lib().teeu_object_free)
        self.client = client
        self.party = party
        self.device = device
        self.handle = pystr(lib().teeu_object_handle(ptr))
        self.uuid = pystr(lib().teeu_object_uuid(ptr))

    def reveal(self, party=None, timeout=None):
        """The object's array, as a numpy array (see Client.reveal)."""
        return self.client.reveal(self, party=party, timeout=timeout)

    def delete(self, party=None):
        """Deletes the object from the TEEU (see Client.delete)."""
        self.client.delete(self, party=party)

    def __str__(self):
        return self.handle

    def __repr__(self):
        return f"<teeu.Object {self.handle} party={self.party}>"


class TEEU:
    """A TEEU device: the party running teeud, and the enclave measurement expected of it.

    As sf.TEEU(party, mr_enclave=...). Its address comes from the client's
    cluster_config["parties"][party]["address"] unless given here; TLS
    files likewise from that entry ("ca_cert", "client_cert", "client_key").
    An empty mr_enclave is accepted only with tee_simulation (a logged
    warning; nothing is checked).

    device(fn)(args...) runs fn on objects: each positional argument is an
    Object, or a list of Objects passed as one list argument (stacked on a
    new axis 0, as numpy does with np.average([a, b], axis=1)).
    """

    def __init__(self, party, mr_enclave="", *, address=None, ca_cert=None, client_cert=None,
                 client_key=None, client=None):
        self.party = party
        self.mr_enclave = mr_enclave or ""
        self.address = address
        self.ca_cert = ca_cert
        self.client_cert = client_cert
        self.client_key = client_key
        self._client = client
        if client is not None:
            client._adopt(self)
        elif _default["client"] is not None:
            _default["client"]._adopt(self)

    @property
    def client(self):
        c = self._client or _default["client"]
        if c is None:
            raise ConfigError(f"TEEU({self.party!r}) has no client: call teeu.init(...) first or pass client=")
        return c

    def key(self):
        """What identifies this device's connection: party, address and expected measurement."""
        return (self.party, self.address, self.mr_enclave, self.ca_cert, self.client_cert, self.client_key)

    def __call__(self, fn, *, party=None, revealers=None, allow_plaintext_reveal=False, timeout=None, **params):
        """device(fn) -> a callable running fn on this TEEU: device(teeu.func("average", axis=1))([a, b]).

        fn is a Func or a kernel name (with params as keywords:
        device("average", axis=1)). party: who signs the request (by
        default the client's party, or the owner of the first local input).
        """
        f = func(fn, **params) if isinstance(fn, str) else fn
        if not isinstance(f, Func):
            raise TypeError("a TEEU runs teeu.func(...) kernels, not Python callables; "
                            f"got {type(fn).__name__}")

        def run(*args):
            return self.client.call(f, *args, device=self, party=party, revealers=revealers,
                                    allow_plaintext_reveal=allow_plaintext_reveal, timeout=timeout)
        return run

    def __repr__(self):
        return f"teeu.TEEU({self.party!r}, mr_enclave={self.mr_enclave!r})"


class PYUObject:
    """A party's local value (as sf.PYUObject): `.to(teeu_device, allow_funcs=...)` puts it."""

    __slots__ = ("device", "data")

    def __init__(self, device, data):
        self.device = device
        self.data = data

    def to(self, device, allow_funcs=None, **kwargs):
        return device.client.put(self.data, allow_funcs=allow_funcs, device=device, party=self.device.party,
                                 **kwargs)

    def __repr__(self):
        return f"<teeu.PYUObject of {self.device.party!r}>"


class PYU:
    """A data party running plain Python locally (as sf.PYU): `alice(fn)(*args)` -> PYUObject."""

    def __init__(self, party):
        self.party = party

    def __call__(self, fn):
        def run(*args, **kwargs):
            return PYUObject(self, fn(*args, **kwargs))
        return run

    def __repr__(self):
        return f"teeu.PYU({self.party!r})"


def _get(mapping, *names):
    for name in names:
        if mapping is not None and mapping.get(name) not in (None, ""):
            return mapping[name]
    return None


class Client:
    """A session of one or more data parties, configured like sf.init.

    party: the party this process acts for (default: cluster_config's
        "self_party", or the only party in party_key_pair). With several
        parties in party_key_pair one process may act for each of them
        (party= on put/call/reveal, or a PYU device), as SecretFlow's
        single-driver simulation does.
    cluster_config: {"parties": {name: {"address": "host:port", ...}},
        "self_party": name}; the TEEU party's entry gives teeud's address.
    party_key_pair: {name: {"private_key": path, "public_key": path,
        "passphrase": optional}}: RSA-3072 PEM files, as SecretFlow's.
    auth_manager_config: {"host": "host:port", "mr_enclave": hex or "",
        "ca_cert": path, "client_cert": path, "client_key": path}.
    tee_simulation: True for simulation mode (protects nothing).
    sim_root: the simulation attestation authority's root certificate
        (PEM); with it quotes are fully checked even in simulation.
    teeu: the default TEEU device for put without device= (a TEEU or a
        dict of its arguments, {"party": ..., "mr_enclave": ...}).
    timeout: default deadline of every call in seconds (or timeout_ms,
        as in the config file); segment_size,
        zstd_level: streaming segment bytes and compression (0 = defaults/off).
    presign: put credentials a background thread keeps ready (teeu_config.presign;
        None = the library's default, 0 = off).
    config_file: instead of the arguments above, a JSON file as read by
        teeu_client_new_from_file (one party, one TEEU).
    """

    def __init__(self, party=None, cluster_config=None, party_key_pair=None, auth_manager_config=None,
                 tee_simulation=False, *, sim_root=None, teeu=None, timeout=None, timeout_ms=None,
                 segment_size=0, zstd_level=0, presign=None, config_file=None, address=None):
        _need_client_api()
        del address  # sf.init's Ray address: nothing to connect to here
        self.cluster_config = dict(cluster_config or {})
        self.party_key_pair = dict(party_key_pair or {})
        self.auth_manager_config = dict(auth_manager_config or {})
        self.tee_simulation = bool(tee_simulation)
        self.sim_root = sim_root
        if timeout is not None and timeout_ms is not None:
            raise TypeError("give timeout (seconds) or timeout_ms, not both")
        self.timeout_ms = int(timeout_ms) if timeout_ms is not None else _timeout_ms(timeout)
        self.segment_size = int(segment_size)
        self.zstd_level = int(zstd_level)
        self.presign = None if presign is None else int(presign)
        self.config_file = os.fspath(config_file) if config_file is not None else None
        if party is None:
            party = self.cluster_config.get("self_party")
        if party is None and len(self.party_key_pair) == 1:
            party = next(iter(self.party_key_pair))
        self.party = party
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._closed = False
        self._handles = {}
        self._devices = []
        if isinstance(teeu, dict):
            teeu = TEEU(client=self, **teeu)
        self._default_device = teeu
        if teeu is not None:
            self._adopt(teeu)
        if self.config_file is not None:
            # Fail now, not on the first put, if the file is wrong.
            with self._using():
                self._handle(self.party, None)

    # ---- lifetime ---------------------------------------------------------

    def close(self):
        """Frees the libteeu clients, after waiting for calls in flight. Idempotent."""
        with self._lock:
            self._closed = True
            while self._busy:
                self._idle.wait()
            handles, self._handles = self._handles, {}
        for h in handles.values():
            lib().teeu_client_free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    @contextlib.contextmanager
    def _using(self):
        with self._lock:
            if self._closed:
                raise ConfigError("the teeu client is closed (teeu.shutdown() or Client.close() was called)")
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0:
                    self._idle.notify_all()

    def _adopt(self, device):
        with self._lock:
            if device not in self._devices:
                self._devices.append(device)

    # ---- configuration ----------------------------------------------------

    def _device(self, device):
        if device is not None:
            return device
        if self._default_device is not None:
            return self._default_device
        if self.config_file is not None:
            return None
        if len(self._devices) == 1:
            return self._devices[0]
        raise ConfigError("no TEEU given: pass device=teeu.TEEU(...), or create exactly one TEEU device, "
                          "or give the client teeu={...}")

    def _party(self, party):
        party = party or self.party
        if party is None:
            if self.config_file is not None:
                return None
            raise ConfigError("no party given: pass party=..., or set cluster_config['self_party'], "
                              "or give party_key_pair exactly one party")
        return party

    def _config(self, party, device, keep):
        cfg = ffi.new("teeu_config *")
        lib().teeu_config_init(cfg)
        keys = self.party_key_pair.get(party)
        if not keys or not keys.get("private_key"):
            raise ConfigError(f"party_key_pair has no private_key for party {party!r}")
        am = self.auth_manager_config
        am_address = _get(am, "host", "address")
        if am_address is None:
            raise ConfigError("auth_manager_config needs 'host' (the AuthManager's host:port)")
        cfg.auth_manager.address = cstr(am_address, keep)
        cfg.auth_manager.mr_enclave = cstr(am.get("mr_enclave") or "", keep)
        cfg.auth_manager.ca_file = cstr(_get(am, "ca_cert", "ca_file"), keep)
        cfg.auth_manager.client_cert_file = cstr(_get(am, "client_cert", "client_cert_file"), keep)
        cfg.auth_manager.client_key_file = cstr(_get(am, "client_key", "client_key_file"), keep)

        entry = (self.cluster_config.get("parties") or {}).get(device.party) or {}
        address = device.address or _get(entry, "address")
        if address is None:
            raise ConfigError(f"no address for TEEU party {device.party!r}: set "
                              f"cluster_config['parties'][{device.party!r}]['address'] or TEEU(address=...)")
        cfg.teeu.address = cstr(address, keep)
        cfg.teeu.mr_enclave = cstr(device.mr_enclave, keep)
        cfg.teeu.ca_file = cstr(device.ca_cert or _get(entry, "ca_cert"), keep)
        cfg.teeu.client_cert_file = cstr(device.client_cert or _get(entry, "client_cert"), keep)
        cfg.teeu.client_key_file = cstr(device.client_key or _get(entry, "client_key"), keep)

        cfg.private_key_file = cstr(keys["private_key"], keep)
        cfg.private_key_passphrase = cstr(keys.get("passphrase"), keep)
        cfg.tee_simulation = 1 if self.tee_simulation else 0
        cfg.sim_root_file = cstr(self.sim_root, keep)
        cfg.timeout_ms = self.timeout_ms
        cfg.segment_size = self.segment_size
        cfg.zstd_level = self.zstd_level
        if self.presign is not None:
            cfg.presign = self.presign
        return cfg

    def _handle(self, party, device):
        """The teeu_client* acting for party towards device, created on first use."""
        key = "file" if self.config_file is not None else (party, device.key())
        h = self._handles.get(key)
        if h is not None:
            return h
        with self._lock:
            h = self._handles.get(key)
            if h is not None:
                return h
            out = ffi.new("teeu_client **")
            if self.config_file is not None:
                keep = []
                check(lib().teeu_client_new_from_file(cstr(self.config_file, keep), out))
            else:
                keep = []
                cfg = self._config(party, device, keep)
                check(lib().teeu_client_new(cfg, out))
            self._handles[key] = out[0]
            return out[0]

    def stats(self, party=None, device=None):
        """Cost counters of the party's libteeu client (teeu_client_get_stats) as a dict:
        rpc_calls, am_calls, teeu_calls, rsa_private_ops, puts, bytes_sent, rsa_private_ops_precomputed,
        puts_presigned, puts_presigned_auth."""
        party = self._party(party)
        st = ffi.new("teeu_client_stats *")
        with self._using():
            check(lib().teeu_client_get_stats(self._handle(party, self._device(device)), st))
        return {name: getattr(st, name) for name in
                ("rpc_calls", "am_calls", "teeu_calls", "rsa_private_ops", "puts", "bytes_sent",
                 "rsa_private_ops_precomputed", "puts_presigned", "puts_presigned_auth")}

    def owner_id(self, party=None, device=None):
        """The party's owner_id (base64 SHA-256 of its public key), as the AuthManager knows it."""
        party = self._party(party)
        with self._using():
            return pystr(lib().teeu_client_owner_id(self._handle(party, self._device(device))))

    # ---- put / call / reveal ----------------------------------------------

    def put(self, array, allow_funcs=None, *, device=None, party=None, allowed_parties=None, timeout=None,
            zstd_level=None):
        """Encrypts array and hands it to the TEEU, allowing only allow_funcs on it.

        As x.to(teeu, allow_funcs=...). array: a numpy array (read in place,
        never copied; any dtype teeu supports, any layout) or anything
        numpy.asarray accepts. allow_funcs: a Func, a kernel name or a list
        of them. allowed_parties: owner_ids that may start computations on
        it (default: all). Returns an Object.
        """
        device = self._device(device)
        party = self._party(party)
        funcs = _funcs(allow_funcs)
        c_funcs = ffi.new("teeu_func *[]", [f._ptr for f in funcs]) if funcs else NULL
        opts = NULL
        keep = []
        if allowed_parties is not None or timeout is not None or zstd_level is not None:
            opts = ffi.new("teeu_put_options *")
            lib().teeu_put_options_init(opts)
            if allowed_parties is not None:
                names = [cstr(p, keep) for p in allowed_parties]
                arr = ffi.new("const char *[]", names) if names else NULL
                keep.append(arr)
                opts.allowed_parties = arr
                opts.n_allowed_parties = len(names)
            opts.timeout_ms = _timeout_ms(timeout)
            if zstd_level is not None:
                opts.zstd_level = int(zstd_level)
        out = ffi.new("teeu_object **")
        with self._using(), ArrayView(array) as view:
            h = self._handle(party, device)
            if opts is NULL:
                check(lib().teeu_put(h, view.ptr, c_funcs, len(funcs), out))
            else:
                check(lib().teeu_put_ex(h, view.ptr, c_funcs, len(funcs), opts, out))
        return Object(out[0], self, party, device)

    def object(self, handle, *, device=None, party=None):
        """An Object from another party's handle string ("teeu://host:port/<uuid>")."""
        keep = []
        out = ffi.new("teeu_object **")
        check(lib().teeu_object_from_string(cstr(handle, keep), out))
        return Object(out[0], self, party or self.party, device)

    def call(self, fn, *args, device=None, party=None, revealers=None, allow_plaintext_reveal=False,
             timeout=None):
        """Runs fn on the TEEU over args and returns the (still encrypted) result Object.

        Each positional argument is an Object (or a handle string), or a
        list/tuple of them passed as ONE list argument:
        client.call(teeu.func("average", axis=1), [a, b]) is the seed's
        teeu(average)([a, b]). revealers: owner_ids allowed to reveal the
        result (default: the requester and the input owners).
        """
        f = func(fn)
        objects = []
        c_args = ffi.new("teeu_arg[]", len(args))
        keep = [c_args]
        for i, arg in enumerate(args):
            is_list = isinstance(arg, (list, tuple))
            items = [self._as_object(o) for o in (arg if is_list else [arg])]
            objects += items
            arr = ffi.new("teeu_object *[]", [o._ptr for o in items]) if items else NULL
            keep += [arr, items]
            c_args[i].objs = arr
            c_args[i].n_objs = len(items)
            c_args[i].is_list = 1 if is_list else 0
        device = self._device(device if device is not None else
                              next((o.device for o in objects if o.device is not None), None))
        if party is None:
            party = self.party or next((o.party for o in objects if o.party in self.party_key_pair), None)
        party = self._party(party)
        opts = NULL
        if revealers is not None or allow_plaintext_reveal or timeout is not None:
            opts = ffi.new("teeu_call_options *")
            lib().teeu_call_options_init(opts)
            if revealers is not None:
                names = [cstr(r, keep) for r in revealers]
                arr = ffi.new("const char *[]", names) if names else NULL
                keep.append(arr)
                opts.revealers = arr
                opts.n_revealers = len(names)
            opts.allow_plaintext_reveal = 1 if allow_plaintext_reveal else 0
            opts.timeout_ms = _timeout_ms(timeout)
        out = ffi.new("teeu_object **")
        with self._using():
            h = self._handle(party, device)
            if opts is NULL and len(args) == 1 and c_args[0].is_list:
                check(lib().teeu_call(h, f._ptr, c_args[0].objs, c_args[0].n_objs, out))
            else:
                check(lib().teeu_call_ex(h, f._ptr, c_args, len(args), opts, out))
        return Object(out[0], self, party, device)

    def _as_object(self, obj):
        if isinstance(obj, Object):
            return obj
        if isinstance(obj, str):
            return self.object(obj)
        raise TypeError(f"call arguments are teeu.Objects or handle strings, not {type(obj).__name__}")

    def reveal(self, obj, *, party=None, timeout=None):
        """Fetches a result sealed to the party's key and returns it as a numpy array.

        As sf.reveal. obj: an Object or handle string, or a list/tuple/dict
        of them (revealed one by one, same structure back). The returned
        array owns its memory (libteeu's buffer, freed with the array).
        NotAuthorizedError if the party may not see it.
        """
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.reveal(o, party=party, timeout=timeout) for o in obj)
        if isinstance(obj, dict):
            return {k: self.reveal(v, party=party, timeout=timeout) for k, v in obj.items()}
        obj = self._as_object(obj)
        if party is None and obj.party in self.party_key_pair:
            party = obj.party  # reveal with the key of the party that made the result
        party = self._party(party)
        device = self._device(obj.device)
        out = ffi.new("teeu_ndarray **")
        with self._using():
            h = self._handle(party, device)
            if timeout is None:
                check(lib().teeu_reveal(h, obj._ptr, out))
            else:
                check(lib().teeu_reveal_ex(h, obj._ptr, _timeout_ms(timeout), out))
        return to_numpy(out[0])

    def delete(self, obj, *, party=None):
        """Deletes an object this party put, or a result of its call, from the TEEU.

        obj: an Object or handle string, or a list/tuple of them. The TEEU
        removes the ciphertext durably. NotFoundError if the TEEU holds no
        such object (deleted already), NotAuthorizedError if another party
        owns it. By default the party that made obj deletes it.
        """
        if isinstance(obj, (list, tuple)):
            for o in obj:
                self.delete(o, party=party)
            return
        obj = self._as_object(obj)
        if party is None and obj.party in self.party_key_pair:
            party = obj.party
        party = self._party(party)
        device = self._device(obj.device)
        with self._using():
            check(lib().teeu_delete(self._handle(party, device), obj._ptr))

    def __repr__(self):
        return f"<teeu.Client party={self.party!r} simulation={self.tee_simulation}>"


# ---- the module-level session, as sf.init / sf.reveal ---------------------

_default = {"client": None}
_default_lock = threading.Lock()


def init(**kwargs):
    """Creates the process's default Client (as sf.init) and returns it.

    Takes Client's keyword arguments: party, cluster_config,
    party_key_pair, auth_manager_config, tee_simulation, and optionally
    sim_root, teeu, timeout, segment_size, zstd_level, presign, config_file.
    A previous default client is closed.
    """
    client = Client(**kwargs)
    with _default_lock:
        old, _default["client"] = _default["client"], client
    if old is not None:
        old.close()
    return client


def shutdown():
    """Closes the default client (as sf.shutdown)."""
    with _default_lock:
        old, _default["client"] = _default["client"], None
    if old is not None:
        old.close()


def get_client():
    c = _default["client"]
    if c is None:
        raise ConfigError("teeu.init(...) has not been called")
    return c


def to(array, device, allow_funcs=None, **kwargs):
    """Puts array on the TEEU device allowing allow_funcs: the seed's a.to(teeu, allow_funcs=...)."""
    if isinstance(array, PYUObject):
        return array.to(device, allow_funcs=allow_funcs, **kwargs)
    return device.client.put(array, allow_funcs=allow_funcs, device=device, **kwargs)


def reveal(obj, **kwargs):
    """sf.reveal: an Object (or list/dict of them) -> numpy array(s)."""
    if isinstance(obj, Object):
        return obj.client.reveal(obj, **kwargs)
    if isinstance(obj, PYUObject):
        return obj.data
    if isinstance(obj, (list, tuple)):
        return type(obj)(reveal(o, **kwargs) for o in obj)
    if isinstance(obj, dict):
        return {k: reveal(v, **kwargs) for k, v in obj.items()}
    return get_client().reveal(obj, **kwargs)
