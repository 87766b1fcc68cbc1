"""Pack indexing and object reading against the real git: our ``.idx`` is git's, our IDs are git's.

git makes the packs (``pack-objects --stdout``, with and without
``--delta-base-offset``, so both delta kinds occur; after an aggressive
repack, so chains are long); ``index_pack`` must accept them, compute every
object's ID, and write an index that ``git verify-pack`` and ``git cat-file``
accept. Damaged packs are refused as corrupt wares, leaving nothing behind.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

import pytest
from git_oracle import all_objects, commit_all, git, init, pack_stream, requires_git, write_tree_files

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.git.indexpack import index_pack
from r2k8s.core.ware.git.objects import object_id
from r2k8s.core.ware.git.odb import ObjectDirectory, find_objects_dir
from r2k8s.core.ware.git.packidx import PackIndex, write_index

pytestmark = requires_git


def _similar_files(count: int, round_: int) -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {}
    for i in range(count):
        lines = [f"line {n} of a file that git will deltify against its siblings\n" for n in range(200 + i)]
        lines[i % len(lines)] = f"changed in round {round_}\n"
        files[f"dir{i % 3}/file{i}.txt"] = "".join(lines).encode()
    return files


@pytest.fixture(scope="module")
def deltified_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three commits of many similar files, a symlink and an executable, repacked so deltas chain deeply."""
    repo = init(tmp_path_factory.mktemp("deltified") / "repo")
    for round_ in range(3):
        write_tree_files(repo, _similar_files(40, round_))
        write_tree_files(repo, {"run.sh": b"#!/bin/sh\necho hi\n"}, frozenset({"run.sh"}))
        if round_ == 0:
            write_tree_files(repo, {"link": "dir0/file0.txt"})
        commit_all(repo, f"round {round_}")
    git(repo, "tag", "-a", "-m", "annotated", "v1")
    git(repo, "repack", "-adfq", "--depth=50", "--window=50")
    return repo


@pytest.mark.parametrize("offsets", [True, False], ids=["ofs-delta", "ref-delta"])
def test_index_pack_matches_git(deltified_repo: Path, tmp_path: Path, offsets: bool) -> None:
    stream = pack_stream(deltified_repo, delta_base_offset=offsets)
    result = index_pack(io.BytesIO(stream), tmp_path / "pack")
    expected = all_objects(deltified_repo)
    assert sorted(oid.hex() for oid in result.object_ids) == sorted(expected)
    assert result.pack_path.read_bytes() == stream
    assert result.pack_path.name == f"pack-{result.checksum}.pack"
    assert sorted(os.listdir(tmp_path / "pack")) == sorted([result.pack_path.name, result.index_path.name])
    verified = git(tmp_path, "verify-pack", "-v", str(result.index_path)).decode()
    assert "chain length = 2" in verified  # deltas of deltas were resolved
    # git's own index of the same pack is byte for byte ours
    git(tmp_path, "index-pack", "-o", str(tmp_path / "git.idx"), str(result.pack_path))
    assert (tmp_path / "git.idx").read_bytes() == result.index_path.read_bytes()


def test_git_reads_objects_through_our_index(deltified_repo: Path, tmp_path: Path) -> None:
    bare = init(tmp_path / "bare.git", bare=True)
    index_pack(io.BytesIO(pack_stream(deltified_repo, False)), bare / "objects" / "pack")
    for oid, kind in all_objects(deltified_repo).items():
        assert git(bare, "cat-file", kind, oid) == git(deltified_repo, "cat-file", kind, oid)


def test_object_directory_reads_packed_and_loose_objects(deltified_repo: Path, tmp_path: Path) -> None:
    loose = init(tmp_path / "loose")
    write_tree_files(loose, {"a.txt": b"loose\n", "b/c": b"x" * 100_000, "l": "a.txt"})
    commit_all(loose)
    for repo in (deltified_repo, loose):
        with ObjectDirectory(find_objects_dir(repo)) as objects:
            for oid, kind in all_objects(repo).items():
                got_kind, data = objects.read(oid)
                assert (got_kind, data) == (kind, git(repo, "cat-file", kind, oid))
                stream = objects.stream(bytes.fromhex(oid))
                assert (stream.kind, b"".join(stream.chunks)) == (kind, data)
                assert objects.has(oid)
            assert not objects.has("0" * 40)
            with pytest.raises(R2k8sError) as missing:
                objects.read("0" * 40)
            assert missing.value.category is Category.WARE_NOT_FOUND


