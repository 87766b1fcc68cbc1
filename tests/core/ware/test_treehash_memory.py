"""The tree hash keeps memory bounded -- sorted batches of records spilled to disk, or (for a walk, what pack
reads) each directory hashed as soon as it is complete -- and the ID must not notice.

A property test adds random entries (files, directories listed twice, symlinks,
parents left for the hash to conjure, repeated files) in random order, once with
everything in memory and once spilling every few records, and asserts the same
ID -- or the same refusal. (A path repeated across spilled batches is found when
they are merged, after the entries that follow it: in a ware with two repeated
paths the one named may differ, never the exit code or the kind of message.) A large tree shows what a user
sees: scanning 40,000 entries with batches of 2,048 allocates a quarter of what holding them all does.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.fsmeta import DIR, FILE, SYMLINK, Metadata
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.treehash import TreeHash, WalkTreeHash

NAMES = st.lists(st.sampled_from(["a", "b", "a-b", "a.b", "a0", "é", "z"]), min_size=1, max_size=3).map("/".join)
ENTRY = st.tuples(
    NAMES | st.just("."),
    st.sampled_from([FILE, DIR, DIR, SYMLINK]),
    st.sampled_from([0o755, 0o644, 0o4755]),
    st.sampled_from([0, 1000]),
    st.integers(min_value=-(2**31), max_value=2**33),
    st.binary(max_size=8),
)


def outcome(entries: list[tuple[str, str, int, int, int, bytes]], spill: int | None, repeated_dirs: bool) -> str:
    """The ware hash, or the refusal's message: what a user would see either way."""
    tree = TreeHash(repeated_dirs=repeated_dirs)
    tree.spill_records = spill
    try:
        for name, kind, perms, owner, mtime, content in entries:
            meta = Metadata(name=name, type=kind, perms=perms, uid=owner, gid=owner, mtime=mtime)
            tree.add(meta, hashlib.sha384(content).digest() if kind == FILE else None)
        return tree.ware_hash()
    except R2k8sError as exc:
        assert exc.category is Category.WARE_CORRUPT
        return f"refused: {exc.message}"
    finally:
        tree.close()


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(ENTRY, max_size=30), spill=st.integers(min_value=1, max_value=6), zipped=st.booleans())
def test_spilling_batches_to_disk_changes_no_id_and_no_refusal(entries: list, spill: int, zipped: bool) -> None:
    in_memory = outcome(entries, None, repeated_dirs=not zipped)
    spilled = outcome(entries, spill, repeated_dirs=not zipped)
    if in_memory.startswith("refused: corrupt tar: repeated path "):
        assert spilled.startswith("refused: corrupt tar: repeated path ")
    else:
        assert spilled == in_memory


def test_a_file_repeated_in_two_spilled_batches_is_refused_as_corrupt() -> None:
    entries = [(".", DIR, 0o755, 0, 0, b""), ("a", FILE, 0o644, 0, 0, b"x"), ("b", FILE, 0o644, 0, 0, b"")]
    entries += [("a", FILE, 0o644, 0, 0, b"y")]
    assert outcome(entries, 2, repeated_dirs=True) == "refused: corrupt tar: repeated path 'a'"


def many_files_tar(count: int) -> bytes:
    """A plain tar of ``count`` empty files in directories of 100, as a packer writes them."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for index in range(count):
            if index % 100 == 0:
                info = tarfile.TarInfo(f"d{index // 100:05d}")
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            tar.addfile(tarfile.TarInfo(f"d{index // 100:05d}/f{index:06d}"), io.BytesIO())
    return out.getvalue()


def scan_peak(data: bytes, spill: int | None) -> tuple[str, int]:
    previous = TreeHash.spill_records
    TreeHash.spill_records = spill
    tracemalloc.start()
    try:
        ware = str(ingest_tar(io.BytesIO(data), UNPACK_CONSERVATIVE).prefilter_id)
        return ware, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        TreeHash.spill_records = previous


@pytest.mark.parametrize("count", [40_000])
def test_scanning_many_files_keeps_memory_flat(count: int) -> None:
    data = many_files_tar(count)
    spilled, spilled_peak = scan_peak(data, 2048)
    held, held_peak = scan_peak(data, None)
    assert spilled == held
    assert held_peak > 8 << 20, f"holding {count} records took only {held_peak >> 20} MiB: the test measures nothing"
    assert spilled_peak < 4 << 20, f"scanning {count} entries allocated {spilled_peak >> 20} MiB at peak"


WALK_NAMES = st.sampled_from(["a", "b", "a-b", "a.b", "a0", "é", "z", "a b"])
WALK_TREE = st.recursive(
    st.tuples(st.sampled_from([FILE, SYMLINK]), st.binary(max_size=4)),
    lambda children: st.dictionaries(WALK_NAMES, children, max_size=4),
    max_leaves=20,
)


def walk_order(tree: dict, prefix: str = "") -> list[tuple[str, str, bytes]]:
    """Entries as the pack walk yields them: pre-order, names sorted byte-wise."""
    entries = []
    for name in sorted(tree, key=lambda n: n.encode()):
        path, node = prefix + name, tree[name]
        if isinstance(node, dict):
            entries.append((path, DIR, b""))
            entries += walk_order(node, path + "/")
        else:
            entries.append((path, node[0], node[1]))
    return entries


@settings(max_examples=300, deadline=None)
@given(tree=st.dictionaries(WALK_NAMES, WALK_TREE, max_size=5), mtime=st.integers(0, 2**33))
def test_hashing_each_directory_as_the_walk_completes_it_gives_the_sorted_trees_id(tree: dict, mtime: int) -> None:
    flat, walked = TreeHash(), WalkTreeHash()
    for name, kind, content in [(".", DIR, b""), *walk_order(tree)]:
        meta = Metadata(name=name, type=kind, perms=0o755, uid=1, gid=2, mtime=mtime)
        digest = hashlib.sha384(content).digest() if kind == FILE else None
        flat.add(meta, digest)
        walked.add(meta, digest)
    assert walked.ware_hash() == flat.ware_hash()
