"""``r2k8s emerge --local``: a module runs for real on a busybox root, as root, one process per step.

What a user sees: the exports on stdout, each step's events relayed on stderr,
the exit code; independent steps overlapping in time; a second emerge fully
memoized; a failed step stopping exactly its dependants; Ctrl-C and a killed
emerge leaving no job tree behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz
from emerge_events import events_of, statuses, step_events
from formula_runs import Outcome
from repo import FIXTURES, needs_shared
from timeless_modules import diamond

pytestmark = [needs_root, needs_busybox]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".timeless").mkdir()
        (root / "rootfs.tgz").write_bytes(rootfs_tgz())

    def write(self, module: dict[str, Any]) -> Path:
        path = self.root / "module.tl"
        path.write_text(json.dumps(module, indent="\t"))
        return path

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "r2k8s",
            "emerge",
            "--local",
            "--warehouse",
            "file://./rootfs.tgz",
            "--cache",
            str(self.root / "cache"),
            "--jobs-dir",
            str(self.root / "jobs"),
            *args,
        ]

    def emerge(self, *args: str) -> Outcome:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=300, cwd=self.root)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root
        )

    def ware_file(self, ware: str, name: str) -> str:
        h = ware.split(":", 1)[1]
        with tarfile.open(self.root / ".timeless" / "warehouse" / h[:3] / h[3:6] / h) as tar:
            member = tar.extractfile(f"./{name}")
            assert member is not None
            return member.read().decode().strip()

    def job_trees(self) -> list[str]:
        jobs = self.root / "jobs"
        return sorted(os.listdir(jobs)) if jobs.exists() else []


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def test_the_two_sides_of_a_diamond_run_at_once_and_a_second_emerge_runs_nothing(ws: Workspace) -> None:
    ws.write(diamond())
    began = time.monotonic()
    first = ws.emerge()
    took = time.monotonic() - began
    assert first.code == 0, first.stderr
    exports = json.loads(first.stdout)
    assert first.stdout == json.dumps(exports, indent="\t", sort_keys=True) + "\n"
    assert ws.ware_file(exports["both"], "both") == "left\nright"
    left = {k: int(ws.ware_file(exports["left"], k)) for k in ("start", "end")}
    right = {k: int(ws.ware_file(exports["right"], k)) for k in ("start", "end")}
    assert left["start"] < right["end"] and right["start"] < left["end"], (left, right)  # they overlapped
    assert "left│ " in first.stderr and "right│ " in first.stderr

    began = time.monotonic()
    second = ws.emerge()
    took_again = time.monotonic() - began
    assert second.code == 0, second.stderr
    assert second.stdout == first.stdout
    assert second.stderr.count("memoized runRecord found for formula setupHash; eliding run") == 3
    assert "running formula" not in second.stderr and "│ " not in second.stderr  # no step process at all
    assert took_again < took / 2, (took, took_again)


def test_no_memo_runs_every_step_again(ws: Workspace) -> None:
    ws.write(diamond(sleep=0))
    assert ws.emerge().code == 0
    again = ws.emerge("--no-memo")
    assert again.code == 0, again.stderr
    assert again.stderr.count("running formula") == 3 and "eliding run" not in again.stderr


def test_a_failed_step_stops_its_dependants_and_says_which(ws: Workspace) -> None:
    ws.write(diamond(sleep=0, left_exit=3))
    failed = ws.emerge()
    assert failed.code == 32, failed.stderr
    assert failed.stdout == ""
    assert 'step "left" failed: its action exited 3' in failed.stderr
    assert 'step "join" is not run: it needs "left", which did not succeed' in failed.stderr
    assert 'step "right" succeeded' in failed.stderr
    assert "repeatr-job-unsuccessful" in failed.stderr.splitlines()[-2]
    # the failure was not memoized; the success was
    again = ws.emerge()
    assert again.code == 32 and again.stderr.count("eliding run") == 1


def test_an_r2k8s_error_in_a_step_is_its_exit_code(ws: Workspace) -> None:
    module = diamond(sleep=0)
    module["imports"]["base"] = "tar:2ec5PFgKpnvMKrDvZBe339Ef9W87CAPKyh5YGDsnSA1Uk2wdS3Xm9BsNp3z4PyX3cX"
    ws.write(module)
    failed = ws.emerge()
    assert failed.code == 7, failed.stderr  # the rootfs does not hash to that ID
    assert "hash mismatch" in failed.stderr and 'step "join" is not run' in failed.stderr


def test_a_bad_module_is_refused_before_anything_runs(ws: Workspace) -> None:
    module = diamond()
    module["steps"]["join"]["operation"]["inputs"]["/in/l"] = "left.nope"
    ws.write(module)
    refused = ws.emerge()
    assert refused.code == 1 and refused.stdout == ""
    assert "module.tl:44:15: " in refused.stderr and 'step "left" has no output "nope"' in refused.stderr
    assert not (ws.root / ".timeless" / "memo").exists() and ws.job_trees() == []


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_stopping_or_killing_emerge_leaves_no_job_tree(ws: Workspace, how: str) -> None:
    module = diamond(sleep=60)
    ws.write(module)
    proc = ws.start()
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while seen.count("\tstarted\n") < 2 and time.monotonic() < deadline:  # both actions are running
        seen += proc.stderr.readline()
    time.sleep(1.0)
    assert len(ws.job_trees()) == 2, (seen, ws.job_trees())
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 8, seen + err
        assert "cancelled: received SIGINT" in err
    else:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30
    while ws.job_trees() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ws.job_trees() == []
    assert not (ws.root / ".timeless" / "memo").exists() or list((ws.root / ".timeless" / "memo").iterdir()) == []


@needs_shared
def test_reachs_hellomodule_example_gives_reachs_export(tmp_path: Path) -> None:
    """reach's examples/hellomodule (a catalog import and one step): its test expects exactly this stdout."""
    catalog = tmp_path / ".timeless" / "catalog" / "froob.org" / "base"
    catalog.mkdir(parents=True)
    busybash = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
    release = {"name": "v1", "items": {"linux-amd64": busybash}, "metadata": {"optional": "foobaring"}}
    (catalog / "lineage.tl").write_text(json.dumps({"name": "froob.org/base", "releases": [release]}))
    source = f"file://{FIXTURES / 'repeatr' / 'fixtures' / 'busybash.tgz'}"
    (catalog / "mirrors.tl").write_text(json.dumps({"byModule": {"froob.org/base": {"tar": [source]}}}))
    step = {
        "inputs": {"/": "base"},
        "action": {"exec": ["/bin/bash", "-c", "echo hello | tee /task/out"]},
        "outputs": {"out": "/task/out"},
    }
    module = {
        "imports": {"base": "catalog:froob.org/base:v1:linux-amd64"},
        "steps": {"main": {"operation": step}},
        "exports": {"wowslot": "main.out"},
    }
    (tmp_path / "module.tl").write_text(json.dumps(module, indent="\t"))
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "emerge", "--local", "--cache", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout == '{\n\t"wowslot": "tar:89LoLzgAYkndYpNQC7H94eR6tU6F4EWy2yFGouDCQz1cx9JpYmEPyDm2YWwYTGDvPv"\n}\n'
    )


