"""The ware cache against hostile and broken conditions (issue 12): no crash, no hang, no poisoned cache.

* setuid files in entries are out of other users' reach (the root is 0700, an open root is fixed);
* a full disk is a cache problem that names the cache, and leaves nothing behind;
* a stale staging directory that cannot be removed is logged and passed over, not a reason to fail;
* a 1,200-level deep ware with the wrong ID leaves no staging directory, and the cache goes on working.

Real filesystems throughout: a small tmpfs for the full disk, a mount inside a staging directory
for the one that cannot be removed (both need root, and skip without it).
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tarbuild import D, F, deep_tar, make_tar

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mounting a tmpfs, setuid-root files)")

NOBODY = 65534


def ware(entries: list, name: str, where: Path) -> tuple[WareID, str]:
    """Write the tarball to ``where/name``; return its ID and a file:// URL for it."""
    data = make_tar(entries, compression="gzip")
    (where / name).write_bytes(data)
    return ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id, f"file://{where / name}"


def small(tag: str, where: Path) -> tuple[WareID, str]:
    uid, gid = os.getuid(), os.getgid()
    return ware([D("./", uid=uid, gid=gid), F("./x", tag.encode(), uid=uid, gid=gid)], f"{tag}.tgz", where)


def leftovers(cache: WareCache) -> list[str]:
    return sorted(p.name for d in (cache.root / ".tmp", cache.root / ".locks") if d.is_dir() for p in d.iterdir())


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can traverse (pytest's own tmp_path is 0700, which would hide the problem)."""
    path = Path(tempfile.mkdtemp(prefix="r2k8s-cache-safety-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        remove_tree(path)


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """tmpfs mounts made by a test, unmounted afterwards whatever happens."""
    made: list[Path] = []
    yield made
    for path in reversed(made):
        subprocess.run(["umount", "-l", str(path)], check=False)


def mount_tmpfs(mounts: list[Path], path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    mounts.append(path)


def reach_as_nobody(path: Path) -> str:
    """What an unprivileged user gets trying to stat ``path``: 'reached', or why not."""
    done = subprocess.run(["stat", str(path)], user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True)
    if done.returncode == 0:
        return "reached"
    assert b"Permission denied" in done.stderr, done.stderr
    return "PermissionError"


# --- setuid files out of reach ------------------------------------------------------------------


@needs_root
def test_setuid_root_files_in_the_cache_are_out_of_other_users_reach(open_dir: Path) -> None:
    wares = open_dir / "wares"
    wares.mkdir()
    suid, url = ware([D("./"), D("./bin"), F("./bin/su", b"#!/bin/sh\n", mode=0o4755)], "suid.tgz", wares)
    cache = WareCache(open_dir / "cache")
    lines: list[str] = []
    entry = cache.ensure(suid, [url], log=lines.append)
    placed = os.stat(entry / "bin" / "su")
    assert (placed.st_mode & 0o7777, placed.st_uid) == (0o4755, 0)  # the entry is the ware, setuid bit and all
    assert cache.root.stat().st_mode & 0o7777 == 0o700
    assert reach_as_nobody(entry / "bin" / "su") == "PermissionError"
    assert not any("private" in line for line in lines)  # a new cache is simply made private


@needs_root
def test_an_existing_open_cache_is_made_private_on_first_use(open_dir: Path) -> None:
    wares = open_dir / "wares"
    wares.mkdir()
    suid, url = ware([D("./"), F("./su", b"x", mode=0o4755)], "suid.tgz", wares)
    other, other_url = small("other", wares)
    WareCache(open_dir / "cache").ensure(suid, [url])
    (open_dir / "cache").chmod(0o755)  # as an older r2k8s (or a hostPath volume) left it
    entry = WareCache(open_dir / "cache").path_for(suid)
    assert reach_as_nobody(entry / "su") == "reached"

    lines: list[str] = []
    WareCache(open_dir / "cache").ensure(other, [other_url], log=lines.append)
    assert (open_dir / "cache").stat().st_mode & 0o7777 == 0o700
    assert reach_as_nobody(entry / "su") == "PermissionError"
    assert any("made the ware cache" in line and "private" in line and "0755" in line for line in lines), lines

    lines.clear()
    (open_dir / "cache").chmod(0o755)
    WareCache(open_dir / "cache").ensure(suid, [url], log=lines.append)  # even when nothing is fetched
    assert (open_dir / "cache").stat().st_mode & 0o7777 == 0o700
    assert lines[-1] == f'info: cache already has ware "{suid}"'


def test_a_cache_root_that_is_a_file_is_a_cache_problem(tmp_path: Path) -> None:
    one, url = small("one", tmp_path)
    (tmp_path / "cache").write_text("not a directory")
    with pytest.raises(R2k8sError) as caught:
        WareCache(tmp_path / "cache").ensure(one, [url])
    assert caught.value.category is Category.CACHE_PROBLEM
    assert f"{tmp_path / 'cache'} is not a directory" in caught.value.message


# --- a full disk --------------------------------------------------------------------------------


@needs_root
def test_a_full_cache_disk_is_a_cache_problem_naming_the_cache(tmp_path: Path, mounts: list[Path]) -> None:
    mount_tmpfs(mounts, tmp_path / "small", "1m")
    big, big_url = ware([D("./"), F("./big", os.urandom(3 << 20))], "big.tgz", tmp_path)
    cache = WareCache(tmp_path / "small" / "cache")
    with pytest.raises(R2k8sError) as caught:
        cache.ensure(big, [big_url])
    assert caught.value.category is Category.CACHE_PROBLEM  # exit 9, not 12: the cache is full, not a path of yours
    message = caught.value.message
    assert f"the ware cache {cache.root} is full" in message
    assert os.strerror(errno.ENOSPC) in message and "'big'" in message
    assert not cache.has(big) and leftovers(cache) == []
    assert os.statvfs(tmp_path / "small").f_bfree * os.statvfs(tmp_path / "small").f_frsize > 900 << 10  # freed

    one, one_url = small("one", tmp_path)
    assert (cache.ensure(one, [one_url]) / "x").read_text() == "one"  # the cache is not poisoned


# --- the stale-staging sweep ---------------------------------------------------------------------


@needs_root
def test_a_stale_staging_dir_that_cannot_be_removed_is_logged_and_passed_over(
    tmp_path: Path, mounts: list[Path]
) -> None:
    cache = WareCache(tmp_path / "cache")
    stale = cache.root / ".tmp" / "tar.stale.abc"
    mount_tmpfs(mounts, stale / "busy", "64k")  # a mount point: rmdir says EBUSY
    (stale / "busy" / "file").write_text("x")
    one, one_url = small("one", tmp_path)
    two, two_url = small("two", tmp_path)

    lines: list[str] = []
    assert (cache.ensure(one, [one_url], log=lines.append) / "x").read_text() == "one"
    assert any("cannot remove stale" in line and "tar.stale.abc" in line for line in lines), lines
    assert stale.is_dir()

    lines.clear()  # a new process (a new WareCache) sweeps again, warns again, and still works
    assert (WareCache(cache.root).ensure(two, [two_url], log=lines.append) / "x").read_text() == "two"
    assert any("cannot remove stale" in line for line in lines), lines
    assert sorted(p.name for p in (cache.root / ".tmp").iterdir()) == ["tar.stale.abc"]


def test_an_unsweepable_staging_area_is_not_a_reason_to_fail(tmp_path: Path) -> None:
    """Listing ``.tmp`` fails (here it is a file): the sweep warns; staging then says what is wrong."""
    cache = WareCache(tmp_path / "cache")
    one, one_url = small("one", tmp_path)
    cache.root.mkdir()
    (cache.root / ".tmp").write_text("x")
    lines: list[str] = []
    with pytest.raises(R2k8sError) as caught:
        cache.ensure(one, [one_url], log=lines.append)
    assert caught.value.category is Category.CACHE_PROBLEM
    assert "cannot make a staging dir" in caught.value.message
    assert any("cannot sweep stale staging directories" in line for line in lines), lines
    (cache.root / ".tmp").unlink()
    assert (cache.ensure(one, [one_url]) / "x").read_text() == "one"


# --- deep wares --------------------------------------------------------------------------------


def test_a_deep_ware_with_the_wrong_id_leaves_no_staging_and_the_next_fetch_works(tmp_path: Path) -> None:
    (tmp_path / "deep.tar").write_bytes(deep_tar(1_200, uid=os.getuid(), gid=os.getgid()))
    claimed, _ = small("claimed", tmp_path)  # an ID the deep tarball does not have
    cache = WareCache(tmp_path / "cache")
    with pytest.raises(R2k8sError) as caught:
        cache.ensure(claimed, [f"file://{tmp_path / 'deep.tar'}"])
    assert caught.value.category is Category.HASH_MISMATCH
    assert leftovers(cache) == [] and not (cache.root / "tar").exists()

    other, other_url = small("other", tmp_path)
    assert (cache.ensure(other, [other_url]) / "x").read_text() == "other"
    assert leftovers(cache) == []

    deep = ingest_tar(io.BytesIO((tmp_path / "deep.tar").read_bytes()), UNPACK_LOSSLESS).prefilter_id
    entry = cache.ensure(deep, [f"file://{tmp_path / 'deep.tar'}"])  # and the right ID caches it
    assert (entry / ("a/" * 1_200 + "f")).read_bytes() == b"hi"
    remove_tree(cache.root)  # pytest's own clean-up recurses: leave it nothing deep
