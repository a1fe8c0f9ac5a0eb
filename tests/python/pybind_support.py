"""Helpers for the Python-bindings tests: import the in-tree `teeu` package and measure memory."""
import os
import pathlib
import sys

SOURCE_DIR = pathlib.Path(os.environ.get("TEEU_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BINDINGS_DIR = SOURCE_DIR / "bindings" / "python"
if str(BINDINGS_DIR) not in sys.path:
    sys.path.insert(0, str(BINDINGS_DIR))


def import_teeu(libteeu_path):
    """The bindings package, bound to the libteeu of the build under test.

    Other tests generate gRPC stubs from proto/teeu/v1 into a folder holding
    a `teeu/__init__.py` and put it first on sys.path; a plain `import teeu`
    could then find that package. Ours is loaded from its file instead; its
    __path__ still reaches the stubs' folder, so `teeu.v1` keeps importing,
    and stub modules already imported stay where they are.
    """
    import importlib.util
    init = BINDINGS_DIR / "teeu" / "__init__.py"
    mod = sys.modules.get("teeu")
    if mod is None or getattr(mod, "__file__", None) != str(init):
        spec = importlib.util.spec_from_file_location("teeu", init,
                                                      submodule_search_locations=[str(init.parent)])
        ours = importlib.util.module_from_spec(spec)
        sys.modules["teeu"] = ours
        try:
            spec.loader.exec_module(ours)
        except BaseException:
            if mod is not None:
                sys.modules["teeu"] = mod
            else:
                del sys.modules["teeu"]
            raise
        if mod is not None and "teeu.v1" in sys.modules:
            ours.v1 = sys.modules["teeu.v1"]
        mod = ours
    mod.load_library(libteeu_path)
    return mod


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
