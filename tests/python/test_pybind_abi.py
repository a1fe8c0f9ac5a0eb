"""Python bindings: cffi's struct layouts (from teeu/_cdef.py) equal the C compiler's (from the headers),
and every function the bindings declare is exported by libteeu."""
import json
import shutil
import subprocess

import pytest

from pybind_support import SOURCE_DIR, import_teeu

CLIENT_STRUCTS = {"teeu_endpoint", "teeu_config", "teeu_put_options", "teeu_arg", "teeu_call_options",
                  "teeu_client_stats"}


@pytest.fixture(scope="module")
def teeu(libteeu_path):
    return import_teeu(libteeu_path)


def c_layouts(build_dir, tmp_path, structs):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler (build-essential is a listed dependency)")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <teeu/ndarray.h>", "#include <teeu/keys.h>",
             "#include <teeu/log.h>"]
    if any(s in CLIENT_STRUCTS for s in structs):
        lines.append("#include <teeu/teeu.h>")
    lines += ["int main(void) {", '    printf("{");']
    first = True
    for name, fields in structs.items():
        sep = "" if first else ","
        first = False
        lines.append(f'    printf("{sep}\\"{name}\\": [%zu", sizeof({name}));')
        for field in fields:
            lines.append(f'    printf(", %zu", offsetof({name}, {field}));')
        lines.append('    printf("]");')
    lines += ['    printf("}\\n");', "    return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", str(SOURCE_DIR / "include"), "-I", str(build_dir / "include"),
                    str(src), "-o", str(exe)], check=True, capture_output=True, timeout=120)
    return json.loads(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)


def test_struct_layouts_match_the_headers(teeu, build_dir, tmp_path):
    from teeu._cdef import STRUCTS
    from teeu._lib import ffi
    structs = dict(STRUCTS)
    if not (SOURCE_DIR / "include" / "teeu" / "teeu.h").is_file():
        structs = {k: v for k, v in structs.items() if k not in CLIENT_STRUCTS}
    expected = c_layouts(build_dir, tmp_path, structs)
    for name, fields in structs.items():
        got = [ffi.sizeof(name)] + [ffi.offsetof(name, f) for f in fields]
        assert got == expected[name], f"{name}: cffi {got} != C {expected[name]}"


def test_declared_functions_are_exported(teeu, libteeu_path):
    import re
    from teeu._cdef import CDEF
    from teeu._lib import lib
    names = set(re.findall(r"\b(teeu_[a-z0-9_]+)\s*\(", CDEF))
    exported = set(subprocess.run(["nm", "-D", "--defined-only", str(libteeu_path)], check=True,
                                  capture_output=True, text=True).stdout.split())
    core = {n for n in names if not n.startswith(("teeu_client", "teeu_put", "teeu_call", "teeu_reveal",
                                                  "teeu_func", "teeu_object", "teeu_config"))}
    assert core <= exported, sorted(core - exported)
    if teeu.has_client_api():
        assert names <= exported, sorted(names - exported)
    for name in names & exported:
        getattr(lib(), name)  # cffi resolves it
