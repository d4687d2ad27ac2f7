"""checksec-style checks of the built binaries, with readelf: PIE, full RELRO (RELRO segment and
BIND_NOW), stack canaries, FORTIFY_SOURCE's checked calls, non-executable stack.

TWOFOLD_BINARIES lists the binaries (set by ctest). Each check also runs on a small program
built here without hardening, which must fail it: the checks can fail.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

BINARIES = [Path(p) for p in os.environ.get("TWOFOLD_BINARIES", "").split(os.pathsep) if p]


def readelf(path, *opts):
    return subprocess.run(["readelf", "-W", *opts, str(path)], check=True, capture_output=True,
                          text=True).stdout


def dynamic_flags(path):
    """The words of the FLAGS and FLAGS_1 dynamic entries."""
    words = set()
    for line in readelf(path, "-d").splitlines():
        m = re.search(r"\((FLAGS|FLAGS_1)\)\s+(?:Flags:)?\s*(.*)$", line)
        if m:
            words.update(m.group(2).split())
    return words


def program_headers(path):
    """{segment type: flags} from the program headers."""
    out = {}
    for line in readelf(path, "-l").splitlines():
        m = re.match(r"\s+(GNU_\w+|LOAD)\s+(?:\S+\s+){5}([RWE ]{3})", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def dynamic_symbols(path):
    names = set()
    for line in readelf(path, "--dyn-syms").splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].endswith(":"):
            names.add(parts[7].split("@")[0])
    return names


def is_pie(path):
    return "DYN" in readelf(path, "-h").split("Type:")[1].splitlines()[0] and \
        "PIE" in dynamic_flags(path)


def has_full_relro(path):
    flags = dynamic_flags(path)
    return "GNU_RELRO" in program_headers(path) and ("BIND_NOW" in flags or "NOW" in flags)


def has_canary(path):
    return "__stack_chk_fail" in dynamic_symbols(path)


def has_fortify(path):
    return any(s.endswith("_chk") and s != "__stack_chk_fail" for s in dynamic_symbols(path))


def has_nx_stack(path):
    flags = program_headers(path).get("GNU_STACK")
    return flags is not None and "E" not in flags


CHECKS = [is_pie, has_full_relro, has_canary, has_fortify, has_nx_stack]

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	char buf[64];
	strcpy(buf, argc > 1 ? argv[1] : "x");
	printf("%s %d\n", buf, argc);
	return 0;
}
"""


@pytest.fixture(scope="module")
def unhardened(tmp_path_factory):
    d = tmp_path_factory.mktemp("unhardened")
    src = d / "p.c"
    src.write_text(PROGRAM)
    out = d / "p"
    subprocess.run(["cc", "-O2", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0", "-fno-stack-protector",
                    "-no-pie", "-fno-pie", "-Wl,-z,norelro", "-Wl,-z,lazy", "-Wl,-z,execstack",
                    "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def test_binaries_listed():
    assert BINARIES, "TWOFOLD_BINARIES is empty"
    for b in BINARIES:
        assert b.exists(), f"{b} not built"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_binaries_hardened(check):
    failed = [str(b) for b in BINARIES if not check(b)]
    assert not failed, f"{check.__name__} fails for {failed}"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_check_catches_unhardened(check, unhardened):
    assert not check(unhardened), f"{check.__name__} passes an unhardened program"
