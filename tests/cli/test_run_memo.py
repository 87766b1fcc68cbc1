"""``r2k8s run --local`` with a memo: a hit prints the first run's bytes and runs nothing; what is never kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import Outcome, run_local, write_formula

from r2k8s.core.formula.ids import raw_setup_hash
from r2k8s.core.run.memo import ELIDED
from r2k8s.formula_files import load_formula_file

pytestmark = [needs_root, needs_busybox]


def _formula(directory: Path, script: str, name: str = "job.formula") -> Path:
    return write_formula(
        directory,
        {"/": rootfs_ware_id()},
        {"exec": ["/bin/sh", "-c", script]},
        outputs={"/task/out": {"packtype": "tar"}},
        fetch={"/": ["file://./rootfs.tgz"]},
        save={"/task/out": "ca+file://./wares"},
        name=name,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "rootfs.tgz").write_bytes(rootfs_tgz())
    (tmp_path / "wares").mkdir()
    return tmp_path


def _run(work: Path, formula: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    return run_local(formula, *args, cache=work / "cache", jobs=work / "jobs", cwd=work, env=env)


def test_a_second_run_prints_the_same_record_and_fetches_and_runs_nothing(work: Path) -> None:
    formula = _formula(work, "mkdir out; date +%s%N > out/stamp; echo ran")
    first = _run(work, formula, "--memo-dir", "memo")
    assert first.code == 0, first.stderr
    key = raw_setup_hash(load_formula_file(formula).formula)
    assert (work / "memo" / key).is_file()
    (work / "rootfs.tgz").unlink()  # nothing to fetch from any more
    shutil.rmtree(work / "cache")  # nor a cached copy: a run would fail
    second = _run(work, formula, "--memo-dir", "memo")
    assert second.code == 0, second.stderr
    assert second.stdout == first.stdout  # byte for byte, the same guid and time
    assert f"-⟩ info: {ELIDED} --- setupHash: {key}\n" in second.stderr
    assert "runrecord follows:" in second.stderr
    assert second.output_lines() == []  # the action did not run
    assert not (work / "cache").exists()


def test_repeatr_memodir_turns_it_on_and_no_memo_runs_again_and_refreshes(work: Path) -> None:
    formula = _formula(work, "mkdir out; echo same > out/x; echo ran")
    env = {"REPEATR_MEMODIR": str(work / "m")}
    first = _run(work, formula, env=env)
    again = _run(work, formula, env=env)
    assert again.stdout == first.stdout and again.output_lines() == []
    forced = _run(work, formula, "--no-memo", env=env)
    assert forced.output_lines() == ["ran"]
    assert json.loads(forced.stdout)["guid"] != json.loads(first.stdout)["guid"]
    assert json.loads(forced.stdout)["results"] == json.loads(first.stdout)["results"]
    assert _run(work, formula, env=env).stdout == forced.stdout  # the memo now holds the forced run


def test_without_a_memo_dir_nothing_is_memoized(work: Path) -> None:
    formula = _formula(work, "mkdir out; echo ran")
    assert _run(work, formula).output_lines() == ["ran"]
    assert _run(work, formula).output_lines() == ["ran"]


def test_a_non_zero_exit_and_an_r2k8s_error_are_never_memoized(work: Path) -> None:
    failing = _formula(work, "mkdir out; echo ran; exit 3", name="failing.formula")
    first = _run(work, failing, "--memo-dir", "memo")
    assert first.code == 0 and first.record.exit_code == 3
    assert _run(work, failing, "--memo-dir", "memo").output_lines() == ["ran"]
    broken = _formula(work, "echo never", name="broken.formula")
    (work / "rootfs.tgz").write_bytes(b"not a tarball")
    shutil.rmtree(work / "cache")
    assert _run(work, broken, "--memo-dir", "memo").code != 0
    assert not (work / "memo").exists() or list((work / "memo").iterdir()) == []


def test_a_hit_whose_output_left_the_warehouse_runs_again_and_saves_it(work: Path) -> None:
    formula = _formula(work, "mkdir out; echo keep > out/x; echo ran")
    first = _run(work, formula, "--memo-dir", "memo")
    ware = json.loads(first.stdout)["results"]["/task/out"]
    shutil.rmtree(work / "wares")
    (work / "wares").mkdir()
    again = _run(work, formula, "--memo-dir", "memo")
    assert again.output_lines() == ["ran"]
    assert f"{ware} is not in warehouse" in again.stderr
    h = ware.split(":", 1)[1]
    assert (work / "wares" / h[:3] / h[3:6] / h).is_file()