def test_a_pack_index_of_gits_first_version_is_read(deltified_repo: Path, tmp_path: Path) -> None:
    """A local repository repacked with ``pack.indexVersion=1`` (what git wrote before 1.5.2): every object is
    found through the v1 index, at the offset git's own v2 index of the same pack gives."""
    old = tmp_path / "old"
    git(tmp_path, "clone", "-q", "--no-local", str(deltified_repo), str(old))
    git(old, "-c", "pack.indexVersion=1", "repack", "-adq")
    (index_path,) = (old / ".git" / "objects" / "pack").glob("*.idx")
    assert index_path.read_bytes()[:4] != b"\377tOc"  # really version 1
    git(tmp_path, "index-pack", "-o", str(tmp_path / "v2.idx"), str(index_path.with_suffix(".pack")))
    v1, v2 = PackIndex(index_path), PackIndex(tmp_path / "v2.idx")
    try:
        assert v1.count == v2.count and list(v1.entries()) == list(v2.entries())
        assert v1.pack_checksum == v2.pack_checksum
        assert v1.find(b"\0" * 20) is None
    finally:
        v1.close()
        v2.close()
    with ObjectDirectory(find_objects_dir(old)) as objects:
        for oid, kind in all_objects(old).items():
            assert objects.read(oid) == (kind, git(old, "cat-file", kind, oid))
    truncated = tmp_path / "truncated.idx"
    truncated.write_bytes(index_path.read_bytes()[:-1])
    with pytest.raises(R2k8sError) as refused:
        PackIndex(truncated)
    assert refused.value.category is Category.WARE_CORRUPT


