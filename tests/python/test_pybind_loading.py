"""Python bindings: finding libteeu, installing the package with pip offline, the log bridge."""
import logging
import os
import shutil
import subprocess
import sys

import pytest

from pybind_support import BINDINGS_DIR, SOURCE_DIR, env_with_bindings, import_teeu

PY = os.environ.get("TEEU_PYTHON", "/usr/bin/python3")


@pytest.fixture(scope="module")
def teeu(libteeu_path):
    return import_teeu(libteeu_path)


def child(code, env, cwd=None):
    return subprocess.run([PY, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def clean_env(**extra):
    env = env_with_bindings()
    for var in ("TEEU_LIBRARY", "TEEU_BUILD_DIR", "TEEU_BUILD_ROOT"):
        env.pop(var, None)
    env.update(extra)
    return env


PRINT_PATH = "import teeu; print(teeu.library_version()); print(teeu.library_path())"


def test_env_var_and_explicit_path(libteeu_path, tmp_path):
    proc = child(PRINT_PATH, clean_env(TEEU_LIBRARY=str(libteeu_path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == str(libteeu_path)

    code = f"import teeu; teeu.load_library({str(libteeu_path)!r}); print(teeu.library_path())"
    proc = child(code, clean_env(TEEU_LIBRARY="/nonexistent/libteeu.so"))
    assert proc.returncode == 0 and proc.stdout.strip() == str(libteeu_path), proc.stderr


def test_missing_library_is_a_clear_import_error():
    proc = child("import teeu\ntry:\n    teeu.load_library('/nonexistent/libteeu.so')\n"
                 "except ImportError as e:\n    print(type(e).__name__, e)\n", clean_env())
    assert proc.returncode == 0, proc.stderr
    assert "LibraryNotFoundError" in proc.stdout and "/nonexistent/libteeu.so" in proc.stdout
    assert "TEEU_LIBRARY" in proc.stdout  # says what to do


def test_build_tree_is_found_from_a_checkout(build_dir, tmp_path):
    """Imported from the source tree, the package finds $TEEU_BUILD_DIR's (or build/ci's) library."""
    proc = child(PRINT_PATH, clean_env(TEEU_BUILD_DIR=str(build_dir)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith(str(build_dir))


def test_pip_install_offline_and_use(libteeu_path, tmp_path):
    """pip install --no-build-isolation --no-index works with Debian's setuptools, without network."""
    src = tmp_path / "src"
    shutil.copytree(BINDINGS_DIR, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    proc = subprocess.run([PY, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
                           "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "teeu" / "__init__.py").is_file() and (target / "teeu" / "client.py").is_file()
    env = clean_env(TEEU_LIBRARY=str(libteeu_path), PYTHONPATH=str(target))
    proc = child("import teeu, numpy as np, io\n"
                 "print(teeu.__file__)\n"
                 "a = np.arange(6.0).reshape(2, 3)\n"
                 "assert (np.load(io.BytesIO(teeu.encode_npy(a))) == a).all()\n", env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(target))


def test_log_bridge_and_custom_handler(teeu, tmp_path, caplog):
    key = teeu.Key.generate()
    path = tmp_path / "loose.pem"
    path.write_bytes(key.private_pem())
    os.chmod(path, 0o644)  # readable by others: libteeu loads it with a warning
    with caplog.at_level(logging.WARNING, logger="teeu"):
        teeu.Key.load_private(path)
    warnings = [r for r in caplog.records if r.name == "teeu" and r.levelno == logging.WARNING]
    assert warnings and "loose.pem" in warnings[0].getMessage()

    seen = []
    teeu.set_log_handler(lambda level, msg: seen.append((level, msg)), teeu.log.DEBUG)
    try:
        teeu.Key.load_private(path)
    finally:
        teeu.log_to_logging()
    assert any(level == teeu.log.WARN and "loose.pem" in msg for level, msg in seen)

    teeu.set_log_handler(None)
    try:
        caplog.clear()
        teeu.Key.load_private(path)
        assert not [r for r in caplog.records if r.name == "teeu"]
    finally:
        teeu.log_to_logging()

    # A handler that raises does not break the call.
    def bad(level, msg):
        raise RuntimeError("handler bug")
    teeu.set_log_handler(bad)
    try:
        assert teeu.Key.load_private(path).is_private
    finally:
        teeu.log_to_logging()


def test_version(teeu):
    assert teeu.library_version().count(".") == 2
    assert sys.modules["teeu"].__version__
    assert (SOURCE_DIR / "bindings" / "python" / "pyproject.toml").is_file()


def test_no_generated_stub_package_is_named_teeu():
    """Python stubs generated from proto/ take their package from the file path:
    no .proto may live under proto/teeu/, or its stubs would shadow the bindings."""
    tops = {p.relative_to(SOURCE_DIR / "proto").parts[0] for p in (SOURCE_DIR / "proto").rglob("*.proto")}
    assert tops and "teeu" not in tops, tops
