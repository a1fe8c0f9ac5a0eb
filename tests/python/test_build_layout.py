"""Checks of the built and installed artefacts that every consumer relies on."""
import re
import subprocess


def test_shared_library_has_soname(libteeu_path):
    out = subprocess.run(["objdump", "-p", str(libteeu_path)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"SONAME\s+(\S+)", out)
    assert m, out
    assert m.group(1) == "libteeu.so.0"


def test_pkgconfig_file_is_relocatable(build_dir):
    pc = (build_dir / "teeu.pc").read_text()
    assert pc.startswith("prefix=${pcfiledir}/")
    assert re.search(r"^Libs: -L\$\{libdir\} -lteeu$", pc, re.M)
