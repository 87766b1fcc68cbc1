"""A tar entry whose parent directories are missing makes the tree hash conjure them (as rio does), each under
its full path: one name L bytes long implies about L²/4 bytes of names. The hash conjures up to a budget and
refuses a ware beyond it, in memory that does not grow with the square of a hostile name (issue 12).
"""

from __future__ import annotations

import io
import tarfile
import tracemalloc

import pytest

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.fsmeta import parent_dirs
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.treehash import CONJURED_NAME_BUDGET


def lone_entry(depth: int, *, with_directories: bool = False) -> bytes:
    """A PAX tar holding the file ``a/a/…/f`` ``depth`` levels down (and, if asked, every directory first)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if with_directories:
            for level in range(1, depth + 1):
                info = tarfile.TarInfo("a/" * (level - 1) + "a")
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1262304000  # rio's conjured dirs
                tar.addfile(info)
        info = tarfile.TarInfo("a/" * depth + "f")
        tar.addfile(info, io.BytesIO())
    return buffer.getvalue()


def test_parents_are_named_root_first_and_lazily() -> None:
    assert list(parent_dirs("a/b/c")) == [".", "a", "a/b"]
    assert list(parent_dirs("a")) == ["."]
    assert list(parent_dirs(".")) == []
    huge = "a/" * 500_000 + "f"  # 1 MB: its ancestors total 250 GB; the first few cost nothing
    first = parent_dirs(huge)
    assert [next(first) for _ in range(3)] == [".", "a", "a/a"]


def test_a_deep_entry_without_its_directories_hashes_as_if_they_were_listed() -> None:
    """Within the budget, conjuring is rio's: default directories (0755, 0:0, 2010-01-01), the same ID."""
    depth = 3_000
    assert sum(range(depth + 1)) * 2 < CONJURED_NAME_BUDGET
    alone = ingest_tar(io.BytesIO(lone_entry(depth)), UNPACK_CONSERVATIVE)
    listed = ingest_tar(io.BytesIO(lone_entry(depth, with_directories=True)), UNPACK_CONSERVATIVE)
    assert alone.filtered_id == listed.filtered_id


@pytest.mark.parametrize("depth", [20_000, 500_000])
def test_a_name_that_would_conjure_beyond_the_budget_is_refused_in_bounded_memory(depth: int) -> None:
    data = lone_entry(depth)  # 40 KB and 1 MB of tar; 0.4 GB and 250 GB of implied names
    tracemalloc.start()
    try:
        with pytest.raises(R2k8sError) as refused:
            ingest_tar(io.BytesIO(data), UNPACK_CONSERVATIVE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.category is Category.WARE_CORRUPT
    assert "memory bomb" in refused.value.message and f"{depth + 1} levels deep" in refused.value.message
    assert len(refused.value.message) < 400  # the name is shown by its ends, not whole
    assert peak < CONJURED_NAME_BUDGET * 3 + (16 << 20), peak
