"""Helpers for the ndarray numpy cross-checks: drive npy_helper and teeu-npy."""
import json
import subprocess

import numpy as np

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]
SHAPES = [(), (0,), (7,), (3, 5), (2, 0, 3), (2, 3, 4), (1, 1, 6)]


def make_array(dtype, shape, byte_order="<", order="C", seed=0):
    """Deterministic values covering every bit pattern (NaNs too) in the requested layout."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "b":
        flat = rng.integers(0, 2, count).astype(bool)
    else:
        flat = rng.integers(0, 256, count * dt.itemsize, dtype=np.uint8).view(dt)
    if dt.itemsize > 1:
        flat = flat.astype(dt.newbyteorder(byte_order))
    # copy(order=...) keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d).
    return flat.reshape(shape).copy(order=order)


def same_array(a, b):
    """Equal dtype (byte order included), shape and bytes; NaN payloads compare exactly."""
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())


def run(cmd, check=True):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr}")
    return proc


def helper_encode(helper, arr, out, tmp_path, order="C", view="contiguous", extra=()):
    """libteeu writes arr (values, byte order, layout) to out through npy_helper."""
    raw = tmp_path / "in.raw"
    arr.astype(arr.dtype.newbyteorder("="), order="C").tofile(raw)
    byte_order = "big" if arr.dtype.byteorder == ">" else "little"
    shape = ",".join(str(d) for d in arr.shape)
    run([helper, "encode", "--dtype", arr.dtype.name, "--byte-order", byte_order, "--order", order,
         "--shape", shape, "--view", view, *extra, raw, out])


def helper_decode(helper, path, tmp_path):
    """libteeu decodes path; returns (info dict, values as a native C-order numpy array)."""
    raw = tmp_path / "out.raw"
    info = json.loads(run([helper, "decode", path, raw]).stdout)
    values = np.fromfile(raw, dtype=np.dtype(info["dtype"])).reshape(info["shape"])
    return info, values


def npy_info(tool, path, *extra):
    return json.loads(run([tool, "info", path, *extra]).stdout)
