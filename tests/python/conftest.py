"""Shared fixtures: where the build tree, tools and test data are."""
import os
import pathlib

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("TEEU_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BUILD_DIR = pathlib.Path(os.environ.get("TEEU_BUILD_DIR", SOURCE_DIR / "build" / "ci"))
TESTDATA_DIR = pathlib.Path(os.environ.get("TEEU_TESTDATA_DIR", SOURCE_DIR.parent / "shared" / "testdata"))


@pytest.fixture(scope="session")
def build_dir():
    if not BUILD_DIR.is_dir():
        pytest.fail(f"build tree {BUILD_DIR} missing: build first or set TEEU_BUILD_DIR")
    return BUILD_DIR


@pytest.fixture(scope="session")
def tool(build_dir):
    """Path of a built program (tool, helper, service) by name."""
    def find(name):
        for candidate in (build_dir / name, *build_dir.glob(f"*/{name}"), *build_dir.glob(f"*/*/{name}")):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        pytest.fail(f"{name} not built in {build_dir}")
    return find


@pytest.fixture(scope="session")
def libteeu_path(build_dir):
    lib = build_dir / "libteeu.so"
    if not lib.exists():
        pytest.fail(f"{lib} missing")
    return lib


@pytest.fixture(scope="session")
def testdata_dir():
    return TESTDATA_DIR