def test_the_staging_warehouse_can_be_chosen_and_must_exist(ws: Workspace) -> None:
    ws.write(diamond(sleep=0))
    missing = ws.emerge("--save-to", "ca+file://./elsewhere")
    assert missing.code == 3 and "elsewhere" in missing.stderr and "running formula" not in missing.stderr
    assert ws.emerge("--save-to", "file://./one.tar").code == 1
    (ws.root / "elsewhere").mkdir()
    chosen = ws.emerge("--save-to", "ca+file://./elsewhere")
    assert chosen.code == 0, chosen.stderr
    h = json.loads(chosen.stdout)["both"].split(":", 1)[1]
    assert (ws.root / "elsewhere" / h[:3] / h[3:6] / h).is_file()


# -- --format json: repeatr's events on stdout, each step's tagged with its name --------------------------------


def test_json_events_tag_every_step_and_end_with_the_exports(ws: Workspace) -> None:
    ws.write(diamond(sleep=1))
    first = ws.emerge("--format", "json")
    assert first.code == 0, first.stderr
    assert first.stdout.endswith("}\n\n")
    events = events_of(first.stdout)
    final = events[-1]["result"]
    assert set(final) == {"exports"} and set(final["exports"]) == {"both", "left", "right"}
    assert ws.ware_file(final["exports"]["both"], "both") == "left\nright"
    for name, export in (("left", "left"), ("right", "right"), ("join", "both")):
        assert statuses(events, name) == ["started", "succeeded"], name
        (result,) = step_events(events, name, "result")
        assert list(result) == ["step", "runRecord"] and result["runRecord"]["exitCode"] == 0
        assert result["runRecord"]["results"] == {"/task/out": final["exports"][export]}
        assert any(body["msg"] == "started\n" for body in step_events(events, name, "txt")) == (name != "join")
        assert step_events(events, name, "log")[0]["lvl"] == 2
    # the child's log events came through (fetching its inputs), tagged, each line whole
    assert any("ware" in body["msg"] for body in step_events(events, "left", "log") if "detail" not in body)
    status_logs = [body for event in events if (body := event.get("log", {})).get("detail", [[""]])[0][0] == "status"]
    order = [(body["step"], body["detail"][0][1]) for body in status_logs]
    assert order.index(("join", "started")) > max(
        order.index(("left", "succeeded")), order.index(("right", "succeeded"))
    )
    assert '"log":' not in first.stderr and '"txt":' not in first.stderr  # the events are on stdout alone

    second = ws.emerge("--format", "json")
    assert second.code == 0, second.stderr
    again = events_of(second.stdout)
    assert again[-1] == events[-1]
    for name in ("left", "right", "join"):
        assert statuses(again, name) == ["memoized"]
        (result,) = step_events(again, name, "result")
        (ran,) = step_events(events, name, "result")
        assert result["runRecord"] == ran["runRecord"]  # the stored record, as the run printed it
        assert step_events(again, name, "txt") == []
        assert any("eliding run" in body["msg"] for body in step_events(again, name, "log"))


