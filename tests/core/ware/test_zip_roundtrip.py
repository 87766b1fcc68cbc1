"""Zip pack, scan and unpack over random trees (hypothesis).

* pack then scan of the zip give one ID, and unpack verifies it and rebuilds the tree
  (content, modes, owners, mtimes, symlinks, empty and deep directories);
* the zip and the tar of one tree have the same hash part (rio's zip and tar share the bucket hash,
  and its zip packer records the metadata the tar packer does);
* sub-second mtimes kept by ``mtime=keep`` are truncated, so the ID is what the zip holds;
* other zip readers (Python's ``zipfile``, Info-ZIP's ``unzip``) read what the writer wrote;
* what a zip cannot hold (a fifo, an mtime before 1970) is refused at pack time.

Building trees with arbitrary owners needs root, as in ``test_pack_scan_properties``.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from zipbuild import info_zip_missing
from zipcases import TREE, build

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import PACK_LOSSLESS, UNPACK_LOSSLESS, Filters
from r2k8s.core.ware.ingest import ingest_zip
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.unpack import unpack_zip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building trees with arbitrary owners needs root")

COMMON = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything the ware records about each entry under ``root``."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames] if dirpath == str(root) else [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st_ = path.lstat()
            rel = os.path.relpath(path, root)
            common = (stat.S_IFMT(st_.st_mode), st_.st_uid, st_.st_gid, int(st_.st_mtime))
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = (*common, os.readlink(path))
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = (*common, stat.S_IMODE(st_.st_mode))
            else:
                out[rel] = (*common, stat.S_IMODE(st_.st_mode), path.read_bytes())
    return out


@COMMON
@given(TREE)
def test_pack_scan_unpack_round_trip(tree: tuple) -> None:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        build(root, tree)
        out = io.BytesIO()
        packed = pack_tree(root, PACK_LOSSLESS, out, packtype="zip")
        assert packed.packtype == "zip"
        assert pack_tree(root, PACK_LOSSLESS, None, packtype="zip") == packed  # hashing alone agrees
        data = out.getvalue()
        assert ingest_zip(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id == packed
        target = Path(work) / "unpacked"
        assert unpack_zip(packed, io.BytesIO(data), target, UNPACK_LOSSLESS) == packed
        assert describe(target) == describe(root)
        assert pack_tree(target, PACK_LOSSLESS, None, packtype="zip") == packed


@COMMON
@given(TREE)
def test_zip_and_tar_of_one_tree_share_the_hash(tree: tuple) -> None:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        build(root, tree)
        zipped = pack_tree(root, PACK_LOSSLESS, None, packtype="zip")
        tarred = pack_tree(root, PACK_LOSSLESS, None)
        assert (zipped.packtype, tarred.packtype) == ("zip", "tar")
        assert zipped.hash == tarred.hash


@COMMON
@given(TREE)
def test_other_readers_read_the_zip(tree: tuple) -> None:
    """Python's zipfile finds every entry with its content (and CRC) and its Unix mode."""
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        build(root, tree)
        out = io.BytesIO()
        pack_tree(root, PACK_LOSSLESS, out, packtype="zip")
        with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
            assert archive.testzip() is None
            seen = {}
            for info in archive.infolist():
                name = info.filename.removeprefix("./").rstrip("/") or "."
                seen[name] = (info.external_attr >> 16, archive.read(info))
        for rel, described in describe(root).items():
            mode, content = seen[rel]
            assert stat.S_IFMT(mode) == described[0]
            if stat.S_ISREG(mode):
                assert content == described[-1]
            elif stat.S_ISLNK(mode):
                assert content == os.fsencode(described[-1])


