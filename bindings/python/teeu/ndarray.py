"""numpy arrays <-> libteeu's teeu_ndarray, and the .npy codec.

In: a numpy array (or anything exposing the buffer protocol) is described to
libteeu by its data pointer, shape, byte strides, dtype and byte order
(teeu_ndarray_view_desc); nothing is copied. Non-contiguous, Fortran-ordered,
broadcast (zero-stride) and reversed (negative-stride) arrays are passed as
they are: the view's data pointer is the lowest byte any element touches and
`offset` locates element 0 from there.

Out: an array libteeu allocated (a reveal, a decode) is handed to numpy
without a copy: the numpy array's base is a small owner object whose
finalizer calls teeu_ndarray_free, so the memory lives exactly as long as
the numpy array (and any view of it).
"""
import numpy as np

from ._core import NULL, check
from ._lib import ffi, lib

# teeu_dtype values (include/teeu/ndarray.h).
DTYPE_BOOL, DTYPE_INT8, DTYPE_INT16, DTYPE_INT32, DTYPE_INT64 = 1, 2, 3, 4, 5
DTYPE_UINT8, DTYPE_UINT16, DTYPE_UINT32, DTYPE_UINT64 = 6, 7, 8, 9
DTYPE_FLOAT16, DTYPE_FLOAT32, DTYPE_FLOAT64, DTYPE_COMPLEX64, DTYPE_COMPLEX128 = 10, 11, 12, 13, 14
BYTE_ORDER_NATIVE, BYTE_ORDER_LITTLE, BYTE_ORDER_BIG = 0, 1, 2
NPY_ZSTD, NPY_LITTLE_ENDIAN, NPY_BIG_ENDIAN = 0x1, 0x2, 0x4
NPY_DECODE_COPY = 0x1

# (numpy kind, itemsize) -> teeu_dtype, and teeu_dtype -> numpy type string without byte order.
_TO_TEEU = {
    ("b", 1): DTYPE_BOOL,
    ("i", 1): DTYPE_INT8, ("i", 2): DTYPE_INT16, ("i", 4): DTYPE_INT32, ("i", 8): DTYPE_INT64,
    ("u", 1): DTYPE_UINT8, ("u", 2): DTYPE_UINT16, ("u", 4): DTYPE_UINT32, ("u", 8): DTYPE_UINT64,
    ("f", 2): DTYPE_FLOAT16, ("f", 4): DTYPE_FLOAT32, ("f", 8): DTYPE_FLOAT64,
    ("c", 8): DTYPE_COMPLEX64, ("c", 16): DTYPE_COMPLEX128,
}
_FROM_TEEU = {v: f"{k[0]}{k[1]}" for k, v in _TO_TEEU.items()}
_BYTE_ORDER = {"=": BYTE_ORDER_NATIVE, "|": BYTE_ORDER_NATIVE, "<": BYTE_ORDER_LITTLE, ">": BYTE_ORDER_BIG}

SUPPORTED_DTYPES = tuple(np.dtype(_FROM_TEEU[code]).name for code in sorted(_FROM_TEEU))


def teeu_dtype(dtype):
    """The teeu_dtype number of a numpy dtype; TypeError for one libteeu cannot carry."""
    dt = np.dtype(dtype)
    code = None
    if dt.fields is None and dt.subdtype is None:
        code = _TO_TEEU.get((dt.kind, dt.itemsize))
    if code is None:
        raise TypeError(f"dtype {dt} is not supported by libteeu; use one of: {', '.join(SUPPORTED_DTYPES)}")
    return code


def numpy_dtype(code, byte_order=BYTE_ORDER_NATIVE):
    """The numpy dtype of a teeu_dtype number and teeu_byte_order."""
    base = _FROM_TEEU.get(code)
    if base is None:
        raise TypeError(f"libteeu dtype {code} has no numpy equivalent in these bindings")
    prefix = {BYTE_ORDER_LITTLE: "<", BYTE_ORDER_BIG: ">"}.get(byte_order, "=")
    return np.dtype(prefix + base)


class ArrayView:
    """A borrowed teeu_ndarray over a numpy array's memory (no copy).

    Holds the numpy array (and the shape/stride buffers) alive while libteeu
    may read it. Use as a context manager, or call close(); `ptr` is the
    teeu_ndarray* to pass to libteeu.
    """

    __slots__ = ("array", "ptr", "_keep")

    def __init__(self, obj):
        self.ptr = None
        arr = obj if isinstance(obj, np.ndarray) else np.asarray(obj)
        dt = arr.dtype
        code = teeu_dtype(dt)
        itemsize = dt.itemsize
        shape = arr.shape
        strides = arr.strides
        ndim = len(shape)
        desc = ffi.new("teeu_ndarray_desc *")
        desc.dtype = code
        desc.byte_order = _BYTE_ORDER[dt.byteorder]
        desc.ndim = ndim
        keep = [desc]
        addr = arr.__array_interface__["data"][0]
        if ndim:
            c_shape = ffi.new("size_t[]", shape)
            c_strides = ffi.new("ptrdiff_t[]", strides)
            desc.shape = c_shape
            desc.strides = c_strides
            keep += [c_shape, c_strides]
        size = arr.size
        if size == 0:
            data, data_len = NULL, 0
        else:
            # Byte range the elements span: strides may be negative (a[::-1]) or zero (broadcast).
            lo = hi = 0
            for n, s in zip(shape, strides):
                reach = (n - 1) * s
                if reach < 0:
                    lo += reach
                else:
                    hi += reach
            desc.offset = -lo
            data = ffi.cast("const void *", addr + lo)
            data_len = hi - lo + itemsize
        out = ffi.new("teeu_ndarray **")
        check(lib().teeu_ndarray_view_desc(desc, data, data_len, out))
        self.array = arr
        self.ptr = out[0]
        self._keep = keep

    def close(self):
        if self.ptr is not None:
            lib().teeu_ndarray_free(self.ptr)
            self.ptr = None
            self._keep = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class _LibraryMemory:
    """Base object of a numpy array living in libteeu memory: frees the teeu_ndarray with it."""

    __slots__ = ("__array_interface__", "_ptr", "__weakref__")

    def __init__(self, ptr, interface):
        self._ptr = ptr
        self.__array_interface__ = interface

    def __del__(self):
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            lib().teeu_ndarray_free(ptr)