def test_json_a_failed_step_gives_its_error_and_its_dependants_skip_events(ws: Workspace) -> None:
    ws.write(diamond(sleep=0, left_exit=3))
    failed = ws.emerge("--format", "json")
    assert failed.code == 32, failed.stderr
    events = events_of(failed.stdout)
    (left,) = step_events(events, "left", "result")
    assert left["runRecord"]["exitCode"] == 3
    assert left["error"]["category"] == "repeatr-job-unsuccessful" and "exited 3" in left["error"]["message"]
    assert statuses(events, "left") == ["started", "failed"]
    assert statuses(events, "right") == ["started", "succeeded"]
    assert statuses(events, "join") == ["skipped"]
    (skip,) = [body for body in step_events(events, "join", "log") if body.get("detail")]
    assert skip["lvl"] == 3 and skip["detail"] == [["status", "skipped"], ["needs", "left"]]
    assert step_events(events, "join", "result") == []
    final = events[-1]["result"]
    assert list(final) == ["error"] and final["error"]["category"] == "repeatr-job-unsuccessful"
    assert 'step "left" failed' in final["error"]["message"] and '"join"' in final["error"]["message"]
    assert "repeatr-job-unsuccessful" in failed.stderr  # the error on stderr too, as without --format json


def test_json_a_step_whose_run_fails_gives_the_runs_error(ws: Workspace) -> None:
    module = diamond(sleep=0)
    module["imports"]["base"] = "tar:2ec5PFgKpnvMKrDvZBe339Ef9W87CAPKyh5YGDsnSA1Uk2wdS3Xm9BsNp3z4PyX3cX"
    ws.write(module)
    failed = ws.emerge("--format", "json")
    assert failed.code == 7, failed.stderr
    events = events_of(failed.stdout)
    for name in ("left", "right"):
        (result,) = step_events(events, name, "result")
        assert result["error"]["category"] == "rio-hash-mismatch", result
    assert statuses(events, "join") == ["skipped"]
    assert events[-1]["result"]["error"]["category"] == "rio-hash-mismatch"


def test_json_a_bad_module_still_ends_with_an_error_event(ws: Workspace) -> None:
    module = diamond()
    module["steps"]["join"]["operation"]["inputs"]["/in/l"] = "left.nope"
    ws.write(module)
    refused = ws.emerge("--format", "json")
    assert refused.code == 1
    (only,) = events_of(refused.stdout)
    assert only["result"]["error"]["category"] == "repeatr-usage-error"
    assert 'step "left" has no output "nope"' in only["result"]["error"]["message"]