def test_info_zip_unzip_extracts_the_zip(tmp_path: Path) -> None:
    missing = info_zip_missing()
    if missing is not None:
        pytest.skip(missing)
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "f").write_bytes(b"deep\n" * 10000)
    (root / "x").write_bytes(b"#!/bin/sh\n")
    (root / "x").chmod(0o755)
    (root / "l").symlink_to("d/e/f")
    with open(tmp_path / "w.zip", "wb") as out:
        pack_tree(root, PACK_LOSSLESS, out, packtype="zip")
    subprocess.run(["unzip", "-tq", str(tmp_path / "w.zip")], check=True, capture_output=True)
    subprocess.run(["unzip", "-q", str(tmp_path / "w.zip"), "-d", str(tmp_path / "x")], check=True)
    assert (tmp_path / "x" / "d" / "e" / "f").read_bytes() == b"deep\n" * 10000
    assert os.readlink(tmp_path / "x" / "l") == "d/e/f"
    assert (tmp_path / "x" / "x").stat().st_mode & 0o777 == 0o755


def test_sub_second_mtimes_are_truncated_so_the_id_is_what_the_zip_holds(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"x")
    os.utime(root / "f", ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))
    out = io.BytesIO()
    packed = pack_tree(root, PACK_LOSSLESS, out, packtype="zip")
    assert ingest_zip(io.BytesIO(out.getvalue()), UNPACK_LOSSLESS).prefilter_id == packed


def test_deep_tree_round_trips(tmp_path: Path) -> None:
    root = tmp_path / "root"
    deep = root.joinpath(*["level"] * 300)
    deep.mkdir(parents=True)
    (deep / "leaf").write_bytes(b"leaf")
    out = io.BytesIO()
    packed = pack_tree(root, PACK_LOSSLESS, out, packtype="zip")
    target = tmp_path / "unpacked"
    assert unpack_zip(packed, io.BytesIO(out.getvalue()), target, UNPACK_LOSSLESS) == packed
    assert target.joinpath(*["level"] * 300, "leaf").read_bytes() == b"leaf"


def test_what_a_zip_cannot_hold_is_refused_at_pack_time(tmp_path: Path) -> None:
    fifo_tree = tmp_path / "fifo"
    fifo_tree.mkdir()
    os.mkfifo(fifo_tree / "p")
    with pytest.raises(R2k8sError) as refused:
        pack_tree(fifo_tree, PACK_LOSSLESS, io.BytesIO(), packtype="zip")
    assert refused.value.category == Category.PACK_INVALID and "'p'" in refused.value.message
    old_tree = tmp_path / "old"
    old_tree.mkdir()
    (old_tree / "f").write_bytes(b"")
    os.utime(old_tree / "f", (-100, -100))
    with pytest.raises(R2k8sError) as refused:
        pack_tree(old_tree, PACK_LOSSLESS, None, packtype="zip")
    assert refused.value.category == Category.PACK_INVALID and "mtime" in refused.value.message
    # the default pack filters set every mtime to 2010: the same tree packs
    conservative = Filters.parse("pack", "conservative")
    assert pack_tree(old_tree, conservative, io.BytesIO(), packtype="zip").packtype == "zip"


def test_a_filter_rejection_later_in_the_walk_wins_over_what_a_zip_cannot_hold(tmp_path: Path) -> None:
    """rio's zip packer writes pipes and fails only on its filters: with a pipe ('fifo') walked before a
    device ('null') under dev=reject, rio exits 13, and so does r2k8s; without the device, r2k8s refuses the
    pipe (11) after the whole walk."""
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    reject = Filters.parse("pack", "dev=reject").with_defaults(PACK_LOSSLESS)
    for out in (None, io.BytesIO()):
        with pytest.raises(R2k8sError) as refused:
            pack_tree(root, reject, out, packtype="zip")
        assert refused.value.category == Category.FILTER_REJECTION and "'null'" in refused.value.message
    (root / "null").unlink()
    with pytest.raises(R2k8sError) as refused:
        pack_tree(root, reject, io.BytesIO(), packtype="zip")
    assert refused.value.category == Category.PACK_INVALID and "'fifo'" in refused.value.message


def test_a_missing_directory_packs_to_the_empty_zip_id(tmp_path: Path) -> None:
    assert str(pack_tree(tmp_path / "absent", PACK_LOSSLESS, None, packtype="zip")) == "zip:-"
