"""``r2k8s run --local --format json``: repeatr's JSON event stream, as ``repeatr --format=json run`` prints it.

Everything on stdout: compact ``log`` and ``txt`` events, one per line, then the pretty ``result`` event ending
``}\\n\\n``. A run that failed after it started has the record as far as it got (``exitCode`` -1, ``results``
null) and the error in that event, and repeatr's ``main`` prints the message on stderr; a formula that cannot be
loaded never reaches the executor, so it gets no result event at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import Outcome, run_local, write_formula

from r2k8s.core.run.events import result_event
from r2k8s.core.run.record import from_json

pytestmark = [needs_root, needs_busybox]


def run(tmp_path: Path, script: str, fetch: dict[str, list[str]] | None = None) -> Outcome:
    work = tmp_path / "pkg"
    work.mkdir(exist_ok=True)
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    fetch = fetch or {"/": ["file://./rootfs.tgz"]}
    formula = write_formula(work, {"/": rootfs_ware_id()}, {"exec": ["/bin/sh", "-c", script]}, fetch=fetch)
    return run_local(formula, "--format", "json", cache=tmp_path / "cache", jobs=tmp_path / "jobs")


def split(stdout: str) -> tuple[list[dict[str, dict[str, object]]], str]:
    """The one-line events, and the result event's text (which starts at the first line that is just ``{``)."""
    lines = stdout.split("\n")
    start = lines.index("{")
    return [json.loads(line) for line in lines[:start]], "\n".join(lines[start:])


def test_a_run_is_events_then_the_record_in_the_result_event(tmp_path: Path) -> None:
    outcome = run(tmp_path, "echo hello; echo world >&2; exit 3")
    assert outcome.code == 0, outcome.stderr  # a non-zero exit of the action is no failure of r2k8s
    assert outcome.stderr == ""
    events, result = split(outcome.stdout)
    assert [e["txt"]["msg"] for e in events if "txt" in e] == ["hello\n", "world\n"]
    logs = [e["log"] for e in events if "log" in e]
    assert logs and all(set(log) == {"t", "lvl", "msg"} for log in logs)
    assert any("read for ware" in str(log["msg"]) for log in logs)
    record = from_json(json.dumps(json.loads(result)["result"]["runRecord"]))
    assert record.exit_code == 3
    assert result.encode() == result_event(record)  # byte for byte, ending "}\n\n"
    assert outcome.stdout.endswith("}\n\n")


def test_a_run_that_fails_after_it_started_has_the_record_and_the_error(tmp_path: Path) -> None:
    outcome = run(tmp_path, "true", fetch={"/": ["http://127.0.0.1:9/rootfs.tgz"]})
    assert outcome.code == 3
    _, result = split(outcome.stdout)
    body = json.loads(result)["result"]
    assert body["runRecord"]["exitCode"] == -1 and body["runRecord"]["results"] is None
    assert body["error"]["category"] == "rio-warehouse-unavailable"
    assert list(body) == ["runRecord", "error"] and list(body["error"]) == ["category", "message"]
    assert outcome.stderr == body["error"]["message"] + "\n"  # repeatr's main prints the message, nothing else
    assert outcome.stdout.endswith("}\n\n")


def test_a_formula_that_cannot_be_loaded_gets_no_result_event(tmp_path: Path) -> None:
    bad = tmp_path / "bad.formula"
    bad.write_text('{"formula": {"inputs": 3}}')
    outcome = run_local(bad, "--format", "json", cache=tmp_path / "cache", jobs=tmp_path / "jobs")
    assert outcome.code == 1
    assert outcome.stdout == ""
    assert "bad.formula" in outcome.stderr


def test_dry_run_has_no_local_form(tmp_path: Path) -> None:
    outcome = run_local(tmp_path / "x.formula", "--dry-run", cache=tmp_path / "cache", jobs=tmp_path / "jobs")
    assert outcome.code == 1 and "--dry-run" in outcome.stderr and outcome.stdout == ""


def test_a_memoized_run_gives_the_stored_record_in_the_result_event(tmp_path: Path) -> None:
    work = tmp_path / "pkg"
    work.mkdir()
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    formula = write_formula(
        work, {"/": rootfs_ware_id()}, {"exec": ["/bin/echo", "hi"]}, fetch={"/": ["file://./rootfs.tgz"]}
    )
    args = ("--format", "json", "--memo-dir", str(tmp_path / "memo"))
    first = run_local(formula, *args, cache=tmp_path / "cache", jobs=tmp_path / "jobs")
    second = run_local(formula, *args, cache=tmp_path / "cache", jobs=tmp_path / "jobs")
    assert first.code == second.code == 0, first.stderr + second.stderr
    events, result = split(second.stdout)
    assert [e["log"]["msg"] for e in events if "log" in e and "memoized" in str(e["log"]["msg"])]
    assert not [e for e in events if "txt" in e]  # nothing ran
    assert result == split(first.stdout)[1]  # the same record, byte for byte
