"""teeud kernels against numpy (/usr/bin/python3's numpy 1.24): each kernel
on random inputs of every supported dtype, several shapes and axes, byte
orders and layouts; dtype promotion; errors; function identity."""
import json
import os
import zlib

import numpy as np
import pytest

from kernels_support import (ALL_DTYPES, COMPLEX_DTYPES, FLOAT_DTYPES, INT_DTYPES, KernelError, Runner,
                             assert_matches, identity, random_array)

SHAPES_AXES = [
    ((7,), [None, 0, -1]),
    ((3, 4), [None, 0, 1, -2, [0, 1]]),
    ((2, 3, 5), [None, 0, 1, 2, [0, 2], [-1, 0, 1], []]),
    ((300, 2), [None, 0, 1]),
    ((0, 3), [1]),
    ((), [None]),
]


@pytest.fixture
def run(tool, tmp_path):
    return Runner(tool("kernel_tool"), tmp_path).run


def seed(*parts):
    """Deterministic per-test seed; TEEU_KERNEL_TEST_SEED varies all of them."""
    return zlib.crc32(repr((parts, os.environ.get("TEEU_KERNEL_TEST_SEED", ""))).encode())


def desc(name, **params):
    return f"{name}@1{json.dumps(params, sort_keys=True, separators=(',', ':'))}"


def np_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def scale_of(x, axis):
    """Magnitude of the terms a reduction adds: bounds numpy's own rounding."""
    if x.size == 0:
        return 1.0
    m = float(np.max(np.abs(x.astype(np.complex128))))
    ax = np_axis(axis)
    n = x.size if ax is None else int(np.prod([x.shape[a] for a in (ax if isinstance(ax, tuple) else (ax,))]))
    return m * max(n, 1)


def numpy_or_error(fn):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except (ValueError, TypeError, ZeroDivisionError, np.AxisError) as e:
            return None, e


def check(run, descriptor, np_fn, arrays, scale=1.0, rtol=None):
    ref, err = numpy_or_error(np_fn)
    if err is not None:
        with pytest.raises(KernelError):
            run(descriptor, *arrays)
        return
    ours = run(descriptor, *arrays)
    assert_matches(ours, ref, scale=scale, rtol=rtol)


