"""What a user sees when a warehouse or the ware cache misbehaves (issue 12): an exit code that says whose
fault it is, a message that says what happened, and nothing left behind.

* a warehouse trickling a byte at a time: exit 3 once the progress rule gives up (not a hang);
* a body shorter than its ``Content-Length``: exit 3, "the transfer ended early" (not 6, corrupt);
* a full ware cache disk under ``run --local``: exit 9, naming the cache and saying it is full (not 12).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from formula_runs import run_local, write_formula
from loopback_http import misbehaving
from tarbuild import D, F, make_tar

from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.wareid import WareID


def r2k8s(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "r2k8s", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=dict(os.environ, **(env or {})),
        timeout=60,  # before the progress rule, the trickle never ended
    )


def build(size: int) -> tuple[WareID, bytes]:
    uid, gid = os.getuid(), os.getgid()
    data = make_tar([D("./", uid=uid, gid=gid), F("./blob", os.urandom(size), uid=uid, gid=gid)], "gzip")
    return ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id, data


def staging_left(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".unpack-" in p.name)


def test_a_trickling_warehouse_ends_the_unpack_with_exit_3(tmp_path: Path) -> None:
    ware, data = build(200_000)
    with misbehaving(data, head=2000, trickle=0.1) as url:
        done = r2k8s(
            "unpack", str(ware), "out", "--source", url, cwd=tmp_path, env={"R2K8S_WAREHOUSE_PROGRESS": "8192/2"}
        )
    assert done.returncode == 3, done.stderr
    assert "error: rio-warehouse-unavailable: warehouse" in done.stderr
    assert "is too slow: fewer than 8192 bytes arrived in 2 s of waiting" in done.stderr
    assert done.stdout == "" and not (tmp_path / "out").exists() and staging_left(tmp_path) == []


def test_a_body_cut_short_is_exit_3_not_a_corrupt_ware(tmp_path: Path) -> None:
    ware, data = build(200_000)
    with misbehaving(data, head=50_000) as url:
        done = r2k8s("unpack", str(ware), "out", "--source", url, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert f"the transfer ended early, after 50000 of {len(data)} bytes (GET {url})" in done.stderr
    assert not (tmp_path / "out").exists() and staging_left(tmp_path) == []

    with misbehaving(data, head=50_000) as url:
        scanned = r2k8s("scan", url, cwd=tmp_path)
    assert scanned.returncode == 3, scanned.stderr
    assert "the transfer ended early" in scanned.stderr and scanned.stdout == ""


@pytest.mark.skipif(os.geteuid() != 0, reason="run --local and mounting a small tmpfs need root")
def test_a_full_ware_cache_is_exit_9_naming_the_cache(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        ware, data = build(3 << 20)
        (tmp_path / "big.tgz").write_bytes(data)
        formula = write_formula(tmp_path, {"/": str(ware)}, {"exec": ["/bin/true"]}, fetch={"/": ["file://./big.tgz"]})
        outcome = run_local(formula, cache=small / "cache", jobs=tmp_path / "jobs")
        assert outcome.code == 9, outcome.stderr
        assert f"the ware cache {small / 'cache'} is full" in outcome.stderr
        assert os.strerror(28) in outcome.stderr  # ENOSPC
        assert outcome.stdout == ""
        assert [p.name for p in (small / "cache").iterdir()] in ([".tmp", ".locks"], [".locks", ".tmp"], [".tmp"])
        assert list((small / "cache" / ".tmp").iterdir()) == []
        assert not (small / "cache" / "tar").exists()
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
