"""``r2k8s cache verify [--repair]`` as a user runs it on a real cache filled by real fetches (issue 12).

Entries are tampered with the way a compromised host or a bad disk would (content changed under the
same mtime, a mode changed, a file added, a symlink or a file where an entry belongs); the command
lists each bad one on stdout, says why on stderr and exits 7, and ``--repair`` removes exactly those,
each in one rename, so nothing half-removed is ever looked up. The next fetch brings them back.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from tarbuild import D, Entry, F, L, make_tar

from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache

UID, GID = os.getuid(), os.getgid()
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (setuid-root files, device nodes, mounts)")


def r2k8s(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "r2k8s", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300
    )


def rich_entries() -> list[Entry]:
    """Files, directories, a symlink and a fifo, sub-second mtimes; as root also setuid-root and a device."""
    own = {"uid": UID, "gid": GID}
    entries = [
        D("./", mtime=1500000000.25, **own),
        D("./bin", mode=0o1777 if ROOT else 0o755, **own),
        F("./bin/tool", b"#!/bin/sh\necho tool\n", mode=0o755, mtime=1500000000.123456, **own),
        L("./bin/link", "tool", **own),
        Entry("./fifo", tarfile.FIFOTYPE, 0o640, **own),
        D("./empty", mode=0o500, **own),
    ]
    if ROOT:
        entries += [F("./bin/su", b"su", mode=0o4755), Entry("./null", tarfile.CHRTYPE, 0o666)]
    return entries


def save(directory: Path, name: str, entries: list[Entry], legacy: bool = False) -> tuple[WareID, str]:
    data = make_tar(entries, compression="gzip")
    (directory / name).write_bytes(data)
    return ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS, legacy=legacy).prefilter_id, f"file://{directory / name}"


class Filled:
    """A cache holding three entries: a rich ware, a small one, and a legacy one."""

    def __init__(self, tmp_path: Path) -> None:
        wares = tmp_path / "wares"
        wares.mkdir()
        own = {"uid": UID, "gid": GID}
        self.cache = WareCache(tmp_path / "cache")
        self.rich, self.rich_url = save(wares, "rich.tgz", rich_entries())
        self.small, self.small_url = save(wares, "small.tgz", [D("./", **own), F("./x", b"small", **own)])
        legacy_entries = [D("./", **own), F("./old", b"legacy", **own), L("./ln", "old", **own)]
        self.legacy, self.legacy_url = save(wares, "legacy.tgz", legacy_entries, legacy=True)
        self.fill()

    def fill(self) -> None:
        self.cache.ensure(self.rich, [self.rich_url])
        self.cache.ensure(self.small, [self.small_url])
        self.cache.ensure(self.legacy, [self.legacy_url], legacy=True)

    def entry(self, name: str) -> Path:
        ware = getattr(self, name)
        return self.cache.path_for(ware, legacy=name == "legacy")

    def verify(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return r2k8s("cache", "verify", "--cache", str(self.cache.root), *extra)

    def leftovers(self) -> list[str]:
        return sorted(p.name for d in (self.cache.root / ".tmp", self.cache.root / ".locks") for p in d.iterdir())


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    return Filled(tmp_path)


def test_a_sound_cache_verifies(filled: Filled) -> None:
    done = filled.verify()
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert f"verified 3 entries in {filled.cache.root}: 0 bad" in done.stderr


def test_tampered_entries_are_listed_exit_7_and_left_in_place(filled: Filled) -> None:
    tool = filled.entry("rich") / "bin" / "tool"
    before = os.stat(tool)
    tool.write_bytes(b"#!/bin/sh\necho owned\n")  # same length, same mtime: only the content hash can tell
    os.utime(tool, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.chmod(filled.entry("small") / "x", 0o4755)
    (filled.entry("legacy") / "extra").write_text("added")

    done = filled.verify()
    assert done.returncode == 7, done.stderr
    assert sorted(done.stdout.split()) == sorted(str(w) for w in (filled.rich, filled.small, filled.legacy))
    for ware in (filled.rich, filled.small, filled.legacy):
        assert f"bad entry: {ware}" in done.stderr
    assert "the tree hashes to tar:" in done.stderr and "(legacy hash)" in done.stderr
    assert "error: rio-hash-mismatch: verified 3 entries" in done.stderr and "3 bad" in done.stderr
    assert "--repair" in done.stderr
    assert tool.read_bytes() == b"#!/bin/sh\necho owned\n"  # nothing removed without --repair


def test_repair_removes_only_the_bad_entries_and_the_next_fetch_brings_them_back(filled: Filled) -> None:
    (filled.entry("small") / "x").write_text("SMALL")
    done = filled.verify("--repair")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(filled.small)]
    assert f"removed {filled.small} from the cache" in done.stderr
    assert "verified 3 entries" in done.stderr and "1 bad, 1 removed" in done.stderr
    assert not filled.entry("small").exists() and not filled.entry("small").parent.joinpath("x").exists()
    assert filled.entry("rich").is_dir() and filled.entry("legacy").is_dir()
    assert filled.leftovers() == []

    again = filled.verify()
    assert again.returncode == 0 and "verified 2 entries" in again.stderr and "0 bad" in again.stderr
    filled.fill()
    assert (filled.entry("small") / "x").read_text() == "small"
    assert filled.verify().returncode == 0


def test_things_that_are_no_entries_are_bad_and_repair_removes_them_without_following_links(
    filled: Filled, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    shard = filled.cache.root / "tar" / "fileset"
    remove_tree(filled.entry("small"))
    filled.entry("small").symlink_to(outside)  # a lookup through it would copy someone else's tree
    misplaced = shard / "zzz" / "zzz" / filled.rich.hash
    misplaced.parent.mkdir(parents=True)
    misplaced.mkdir()
    (shard / "junk").write_text("a file where shards go")

    done = filled.verify()
    assert done.returncode == 7, done.stderr
    assert sorted(done.stdout.split()) == sorted([str(filled.small), str(misplaced), str(shard / "junk")])
    assert "a symlink, not an unpacked tree" in done.stderr
    assert "in the wrong shard directory" in done.stderr and "not a shard directory" in done.stderr

    repaired = filled.verify("--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert not os.path.lexists(filled.entry("small")) and not misplaced.exists() and not (shard / "junk").exists()
    assert (outside / "precious").read_text() == "keep me"
    assert filled.verify().returncode == 0
    filled.fill()  # the symlink no longer blocks the fill
    assert (filled.entry("small") / "x").read_text() == "small"


@needs_root
def test_an_entry_that_cannot_be_taken_apart_still_leaves_the_cache_at_once(filled: Filled) -> None:
    """Removal fails halfway (a mount inside): the entry is already out of the cache, never half there."""
    busy = filled.entry("small") / "busy"
    busy.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(busy)], check=True)
    try:
        done = filled.verify("--repair")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [str(filled.small)]
        assert "is out of the cache, but removing it failed" in done.stderr
        assert not os.path.lexists(filled.entry("small"))
        assert filled.verify().returncode == 0
    finally:
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in mounts:
            if point.startswith(str(filled.cache.root)):
                subprocess.run(["umount", "-l", point], check=False)


def test_a_deep_entry_verifies(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "deep.tar", "w", format=tarfile.PAX_FORMAT) as archive:
        name = ""
        for _ in range(1_200):
            name += "a/"
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, UID, GID
            archive.addfile(info)
        info = tarfile.TarInfo(name + "f")
        info.size, info.uid, info.gid = 2, UID, GID
        archive.addfile(info, io.BytesIO(b"hi"))
    ware = ingest_tar(io.BytesIO((tmp_path / "deep.tar").read_bytes()), UNPACK_LOSSLESS).prefilter_id
    cache = WareCache(tmp_path / "cache")
    try:
        entry = cache.ensure(ware, [f"file://{tmp_path / 'deep.tar'}"])
        done = r2k8s("cache", "verify", "--cache", str(cache.root))
        assert done.returncode == 0, done.stderr
        (entry / ("a/" * 1_200 + "f")).write_bytes(b"ho")
        done = r2k8s("cache", "verify", "--cache", str(cache.root), "--repair")
        assert done.returncode == 0 and done.stdout.split() == [str(ware)], done.stderr
        assert not entry.exists() and list((cache.root / ".tmp").iterdir()) == []
    finally:
        remove_tree(tmp_path / "cache")  # pytest's own clean-up recurses: leave it nothing deep


def test_single_file_and_zip_entries_verify_and_tampering_shows(tmp_path: Path) -> None:
    """A ware that is one file (rio's '.') is cached as that file, kept (a second ensure fetches nothing), and
    verified; a zip ware's entry is verified too (its ID is a tree hash, like a tar's)."""
    from r2k8s.core.ware.filters import PACK_LOSSLESS
    from r2k8s.core.ware.pack import pack_tree

    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/sh\necho one file\n")
    tool.chmod(0o755)
    with (tmp_path / "tool.tgz").open("wb") as out:
        single = pack_tree(tool, PACK_LOSSLESS, out)
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f").write_bytes(b"zipped")
    with (tmp_path / "tree.zip").open("wb") as out:
        zipped = pack_tree(tree, PACK_LOSSLESS, out, packtype="zip")
    cache = WareCache(tmp_path / "cache")
    entry = cache.ensure(single, [f"file://{tmp_path / 'tool.tgz'}"])
    zip_entry = cache.ensure(zipped, [f"file://{tmp_path / 'tree.zip'}"])
    assert entry.is_file() and cache.has(single) and entry.read_bytes() == tool.read_bytes()
    (tmp_path / "tool.tgz").unlink()
    assert cache.ensure(single, [f"file://{tmp_path / 'tool.tgz'}"]) == entry  # kept: nothing fetched

    done = r2k8s("cache", "verify", "--cache", str(cache.root))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert "verified 2 entries" in done.stderr and "skipped" not in done.stderr
    entry.chmod(0o4755)
    (zip_entry / "d" / "f").write_bytes(b"zapped")
    done = r2k8s("cache", "verify", "--cache", str(cache.root))
    assert done.returncode == 7 and sorted(done.stdout.split()) == sorted([str(single), str(zipped)]), done.stderr


def test_a_missing_or_empty_cache_has_nothing_to_verify(tmp_path: Path) -> None:
    done = r2k8s("cache", "verify", "--cache", str(tmp_path / "none"))
    assert done.returncode == 0 and done.stdout == ""
    assert f"no entries in the ware cache at {tmp_path / 'none'}" in done.stderr
    assert not (tmp_path / "none").exists()


def test_verify_makes_an_open_cache_private(filled: Filled) -> None:
    filled.cache.root.chmod(0o755)
    done = filled.verify()
    assert done.returncode == 0, done.stderr
    assert "made the ware cache" in done.stderr
    assert filled.cache.root.stat().st_mode & 0o777 == 0o700


def test_cache_without_an_action_is_a_usage_error() -> None:
    done = r2k8s("cache")
    assert done.returncode == 1 and "needs an action: verify" in done.stderr