REDUCTIONS = {
    "sum": lambda a, axis: np.sum(a, axis=axis),
    "mean": lambda a, axis: np.mean(a, axis=axis),
    "average": lambda a, axis: np.average(a, axis=axis),
    "min": lambda a, axis: np.min(a, axis=axis),
    "max": lambda a, axis: np.max(a, axis=axis),
    "var": lambda a, axis: np.var(a, axis=axis),
    "std": lambda a, axis: np.std(a, axis=axis),
    "count": lambda a, axis: np.asarray(np.count_nonzero(a, axis=axis)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_reduction_matches_numpy(run, name, dtype):
    rng = np.random.default_rng(seed(name, np.dtype(dtype).name))
    for shape, axes in SHAPES_AXES:
        a = random_array(rng, dtype, shape)
        for axis in axes:
            if name == "average" and isinstance(axis, list) and axis == []:
                continue  # np.average refuses axis=() differently across versions
            if shape == () and axis is not None:
                continue
            params = {} if axis is None else {"axis": axis}
            sc = scale_of(a, axis) if name in ("sum",) else (
                float(np.max(np.abs(a.astype(np.complex128)))) if a.size else 1.0)
            if name in ("var", "std"):
                sc = sc * sc if name == "var" else sc
            check(run, desc(name, **params), lambda: REDUCTIONS[name](a, np_axis(axis)), [a], scale=sc)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.float32, np.float64, np.complex64, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_reductions_on_big_endian_and_fortran_inputs(run, dtype):
    rng = np.random.default_rng(seed(7))
    a = random_array(rng, dtype, (4, 6))
    big = a.astype(a.dtype.newbyteorder(">"))
    fort = np.asfortranarray(a)
    for name in ("sum", "mean", "min", "var"):
        for axis in (None, 0, 1):
            params = {} if axis is None else {"axis": axis}
            sc = float(np.max(np.abs(a.astype(np.complex128)))) * 24
            for arr in (big, fort):
                check(run, desc(name, **params), lambda: REDUCTIONS[name](a, axis), [arr], scale=sc * sc)


def test_list_argument_is_stacked_like_numpy(run):
    rng = np.random.default_rng(seed(1))
    a = random_array(rng, np.float64, (3, 4))
    b = random_array(rng, np.float64, (3, 4))
    ours = run('average@1{"axis":1}', a, b)
    assert_matches(ours, np.average([a, b], axis=1))
    # Mixed dtypes promote as np.array([a, b]) does: int8 with uint8 -> int16 -> sum int64.
    i8 = random_array(rng, np.int8, (5,))
    u8 = random_array(rng, np.uint8, (5,))
    assert_matches(run("sum@1{}", i8, u8), np.sum([i8, u8]))
    assert_matches(run('sum@1{"axis":0}', i8, u8), np.sum([i8, u8], axis=0))
    assert_matches(run('max@1{"axis":1}', i8, u8), np.max([i8, u8], axis=1))
    f16 = random_array(rng, np.float16, (5,))
    assert_matches(run('mean@1{"axis":0}', f16, i8), np.mean([f16, i8], axis=0))
    # Three 0-d inputs stack into a 1-d array.
    s = [np.array(x, dtype=np.int32) for x in (3, -4, 9)]
    assert_matches(run("sum@1{}", *s), np.sum(s))
    with pytest.raises(KernelError, match="inhomogeneous"):
        run("sum@1{}", np.zeros(2), np.zeros(3))


@pytest.mark.parametrize("ddof", [0, 1, 3])
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
def test_var_std_ddof(run, dtype, ddof):
    rng = np.random.default_rng(seed(ddof))
    a = random_array(rng, dtype, (4, 5), small=True)
    sc = float(np.max(np.abs(a.astype(np.complex128)))) ** 2
    for axis in (None, 0, 1):
        params = {"ddof": ddof} if axis is None else {"axis": axis, "ddof": ddof}
        check(run, desc("var", **params), lambda: np.var(a, axis=axis, ddof=ddof), [a], scale=sc)
        check(run, desc("std", **params), lambda: np.std(a, axis=axis, ddof=ddof), [a], scale=sc ** 0.5)


@pytest.mark.parametrize("adt,wdt", [(np.float64, np.float64), (np.int32, np.int8), (np.float32, np.float32),
                                     (np.float32, np.int64), (np.uint8, np.float16), (np.complex64, np.float32),
                                     (np.bool_, np.int16)],
                         ids=lambda d: np.dtype(d).name)
def test_weighted_average(run, adt, wdt):
    rng = np.random.default_rng(seed(3))
    a = random_array(rng, adt, (3, 4), small=True)
    w_full = np.abs(random_array(rng, wdt, (3, 4), small=True)) + np.ones((), wdt)
    sc = float(np.max(np.abs(a.astype(np.complex128))))
    for axis in (None, 0, 1, [0, 1]):
        params = {"weights": True} if axis is None else {"axis": axis, "weights": True}
        check(run, desc("average", **params), lambda: np.average(a, axis=np_axis(axis), weights=w_full),
              [a, w_full], scale=sc, rtol=1e-5 if np.dtype(adt).itemsize <= 4 and adt != np.int32 else None)
    for axis in (0, 1, -1):
        w1 = w_full[0] if axis in (1, -1) else w_full[:, 0]
        check(run, desc("average", axis=axis, weights=True), lambda: np.average(a, axis=axis, weights=w1),
              [a, w1], scale=sc, rtol=1e-5 if np.dtype(adt).itemsize <= 4 and adt != np.int32 else None)


def test_weighted_average_errors(run):
    a = np.ones((3, 4))
    with pytest.raises(KernelError, match="Axis must be specified"):
        run('average@1{"weights":true}', a, np.ones(4))
    with pytest.raises(KernelError, match="1D weights expected"):
        run('average@1{"axis":1,"weights":true}', a, np.ones((1, 4)))
    with pytest.raises(KernelError, match="Length of weights not compatible"):
        run('average@1{"axis":0,"weights":true}', a, np.ones(4))
    with pytest.raises(KernelError, match="Weights sum to zero"):
        run('average@1{"axis":1,"weights":true}', a, np.array([1.0, -1.0, 2.0, -2.0]))


BINOPS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide}
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((5,), ()), ((), (2, 2)), ((), ()),
                    ((0, 3), (3,))]


