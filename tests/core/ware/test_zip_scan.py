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
import zlib
from pathlib import Path

import pytest
from zipbuild import DEFLATED, ZEntry, build_zip, dos_datetime, ext_time, info_zip_missing, ntfs_time, unix2, unix3

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, Metadata
from r2k8s.core.ware.ingest import ingest_tar, ingest_zip
from r2k8s.core.ware.zip.reader import ZipReader

WITHBASE = "zip:6c1eVnQ9NutqZSMD5gimy72u3gZMcp4mFAVbQhAkpwTvTH1CCnGgL6yvBJ6MNkWUYZ"
#: Only the conjured root: what a zip holding nothing but symlinks hashes to.
ROOT_ONLY = "zip:iJoKZAKWRWTCZ6YQDZYnU2eXjKZ93VyJ1eiis2E3UvbfqXKn8APYeWhSxHyXAtQSG"


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
    """``withbase.zip`` as ``zipinfo -v`` describes it: two entries, Unix 3.0, stored, UT and ux extras (501:20)."""
    owner = unix3(501, 20)
    return build_zip(
        [
            ZEntry(
                "ab",
                mode=0o100644,
                dos=dos_datetime(2015, 5, 30, 12, 11, 24),
                extra=struct.pack("<HHBI", 0x5455, 5, 3, 0x556A0B5B) + owner,
            ),
            ZEntry(
                "cd/",
                mode=0o040755,
                dos=dos_datetime(2015, 5, 30, 12, 11, 26),
                extra=struct.pack("<HHBI", 0x5455, 5, 3, 0x556A0B5E) + owner,
            ),
        ]
    )


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


