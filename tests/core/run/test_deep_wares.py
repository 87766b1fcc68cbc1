"""A ware deeper than Python's recursion limit, as a formula input: placed, packed, cleaned up (issue 12).

``--placer copy`` is what build pods always use; the job tree it copies into
is removed after the run and swept by the next one, so every step must walk
the tree without recursion. A deep ware that does not match its ID must not
leave a staging directory in the ware cache either: a poisoned cache would
break every later fetch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import run_local, write_formula
from tarbuild import deep_tar

from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.ingest import ingest_tar

pytestmark = [needs_root, needs_busybox]

DEPTH = 1_200


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "rootfs.tgz").write_bytes(rootfs_tgz())
    (tmp_path / "pkg" / "deep.tar").write_bytes(deep_tar(DEPTH))
    yield tmp_path
    for child in tmp_path.iterdir():  # pytest's own clean-up of old folders recurses: leave it nothing deep
        remove_tree(child)


def deep_formula(work: Path, deep_ware: str) -> Path:
    return write_formula(
        work / "pkg",
        {"/": rootfs_ware_id(), "/deep": deep_ware},
        {"exec": ["/bin/sh", "-c", f"test -f /deep/{'a/' * DEPTH}f && echo found it"]},
        outputs={"/deep": {"packtype": "tar", "filters": {"uid": "keep", "gid": "keep", "mtime": "keep"}}},
        fetch={"/": ["file://./rootfs.tgz"], "/deep": ["file://./deep.tar"]},
    )


@pytest.mark.parametrize("placer", ["copy", "overlay"])
def test_a_deep_input_is_placed_packed_and_cleaned_up_and_the_next_run_works(work: Path, placer: str) -> None:
    with open(work / "pkg" / "deep.tar", "rb") as source:
        deep_ware = str(ingest_tar(source, UNPACK_CONSERVATIVE).prefilter_id)
    formula = deep_formula(work, deep_ware)
    for attempt in range(2):  # the second run sweeps and reuses what the first left: nothing, and the cache
        outcome = run_local(formula, "--placer", placer, cache=work / "cache", jobs=work / "jobs")
        record = outcome.record
        assert record.exit_code == 0 and outcome.output_lines() == ["found it"], (attempt, outcome.stderr[-2000:])
        assert record.results["/deep"] == deep_ware
        assert list((work / "jobs").iterdir()) == []


def test_a_deep_ware_with_the_wrong_id_leaves_the_cache_usable(work: Path) -> None:
    wrong = "tar:" + "7" * 60
    bad = run_local(deep_formula(work, wrong), cache=work / "cache", jobs=work / "jobs")
    assert bad.code == 7, bad.stderr[-2000:]
    staging = work / "cache" / ".tmp"
    assert not staging.exists() or list(staging.iterdir()) == []
    with open(work / "pkg" / "deep.tar", "rb") as source:
        good = run_local(
            deep_formula(work, str(ingest_tar(source, UNPACK_CONSERVATIVE).prefilter_id)),
            cache=work / "cache",
            jobs=work / "jobs",
        )
    assert good.code == 0, good.stderr[-2000:]
