"""Properties of pack, scan and unpack over random trees (hypothesis).

* pack then scan give one ID, whatever the compression;
* unpack then pack with lossless filters gives the original ID;
* the ID depends neither on tar entry order nor on compression.
"""

from __future__ import annotations

import io
import random
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_trees import build, tree_strategy
from tarbuild import COMPRESSIONS

from r2k8s.core.ware.filters import PACK_LOSSLESS, UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.unpack import unpack_tar

NAMES = st.sampled_from(["a", "b", "a-b", "a.b", "a0", "Z", "é", "long" * 30, "x y"])
PERMS = st.sampled_from([0o755, 0o700, 0o644, 0o600, 0o4755, 0o2750, 0o1777, 0o444, 0o000, 0o751])
IDS = st.sampled_from([0, 1000, 7000, 65534, 2**21 + 5])
MTIMES = st.integers(min_value=-(2**31), max_value=2**33)

TREE = tree_strategy(NAMES, PERMS, IDS, MTIMES)


def build_and_pack(work: str, tree: tuple) -> tuple[Path, object, io.BytesIO]:
    """Build ``tree`` under ``work/root`` and pack it losslessly: (root, ware ID, tar stream at 0)."""
    root = Path(work) / "root"
    build(root, tree)
    out = io.BytesIO()
    packed = pack_tree(root, PACK_LOSSLESS, out)
    out.seek(0)
    return root, packed, out


def scan(data: bytes) -> str:
    return str(ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id)


COMMON = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(tree=TREE, compression=st.sampled_from(["gzip", "none"]))
def test_pack_then_scan_give_one_id(tree: tuple, compression: str) -> None:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        build(root, tree)
        out = io.BytesIO()
        packed = pack_tree(root, PACK_LOSSLESS, out, compression=compression)
        assert packed == pack_tree(root, PACK_LOSSLESS)  # writing the tar does not change the ID
        assert scan(out.getvalue()) == str(packed)


@COMMON
@given(tree=TREE)
def test_unpack_then_pack_lossless_gives_the_original_id(tree: tuple) -> None:
    with tempfile.TemporaryDirectory() as work:
        _, packed, out = build_and_pack(work, tree)
        assert unpack_tar(packed, out, Path(work) / "copy", UNPACK_LOSSLESS) == packed
        assert pack_tree(Path(work) / "copy", PACK_LOSSLESS) == packed


@COMMON
@given(
    tree=TREE,
    seed=st.integers(0, 2**32),
    compression=st.sampled_from(sorted(COMPRESSIONS)),
    fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]),
)
def test_id_is_independent_of_entry_order_and_compression(tree: tuple, seed: int, compression: str, fmt: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        _, packed, out = build_and_pack(work, tree)
        with tarfile.open(fileobj=out, mode="r:*") as original:
            members = [(m, original.extractfile(m).read() if m.isfile() else None) for m in original.getmembers()]
        random.Random(seed).shuffle(members)
        shuffled = io.BytesIO()
        with tarfile.open(fileobj=shuffled, mode=COMPRESSIONS[compression], format=fmt) as rewritten:
            for member, content in members:
                rewritten.addfile(member, io.BytesIO(content) if content is not None else None)
        assert scan(shuffled.getvalue()) == str(packed)
