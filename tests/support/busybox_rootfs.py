"""A tiny root filesystem for running formulas for real: Debian's static busybox plus its applet links.

Built with Python's ``tarfile`` (independent of r2k8s's tar writer) from the
host's ``/bin/busybox`` (package ``busybox-static``; ``.ci/run`` installs it),
so tests need neither ``../shared`` nor a network. Its ware ID is computed by
scanning, then the tests check that runs reproduce it.
"""

from __future__ import annotations

import io
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest
from tarbuild import D, F, L, make_tar

BUSYBOX = Path("/bin/busybox")

needs_busybox = pytest.mark.skipif(
    not BUSYBOX.is_file(),
    reason="needs a static busybox at /bin/busybox (apt-get install busybox-static; .ci/run does this)",
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="running formulas locally needs root (mounts, setuid)")


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