def test_object_directory_follows_alternates_and_finds_new_packs(deltified_repo: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    git(tmp_path, "clone", "-q", "--shared", str(deltified_repo), str(shared))
    assert (shared / ".git" / "objects" / "info" / "alternates").is_file()
    empty = init(tmp_path / "cache", bare=True) / "objects"
    with ObjectDirectory(find_objects_dir(shared)) as objects, ObjectDirectory(empty) as cache:
        head = git(deltified_repo, "rev-parse", "HEAD").decode().strip()
        assert objects.read(head)[0] == "commit"
        assert not cache.has(head)
        index_pack(io.BytesIO(pack_stream(deltified_repo)), empty / "pack")  # written after the cache was opened
        assert cache.read(head) == objects.read(head)


def test_large_offsets_in_the_index(deltified_repo: Path, tmp_path: Path) -> None:
    """git writes every offset to the 64-bit table with ``--index-version=2,0``; both readers agree."""
    result = index_pack(io.BytesIO(pack_stream(deltified_repo)), tmp_path / "objects" / "pack")
    git(tmp_path, "index-pack", "--index-version=2,0", "-o", str(tmp_path / "large.idx"), str(result.pack_path))
    os.replace(tmp_path / "large.idx", result.index_path)
    with ObjectDirectory(tmp_path / "objects") as objects:
        for oid, kind in all_objects(deltified_repo).items():
            assert objects.read(oid)[0] == kind
    synthetic = tmp_path / "synthetic.idx"
    entries = [(bytes([i]) * 20, (5 << 32) + i, i) for i in range(3)] + [(b"\x80" * 20, 12, 7)]
    with open(synthetic, "wb") as out:
        write_index(out, entries, b"\x00" * 20)
    index = PackIndex(synthetic)
    assert [index.find(oid) for oid, _, _ in entries] == [offset for _, offset, _ in entries]
    assert index.find(b"\x81" * 20) is None
    index.close()


def test_a_thin_pack_is_refused(deltified_repo: Path, tmp_path: Path) -> None:
    first = git(deltified_repo, "rev-list", "--max-parents=0", "HEAD").decode().strip()
    thin = git(deltified_repo, "pack-objects", "--revs", "--stdout", "-q", "--thin", input=f"HEAD\n^{first}\n".encode())
    with pytest.raises(R2k8sError, match="thin pack") as refused:
        index_pack(io.BytesIO(thin), tmp_path / "pack")
    assert refused.value.category is Category.WARE_CORRUPT
    assert os.listdir(tmp_path / "pack") == []


def _fix_trailer(pack: bytearray) -> bytes:
    import hashlib

    return bytes(pack[:-20] + hashlib.sha1(pack[:-20]).digest())


def _small_pack() -> bytearray:
    """A pack of one blob, by hand: header, entry header, zlib data, trailer."""
    import hashlib

    data = b"hello, pack\n" * 3
    body = b"PACK" + struct.pack(">II", 2, 1) + bytes([0x30 | (len(data) & 15), len(data) >> 4]) + zlib.compress(data)
    return bytearray(body + hashlib.sha1(body).digest())


def _damaged(stream: bytes) -> list[tuple[str, bytes]]:
    middle = bytearray(stream)
    middle[len(middle) // 2] ^= 0x40
    wrong_trailer = bytearray(stream)
    wrong_trailer[-1] ^= 1
    size_lie = _small_pack()
    size_lie[12] += 1  # declares one byte more than the data inflates to
    bad_zlib = _small_pack()
    bad_zlib[18] ^= 0xFF
    return [
        ("flipped byte", bytes(middle)),
        ("flipped byte, trailer fixed", _fix_trailer(middle)),
        ("truncated", stream[: len(stream) // 3]),
        ("no trailer", stream[:-20]),
        ("wrong trailer", bytes(wrong_trailer)),
        ("junk after", stream + b"x"),
        ("size lie", _fix_trailer(size_lie)),
        ("bad zlib", _fix_trailer(bad_zlib)),
        ("bad version", stream[:7] + b"\x04" + stream[8:]),
        ("empty", b""),
    ]


@pytest.mark.parametrize("offsets", [True, False], ids=["ofs-delta", "ref-delta"])
def test_damaged_packs_are_refused_and_leave_nothing(deltified_repo: Path, tmp_path: Path, offsets: bool) -> None:
    stream = pack_stream(deltified_repo, offsets)
    for label, damaged in _damaged(stream):
        pack_dir = tmp_path / label.replace(" ", "-")
        with pytest.raises(R2k8sError) as refused:
            index_pack(io.BytesIO(damaged), pack_dir)
        assert refused.value.category is Category.WARE_CORRUPT, label
        assert os.listdir(pack_dir) == [], label


def test_a_store_that_lies_is_refused(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    honest, lie = b"honest\n", b"a lie\n"
    oid = object_id("blob", honest)
    path = objects / oid.hex()[:2] / oid.hex()[2:]
    path.parent.mkdir(parents=True)
    path.write_bytes(zlib.compress(b"blob %d\x00" % len(lie) + lie))
    with ObjectDirectory(objects) as store:
        for read in (lambda: store.read(oid), lambda: b"".join(store.stream(oid).chunks)):
            with pytest.raises(R2k8sError, match="hashes to") as refused:
                read()
            assert refused.value.category is Category.WARE_CORRUPT


def test_fuzzed_packs_raise_only_clean_errors(deltified_repo: Path, tmp_path: Path) -> None:
    """Bounded: a few hundred mutations of a real pack (with the trailer re-fixed half the time)."""
    seeds = [pack_stream(deltified_repo, True), pack_stream(deltified_repo, False), bytes(_small_pack())]
    rng = random.Random(1234)
    for run in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.5:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at : at + rng.randint(1, 50)]
            elif choice < 0.9:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                del data[at:]
        if len(data) > 20 and rng.random() < 0.5:
            data = bytearray(_fix_trailer(data))
        pack_dir = tmp_path / f"run{run}"
        try:
            index_pack(io.BytesIO(bytes(data)), pack_dir, max_object=1 << 20)
        except R2k8sError:
            assert os.listdir(pack_dir) == []


def test_dropped_bases_are_rebuilt(deltified_repo: Path, tmp_path: Path) -> None:
    """With no budget for held bases, every base is dropped and rebuilt from its chain: the same index."""
    stream = pack_stream(deltified_repo)
    roomy = index_pack(io.BytesIO(stream), tmp_path / "roomy")
    tight = index_pack(io.BytesIO(stream), tmp_path / "tight", base_budget=0)
    assert tight.index_path.read_bytes() == roomy.index_path.read_bytes()


def test_objects_over_the_memory_limit_are_refused_only_when_held(deltified_repo: Path, tmp_path: Path) -> None:
    stream = pack_stream(deltified_repo)
    with pytest.raises(R2k8sError, match="limit"):
        index_pack(io.BytesIO(stream), tmp_path / "small", max_object=1000)
    assert os.listdir(tmp_path / "small") == []


def test_indexing_a_large_blob_keeps_memory_flat(tmp_path: Path) -> None:
    import tracemalloc

    repo = init(tmp_path / "repo")
    (repo / "big").write_bytes(os.urandom(1 << 20) * 30)
    commit_all(repo)
    stream = pack_stream(repo)
    tracemalloc.start()
    try:
        result = index_pack(io.BytesIO(stream), tmp_path / "pack")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(result.object_ids) == 3
    assert peak < 6 << 20, f"indexing a 30 MiB blob allocated {peak >> 20} MiB at peak"


def test_a_damaged_store_raises_only_clean_errors(deltified_repo: Path, tmp_path: Path) -> None:
    """Bytes of a stored pack or its index changed after indexing: every read is refused or still correct."""
    stored = index_pack(io.BytesIO(pack_stream(deltified_repo)), tmp_path / "good" / "pack")
    expected = all_objects(deltified_repo)
    rng = random.Random(99)
    for run in range(30):
        objects = tmp_path / f"run{run}"
        (objects / "pack").mkdir(parents=True)
        for source in (stored.pack_path, stored.index_path):
            data = bytearray(source.read_bytes())
            if (source is stored.pack_path) == (run % 2 == 0):
                for _ in range(rng.randint(1, 3)):
                    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            (objects / "pack" / source.name).write_bytes(bytes(data))
        try:
            store = ObjectDirectory(objects)
        except R2k8sError:
            continue
        with store:
            for oid, kind in expected.items():
                try:
                    got_kind, data = store.read(oid)
                except R2k8sError:
                    continue
                assert got_kind == kind and object_id(kind, data).hex() == oid
