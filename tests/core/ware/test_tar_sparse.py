"""GNU PAX sparse files (GNU tar ``--sparse --format=posix``, map formats 0.0, 0.1 and 1.0).

rio reads tars with Go's ``archive/tar``, which expands a sparse file to the dense one
(``readGNUSparsePAXHeaders``, ``sparseFileReader``): the ware ID is the dense file's. So the
expected IDs here are those of the same trees tarred densely (GNU tar without ``--sparse``,
or Python's ``tarfile`` holding the dense bytes), never values copied from rio.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from tarbuild import F, make_tar

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import PACK_LOSSLESS, UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.unpack import unpack_tar
from r2k8s.core.ware.wareid import WareID

MIB = 1 << 20


def _id(data: bytes) -> str:
    return str(ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id)


def _sparse_tree(root: Path) -> None:
    """Holes at the start, between data, at the end; a file all hole; an empty file; a dense one."""
    root.mkdir()
    with open(root / "holes", "wb") as f:
        f.seek(3 * MIB)
        f.write(b"middle")
        f.seek(9 * MIB + 17)
        f.write(b"later" * 1000)
        f.truncate(12 * MIB + 5)
    with open(root / "all-hole", "wb") as f:
        f.truncate(5 * MIB)
    (root / "empty").write_bytes(b"")
    (root / "dense").write_bytes(os.urandom(70000))
    (root / "sub").mkdir()
    with open(root / "sub" / "tail", "wb") as f:
        f.write(b"head")
        f.seek(2 * MIB)
        f.write(b"tail")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (1262304000, 1300000000))  # whole seconds, so pack_tree agrees too


def _gnu_tar(root: Path, out: Path, *options: str) -> bytes:
    subprocess.run(["tar", "--format=posix", *options, "-C", str(root), "-cf", str(out), "."], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sparse") / "tree"
    _sparse_tree(root)
    return root


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_gnu_sparse_tars_hash_as_the_dense_files(tree: Path, tmp_path: Path, version: str) -> None:
    dense = _gnu_tar(tree, tmp_path / "dense.tar")
    sparse = _gnu_tar(tree, tmp_path / "sparse.tar", "--sparse", f"--sparse-version={version}")
    assert len(sparse) < len(dense) // 4  # GNU tar really wrote it sparse
    assert b"GNU.sparse" in sparse
    assert _id(sparse) == _id(dense) == str(pack_tree(tree, PACK_LOSSLESS))


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_unpacking_a_sparse_tar_places_the_dense_files(tree: Path, tmp_path: Path, version: str) -> None:
    sparse = _gnu_tar(tree, tmp_path / "sparse.tar", "--sparse", f"--sparse-version={version}")
    ware = ingest_tar(io.BytesIO(sparse), UNPACK_LOSSLESS).prefilter_id
    out = tmp_path / "out"
    assert unpack_tar(ware, io.BytesIO(sparse), out, UNPACK_LOSSLESS) == ware
    for name in ("holes", "all-hole", "empty", "dense", "sub/tail"):
        assert (out / name).read_bytes() == (tree / name).read_bytes(), name
    assert pack_tree(out, PACK_LOSSLESS) == ware


def _pax_sparse(pax: dict[str, str], stored: bytes, name: str = "f", typeflag: bytes = tarfile.REGTYPE) -> bytes:
    """A tar whose entry carries GNU sparse PAX records and ``stored`` as its data section."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.type = typeflag
        info.mtime = 1262304000
        info.pax_headers = pax
        if typeflag == tarfile.REGTYPE:
            info.size = len(stored)
            archive.addfile(info, io.BytesIO(stored))
        else:
            archive.addfile(info)
    return buffer.getvalue()


def _dense(content: bytes, name: str = "f") -> str:
    return _id(make_tar([F(name, content)]))


V01 = {"GNU.sparse.major": "0", "GNU.sparse.minor": "1"}


