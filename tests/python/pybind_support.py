"""Helpers for the Python-bindings tests: import the in-tree `teeu` package and measure memory."""
import os
import pathlib
import sys

SOURCE_DIR = pathlib.Path(os.environ.get("TEEU_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BINDINGS_DIR = SOURCE_DIR / "bindings" / "python"
if str(BINDINGS_DIR) not in sys.path:
    sys.path.insert(0, str(BINDINGS_DIR))


def import_teeu(libteeu_path):
    """The bindings package, bound to the libteeu of the build under test."""
    import teeu
    assert pathlib.Path(teeu.__file__).parent == BINDINGS_DIR / "teeu", teeu.__file__
    teeu.load_library(libteeu_path)
    return teeu


def rss_bytes():
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def env_with_bindings(extra=None):
    """Environment for a child Python that imports the in-tree package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BINDINGS_DIR), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def flat_memory(cycle, warmup=100, cycles=1000, tolerance=0.10):
    """Runs cycle() warmup+cycles times; returns (rss after warm-up, rss at the end, ok)."""
    import gc
    for _ in range(warmup):
        cycle()
    gc.collect()
    before = rss_bytes()
    for _ in range(cycles):
        cycle()
    gc.collect()
    after = rss_bytes()
    return before, after, after <= before * (1 + tolerance)