def to_numpy(ptr):
    """Takes ownership of a teeu_ndarray* and returns it as a numpy array (freed with the array).

    An array that owns its data is wrapped without a copy; a view (whose
    memory libteeu does not own) is copied once and then freed.
    """
    L = lib()
    try:
        dt = numpy_dtype(L.teeu_ndarray_dtype(ptr), L.teeu_ndarray_byte_order(ptr))
        ndim = L.teeu_ndarray_ndim(ptr)
        shape = tuple(ffi.unpack(L.teeu_ndarray_shape(ptr), ndim)) if ndim else ()
        strides = tuple(ffi.unpack(L.teeu_ndarray_strides(ptr), ndim)) if ndim else ()
        size = L.teeu_ndarray_size(ptr)
        data = L.teeu_ndarray_data(ptr)
        if size == 0 or data == NULL:
            out = np.empty(shape, dtype=dt)
        else:
            owns = bool(L.teeu_ndarray_owns_data(ptr))
            interface = {
                "version": 3,
                "shape": shape,
                "typestr": dt.str,
                "data": (int(ffi.cast("uintptr_t", data)), not owns),
                "strides": strides,
            }
            if owns:
                holder = _LibraryMemory(ptr, interface)
                ptr = None  # the holder frees it now
                return np.asarray(holder)
            out = np.array(_LibraryMemory(None, interface), copy=True, order="K")
    except BaseException:
        if ptr is not None:
            L.teeu_ndarray_free(ptr)
        raise
    L.teeu_ndarray_free(ptr)
    return out


def encode_npy(array, compress=False, zstd_level=0, byte_order=None, format_major=0):
    """Encodes array as .npy bytes with libteeu (numpy.load reads them back).

    compress: wrap the .npy bytes in a zstd frame (decode_npy reads it;
    numpy does not). byte_order: None keeps the array's, "<" or ">" forces
    little or big endian. format_major: 0 (automatic), 1, 2 or 3.
    """
    opts = ffi.new("teeu_npy_encode_options *")
    lib().teeu_npy_encode_options_init(opts)
    if compress:
        opts.flags |= NPY_ZSTD
        opts.zstd_level = zstd_level
    if byte_order in ("<", "little"):
        opts.flags |= NPY_LITTLE_ENDIAN
    elif byte_order in (">", "big"):
        opts.flags |= NPY_BIG_ENDIAN
    elif byte_order is not None:
        raise ValueError(f"byte_order must be None, '<' or '>', not {byte_order!r}")
    opts.format_major = format_major
    out = ffi.new("uint8_t **")
    out_len = ffi.new("size_t *")
    with ArrayView(array) as view:
        check(lib().teeu_ndarray_encode_alloc(view.ptr, opts, out, out_len))
    try:
        return ffi.unpack(ffi.cast("char *", out[0]), out_len[0])
    finally:
        lib().teeu_free(out[0])


def _decode_options(max_decompressed, copy):
    opts = ffi.new("teeu_npy_decode_options *")
    lib().teeu_npy_decode_options_init(opts)
    if copy:
        opts.flags |= NPY_DECODE_COPY
    if max_decompressed is not None:
        opts.max_decompressed = max_decompressed
    return opts


def decode_npy(data, max_decompressed=None):
    """Decodes .npy bytes (optionally zstd-framed) with libteeu into a numpy array owning its memory."""
    src = ffi.from_buffer(data)
    out = ffi.new("teeu_ndarray **")
    check(lib().teeu_ndarray_decode(src, len(src), _decode_options(max_decompressed, True), out))
    return to_numpy(out[0])


def npy_info(data, max_decompressed=None):
    """What a .npy header says, as a dict (dtype, shape, fortran_order, header_len, ...)."""
    src = ffi.from_buffer(data)
    info = ffi.new("teeu_npy_info *")
    check(lib().teeu_npy_read_info(src, len(src), _decode_options(max_decompressed, False), info))
    return {
        "format_version": (info.format_major, info.format_minor),
        "dtype": numpy_dtype(info.dtype, info.byte_order),
        "fortran_order": bool(info.fortran_order),
        "shape": tuple(info.shape[i] for i in range(info.ndim)),
        "header_len": info.header_len,
        "data_len": info.data_len,
        "compressed": bool(info.compressed),
    }