@pytest.mark.parametrize(
    ("pax", "stored", "dense"),
    [
        # 0.1: the map in one record; the data are the fragments back to back.
        (
            {**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "0,5"},
            b"hello",
            b"hello" + bytes(5),
        ),
        (
            {**V01, "GNU.sparse.size": "12", "GNU.sparse.numblocks": "2", "GNU.sparse.map": "2,2,8,3"},
            b"abcde",
            b"\0\0ab\0\0\0\0cde\0",
        ),
        # No version records: the map alone says 0.x; realsize stands in for size.
        ({"GNU.sparse.realsize": "4", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "3,1"}, b"z", b"\0\0\0z"),
        # Zero-length fragments are skipped; an empty map is one hole.
        ({**V01, "GNU.sparse.size": "3", "GNU.sparse.numblocks": "2", "GNU.sparse.map": "0,0,3,0"}, b"", bytes(3)),
        ({**V01, "GNU.sparse.size": "2", "GNU.sparse.numblocks": "0", "GNU.sparse.map": ""}, b"", bytes(2)),
        # GNU.sparse.name renames the entry.
        (
            {
                **V01,
                "GNU.sparse.name": "g",
                "GNU.sparse.size": "2",
                "GNU.sparse.numblocks": "1",
                "GNU.sparse.map": "1,1",
            },
            b"q",
            None,
        ),
        # 1.0: the map is decimal lines at the start of the data, padded to a block.
        (
            {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "9"},
            b"2\n1\n2\n6\n1\n".ljust(512, b"\0") + b"xy" + b"w",
            b"\0xy\0\0\0w\0\0",
        ),
        # An unknown version is no sparse file: the data are the content, as Go reads it.
        ({"GNU.sparse.major": "2", "GNU.sparse.minor": "0", "GNU.sparse.map": "0,1"}, b"as is", b"as is"),
    ],
)
def test_hand_made_sparse_entries_hash_as_their_dense_content(pax: dict, stored: bytes, dense: bytes | None) -> None:
    data = _pax_sparse(pax, stored)
    expected = _dense(b"\0q", name="g") if dense is None else _dense(dense)
    assert _id(data) == expected


@pytest.mark.parametrize(
    ("pax", "stored", "typeflag"),
    [
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "2", "GNU.sparse.map": "0,5"}, b"hello", None),
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "2", "GNU.sparse.map": "0,5,4,2"}, b"hellowo", None),
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "8,5"}, b"hello", None),
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "-1,5"}, b"hello", None),
        ({**V01, "GNU.sparse.size": "x", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "0,5"}, b"hello", None),
        ({**V01, "GNU.sparse.size": "-1", "GNU.sparse.numblocks": "0", "GNU.sparse.map": ""}, b"", None),
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "0,a"}, b"hello", None),
        # data the map does not use, and data it misses
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "0,5"}, b"hello!", None),
        ({**V01, "GNU.sparse.size": "10", "GNU.sparse.numblocks": "1", "GNU.sparse.map": "0,5"}, b"hell", None),
        # 1.0 map cut short, malformed, or bigger than the data
        ({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "9"}, b"2\n1\n2\n", None),
        (
            {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "9"},
            b"1\n1\nx\n".ljust(512, b"\0") + b"x",
            None,
        ),
        # a sparse map on an entry that holds no data
        ({**V01, "GNU.sparse.size": "1", "GNU.sparse.numblocks": "0", "GNU.sparse.map": ""}, b"", tarfile.DIRTYPE),
    ],
)
def test_malformed_sparse_entries_are_corrupt(pax: dict, stored: bytes, typeflag: bytes | None, tmp_path: Path) -> None:
    data = _pax_sparse(pax, stored, typeflag=typeflag or tarfile.REGTYPE, name="d/" if typeflag else "f")
    with pytest.raises(R2k8sError) as err:
        ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS)
    assert err.value.category is Category.WARE_CORRUPT
    with pytest.raises(R2k8sError):  # any ware ID: the tar fails before its hash is compared
        unpack_tar(WareID("tar", "x"), io.BytesIO(data), tmp_path / "out", UNPACK_LOSSLESS)
    assert not (tmp_path / "out").exists()


def test_a_huge_sparse_file_streams_in_flat_memory(tmp_path: Path) -> None:
    """256 MiB of holes around 8 bytes: hashed and placed without memory growing with the size."""
    size = 256 * MIB
    data = _pax_sparse(
        {**V01, "GNU.sparse.size": str(size), "GNU.sparse.numblocks": "1", "GNU.sparse.map": f"{size // 2},8"},
        b"12345678",
    )
    assert len(data) <= 10240  # a few blocks: the holes are not stored
    tracemalloc.start()
    try:
        ware = ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id
        unpack_tar(ware, io.BytesIO(data), tmp_path / "out", UNPACK_LOSSLESS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, peak
    placed = tmp_path / "out" / "f"
    assert placed.stat().st_size == size
    with open(placed, "rb") as f:
        f.seek(size // 2 - 1)
        assert f.read(10) == b"\x0012345678\x00"