D = DEFLATED
TEXT = b"hello" * 1000
RIO_VECTORS: dict[str, tuple[list[ZEntry], str]] = {
    "no owner extra: 1000:1000, MS-DOS time": (
        [ZEntry("a", b"hello")],
        "zip:hfjPudzzybAB8jsH8wbP94wYFwzoicw1kfuZbhNqGpTuLV3vNfAe47YtcDhrsJfum",
    ),
    "0x7875 with 2-byte ids": (
        [ZEntry("a", b"x", extra=unix3(7, 8, 2))],
        "zip:9ALxZciegMGDcmLXLNxTrX6LuYvY9ymjYu7vmWq8J1ZVKzrDdszFiAAuQNVuzufB45",
    ),
    "0x7855 read at bytes 4-8 of its data": (
        [ZEntry("a", b"x", extra=unix2(struct.pack("<HHHH", 1, 2, 7, 8)))],
        "zip:9ALxZciegMGDcmLXLNxTrX6LuYvY9ymjYu7vmWq8J1ZVKzrDdszFiAAuQNVuzufB45",
    ),
    "0x7875 wins over 0x7855": (
        [ZEntry("a", b"x", extra=unix2(struct.pack("<HH", 7, 8)) + unix3(9, 10))],
        "zip:1EWsF9Fc1go2nBbLjQNmRxVEbyJYWdMjCzsdPzmUGLGTUQJsSWQpToqsWGX3sCL8b",
    ),
    "MS-DOS creator, read-only": (
        [ZEntry("a", b"x", creator=0, external=0x01)],
        "zip:7YRuP6k9RiqJVF5TrLiTdBFitTCmaU9PsBtXRDvUA8Emacm7isaKssC9WqttixVAqR",
    ),
    "NTFS creator, directory attribute": (
        [ZEntry("d", creator=11, external=0x10)],
        "zip:5VGogfy4fjLkhJqghd5jhYfAhYkYCtbafEwNkG2VQji9132t4Z3GuruhWtDxWYcgV6",
    ),
    "unknown creator: mode 0": (
        [ZEntry("a", b"x", creator=10, external=0o100755 << 16)],
        "zip:2Gd77B3S53J8Amzo7PsMK3d4tmR9CoNsbFjihtPxzx5QhFfcGzad9v8uiziKMudoiy",
    ),
    "trailing slash makes a directory whatever the mode": (
        [ZEntry("d/", mode=0o100700)],
        "zip:2go77fPoAE66jnsDtmNsQ56DuCXHQfgZd7b283KKZ5FihVarTUs8JNAutvk9Tdga7B",
    ),
    "explicit root entry first": (
        [ZEntry("./", mode=0o40700), ZEntry("a", b"x")],
        "zip:4piqcBSsdzNEJqAGhidJHewb7iqARCk3GtiE8qpMiKuPMdN9PBEHDSLhcx5meRFXQh",
    ),
    "an empty name is the root": (
        [ZEntry("", mode=0o40700)],
        "zip:3GpZckBQzC145H3BNKwSQEHNvDum5p6ABZvJ3LcRACny7qyuPdcPPjbKii9LeW355d",
    ),
    "NTFS time with 100 ns": (
        [ZEntry("a", b"x", extra=ntfs_time(1500000000, 123456700))],
        "zip:3bFTH5Jjs7s17rMAuXNov2GjNQ6BTmN1DrHSCi24azVp5JMB2DtT89ntzZqqZMmwdB",
    ),
    "the last time field wins (UT after NTFS)": (
        [ZEntry("a", b"x", extra=ntfs_time(1500000000, 123456700) + ext_time(1600000000))],
        "zip:AHkUxsh5zQXhJvqGFRHUAQe1X5SXywQnDdFHjuzt8bqcYyNsiNGEoi8Fb5cBxuShkg",
    ),
    "the last time field wins (NTFS after UT)": (
        [ZEntry("a", b"x", extra=ext_time(1600000000) + ntfs_time(1500000000, 123456700))],
        "zip:3bFTH5Jjs7s17rMAuXNov2GjNQ6BTmN1DrHSCi24azVp5JMB2DtT89ntzZqqZMmwdB",
    ),
    "Info-ZIP Unix 0x5855 time": (
        [ZEntry("a", b"x", extra=struct.pack("<HHII", 0x5855, 8, 1, 1400000000))],
        "zip:94yV2scxzjfUVQSrqLg1i23hVbFE5rcZSWtxecpW1Pn6pagviAe3cxfxPvSxaj6FEY",
    ),
    "UT without the mtime flag is ignored": (
        [ZEntry("a", b"x", extra=ext_time(1600000000, flags=2))],
        "zip:2DS2FFwR8G9Hkmr9RAHdtUjxnLZpwowygdrCj6VkgjyBiQXjVQmb4uca85PJFYeq2S",
    ),
    "UT time is unsigned": (
        [ZEntry("a", b"x", extra=ext_time(0xF0000000))],
        "zip:9yCSycGcM6sxHt7zRszj7SWNXVRVnEhqVek6so7KEMykFwoD1yU2Pn7ZqYW5aQCxy4",
    ),
    "MS-DOS date zero (month 0, day 0) normalised": (
        [ZEntry("a", b"x", dos=(0, 0))],
        "zip:8fkVjqQJrKn22443TSJepAXkzye5tBbDoPrDYgYYczUB71XeoCHt98M37J7uBextLx",
    ),
    "MS-DOS fields out of range normalised": (
        [ZEntry("a", b"x", dos=((45 << 9) | (13 << 5) | 31, (25 << 11) | (61 << 5) | 30))],
        "zip:Bzx4uSseLrpVFDqNsREfMpK7DzBryyTQxpC1aMY4mkWB19DiRH3rmLHztkJmd2AR9",
    ),
    "deflate with a data descriptor without signature": (
        [ZEntry("a", TEXT, method=D, flags=8, descriptor=struct.pack("<III", zlib.crc32(TEXT), 0, 0))],
        "zip:A66353Ye41dEKknfGLe6x3bSNJjrGjw15CpoaEPUNieJBtngXxw7pcBz5s4LFUF5kN",
    ),
    "a zero CRC without descriptor is not checked": (
        [ZEntry("a", b"hello", crc=0)],
        "zip:hfjPudzzybAB8jsH8wbP94wYFwzoicw1kfuZbhNqGpTuLV3vNfAe47YtcDhrsJfum",
    ),
    "a directory's data is never read (unknown method, garbage)": (
        [ZEntry("d/", mode=0o40755, method=99, data=b"garbage")],
        "zip:9nVD4RQHvahv2coy4yok11zZQEEooz2xsFx3jhsMRTccYMoy3RXhNFACWPNaedci37",
    ),
    "the encryption flag over plain data changes nothing": (
        [ZEntry("a", b"hello", flags=1)],
        "zip:hfjPudzzybAB8jsH8wbP94wYFwzoicw1kfuZbhNqGpTuLV3vNfAe47YtcDhrsJfum",
    ),
    "a NUL in a name is kept (Python's zipfile would cut the name there)": (
        [ZEntry(b"a\x00b", b"x")],
        "zip:2FbMagj6ytTrJDocVjzLcNiNXatPhe9M3YRZqUxdgBog7psinDDFsWrPXFNQwTpQza",
    ),
    "names are raw bytes": (
        [ZEntry(b"caf\xe9", b"x")],
        "zip:3RoEbtjyTFVueNmuEFxEdAq7XMD8giD4SmcfY4QdYq97zNxRkabjJstaQHZou7N9hB",
    ),
    "a symlink does not enter the hash": ([ZEntry("l", b"target/x", mode=0o120777)], ROOT_ONLY),
    "a directory and a symlink of one name are two records (unpack refuses it)": (
        [ZEntry("d/", mode=0o40755), ZEntry("d", b"/etc", mode=0o120777)],
        "zip:9nVD4RQHvahv2coy4yok11zZQEEooz2xsFx3jhsMRTccYMoy3RXhNFACWPNaedci37",
    ),
    "a file and a directory of one name are two records (unpack refuses it)": (
        [ZEntry("d", b"x"), ZEntry("d/", mode=0o40755)],
        "zip:4wU4asMmosCSMqe7ZcsV5P5bibFTtML9NVEgTcHqgPTomnGRZmxUTo2adPgkGy59Ms",
    ),
    "an entry under a symlink conjures a directory of its name (unpack refuses it)": (
        [ZEntry("l", b"../outside", mode=0o120777), ZEntry("l/pwned", b"x")],
        "zip:82PEjq9Z4kvmZ2sw9dNBZSiCnXAdCyLSEUDDakqUsrmFJNnj4wgKp4Zb9BLbnxB4Gy",
    ),
    "setuid, setgid and sticky bits": (
        [ZEntry("a", b"x", mode=0o106755)],
        "zip:5QEJi6GtyzGfdMBA8kxmVLy3jpz9BfnCswrzjXjYvZk1pXtBR5jC62eD4YRScbKeNR",
    ),
    "unknown Unix type bits: a file": (
        [ZEntry("a", b"x", mode=0o30644)],
        "zip:2DS2FFwR8G9Hkmr9RAHdtUjxnLZpwowygdrCj6VkgjyBiQXjVQmb4uca85PJFYeq2S",
    ),
}


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
    (link,) = entries_of(build_zip([ZEntry("l", b"../t", mode=0o120777, method=D)]))
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
