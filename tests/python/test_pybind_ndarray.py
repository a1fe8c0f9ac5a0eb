"""Python bindings, no services needed: numpy -> teeu_ndarray view -> .npy -> numpy, and back."""
import io

import numpy as np
import pytest

from pybind_support import flat_memory, import_teeu

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]


@pytest.fixture(scope="module")
def teeu(libteeu_path):
    return import_teeu(libteeu_path)


def sample(dtype, shape, seed=1):
    """Deterministic values with every byte varied (NaN bit patterns included for floats)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "b":
        flat = rng.integers(0, 2, count).astype(bool)
    else:
        flat = rng.integers(0, 256, count * dt.itemsize, dtype=np.uint8).view(dt.newbyteorder("="))
        flat = flat.astype(dt)
    return flat.reshape(shape)


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes(order="C") == b.tobytes(order="C")


def npy_load(data):
    return np.load(io.BytesIO(data), allow_pickle=False)


def layouts(base):
    """The same values in many memory layouts; every one must read identically."""
    yield "c", np.ascontiguousarray(base)
    yield "fortran", np.asfortranarray(base)
    if base.ndim >= 2:
        yield "transposed", base.T
        yield "column_slice", np.ascontiguousarray(np.repeat(base, 2, axis=-1))[..., ::2]
        yield "reversed", base[::-1, ::-1]
        yield "broadcast", np.broadcast_to(base[:1], base.shape)
    if base.ndim >= 1:
        yield "step_back", base[::-2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_every_dtype_and_layout_encodes_like_numpy(teeu, dtype, byte_order):
    base = sample(np.dtype(dtype).newbyteorder(byte_order), (4, 6))
    for name, arr in layouts(base):
        out = npy_load(teeu.encode_npy(arr))
        assert same(out, np.asarray(arr)), (dtype, byte_order, name)
        assert out.dtype.byteorder in ("|", "=", byte_order) or np.dtype(dtype).itemsize == 1
        back = teeu.decode_npy(teeu.encode_npy(arr))
        assert same(back, np.asarray(arr)), (dtype, byte_order, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_decode_of_numpy_save_in_both_orders(teeu, dtype):
    for order in ("C", "F"):
        arr = np.array(sample(dtype, (3, 5, 2)), order=order)
        buf = io.BytesIO()
        np.save(buf, arr)
        out = teeu.decode_npy(buf.getvalue())
        assert same(out, arr)
        assert out.flags.f_contiguous == (order == "F") or out.flags.c_contiguous
        assert teeu.npy_info(buf.getvalue())["fortran_order"] == (order == "F")


def test_fortran_array_stays_fortran(teeu):
    arr = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    info = teeu.npy_info(teeu.encode_npy(arr))
    assert info["fortran_order"] is True and info["shape"] == (3, 4)
    out = teeu.decode_npy(teeu.encode_npy(arr))
    assert out.flags.f_contiguous and not out.flags.c_contiguous and np.array_equal(out, arr)


def test_non_contiguous_views_are_gathered_in_c_order(teeu):
    big = np.arange(5 * 7 * 3, dtype=np.int16).reshape(5, 7, 3)
    for arr in (big[1:4, ::3, 1], big[:, 2, :], big.transpose(2, 0, 1)[::-1], big[..., ::-1][:, ::-2]):
        assert not arr.flags.c_contiguous
        assert same(npy_load(teeu.encode_npy(arr)), arr)


def test_zero_d_and_empty_arrays(teeu):
    for arr in (np.array(3.25), np.array(True), np.array(-7, dtype=">i8"), np.array(1 + 2j, dtype=np.complex64)):
        out = teeu.decode_npy(teeu.encode_npy(arr))
        assert out.shape == () and same(out, arr)
        assert same(npy_load(teeu.encode_npy(arr)), arr)
    for shape in ((0,), (3, 0), (0, 4, 2), (2, 0, 0)):
        for order in ("C", "F"):
            arr = np.zeros(shape, dtype=np.float32, order=order)
            out = teeu.decode_npy(teeu.encode_npy(arr))
            assert out.shape == shape and out.dtype == np.float32 and out.size == 0
            assert npy_load(teeu.encode_npy(arr)).shape == shape
    # A zero-size strided slice of a real array.
    arr = np.arange(10.0)[5:5]
    assert teeu.decode_npy(teeu.encode_npy(arr)).shape == (0,)


def test_view_borrows_the_numpy_memory(teeu):
    """The teeu_ndarray handed to libteeu points into the numpy buffer: nothing was copied."""
    from teeu._lib import ffi, lib
    base = np.arange(40, dtype=np.float64).reshape(5, 8)
    for arr in (base, base[::2, 1::3], base[::-1], np.asfortranarray(base)):
        with teeu.ArrayView(arr) as view:
            data = int(ffi.cast("uintptr_t", lib().teeu_ndarray_data(view.ptr)))
            assert data == arr.__array_interface__["data"][0]
            assert lib().teeu_ndarray_owns_data(view.ptr) == 0
            strides = tuple(ffi.unpack(lib().teeu_ndarray_strides(view.ptr), arr.ndim))
            assert strides == arr.strides
            assert bool(lib().teeu_ndarray_is_c_contiguous(view.ptr)) == arr.flags.c_contiguous
            assert bool(lib().teeu_ndarray_is_f_contiguous(view.ptr)) == arr.flags.f_contiguous
    # Writes through numpy are seen by the view (same memory).
    arr = np.zeros(3)
    with teeu.ArrayView(arr) as view:
        arr[1] = 5.0
        enc = teeu.encode_npy(arr)
        assert npy_load(enc)[1] == 5.0
        assert view.array is arr


def test_decoded_array_owns_library_memory(teeu):
    arr = np.arange(1000, dtype=np.int32).reshape(10, 100)
    out = teeu.decode_npy(teeu.encode_npy(arr))
    assert out.flags.writeable and out.base is not None
    out[0, 0] = 99  # the library buffer is ours to write
    view = out[2:4]
    del out
    assert np.array_equal(view, arr[2:4])  # the view keeps the library buffer alive


def test_byte_order_and_compression_options(teeu):
    arr = sample("<f8", (5, 5))
    big = teeu.encode_npy(arr, byte_order=">")
    assert npy_load(big).dtype == np.dtype(">f8") and np.array_equal(npy_load(big), arr, equal_nan=True)
    packed = teeu.encode_npy(np.zeros((256, 256)), compress=True, zstd_level=3)
    assert len(packed) < 256 * 256 * 8 // 10
    assert teeu.npy_info(packed)["compressed"] is True
    assert np.array_equal(teeu.decode_npy(packed), np.zeros((256, 256)))
    with pytest.raises(teeu.NpyDecompressedTooLargeError):
        teeu.decode_npy(packed, max_decompressed=1024)
    assert teeu.npy_info(teeu.encode_npy(arr, format_major=3))["format_version"] == (3, 0)
    with pytest.raises(ValueError):
        teeu.encode_npy(arr, byte_order="middle")


def test_unsupported_inputs(teeu):
    for bad in (np.array(["a", "b"]), np.array([1, None], dtype=object), np.zeros(2, dtype=np.longdouble),
                np.zeros(2, dtype=[("x", "i4"), ("y", "f8")]), np.zeros(2, dtype="datetime64[s]")):
        with pytest.raises(TypeError, match="not supported"):
            teeu.encode_npy(bad)
    # Anything numpy.asarray takes is accepted (lists are converted, buffers wrapped).
    assert np.array_equal(npy_load(teeu.encode_npy([[1, 2], [3, 4]])), [[1, 2], [3, 4]])
    assert np.array_equal(npy_load(teeu.encode_npy(memoryview(b"abc"))), np.frombuffer(b"abc", np.uint8))


def test_npy_errors_are_typed(teeu):
    good = teeu.encode_npy(np.arange(6.0))
    cases = [
        (b"not an npy file at all", teeu.NpyMagicError),
        (good[:8], teeu.NpyTruncatedError),
        (good[:-1], teeu.NpyDataLengthError),
        (good.replace(b"<f8", b"<U8"), teeu.NpyDtypeError),
        (good.replace(b"'shape': (6,)", b"'shape': (6x)"), teeu.NpyShapeError),
    ]
    for data, cls in cases:
        with pytest.raises(cls) as info:
            teeu.decode_npy(data)
        exc = info.value
        assert isinstance(exc, teeu.NpyError) and isinstance(exc, teeu.TeeuError)
        assert exc.status == cls.status and exc.message and exc.status_name == cls.status_name


def test_memory_flat_over_1000_cycles_of_1mib(teeu):
    arr = np.random.default_rng(0).random(128 * 1024)  # 1 MiB of float64

    def cycle():
        out = teeu.decode_npy(teeu.encode_npy(arr))
        assert out.shape == arr.shape

    before, after, ok = flat_memory(cycle)
    assert ok, f"RSS grew from {before} to {after} bytes over 1000 encode+decode cycles of 1 MiB"


def test_unaligned_and_odd_strided_inputs(teeu):
    """numpy allows element addresses and strides that are not multiples of the item size."""
    values = np.arange(12, dtype=np.float64).reshape(4, 3)
    raw = bytearray(1) + bytearray(values.astype(">f8").tobytes())  # one byte in: every element unaligned
    unaligned = np.frombuffer(raw, dtype=">f8", offset=1).reshape(4, 3)
    odd = np.ndarray((4, 3), dtype="<i4", buffer=bytearray(64), offset=1, strides=(13, 4))
    odd[...] = np.arange(12).reshape(4, 3)
    for arr in (unaligned, odd, unaligned[::-1, ::2]):
        assert not arr.flags.aligned
        assert same(npy_load(teeu.encode_npy(arr)), np.array(arr))
        assert same(teeu.decode_npy(teeu.encode_npy(arr)), np.array(arr))
