"""Scanning zip wares: the IDs rio computes, from zips built here entry by entry.

The first vector is upstream's (rio ``transmat/zip/zip_scan_test.go``: its
fixture ``withbase.zip``, made by Info-ZIP zip 3.0); the test rebuilds a zip
with the same entries and metadata rather than carrying the file, so it checks
the hashing rules, not the bytes. The others were computed by ``rio scan zip``
(rio built from upstream commit ``7c31ad9``, the last one, with follow-all
filters) on exactly the zips these tests build, one rule per case: where the
owner comes from (``0x7875``, ``0x7855`` at rio's odd offsets, else
1000:1000), where the mtime comes from (NTFS, Unix and extended-timestamp
extras, the last one winning, else the MS-DOS time as UTC, normalised as Go's
``time.Date`` does), how the mode and type are read for each creator system,
which checks apply to directories (none), and that symlinks do not enter the
hash.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from zipbuild import DEFLATED, ZEntry, build_zip, dos_datetime, info_zip_missing, ntfs_time, unix2
from zipcases import RIO_VECTORS, WITHBASE, withbase_entries

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, Metadata
from r2k8s.core.ware.ingest import ingest_tar, ingest_zip
from r2k8s.core.ware.zip.reader import ZipReader


def scan(data: bytes, filters: flt.Filters = flt.UNPACK_LOSSLESS) -> str:
    return str(ingest_zip(io.BytesIO(data), filters).filtered_id)


def entries_of(data: bytes) -> list[Metadata]:
    reader = ZipReader(io.BytesIO(data))
    out = []
    for entry in reader:
        for _ in reader.content_chunks():
            pass
        out.append(entry.meta)
    return out


def withbase_like() -> bytes:
    return build_zip(withbase_entries())


def test_upstream_withbase_vector() -> None:
    data = withbase_like()
    assert scan(data) == WITHBASE
    ab, cd = entries_of(data)
    assert (ab.name, ab.type, ab.perms, ab.uid, ab.gid, ab.mtime) == ("ab", "f", 0o644, 501, 20, 1433013083)
    assert (cd.name, cd.type, cd.perms, cd.mtime) == ("cd", "d", 0o755, 1433013086)


def test_unpacking_withbase_gives_upstreams_tree(tmp_path: Path) -> None:
    """rio's zip_unpack_test: the root is conjured (2010-01-01), ``ab`` is an empty file with its mtime."""
    from r2k8s.core.ware.unpack import unpack_zip
    from r2k8s.core.ware.wareid import WareID

    target = tmp_path / "out"
    got = unpack_zip(WareID.parse(WITHBASE), io.BytesIO(withbase_like()), target, flt.UNPACK_LOWPRIV)
    assert got.packtype == "zip"
    assert target.stat().st_mtime == DEFAULT_TIME
    assert (target / "ab").read_bytes() == b"" and (target / "ab").stat().st_mtime == 1433013083
    assert (target / "cd").is_dir()


@pytest.mark.parametrize("case", RIO_VECTORS)
def test_rio_vectors(case: str) -> None:
    entries, expected = RIO_VECTORS[case]
    assert scan(build_zip(entries)) == expected


def test_an_archive_comment_changes_nothing() -> None:
    assert (
        scan(build_zip([ZEntry("a", b"x", mode=0o30644)], comment=b"hello comment"))
        == (RIO_VECTORS["unknown Unix type bits: a file"][1])
    )


def test_metadata_rules_in_detail() -> None:
    """What the vectors above hash, spelled out: owners, modes and times per entry."""
    (plain,) = entries_of(build_zip([ZEntry("a", b"hello", dos=dos_datetime(2001, 2, 3, 4, 5, 6))]))
    assert (plain.uid, plain.gid, plain.perms, plain.mtime) == (1000, 1000, 0o644, 981173106)
    (odd,) = entries_of(build_zip([ZEntry("a", b"x", extra=unix2(struct.pack("<HHHH", 1, 2, 7, 8)))]))
    assert (odd.uid, odd.gid) == (7, 8)
    (ntfs,) = entries_of(build_zip([ZEntry("a", b"x", extra=ntfs_time(1500000000, 123456700))]))
    assert (ntfs.mtime, ntfs.mtime_ns) == (1500000000, 123456700)
    (readonly,) = entries_of(build_zip([ZEntry("a", b"x", creator=0, external=0x01)]))
    assert readonly.perms == 0o444
    (link,) = entries_of(build_zip([ZEntry("l", b"../t", mode=0o120777, method=DEFLATED)]))
    assert (link.type, link.linkname) == ("L", "../t")


