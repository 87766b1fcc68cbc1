"""``run --local`` with a setuid-root input: the formula sees it as the ware says, other users cannot reach it.

The ware cache keeps entries losslessly, setuid-root files included; issue 12 asks that no other user
of the host can reach them there (the cache's top directory is 0700, an open one is fixed on first
use) without changing what the formula sees, with either placer, for an action running as uid 1000.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import run_local, write_formula
from tarbuild import D, F, make_tar

from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar

pytestmark = [needs_root, needs_busybox]

NOBODY = 65534


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can traverse, as ``~root/.cache``'s parents or a node's ``/var/cache`` may be."""
    path = Path(tempfile.mkdtemp(prefix="r2k8s-private-runs-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        remove_tree(path)


def reachable_by_nobody(path: Path) -> bool:
    done = subprocess.run(["stat", str(path)], user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True)
    assert done.returncode == 0 or b"Permission denied" in done.stderr, done.stderr
    return done.returncode == 0


@pytest.mark.parametrize("placer", ["overlay", "copy"])
@pytest.mark.parametrize("existing", [False, True], ids=["new-cache", "open-old-cache"])
def test_setuid_inputs_reach_the_formula_but_not_other_users(open_dir: Path, placer: str, existing: bool) -> None:
    work = open_dir / "pkg"
    work.mkdir()
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    tools = make_tar([D("./"), F("./su", b"#!/bin/sh\necho su\n", mode=0o4755), D("./private", mode=0o750)], "gzip")
    (work / "tools.tgz").write_bytes(tools)
    tools_id = str(ingest_tar(io.BytesIO(tools), UNPACK_LOSSLESS).prefilter_id)
    cache = open_dir / "cache"
    if existing:
        cache.mkdir(mode=0o755)
        cache.chmod(0o755)

    formula = write_formula(
        work,
        {"/": rootfs_ware_id(), "/opt": tools_id},
        {
            "exec": ["/bin/sh", "-c", "stat -c '%a %u %g %n' /opt/su /opt/private"],
            "userinfo": {"uid": 1000, "gid": 1000},
        },
        fetch={"/": ["file://./rootfs.tgz"], "/opt": ["file://./tools.tgz"]},
    )
    outcome = run_local(formula, "--placer", placer, cache=cache, jobs=open_dir / "jobs")
    assert outcome.record.exit_code == 0, outcome.stderr
    assert outcome.output_lines() == ["4755 0 0 /opt/su", "750 0 0 /opt/private"]  # the formula's view is unchanged

    assert cache.stat().st_mode & 0o7777 == 0o700
    entry = next((cache / "tar" / "fileset").glob(f"*/*/{tools_id.split(':', 1)[1]}"))
    assert os.stat(entry / "su").st_mode & 0o7777 == 0o4755  # the cache keeps the ware as it is...
    assert not reachable_by_nobody(entry / "su")  # ...where no other user can reach it
    assert ("made the ware cache" in outcome.stderr) is existing
