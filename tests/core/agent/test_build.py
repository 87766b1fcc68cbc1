"""The build agent, run for real as a pod would run it: ``python3 r2k8s-agent.pyz`` as root, stdin and stdout piped.

The client side is the same :class:`Conversation` that ``r2k8s run`` drives
over the attach stream. The formulas run in the busybox ware with the chroot
executor, exactly as in a baseline pod. What is checked is what a user (or
the kubelet) sees: the run record, the termination message, the last line on
stdout, the agent's exit status, the saved outputs, and -- when the client
goes away -- how fast the action and the agent stop.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from agent_pipes import PipeTransport, Pod, start_agent
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import write_formula
from tarbuild import D, F, make_tar

from r2k8s.cluster.conversation import Conversation, open_inputs
from r2k8s.cluster.plan import Plan, plan_run
from r2k8s.core.agent.frames import FrameDecoder, encode
from r2k8s.core.agent.transfer import send_ware
from r2k8s.core.errors import R2k8sError
from r2k8s.core.run.record import RunRecord
from r2k8s.formula_files import load_formula_file

pytestmark = [needs_root, needs_busybox]


class Lines:
    """A monitor that keeps what it is told."""

    def __init__(self) -> None:
        self.logs: list[str] = []
        self.outputs: list[bytes] = []

    def log(self, line: str) -> None:
        self.logs.append(line)

    def output(self, line: bytes) -> None:
        self.outputs.append(line)


@dataclass
class Env:
    dir: Path
    pod: Pod

    def formula(self, script: str, **kw) -> Path:
        kw.setdefault("fetch", {"/": ["file://./rootfs.tgz"]})
        return write_formula(
            self.dir, kw.pop("inputs", {"/": rootfs_ware_id()}), {"exec": ["/bin/sh", "-c", script]}, **kw
        )

    def plan(self, formula: Path, **kw) -> Plan:
        return plan_run(load_formula_file(formula), **kw)

    def run(self, plan: Plan, monitor: Lines | None = None) -> tuple[RunRecord | R2k8sError, int, PipeTransport]:
        monitor = monitor or Lines()
        process = start_agent(self.pod, plan.spec)
        transport = PipeTransport(process)
        try:
            outcome: RunRecord | R2k8sError = Conversation(
                plan, transport, monitor, open_inputs(plan, monitor.log)
            ).run()
        except R2k8sError as exc:
            outcome = exc
        transport.close()
        code = process.wait(timeout=60)
        while data := process.stdout.read():
            transport.received += data
        return outcome, code, transport


@pytest.fixture
def env(tmp_path: Path) -> Env:
    work = tmp_path / "pkg"
    work.mkdir()
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    (work / "wares").mkdir()
    return Env(work, Pod(tmp_path / "pod"))


def last_frame(transport: PipeTransport) -> tuple[str, dict]:
    frame = FrameDecoder().feed(bytes(transport.received))[-1]
    return frame.kind, dict(frame.body)


def test_a_run_reports_its_record_in_the_termination_message_and_as_the_last_line(env: Env) -> None:
    plan = env.plan(
        env.formula(
            "echo building; mkdir -p /task/out; echo made > /task/out/thing",
            outputs={"/task/out": {"packtype": "tar"}},
            save={"/task/out": "ca+file://./wares"},
        )
    )
    monitor = Lines()
    record, code, transport = env.run(plan, monitor)
    assert isinstance(record, RunRecord), record
    assert code == 0 and record.exit_code == 0
    assert record.formula_id == plan.spec.formula_id
    ware = record.results["/task/out"]
    h = ware.split(":", 1)[1]
    assert (env.dir / "wares" / h[:3] / h[3:6] / h).is_file()
    assert monitor.outputs == [b"building"]
    kind, body = last_frame(transport)
    assert kind == "result" and body["runRecord"]["results"] == {"/task/out": ware}
    assert json.loads(env.pod.termination_message()) == body
    assert not list((env.pod.work / "outbox").iterdir())  # sent, then removed from the pod's disk


def test_a_failing_action_is_a_record_with_its_exit_code_and_the_agent_exits_0(env: Env) -> None:
    record, code, _ = env.run(env.plan(env.formula("echo oops >&2; exit 9")))
    assert isinstance(record, RunRecord)
    assert (record.exit_code, code) == (9, 0)


def test_output_that_is_not_utf8_comes_back_byte_for_byte(env: Env) -> None:
    monitor = Lines()
    env.run(env.plan(env.formula(r"printf 'caf\351 \000x\n'")), monitor)
    assert monitor.outputs == [b"caf\xe9 \x00x"]


def test_a_ware_streamed_from_the_client_is_verified_in_the_pod(env: Env) -> None:
    (env.dir / "other.tgz").write_bytes(make_tar([D("."), F("x", b"not the rootfs")], compression="gzip"))
    plan = env.plan(env.formula("true", fetch={"/": ["file://./other.tgz"]}))
    error, code, transport = env.run(plan)
    assert isinstance(error, R2k8sError)
    assert error.category.wire_name == "rio-hash-mismatch" and code == 7
    assert last_frame(transport)[1]["error"]["category"] == "rio-hash-mismatch"
    assert json.loads(env.pod.termination_message())["error"]["category"] == "rio-hash-mismatch"


def test_inputs_sharing_a_ware_are_streamed_once(env: Env) -> None:
    plan = env.plan(
        env.formula(
            "ls /again/bin/busybox",
            inputs={"/": rootfs_ware_id(), "/again": rootfs_ware_id()},
            fetch={"/": ["file://./rootfs.tgz"], "/again": ["file://./rootfs.tgz"]},
        )
    )
    monitor = Lines()
    record, _, transport = env.run(plan, monitor)
    assert isinstance(record, RunRecord) and record.exit_code == 0
    assert monitor.outputs == [b"/again/bin/busybox"]
    assert bytes(transport.sent).count(b'{"wareBegin"') == 1


SLEEP = "3017"
"""How long this module's long actions sleep: a number no other test uses, so :func:`sleepers` finds only them."""


