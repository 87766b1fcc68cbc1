"""Malicious and broken zips that ``unpack_zip`` must refuse, leaving nothing behind.

Each zip is built here. For each, unpacking into ``tmp_path/target`` must raise
:class:`R2k8sError` with the expected category and leave ``tmp_path`` exactly
as it was: no target, no staging directory, no spooled copy, nothing written
through a symlink into ``outside/`` or at an absolute path the zip names.
Some of these scan to an ID, in rio too (a symlink ``l`` and a directory
``l/`` are different records of the tree hash); placing them is what fails,
as it fails in rio. A verified ware, a hash mismatch (exit 7) and a spooled HTTP-like source are
the controls.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from zipbuild import DEFLATED, ZEntry, build_zip
from zipcases import MALICIOUS

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware.ingest import ingest_zip
from r2k8s.core.ware.unpack import unpack_ware, unpack_zip
from r2k8s.core.ware.wareid import WareID

SOME_ID = WareID("zip", "6c1eVnQ9NutqZSMD5gimy72u3gZMcp4mFAVbQhAkpwTvTH1CCnGgL6yvBJ6MNkWUYZ")
ABSOLUTE_WATCH = ("/tmp/outside-zip", "/tmp/outside-zip/pwned", "/etc/zip-pwned")


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    out: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("file", path.read_bytes())
    for absolute in ABSOLUTE_WATCH:
        out[absolute] = ("exists", str(os.path.lexists(absolute)))
    return out


@pytest.fixture
def arena(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "sentinel").write_text("untouched")
    return tmp_path


@pytest.mark.parametrize("case", MALICIOUS)
@pytest.mark.parametrize("target_exists", [False, True], ids=["absent-target", "empty-target"])
def test_malicious_zip_is_refused_and_nothing_is_written(arena: Path, case: str, target_exists: bool) -> None:
    entries, category, words = MALICIOUS[case]
    target = arena / "target"
    if target_exists:
        target.mkdir()
    before = snapshot(arena)
    with pytest.raises(R2k8sError) as refused:
        unpack_zip(SOME_ID, io.BytesIO(build_zip(entries)), target, flt.UNPACK_LOWPRIV)
    assert refused.value.category == category, refused.value.message
    assert words in refused.value.message
    assert snapshot(arena) == before


@pytest.mark.parametrize(
    ("mode", "filters", "category"),
    [
        (0o60644, "dev=reject", Category.FILTER_REJECTION),
        (0o20644, "dev=reject", Category.FILTER_REJECTION),
        (0o60644, "dev=follow", Category.PACK_INVALID),
        # rio tests the unfiltered type: dev=ignore does not let a device through a zip
        (0o60644, "dev=ignore", Category.PACK_INVALID),
        (0o14755, "setid=reject", Category.FILTER_REJECTION),
        (0o10755, "setid=reject", Category.PACK_INVALID),
        (0o140644, "dev=reject", Category.PACK_INVALID),
    ],
    ids=["block-reject", "char-reject", "block-follow", "block-ignore", "setuid-fifo", "fifo", "socket"],
)
def test_filters_judge_an_entry_before_its_type_is_refused(
    arena: Path, mode: int, filters: str, category: Category
) -> None:
    """rio's zip unpack applies the entry's filters (exit 13) before refusing pipes, sockets and devices (11)."""
    zipped = build_zip([ZEntry("a", b"fine"), ZEntry("special", mode=mode)])
    chosen = flt.Filters.parse(flt.UNPACK, filters).with_defaults(flt.UNPACK_LOSSLESS)
    before = snapshot(arena)
    for attempt in (lambda: ingest_zip(io.BytesIO(zipped), chosen), lambda: unpack_zip(
        SOME_ID, io.BytesIO(zipped), arena / "target", chosen)):  # fmt: skip
        with pytest.raises(R2k8sError) as refused:
            attempt()
        assert refused.value.category == category, refused.value.message
    assert snapshot(arena) == before


def test_hash_mismatch_is_exit_7_and_leaves_nothing(arena: Path) -> None:
    target = arena / "target"
    before = snapshot(arena)
    with pytest.raises(R2k8sError) as refused:
        unpack_zip(SOME_ID, io.BytesIO(build_zip([ZEntry("a", b"not what was asked for")])), target, flt.UNPACK_LOWPRIV)
    assert refused.value.category == Category.HASH_MISMATCH and refused.value.category.exit_code == 7
    assert snapshot(arena) == before


def test_a_verified_zip_from_a_pipe_is_placed_and_its_spool_is_gone(arena: Path) -> None:
    data = build_zip(
        [
            ZEntry("d/", mode=0o40750),
            ZEntry("d/f", b"payload" * 1000, method=DEFLATED, mode=0o100640),
            ZEntry("d/link", b"f", mode=0o120777),
        ]
    )
    ware = ingest_zip(io.BytesIO(data), flt.UNPACK_LOSSLESS).prefilter_id
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only writes
        os.close(read_end)
        os.write(write_end, data)
        os._exit(0)
    os.close(write_end)
    target = arena / "target"
    with os.fdopen(read_end, "rb") as stream:
        got = unpack_ware(ware, stream, target, flt.UNPACK_LOWPRIV)
    os.waitpid(pid, 0)
    assert got.packtype == "zip"
    assert (target / "d" / "f").read_bytes() == b"payload" * 1000
    assert (target / "d" / "f").stat().st_mode & 0o7777 == 0o640
    assert os.readlink(target / "d" / "link") == "f"
    assert sorted(p.name for p in arena.iterdir()) == ["outside", "sentinel", "target"]


def test_unpack_zip_refuses_a_tar_ware_id(arena: Path) -> None:
    with pytest.raises(R2k8sError) as refused:
        unpack_zip(WareID("tar", SOME_ID.hash), io.BytesIO(b""), arena / "target", flt.UNPACK_LOWPRIV)
    assert refused.value.category == Category.USAGE
    assert not (arena / "target").exists()


def test_a_zip_of_one_nameless_file_is_a_single_file_ware_as_rio_packs_one(tmp_path: Path) -> None:
    """rio takes a lone nameless file entry as the root, as its tar transmat takes a tar of one entry ``.``: the
    ware is that file (the same hash as a tar of it), and unpack makes the target that file."""
    from tarbuild import F, make_tar

    from r2k8s.core.ware.ingest import ingest_tar

    zipped = build_zip([ZEntry("", b"just a file\n", mode=0o100755, mtime=1433013082)])  # MS-DOS time: even seconds
    scanned = ingest_zip(io.BytesIO(zipped), flt.UNPACK_LOSSLESS).prefilter_id
    as_tar = make_tar([F(".", b"just a file\n", mode=0o755, uid=1000, gid=1000, mtime=1433013082)])
    assert scanned.hash == ingest_tar(io.BytesIO(as_tar), flt.UNPACK_LOSSLESS).prefilter_id.hash
    target = tmp_path / "target"
    unpack_zip(scanned, io.BytesIO(zipped), target, flt.UNPACK_LOSSLESS)
    assert target.is_file() and target.read_bytes() == b"just a file\n"
    assert target.stat().st_mode & 0o777 == 0o755
