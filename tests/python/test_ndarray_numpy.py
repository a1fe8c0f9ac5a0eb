"""libteeu's .npy codec against numpy, both ways, through npy_helper and teeu-npy."""
import io
import shutil
import subprocess
import time

import numpy as np
import numpy.lib.format as npformat
import pytest

from ndarray_support import (DTYPES, SHAPES, helper_decode, helper_encode, make_array, npy_info, run,
                             same_array)

BYTE_ORDERS = ["<", ">"]
ORDERS = ["C", "F"]


@pytest.fixture(scope="module")
def helper(tool):
    return tool("npy_helper")


@pytest.fixture(scope="module")
def npy_tool(tool):
    return tool("teeu-npy")


def numpy_save_bytes(arr, version=None):
    buf = io.BytesIO()
    npformat.write_array(buf, arr, version=version)
    return buf.getvalue()


# ---- libteeu writes, numpy reads -------------------------------------------------

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("byte_order", BYTE_ORDERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_libteeu_writes_numpy_loads(helper, tmp_path, dtype, byte_order, order):
    for i, shape in enumerate(SHAPES):
        arr = make_array(dtype, shape, byte_order, order, seed=i)
        out = tmp_path / f"a{i}.npy"
        helper_encode(helper, arr, out, tmp_path, order=order)
        back = np.load(out)
        assert same_array(back, arr), (dtype, byte_order, order, shape)
        if order == "F" and arr.ndim > 1 and arr.size > 0 and not arr.flags.c_contiguous:
            assert back.flags.f_contiguous and not back.flags.c_contiguous
        # Byte for byte what numpy.save writes for the same array.
        assert out.read_bytes() == numpy_save_bytes(arr), (dtype, byte_order, order, shape)


@pytest.mark.parametrize("view", ["strided", "reversed"])
@pytest.mark.parametrize("dtype", ["bool", "int16", "float32", "float64", "complex64", "complex128"])
def test_strided_views_written_in_c_order(helper, tmp_path, dtype, view):
    for byte_order in BYTE_ORDERS:
        for order in ORDERS:
            for i, shape in enumerate([(5,), (3, 4), (2, 3, 4), (0, 3)]):
                arr = make_array(dtype, shape, byte_order, order, seed=10 + i)
                out = tmp_path / "v.npy"
                helper_encode(helper, arr, out, tmp_path, order=order, view=view)
                back = np.load(out)
                assert same_array(back, arr), (dtype, view, byte_order, order, shape)


# ---- numpy writes, libteeu reads -------------------------------------------------

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("byte_order", BYTE_ORDERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_saves_libteeu_decodes(helper, tmp_path, dtype, byte_order, order):
    for i, shape in enumerate(SHAPES):
        arr = make_array(dtype, shape, byte_order, order, seed=100 + i)
        path = tmp_path / f"n{i}.npy"
        np.save(path, arr)
        info, values = helper_decode(helper, path, tmp_path)
        assert info["dtype"] == dtype
        assert info["shape"] == list(shape)
        if arr.dtype.itemsize > 1:
            assert info["byte_order"] == ("big" if byte_order == ">" else "little")
        assert info["fortran"] == (arr.flags.f_contiguous and not arr.flags.c_contiguous)
        assert info["owns_data"] is False  # read from an aligned file buffer: a view
        assert same_array(values, arr.astype(arr.dtype.newbyteorder("="))), (dtype, byte_order, order, shape)


# ---- large arrays ------------------------------------------------------------------

BIG_SHAPE = (2048, 4096)  # float64: 64 MiB


def test_big_array_both_ways(helper, npy_tool, tmp_path):
    t0 = time.monotonic()
    arr = np.arange(BIG_SHAPE[0] * BIG_SHAPE[1], dtype=np.float64).reshape(BIG_SHAPE)
    arr = np.asfortranarray(arr * 0.5)
    assert arr.nbytes >= 64 << 20
    # numpy -> libteeu (helper) -> numpy
    src = tmp_path / "big.npy"
    np.save(src, arr)
    info, values = helper_decode(helper, src, tmp_path)
    assert info["shape"] == list(BIG_SHAPE) and info["fortran"] is True
    assert np.array_equal(values, arr)
    del values
    # libteeu writes it (big endian, from a strided view), numpy reads
    out = tmp_path / "big_out.npy"
    helper_encode(helper, arr.astype(">f8"), out, tmp_path, order="F")
    back = np.load(out, mmap_mode="r")
    assert back.dtype == np.dtype(">f8") and back.flags.f_contiguous
    assert np.array_equal(back, arr)
    del back
    # teeu-npy copy keeps it byte-identical to numpy.save's bytes
    copy = tmp_path / "big_copy.npy"
    run([npy_tool, "copy", src, copy])
    assert copy.read_bytes() == src.read_bytes()
    assert time.monotonic() - t0 < 60


# ---- teeu-npy copy ------------------------------------------------------------------

@pytest.mark.parametrize("version", [None, (1, 0), (2, 0), (3, 0)])
def test_copy_numpy_versions(npy_tool, tmp_path, version):
    for dtype in DTYPES:
        for byte_order in BYTE_ORDERS:
            for order in ORDERS:
                arr = make_array(dtype, (3, 4), byte_order, order, seed=7)
                src = tmp_path / "in.npy"
                src.write_bytes(numpy_save_bytes(arr, version))
                dst = tmp_path / "out.npy"
                run([npy_tool, "copy", src, dst])
                back = np.load(dst)
                assert same_array(back, arr)
                assert back.flags.f_contiguous == arr.flags.f_contiguous
                # Re-encoded with the lowest version that fits: exactly numpy.save's output.
                assert dst.read_bytes() == numpy_save_bytes(arr)


def test_copy_zstd_and_back(npy_tool, tmp_path):
    for dtype in ["bool", "int32", "float16", "float64", "complex128"]:
        for order in ORDERS:
            arr = make_array(dtype, (64, 33), ">", order, seed=3)
            src = tmp_path / "in.npy"
            np.save(src, arr)
            z = tmp_path / "z.npy.zst"
            run([npy_tool, "copy", src, z, "--zstd", "3"])
            assert z.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
            info = npy_info(npy_tool, z)
            assert info["compressed"] is True
            assert info["dtype"] == dtype and info["shape"] == [64, 33]
            assert info["order"] == ("F" if order == "F" else "C")
            back = tmp_path / "back.npy"
            run([npy_tool, "copy", z, back])
            assert npy_info(npy_tool, back)["compressed"] is False
            assert same_array(np.load(back), arr)
            if shutil.which("zstd"):
                plain = subprocess.run(["zstd", "-d", "-c", str(z)], capture_output=True, check=True).stdout
                assert plain == src.read_bytes()
    # Frames written by the zstd tools decode too: plain, multi-threaded, and pzstd's
    # concatenated frames behind a skippable frame.
    src = tmp_path / "in.npy"
    arr = make_array("float32", (300, 200), "<", "C", seed=4)
    np.save(src, arr)
    for tool_cmd in (["zstd", "-q", "-f", "-19"], ["zstd", "-q", "-f", "-T2"], ["pzstd", "-q", "-f", "-p", "2"]):
        if not shutil.which(tool_cmd[0]):
            continue
        packed = tmp_path / "packed.zst"
        subprocess.run([*tool_cmd, str(src), "-o", str(packed)], check=True, capture_output=True)
        out = tmp_path / "unpacked.npy"
        run([npy_tool, "copy", packed, out])
        assert out.read_bytes() == src.read_bytes(), tool_cmd
    # The bound is enforced on decompression.
    proc = run([npy_tool, "info", z, "--max-decompressed", "1000"], check=False)
    assert proc.returncode == 1 and "bound" in proc.stderr


def test_copy_byte_order_option(npy_tool, tmp_path):
    arr = make_array("complex64", (5, 6), "<", "F", seed=9)
    src = tmp_path / "in.npy"
    np.save(src, arr)
    dst = tmp_path / "big.npy"
    run([npy_tool, "copy", src, dst, "--byte-order", "big"])
    back = np.load(dst)
    assert back.dtype == np.dtype(">c8")
    assert same_array(back.astype("<c8"), arr)


# ---- teeu-npy info ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_info_matches_numpy_header(npy_tool, tmp_path, dtype):
    for version in [(1, 0), (2, 0), (3, 0)]:
        for byte_order in BYTE_ORDERS:
            arr = make_array(dtype, (2, 3, 4), byte_order, "F", seed=1)
            path = tmp_path / "x.npy"
            path.write_bytes(numpy_save_bytes(arr, version))
            info = npy_info(npy_tool, path)
            assert info["dtype"] == dtype == arr.dtype.name
            assert info["descr"] == npformat.dtype_to_descr(arr.dtype)
            if arr.dtype.itemsize == 1:
                assert info["byte_order"] == "not applicable"
            else:
                assert info["byte_order"] == ("big" if byte_order == ">" else "little")
            assert info["shape"] == [2, 3, 4]
            assert info["order"] == "F"
            assert info["format_version"] == info["version"] == f"{version[0]}.{version[1]}"
            assert info["compressed"] is False
            assert info["data_len"] == arr.nbytes
            assert info["header_len"] + arr.nbytes == path.stat().st_size


def test_info_scalar_and_empty(npy_tool, tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.float32(2.5))
    info = npy_info(npy_tool, path)
    assert info["shape"] == [] and info["order"] == "C" and info["dtype"] == "float32"
    np.save(path, np.zeros((0, 5), dtype=">i2"))
    info = npy_info(npy_tool, path)
    assert info["shape"] == [0, 5] and info["data_len"] == 0 and info["byte_order"] == "big"


# ---- errors -------------------------------------------------------------------------

def corrupt_header(arr, old, new):
    data = numpy_save_bytes(arr)
    assert old in data
    return data.replace(old, new.ljust(len(old)), 1)


@pytest.mark.parametrize("case,needle", [
    ("unicode", "dtype"),
    ("object", "dtype"),
    ("list-shape", "shape"),
    ("truncated", "data length"),
    ("magic", ".npy"),
    ("extra-key", "key"),
])
def test_tool_rejects_malformed(npy_tool, tmp_path, case, needle):
    arr = np.zeros((3, 4))
    if case == "unicode":
        data = numpy_save_bytes(np.array(["abcd", "ef"]))
    elif case == "object":
        data = corrupt_header(arr, b"'<f8'", b"'|O'")
    elif case == "list-shape":
        data = corrupt_header(arr, b"(3, 4)", b"[3, 4]")
    elif case == "truncated":
        data = numpy_save_bytes(arr)[:-1]
    elif case == "magic":
        data = b"\x93NUMPZ" + numpy_save_bytes(arr)[6:]
    else:
        data = corrupt_header(arr, b"}      ", b"'x': 1}")
    src = tmp_path / "bad.npy"
    src.write_bytes(data)
    for cmd in (["info", src], ["copy", src, tmp_path / "o.npy"]):
        proc = run([npy_tool, *cmd], check=False)
        assert proc.returncode == 1, (case, proc.stdout)
        assert needle in proc.stderr.lower(), (case, proc.stderr)
        assert proc.stdout == ""
    assert not (tmp_path / "o.npy").exists()


def test_tool_usage(npy_tool, tmp_path):
    proc = run([npy_tool, "--help"])
    assert "teeu-npy info FILE" in proc.stdout and "copy IN OUT" in proc.stdout
    assert run([npy_tool], check=False).returncode == 2
    assert run([npy_tool, "frobnicate", "x"], check=False).returncode == 2
    assert run([npy_tool, "copy", "only-one"], check=False).returncode == 2
    assert run([npy_tool, "copy", "a", "b", "--zstd", "lots"], check=False).returncode == 2
    proc = run([npy_tool, "info", tmp_path / "missing.npy"], check=False)
    assert proc.returncode == 1 and "missing.npy" in proc.stderr