@pytest.mark.parametrize("name", sorted(BINOPS))
@pytest.mark.parametrize("adt", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_binary_ops_every_dtype_pair(run, name, adt):
    rng = np.random.default_rng(seed(name, np.dtype(adt).name))
    for bdt in ALL_DTYPES:
        a = random_array(rng, adt, (2, 3), small=True)
        b = random_array(rng, bdt, (3,), small=True)
        if name == "divide":
            b = np.where(b == 0, np.ones((), bdt), b) if np.dtype(bdt).kind != "b" else b
        check(run, f"{name}@1{{}}", lambda: BINOPS[name](a, b), [a, b],
              scale=float(np.max(np.abs(a.astype(np.complex128)))) + 1.0)


@pytest.mark.parametrize("name", sorted(BINOPS))
def test_binary_ops_broadcasting(run, name):
    rng = np.random.default_rng(seed(11))
    for sa, sb in BROADCAST_SHAPES:
        for dt in (np.int32, np.float64, np.complex128):
            a = random_array(rng, dt, sa, small=True)
            b = random_array(rng, dt, sb, small=True) + np.ones((), dt) * 101
            check(run, f"{name}@1{{}}", lambda: BINOPS[name](a, b), [a, b], scale=200.0)
    with pytest.raises(KernelError, match=r"could not be broadcast together with shapes \(2, 3\) \(4,\)"):
        run(f"{name}@1{{}}", np.ones((2, 3)), np.ones(4))


VALUE_BASED = [(np.int8, 5, np.int64), (np.int8, 200, np.int64), (np.uint8, -1, np.int64),
               (np.uint8, 5, np.int64), (np.float16, 1000, np.int64), (np.float16, 100, np.int64),
               (np.float16, 70000, np.int64), (np.float16, 1.5, np.float64), (np.float16, 1e5, np.float64),
               (np.float32, 1e40, np.float64), (np.bool_, 5, np.int64), (np.int16, True, np.bool_),
               (np.float32, 1 + 1j, np.complex128), (np.complex64, 1e40, np.float64),
               (np.int64, 2**63, np.uint64), (np.uint64, -1, np.int64), (np.int32, -40000, np.int64)]


@pytest.mark.parametrize("adt,value,sdt", VALUE_BASED, ids=str)
def test_zero_dim_operands_use_numpys_value_based_casting(run, adt, value, sdt):
    a = np.arange(1, 4).astype(adt)
    s = np.array(value, dtype=sdt)
    for name, fn in BINOPS.items():
        check(run, f"{name}@1{{}}", lambda: fn(a, s), [a, s], scale=abs(complex(value)) + 4)
        check(run, f"{name}@1{{}}", lambda: fn(s, a), [s, a], scale=abs(complex(value)) + 4)


def test_bool_subtract_is_refused_like_numpy(run):
    with pytest.raises(KernelError, match="boolean subtract"):
        run("subtract@1{}", np.ones(2, bool), np.zeros(2, bool))


def test_integer_wraparound_matches_numpy(run):
    a = np.array([127, -128, 100], np.int8)
    assert_matches(run("add@1{}", a, a), a + a)
    assert_matches(run("multiply@1{}", a, a), a * a)
    big = np.array([2**62, 2**62, 2**62], np.int64)
    assert_matches(run("sum@1{}", big), np.sum(big))
    u = np.array([2**64 - 1, 5], np.uint64)
    assert_matches(run("sum@1{}", u), np.sum(u))


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((1, 0), (0, 3)), ((2, 3), (3, 0))]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_matmul_matches_numpy(run, dtype):
    rng = np.random.default_rng(seed(5))
    for sa, sb in MATMUL_SHAPES:
        a = random_array(rng, dtype, sa, small=True)
        b = random_array(rng, dtype, sb, small=True)
        m = float(np.max(np.abs(a.astype(np.complex128)), initial=1)) * float(
            np.max(np.abs(b.astype(np.complex128)), initial=1)) * (sa[-1] + 1)
        check(run, "matmul@1{}", lambda: np.matmul(a, b), [a, b], scale=m)
    i8 = random_array(rng, np.int8, (2, 3))
    f32 = random_array(rng, np.float32, (3, 2))
    check(run, "matmul@1{}", lambda: np.matmul(i8, f32), [i8, f32], scale=1e4)


