"""repeatr's own example formulas run with ``r2k8s run --local`` give repeatr's results, under both executors."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from busybox_rootfs import needs_root
from formula_runs import Outcome, run_local
from repo import FIXTURES, needs_shared

from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.ingest import ingest_tar

pytestmark = [needs_shared, needs_root]

BUSYBASH = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
HELLO_ID = "AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT"
EXAMPLE_03_ID = "9mb9Nixx2M5FoxVJgQtYzn1QvtQdM1TZjZeC4QGSjUCXbHVdAD3v91JWPjZXGkTKD6"
EXAMPLE_03_OUT = "tar:729LuUdChuu7traKQHNVAoWD9AjmrdCY4QUquhU6sPeRktVKrHo4k4cSaiQ523Nn4D"
EXECUTORS = ["namespaced", "chroot"]


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A writable copy of the fixtures folder (example formulas save to ./wares/ beside themselves)."""
    copy = tmp_path / "repeatr"
    shutil.copytree(FIXTURES / "repeatr", copy)
    (copy / "wares").mkdir()
    return copy


def run(examples: Path, name: str, executor: str, tmp_path: Path) -> Outcome:
    return run_local(examples / name, "--executor", executor, cache=tmp_path / "cache", jobs=tmp_path / "jobs")


def saved(examples: Path, ware: str) -> Path:
    h = ware.split(":", 1)[1]
    return examples / "wares" / h[:3] / h[3:6] / h


@pytest.mark.parametrize("executor", EXECUTORS)
def test_hello_says_hello_world_with_repeatrs_formula_id(examples: Path, executor: str, tmp_path: Path) -> None:
    outcome = run(examples, "examples/hello.formula", executor, tmp_path)
    record = outcome.record
    assert (record.formula_id, record.exit_code, record.results) == (HELLO_ID, 0, {})
    assert record.hostname == socket.gethostname()
    assert outcome.output_lines() == ["hello world!"]
    first_log = outcome.stderr.splitlines()[0]  # as in upstream's hello-uncached.tcase
    assert first_log.endswith(
        f'-⟩ info: read for ware "{BUSYBASH}" opened from warehouse "file://../fixtures/busybash.tgz"'
    )
    again = run(examples, "examples/hello.formula", executor, tmp_path)
    assert f'info: cache already has ware "{BUSYBASH}"' in again.stderr.splitlines()[0]  # hello-cached.tcase


@pytest.mark.parametrize("executor", EXECUTORS)
def test_example_03_packs_its_output_to_repeatrs_ware_id_and_saves_it(
    examples: Path, executor: str, tmp_path: Path
) -> None:
    record = run(examples, "example_03_output.formula", executor, tmp_path).record
    assert record.formula_id == EXAMPLE_03_ID
    assert record.results == {"/task/out": EXAMPLE_03_OUT}
    with saved(examples, EXAMPLE_03_OUT).open("rb") as f:
        assert str(ingest_tar(f, UNPACK_CONSERVATIVE).prefilter_id) == EXAMPLE_03_OUT


@pytest.mark.parametrize("executor", EXECUTORS)
def test_example_06_packs_the_root_back_to_the_busybash_ware(examples: Path, executor: str, tmp_path: Path) -> None:
    outcome = run(examples, "example_06_roundtripRootfs.formula", executor, tmp_path)
    assert outcome.record.results == {"/": BUSYBASH}
    assert outcome.output_lines() == ["hello world!"]
    assert saved(examples, BUSYBASH).is_file()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_example_05_runs_as_uid_2000(examples: Path, executor: str, tmp_path: Path) -> None:
    outcome = run(examples, "example_05_userinfo.formula", executor, tmp_path)
    lines = outcome.output_lines()
    assert lines[0] == "/task"
    here = next(line for line in lines if line.endswith(" ."))
    assert here.split()[2:4] == ["2000", "2000"]  # the cradle gave /task to the formula's user
    assert lines[-1] == "crashoverride is the best ever"
    out = outcome.record.results["/task/out"]
    assert saved(examples, out).is_file()


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("name", ["example_01_hello.formula", "example_02_script.formula", "example_04_mounts.formula"])
def test_the_other_examples_run(examples: Path, executor: str, name: str, tmp_path: Path) -> None:
    outcome = run(examples, name, executor, tmp_path)
    assert outcome.record.exit_code == 0
    assert outcome.output_lines()
