"""Helpers for the teeud kernel tests: run a kernel through kernel_tool."""
import base64
import hashlib
import os
import subprocess

import numpy as np


class KernelError(Exception):
    """kernel_tool exited with an error; str() is its detail message."""


def identity(descriptor):
    """The function identity hash of a canonical descriptor, per DESIGN.md."""
    return base64.b64encode(hashlib.sha256(descriptor.encode()).digest()).decode()


class Runner:
    def __init__(self, tool, tmp_path):
        self.tool = tool
        self.tmp = tmp_path
        self.n = 0

    def run(self, descriptor, *arrays):
        """Runs descriptor over arrays; returns the result or raises KernelError."""
        self.n += 1
        paths = []
        for i, a in enumerate(arrays):
            p = self.tmp / f"in{self.n}_{i}.npy"
            np.save(p, a)
            paths.append(str(p))
        out = self.tmp / f"out{self.n}.npy"
        proc = subprocess.run([str(self.tool), descriptor, str(out), *paths],
                              capture_output=True, text=True, timeout=120)
        for p in paths:
            os.unlink(p)
        if proc.returncode == 2 and proc.stderr.startswith("error: ") and "Sanitizer" not in proc.stderr:
            raise KernelError(proc.stderr.strip())
        if proc.returncode != 0:  # a crash or sanitizer report is never an expected error
            raise RuntimeError(f"kernel_tool failed (exit {proc.returncode}): {proc.stderr}")
        res = np.load(out)
        out.unlink()
        return res


INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]
COMPLEX_DTYPES = [np.complex64, np.complex128]
ALL_DTYPES = [np.bool_] + INT_DTYPES + FLOAT_DTYPES + COMPLEX_DTYPES


def random_array(rng, dtype, shape, small=False):
    """Random values covering the dtype (full range for ints unless small)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = (max(info.min, -100), min(info.max, 100)) if small else (info.min, info.max)
        return rng.integers(lo, hi, size=shape, dtype=dtype, endpoint=True)
    if dtype.kind == "f":
        return (rng.standard_normal(size=shape) * 10).astype(dtype)
    re = rng.standard_normal(size=shape) * 10
    im = rng.standard_normal(size=shape) * 10
    return (re + 1j * im).astype(dtype)


def rtol_for(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return {2: 2e-3, 4: 2e-6, 8: 1e-12}[dtype.itemsize // (2 if dtype.kind == "c" else 1)]
    return 0.0


def assert_matches(ours, ref, scale=1.0, rtol=None):
    """Same dtype and shape; exact for ints/bools, within rtol (of the value or
    of `scale`, the magnitude of the summed terms) for floats."""
    ref = np.asarray(ref)
    assert ours.dtype == ref.dtype, f"dtype {ours.dtype} != numpy's {ref.dtype}"
    assert ours.shape == ref.shape, f"shape {ours.shape} != numpy's {ref.shape}"
    if ref.dtype.kind in "fc":
        tol = rtol if rtol is not None else rtol_for(ref.dtype)
        if ref.dtype.kind == "c":  # compare real and imaginary parts as floats
            _assert_close(np.stack([ours.real, ours.imag]), np.stack([ref.real, ref.imag]), tol, scale, ours, ref)
        else:
            _assert_close(ours, ref, tol, scale, ours, ref)
    else:
        assert np.array_equal(ours, ref), f"values differ: ours {ours} numpy {ref}"


def _assert_close(o, r, tol, scale, ours, ref):
    o = o.astype(np.float64)
    r = r.astype(np.float64)
    assert (np.isnan(o) == np.isnan(r)).all(), f"NaN positions differ: ours {ours} numpy {ref}"
    inf = np.isinf(r)
    assert (o[inf] == r[inf]).all(), f"infinities differ: ours {ours} numpy {ref}"
    fin = np.isfinite(r)
    err = np.abs(o[fin] - r[fin])
    bound = tol * np.maximum(np.abs(r[fin]), scale) + 1e-300
    assert (err <= bound).all(), f"values differ beyond rtol {tol}: ours {ours} numpy {ref}"