@pytest.mark.parametrize(
    ("entries", "category", "words"),
    [
        ([ZEntry("a", b"x", extra=unix2(struct.pack("<HH", 7, 8)))], Category.WARE_CORRUPT, "0x7855"),
        ([ZEntry("a", b"x", extra=struct.pack("<HH", 0x1234, 50) + b"abc")], Category.WARE_CORRUPT, "owner"),
        ([ZEntry("a", b"x"), ZEntry("a", b"y")], Category.WARE_CORRUPT, "repeated path 'a'"),
        ([ZEntry("d/f", b"x"), ZEntry("d/", mode=0o40755)], Category.WARE_CORRUPT, "repeated path 'd'"),
        ([ZEntry("a", b"x"), ZEntry("./", mode=0o40755)], Category.WARE_CORRUPT, "repeated path '.'"),
        ([ZEntry("p", mode=0o10644)], Category.PACK_INVALID, "named pipe"),
        ([ZEntry("c", mode=0o20644)], Category.PACK_INVALID, "device"),
        ([ZEntry("a", b"hello", method=12)], Category.WARE_CORRUPT, "compression method 12"),
        ([ZEntry("a", b"hello" + bytes(12), flags=1, declared_size=5)], Category.WARE_CORRUPT, "encrypted"),
        ([ZEntry("..0", b"x")], Category.INOPERABLE_PATH, "'..'"),
        ([], Category.WARE_CORRUPT, "no entries"),
    ],
)
def test_what_rio_cannot_hash_is_refused(entries: list[ZEntry], category: Category, words: str) -> None:
    """rio fails on each of these too (some with a Go panic); r2k8s names the problem."""
    with pytest.raises(R2k8sError) as refused:
        scan(build_zip(entries))
    assert refused.value.category == category
    assert words in refused.value.message


def test_a_central_directory_with_more_headers_than_the_end_record_says_is_refused() -> None:
    with pytest.raises(R2k8sError, match="declares 1 entries"):
        scan(build_zip([ZEntry("a", b"x"), ZEntry("b", b"y")], declared_count=1))


def test_not_a_zip() -> None:
    with pytest.raises(R2k8sError, match="no end of central directory") as refused:
        scan(b"this is not a zip at all" * 10)
    assert refused.value.category == Category.WARE_CORRUPT


def test_info_zip_archive_scans_like_gnu_tar_of_the_same_entries(tmp_path: Path) -> None:
    """Owners, modes, whole-second mtimes, symlinks and empty directories read the same from either archive.

    Neither archive lists the root, so both conjure it; the zip and tar hashes share the bucket hash.
    """
    missing = info_zip_missing()
    if missing is not None:
        pytest.skip(missing)
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "sub" / "file").write_bytes(b"content\n" * 1000)
    (tree / "exec").write_bytes(b"#!/bin/sh\n")
    (tree / "exec").chmod(0o750)
    (tree / "link").symlink_to("sub/file")
    names = sorted(p.name for p in tree.iterdir())
    subprocess.run(["zip", "-qry", str(tmp_path / "t.zip"), *names], cwd=tree, check=True)
    subprocess.run(["tar", "-cf", str(tmp_path / "t.tar"), *names], cwd=tree, check=True)
    with open(tmp_path / "t.zip", "rb") as z, open(tmp_path / "t.tar", "rb") as t:
        zipped = ingest_zip(z, flt.UNPACK_LOSSLESS).filtered_id
        tarred = ingest_tar(t, flt.UNPACK_LOSSLESS).filtered_id
    assert zipped.packtype == "zip" and tarred.packtype == "tar"
    assert zipped.hash == tarred.hash


def test_a_stream_that_cannot_seek_is_spooled(tmp_path: Path) -> None:
    """A pipe (as an HTTP body) is copied to an unnamed file in the spool directory, gone afterwards."""
    data = withbase_like()
    spool = tmp_path / "spool"
    spool.mkdir()
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_end, data), os.close(write_end)))
    writer.start()
    with os.fdopen(read_end, "rb") as stream:
        assert not stream.seekable()
        assert str(ingest_zip(stream, flt.UNPACK_LOSSLESS, spool_dir=spool).filtered_id) == WITHBASE
    writer.join()
    assert list(spool.iterdir()) == []