def test_matmul_errors(run):
    with pytest.raises(KernelError, match="mismatch in its core dimension 0"):
        run("matmul@1{}", np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(KernelError, match="does not have enough dimensions"):
        run("matmul@1{}", np.ones(()), np.ones((2, 2)))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_concatenate_and_stack(run, dtype):
    rng = np.random.default_rng(seed(9))
    a = random_array(rng, dtype, (2, 3))
    b = random_array(rng, dtype, (4, 3))
    c = random_array(rng, np.int16, (2, 3))
    check(run, "concatenate@1{}", lambda: np.concatenate([a, b]), [a, b])
    check(run, '{"axis":null}'.join(["concatenate@1", ""]), lambda: np.concatenate([a, b], axis=None), [a, b])
    check(run, 'concatenate@1{"axis":1}', lambda: np.concatenate([a, c], axis=1), [a, c])
    check(run, 'concatenate@1{"axis":-1}', lambda: np.concatenate([a.T, b.T], axis=-1),
          [np.asfortranarray(a.T), b.T.copy()])
    for axis in (0, 1, 2, -1):
        check(run, desc("stack", axis=axis), lambda: np.stack([a, c], axis=axis), [a, c])
    check(run, "stack@1{}", lambda: np.stack([np.array(1, dtype), np.array(2, np.int8)]),
          [np.array(1, dtype), np.array(2, np.int8)])


def test_concatenate_stack_errors(run):
    with pytest.raises(KernelError, match="must match exactly, but along dimension 1"):
        run("concatenate@1{}", np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(KernelError, match="same number of dimensions"):
        run("concatenate@1{}", np.ones((2, 3)), np.ones(3))
    with pytest.raises(KernelError, match="zero-dimensional arrays cannot be concatenated"):
        run("concatenate@1{}", np.ones(()), np.ones(()))
    with pytest.raises(KernelError, match="all input arrays must have the same shape"):
        run("stack@1{}", np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(KernelError, match="axis 3 is out of bounds for array of dimension 3"):
        run('stack@1{"axis":3}', np.ones((2, 3)), np.ones((2, 3)))


def test_reduction_errors_follow_numpy(run):
    with pytest.raises(KernelError, match="zero-size array to reduction operation minimum which has no identity"):
        run("min@1{}", np.zeros((0, 3)))
    with pytest.raises(KernelError, match="zero-size array to reduction operation maximum"):
        run('max@1{"axis":1}', np.zeros((3, 0)))
    assert run('min@1{"axis":1}', np.zeros((0, 3))).shape == (0,)
    with pytest.raises(KernelError, match="axis 2 is out of bounds for array of dimension 2"):
        run('sum@1{"axis":2}', np.zeros((2, 3)))
    with pytest.raises(KernelError, match="axis -3 is out of bounds"):
        run('mean@1{"axis":-3}', np.zeros((2, 3)))
    with pytest.raises(KernelError, match="duplicate value in 'axis'"):
        run('sum@1{"axis":[0,-2]}', np.zeros((2, 3)))
    assert np.isnan(run("mean@1{}", np.zeros(0))).all()


def test_bad_descriptors_are_refused(run):
    a = np.ones(3)
    for bad, msg in [('sum@1{"axes":0}', 'unknown parameter "axes"'), ("sum@2{}", "version 1, not 2"),
                     ("median@1{}", 'unknown kernel "median"'), ('sum@1{"axis":1.5}', "only integer"),
                     ('sum@1{"axis":0', "expected"), ('add@1{"axis":0}', 'unknown parameter "axis"'),
                     ('stack@1{"axis":null}', "must be an integer"), ('var@1{"ddof":true}', "integer")]:
        with pytest.raises(KernelError, match=msg):
            run(bad, a, a)


def test_identity_hash_matches_python(tool):
    import subprocess
    k = str(tool("kernel_tool"))
    for given, canonical in [('average@1{"axis":1}', 'average@1{"axis":1}'),
                             ('average@1{ "axis" : 1 }', 'average@1{"axis":1}'),
                             ('var@1{"ddof":1,"axis":[0, -1]}', 'var@1{"axis":[0,-1],"ddof":1}'),
                             ("matmul@1{}", "matmul@1{}")]:
        out = subprocess.run([k, "--identity", given], capture_output=True, text=True, check=True).stdout.split()
        assert out == [canonical, identity(canonical)]
    assert identity('average@1{"axis":1}') == subprocess.run(
        [k, "--identity", 'average@1{"axis":1}'], capture_output=True, text=True).stdout.split()[1]
    listing = subprocess.run([k, "--list"], capture_output=True, text=True, check=True).stdout.splitlines()
    names = {line.split("@")[0] for line in listing}
    assert names == {"average", "mean", "sum", "min", "max", "var", "std", "count", "concatenate", "stack",
                     "add", "subtract", "multiply", "divide", "matmul"}
    for line in listing:
        d, h = line.split()[:2]
        assert h == identity(d)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + COMPLEX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_nan_and_inf_propagate_like_numpy(run, dtype):
    rng = np.random.default_rng(seed(21))
    a = random_array(rng, dtype, (4, 5))
    a[0, 1] = np.nan
    a[2, 3] = np.inf
    a[3, 0] = -np.inf
    if np.dtype(dtype).kind == "c":
        a[1, 2] = complex(1.0, np.nan)
    for name in ("min", "max", "sum", "mean", "count", "var"):
        for axis in (None, 0, 1):
            params = {} if axis is None else {"axis": axis}
            check(run, desc(name, **params), lambda: REDUCTIONS[name](a, axis), [a], scale=1e3)
    b = random_array(rng, dtype, (5,))
    for name, fn in BINOPS.items():
        check(run, f"{name}@1{{}}", lambda: fn(a, b), [a, b], scale=1e3)


def test_empty_axis_tuple_and_empty_arrays(run):
    rng = np.random.default_rng(seed(2))
    a = random_array(rng, np.int8, (2, 3))
    for name in ("sum", "mean", "average", "min", "max", "var", "count"):
        check(run, desc(name, axis=[]), lambda: REDUCTIONS[name](a, ()), [a])
    e = np.zeros((0, 4), np.float32)
    for name in ("sum", "mean", "average", "var", "std", "count"):
        for axis in (None, 0, 1):
            params = {} if axis is None else {"axis": axis}
            check(run, desc(name, **params), lambda: REDUCTIONS[name](e, axis), [e])
    check(run, "add@1{}", lambda: np.add(e, np.ones(4, np.float32)), [e, np.ones(4, np.float32)])
    check(run, "matmul@1{}", lambda: np.matmul(e, np.ones((4, 2), np.float32)), [e, np.ones((4, 2), np.float32)])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + COMPLEX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_strided_float_sums_round_like_numpy(run, dtype):
    """Along a strided axis numpy adds element by element in the dtype's own
    precision (float32 for a float16 mean); the kernels round the same steps,
    so these results are bit-identical to numpy's, float16 overflow included."""
    rng = np.random.default_rng(seed("strided", np.dtype(dtype).name))
    a = random_array(rng, dtype, (500, 7))
    for name, fn in (("sum", np.sum), ("mean", np.mean)):
        ours = run(desc(name, axis=0), a)
        ref = fn(a, axis=0)
        assert ours.dtype == ref.dtype
        assert np.array_equal(ours, ref), f"{name}: ours {ours} numpy {ref}"
    if np.dtype(dtype) == np.float16:
        big = np.full((40, 3), 3000, np.float16)  # partial sums pass 65504 on the way
        big[20:] = -3000
        assert np.array_equal(run(desc("sum", axis=0), big), np.sum(big, axis=0))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_elementwise_results_are_bit_identical(run, dtype):
    """Each element-wise result is one correctly rounded operation (complex64
    products and quotients in float arithmetic), as numpy computes it."""
    rng = np.random.default_rng(seed("bits", np.dtype(dtype).name))
    a = random_array(rng, dtype, (6, 5))
    b = random_array(rng, dtype, (5,))
    for name, fn in BINOPS.items():
        if name == "subtract" and np.dtype(dtype) == np.bool_:
            continue
        if name == "divide" and np.dtype(dtype).kind in "iub":
            b = np.where(b == 0, np.ones((), dtype), b)
        ref, err = numpy_or_error(lambda: fn(a, b))
        ours = run(f"{name}@1{{}}", a, b)
        assert ours.dtype == ref.dtype
        assert np.array_equal(ours, ref, equal_nan=np.dtype(ref.dtype).kind in "fc"), f"{name}: {ours} vs {ref}"
