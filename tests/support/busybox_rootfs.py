"""A tiny root filesystem for running formulas for real: Debian's static busybox plus its applet links.

Built with Python's ``tarfile`` (independent of r2k8s's tar writer) from the
host's ``/bin/busybox`` (package ``busybox-static``), so tests need neither
``../shared`` nor a network. Its ware ID is computed by scanning, then the tests
check that runs reproduce it.

Tests that need the static busybox carry ``needs_busybox`` (the marker
``needs_busybox``). When the session has such tests and the machine lacks it,
this plugin installs ``busybox-static`` with ``.ci/install-packages`` (apt-get,
as ``.ci/run`` does) before the first test runs; those tests skip only when that
is impossible (not root, or the Debian mirror does not answer) and fail when the
install fails for another reason. Registered from tests/conftest.py.
"""

from __future__ import annotations

import io
import os
import subprocess
from functools import cache
from pathlib import Path

import installs
import pytest
from repo import REPO_ROOT
from tarbuild import D, F, L, make_tar

BUSYBOX = Path("/bin/busybox")
PACKAGE = "busybox-static"
INSTALL_PACKAGES = REPO_ROOT / ".ci" / "install-packages"

needs_busybox = pytest.mark.needs_busybox
"""The test runs ``BUSYBOX``: installed for the session when missing, else the test skips saying why."""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="running formulas locally needs root (mounts, setuid)")

_missing = pytest.StashKey[str]()
_failed = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"needs_busybox: runs the static {BUSYBOX} ({PACKAGE}; installed for the session when missing)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Before the first test: install busybox-static if a selected test needs it and it is missing."""
    if session.config.option.collectonly or not any(item.get_closest_marker("needs_busybox") for item in session.items):
        return
    problem = ensure_busybox()
    if problem is None:
        return
    skip, message = problem
    session.config.stash[_missing if skip else _failed] = message


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_busybox") is None:
        return
    stash = item.config.stash
    if _failed in stash:
        pytest.fail(stash[_failed], pytrace=False)
    if _missing in stash:
        pytest.skip(stash[_missing])


def ensure_busybox(install: Path | None = None) -> tuple[bool, str] | None:
    """None when ``BUSYBOX`` is a static executable (after installing ``busybox-static`` with
    ``install``, default ``INSTALL_PACKAGES``, if needed); else ``(True, why)`` when installing is
    impossible, ``(False, what failed)`` when it failed."""
    install = install or INSTALL_PACKAGES
    if is_static_executable(BUSYBOX):
        return None
    wanted = f"needs a static busybox at {BUSYBOX} (Debian package {PACKAGE})"
    if installs.not_root():
        return True, f"{wanted}: not root, so the tests cannot apt-get install it (.ci/run does, as root)"
    outcome = installs.run_once(("install-packages", str(install), PACKAGE), [install, PACKAGE], PACKAGE)
    if is_static_executable(BUSYBOX):
        return None
    if outcome.ok:
        return False, f"{wanted}: {install} {PACKAGE} succeeded but {BUSYBOX} is not a static executable"
    mirror = installs.debian_mirror()
    offline = installs.unreachable([mirror])
    if offline is not None:
        return True, f"{wanted}: it cannot be installed, no network ({offline})"
    return False, f"{wanted}: installing it failed: {outcome.describe()}"


def is_static_executable(path: Path) -> bool:
    """``path`` is an executable ELF file without a program interpreter (statically linked)."""
    try:
        with open(path, "rb") as elf:
            header = elf.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return False  # not a 64-bit little-endian ELF file
            phoff = int.from_bytes(header[32:40], "little")
            phentsize = int.from_bytes(header[54:56], "little")
            phnum = int.from_bytes(header[56:58], "little")
            elf.seek(phoff)
            table = elf.read(phentsize * phnum)
    except OSError:
        return False
    pt_interp = 3
    types = (int.from_bytes(table[i : i + 4], "little") for i in range(0, len(table), phentsize))
    return os.access(path, os.X_OK) and pt_interp not in types


@cache
def applets() -> tuple[str, ...]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout
    return tuple(sorted(name for name in out.split() if name and "/" not in name and name != "busybox"))


@cache
def rootfs_tgz() -> bytes:
    """``/bin/busybox`` and ``/bin/<applet> -> busybox`` for every applet; ``/dev``, ``/proc``, ``/tmp``, ``/etc``."""
    entries = [
        D("."),
        D("bin"),
        D("dev"),
        D("etc"),
        D("proc", mode=0o555),
        D("tmp", mode=0o1777),
        D("usr"),
        D("usr/bin"),
        F("etc/hostname", b"busybox\n"),
        F("bin/busybox", BUSYBOX.read_bytes(), mode=0o755),
    ]
    entries += [L(f"bin/{name}", "busybox") for name in applets()]
    return make_tar(entries, compression="gzip")


@cache
def rootfs_ware_id() -> str:
    from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
    from r2k8s.core.ware.ingest import ingest_tar

    return str(ingest_tar(io.BytesIO(rootfs_tgz()), UNPACK_CONSERVATIVE).prefilter_id)