def start_long_run(env: Env, heartbeat: float = 300.0) -> tuple[PipeTransport, Plan]:
    """A run of ``sleep``, started; this client sends no heartbeats, so by default the agent waits long enough for
    only what the test does to end it (on a loaded machine, 20 s of silence could pass before the action starts)."""
    plan = env.plan(env.formula(f"echo started; sleep {SLEEP}"), heartbeat_timeout=heartbeat)
    process = start_agent(env.pod, plan.spec)
    transport = PipeTransport(process)
    decoder, seen = FrameDecoder(), []
    transport.send(encode("hello", {"version": 1}))
    readers = open_inputs(plan, lambda _l: None)
    for key, reader in readers.items():  # what the conversation's sender does
        with reader:
            send_ware(lambda kind, body: transport.send(encode(kind, body)), {"id": key}, reader)
    deadline = time.monotonic() + 60
    while not any(f.kind == "txt" for f in seen):
        assert time.monotonic() < deadline, "the action never started"
        data = transport.receive(1.0)
        assert data != b""
        seen += decoder.feed(data or b"")
    return transport, plan


def sleepers() -> list[int]:
    """This module's actions still alive (other tests' ``sleep 300``, in pods or fake pods, do not count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", SLEEP.encode()]:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_closing_stdin_stops_the_action_and_the_agent_promptly(env: Env) -> None:
    transport, _ = start_long_run(env)
    assert sleepers()
    began = time.monotonic()
    transport.close()  # the client disconnected: stdinOnce closes the container's stdin
    code = transport.process.wait(timeout=30)
    assert time.monotonic() - began < 10
    assert code == 8
    message = json.loads(env.pod.termination_message())
    assert message["error"]["category"] == "rio-cancelled"
    assert "stdin reached EOF" in message["error"]["message"]
    assert sleepers() == []


def test_missing_heartbeats_stop_the_run_within_the_timeout(env: Env) -> None:
    transport, _ = start_long_run(env, heartbeat=2.0)
    began = time.monotonic()
    code = transport.process.wait(timeout=30)  # nothing more is sent: no heartbeats
    assert time.monotonic() - began < 2.0 + 1.0 + 5.0 + 2.0
    assert code == 8
    assert "no heartbeat from the client for 2 s" in env.pod.termination_message()
    assert sleepers() == []


def test_sigterm_from_the_kubelet_stops_the_run(env: Env) -> None:
    transport, _ = start_long_run(env)
    transport.process.send_signal(signal.SIGTERM)
    assert transport.process.wait(timeout=30) == 8
    assert "received SIGTERM" in env.pod.termination_message()
    assert sleepers() == []


def test_no_client_attaching_ends_the_pod(env: Env) -> None:
    plan = env.plan(env.formula("true"), first_contact_timeout=1.0)
    process = start_agent(env.pod, plan.spec)
    began = time.monotonic()
    assert process.wait(timeout=30) == 8
    assert time.monotonic() - began < 10
    frames = FrameDecoder().feed(process.stdout.read())
    assert [f.kind for f in frames] == ["result"]  # only the outcome, for the log
    assert "no client attached within 1 s" in env.pod.termination_message()


def test_a_malformed_frame_from_the_client_ends_the_run(env: Env) -> None:
    process = start_agent(env.pod, env.plan(env.formula(f"sleep {SLEEP}")).spec)
    os.write(process.stdin.fileno(), b'{"hello":{"version":1}}\n{"hb":[]}\n')
    assert process.wait(timeout=30) == 8
    assert "malformed frame" in env.pod.termination_message()


def test_a_spec_from_another_version_is_refused_in_the_termination_message(env: Env) -> None:
    process = start_agent(env.pod, '{"version": 2}')
    assert process.wait(timeout=30) == 1
    assert "protocol version 2" in json.loads(env.pod.termination_message())["error"]["message"]


def _git_source(tmp_path: Path) -> tuple[Path, str]:
    from git_http import commit, make_repo

    repo = make_repo(tmp_path / "repos" / "src")
    (repo / "tool").write_text("#!/bin/sh\necho tool\n")
    (repo / "tool").chmod(0o755)
    return repo, commit(repo, {"hello.txt": "hello from git\n", "deep/er/file": "deep\n", "link": "symlink:hello.txt"})


def test_a_git_input_from_a_repository_only_the_client_reaches_is_its_checkout_in_the_pod(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client checks the commit out (its own ware cache, git's hashes), streams the tree as a tar whose ID
    the spec carries, and the pod places exactly what a fetch would: the output equals a local run's."""
    from formula_runs import run_local

    monkeypatch.setenv("R2K8S_CACHE", str(tmp_path / "client-cache"))
    repo, head = _git_source(tmp_path)
    formula = env.formula(
        "cat /src/hello.txt; ls -ln /src/tool | awk '{print $1, $3, $4}'; mkdir -p /task/out; cp -R /src/. /task/out/",
        inputs={"/": rootfs_ware_id(), "/src": f"git:{head}"},
        fetch={"/": ["file://./rootfs.tgz"], "/src": [f"file://{repo}"]},
        outputs={"/task/out": {"packtype": "tar"}},
    )
    plan = env.plan(formula)
    assert plan.spec.trees[f"git:{head}"].startswith("tar:")
    assert plan.spec.streamed[f"git:{head}"] == ("/src",) and "/src" not in plan.spec.context.fetch_urls
    monitor = Lines()
    record, code, _ = env.run(plan, monitor)
    assert isinstance(record, RunRecord), record
    assert code == 0 and record.exit_code == 0
    assert monitor.outputs == [b"hello from git", b"-rwxr-xr-x 1000 1000"]
    local = run_local(formula, cache=tmp_path / "local-cache", jobs=tmp_path / "jobs")
    assert record.results == local.record.results


def test_a_checkout_damaged_on_its_way_to_the_pod_is_refused_there(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("R2K8S_CACHE", str(tmp_path / "client-cache"))
    repo, head = _git_source(tmp_path)
    formula = env.formula(
        "true",
        inputs={"/": rootfs_ware_id(), "/src": f"git:{head}"},
        fetch={"/": ["file://./rootfs.tgz"], "/src": [f"file://{repo}"]},
    )
    plan = env.plan(formula)
    entry = plan.streamed[f"git:{head}"]
    assert entry.tree is not None
    entry.tree[1].close()
    entry.tree = (entry.tree[0], io.BytesIO(make_tar([D("."), F("hello.txt", b"forged\n")], compression="gzip")))
    error, code, _ = env.run(plan)
    assert isinstance(error, R2k8sError)
    assert error.category.wire_name == "rio-hash-mismatch" and code == 7
    from r2k8s.core.warehouse.cache import WareCache

    assert not WareCache(env.pod.work / "cache").has(f"git:{head}"), "nothing unverified is cached"
