"""Differential tests of zip wares: r2k8s against the real ``rio`` binary.

Skipped without rio, for the reasons ``test_rio_differential.py`` gives (CI cannot build
it); run locally with ``R2K8S_RIO=/path/to/rio``, a rio built from upstream (commit
``7c31ad9``). rio's zip CLI: ``rio pack zip PATH [--filters F] [--target URL]`` and
``rio scan zip --source URL [--filters F]``.

1. Random trees: ``rio pack zip`` and ``r2k8s pack --packtype zip`` print the same ID,
   and each tool scans the other's zip to that ID.
2. Every hand-built zip of ``test_zip_scan`` and ``test_zip_malicious``: both tools scan it
   to the same ID, or both fail (rio sometimes by a Go panic, exit 2); the one exception, a
   nameless *file* entry that rio takes for the root, is refused by r2k8s on purpose.
3. rio's one known divergence: with ``mtime=keep`` and a sub-second mtime, rio's zip pack
   hashes the nanoseconds its zip cannot hold, so rio's own scan of that zip disagrees with
   the ID it printed; r2k8s truncates, and rio's scan of r2k8s's zip agrees with r2k8s.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from zipbuild import ZEntry, build_zip
from zipcases import MALICIOUS, RIO_VECTORS, TREE, build

from r2k8s.core.errors import R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware.ingest import ingest_zip

RIO = os.environ.get("R2K8S_RIO") or shutil.which("rio")
pytestmark = [
    pytest.mark.skipif(RIO is None, reason="no rio binary: set R2K8S_RIO (see test_rio_differential.py)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="building trees with arbitrary owners needs root"),
]

PACK_KEEP = "uid=keep,gid=keep,mtime=keep,sticky=keep,setid=keep,dev=keep"
SCAN_FOLLOW = "uid=follow,gid=follow,mtime=follow,sticky=follow,setid=follow,dev=follow"


def rio(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    assert RIO is not None
    env = dict(os.environ, RIO_BASE=str(home / "rio"), RIO_CACHE=str(home / "rio" / "cache"))
    return subprocess.run([RIO, *args], capture_output=True, text=True, env=env)


def r2k8s(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "r2k8s", *args], capture_output=True, text=True)


def rio_scan(path: Path, home: Path) -> str | None:
    done = rio("scan", "zip", f"--source=file://{path}", f"--filters={SCAN_FOLLOW}", home=home)
    return done.stdout.strip() if done.returncode == 0 else None


def our_scan(data: bytes) -> str | None:
    try:
        return str(ingest_zip(io.BytesIO(data), flt.UNPACK_LOSSLESS).filtered_id)
    except R2k8sError:
        return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREE)
def test_pack_and_scan_agree_with_rio_on_random_trees(tree: tuple) -> None:
    with tempfile.TemporaryDirectory() as work:
        home = Path(work)
        root = home / "root"
        build(root, tree)
        theirs = rio("pack", "zip", str(root), f"--filters={PACK_KEEP}", f"--target=file://{home}/rio.zip", home=home)
        ours = r2k8s("pack", str(root), "--packtype", "zip", "--filters", PACK_KEEP, "--target", f"file://{home}/r.zip")
        assert theirs.returncode == 0, theirs.stderr
        assert ours.returncode == 0, ours.stderr
        ware = ours.stdout.strip()
        assert theirs.stdout.strip() == ware
        assert rio_scan(home / "r.zip", home) == ware
        assert our_scan((home / "rio.zip").read_bytes()) == ware


CASES: dict[str, list[ZEntry]] = {
    **{f"vector: {name}": entries for name, (entries, _) in RIO_VECTORS.items()},
    **{f"malicious: {name}": entries for name, (entries, _, _) in MALICIOUS.items()},
}


#: Zips rio scans to an ID that r2k8s refuses, on purpose: no tool can unpack them.
REFUSED_ON_PURPOSE = {
    # rio hashes a nameless file entry as the root itself (the ID is that file's record); its unpack then fails.
    "malicious: a file as the root",
}


@pytest.mark.parametrize("case", CASES)
def test_hand_built_zips_scan_alike(case: str, tmp_path: Path) -> None:
    data = build_zip(CASES[case])
    (tmp_path / "z.zip").write_bytes(data)
    if case in REFUSED_ON_PURPOSE:
        assert our_scan(data) is None
        assert rio_scan(tmp_path / "z.zip", tmp_path) is not None
        return
    assert our_scan(data) == rio_scan(tmp_path / "z.zip", tmp_path)


def test_rio_keeps_nanoseconds_its_zip_cannot_hold_and_r2k8s_does_not(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"x")
    os.utime(root / "f", ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))
    os.utime(root, (1_500_000_000, 1_500_000_000))
    theirs = rio(
        "pack", "zip", str(root), f"--filters={PACK_KEEP}", f"--target=file://{tmp_path}/rio.zip", home=tmp_path
    )
    ours = r2k8s("pack", str(root), "--packtype", "zip", "--filters", PACK_KEEP, "--target", f"file://{tmp_path}/r.zip")
    assert rio_scan(tmp_path / "rio.zip", tmp_path) != theirs.stdout.strip()  # rio's bug
    assert rio_scan(tmp_path / "r.zip", tmp_path) == ours.stdout.strip()
    assert rio_scan(tmp_path / "rio.zip", tmp_path) == ours.stdout.strip()
