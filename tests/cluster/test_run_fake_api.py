"""``r2k8s run`` (no ``--local``) against a fake API server whose pods really run the agent (tests/fake_kube.py).

The fake exists for what a real cluster will not do on request: answer 410
Gone, 429 and 500, drop a watch mid-chunk, refuse with 403. Behind it the
build pod's container is the real agent zipapp running the formula as root
in the busybox ware, so outcomes are compared with ``r2k8s run --local`` on
the same formula. Every test runs the CLI as a subprocess, as a user would.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from fake_kube import MISSING_IMAGE_PREFIX, NO_SANDBOX_IMAGE_PREFIX, FakeCluster, fake_cluster
from formula_runs import Outcome, run_local, write_formula
from loopback_http import serve
from tarbuild import D, F, make_tar

from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.ingest import ingest_tar

pytestmark = [needs_root, needs_busybox]

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"


@dataclass
class Env:
    dir: Path
    tmp: Path
    cluster: FakeCluster

    def formula(self, script: str, **kw) -> Path:
        kw.setdefault("fetch", {"/": ["file://./rootfs.tgz"]})
        return write_formula(
            self.dir, kw.pop("inputs", {"/": rootfs_ware_id()}), {"exec": ["/bin/sh", "-c", script]}, **kw
        )

    def argv(self, formula: Path, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "r2k8s",
            "run",
            "--kubeconfig",
            str(self.cluster.kubeconfig()),
            *args,
            str(formula),
        ]

    def run(self, formula: Path, *args: str, timeout: float = 120) -> Outcome:
        done = subprocess.run(self.argv(formula, *args), capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def run_local(self, formula: Path) -> Outcome:
        """``run --local`` with a cache of its own, empty like the pod's."""
        return run_local(
            formula, "--executor", "chroot", cache=self.tmp / f"cache-{formula.stem}", jobs=self.tmp / "jobs"
        )

    def requests(self, method: str, path: str) -> list:
        return [r for r in self.cluster.requests if r.method == method and r.path.startswith(path)]

    def wait_empty(self, bound: float) -> float:
        """Seconds until no Job, no pod and no container process is left; fails after ``bound``."""
        began = time.monotonic()
        while self.cluster.items("jobs") or self.cluster.items("pods") or self.cluster.live_processes():
            assert time.monotonic() - began < bound, (
                f"still there after {bound} s: jobs {[j['metadata']['name'] for j in self.cluster.items('jobs')]},"
                f" pods {[p['metadata']['name'] for p in self.cluster.items('pods')]}"
            )
            time.sleep(0.2)
        return time.monotonic() - began


@pytest.fixture
def env(tmp_path: Path):
    work = tmp_path / "pkg"
    work.mkdir()
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    (work / "wares").mkdir()
    (tmp_path / "fake").mkdir()
    with fake_cluster(tmp_path / "fake") as cluster:
        yield Env(work, tmp_path, cluster)


def saved(directory: Path, ware: str) -> Path:
    h = ware.split(":", 1)[1]
    return directory / "wares" / h[:3] / h[3:6] / h


def two_in_two_out(env: Env, http_base: str) -> Path:
    """Two inputs (one streamed from this machine, one fetched by the pod over http), two outputs."""
    tools = make_tar([D("."), F("greeting", b"hello from the second input\n")], compression="gzip")
    tools_id = str(ingest_tar(__import__("io").BytesIO(tools), UNPACK_CONSERVATIVE).prefilter_id)
    (env.tmp / "http").mkdir(exist_ok=True)
    (env.tmp / "http" / "tools.tgz").write_bytes(tools)
    return env.formula(
        "cat /opt/tools/greeting; mkdir -p /task/a /task/b; cp /opt/tools/greeting /task/a/; echo b > /task/b/b",
        inputs={"/": rootfs_ware_id(), "/opt/tools": tools_id},
        fetch={"/": ["file://./rootfs.tgz"], "/opt/tools": [f"{http_base}/tools.tgz"]},
        outputs={"/task/a": {"packtype": "tar"}, "/task/b": {"packtype": "tar"}},
        save={"/task/a": "ca+file://./wares", "/task/b": "ca+file://./wares"},
    )


def test_two_inputs_two_outputs_give_the_local_run_record_and_land_in_wares(env: Env) -> None:
    with serve(env.tmp / "http") as warehouse:
        formula = two_in_two_out(env, warehouse.url("").rstrip("/"))
        cluster = env.run(formula)
        local = env.run_local(formula)
    assert cluster.code == 0, cluster.stderr
    remote, here = cluster.record, local.record
    assert (remote.formula_id, remote.exit_code, remote.results) == (here.formula_id, here.exit_code, here.results)
    assert remote.hostname == "fake-node"
    assert cluster.output_lines() == local.output_lines() == ["hello from the second input"]
    for ware in remote.results.values():
        with saved(env.dir, ware).open("rb") as f:
            assert str(ingest_tar(f, UNPACK_CONSERVATIVE).prefilter_id) == ware
    assert cluster.stderr.splitlines()[-1].endswith("runrecord follows:")
    deletes = env.requests("DELETE", JOBS)
    assert [d.query.get("propagationPolicy") for d in deletes] == [["Background"]]
    env.wait_empty(20)


def test_the_run_survives_410_gone_429_500s_and_dropped_watches(env: Env) -> None:
    c = env.cluster
    c.start_delay = 3.0  # the pod is still pending after the first list: the client must watch
    c.inject("GET", "/configmaps/", status=429, headers={"Retry-After": "1"})
    c.inject("POST", "/jobs$", status=500, times=2)
    c.inject("GET", "/pods$", status=500, watch=False)
    c.inject("GET", "/pods$", status=410, watch=True)
    c.inject("GET", "/pods$", kind="gone-event", watch=True)
    c.inject("GET", "/pods$", kind="drop", watch=True, after_events=0)
    c.inject("GET", "/pods$", status=503, watch=True)
    outcome = env.run(env.formula("echo survived; mkdir -p /task/out", outputs={"/task/out": {"packtype": "tar"}}))
    assert outcome.code == 0, outcome.stderr
    assert outcome.output_lines() == ["survived"]
    assert all(f.hits == f.times for f in c.faults), [(f.path, f.kind, f.hits) for f in c.faults]
    lists = [r for r in env.requests("GET", PODS) if r.path == PODS and "watch" not in r.query]
    assert len(lists) >= 3  # the first list, plus a relist after each 410
    assert "listing again" in outcome.stderr and "retrying" in outcome.stderr
    assert len(c.items("jobs")) == 0 and len(env.requests("POST", JOBS)) == 3
    env.wait_empty(20)


@pytest.mark.parametrize(
    "verb, resource, needed",
    [
        ("create", "jobs", "create jobs.batch"),
        ("create", "configmaps", "create configmaps"),
        ("watch", "pods", "watch pods"),
        ("create", "pods/attach", "create pods/attach"),
    ],
)
def test_a_missing_permission_is_named(env: Env, verb: str, resource: str, needed: str) -> None:
    env.cluster.forbid(verb, resource)
    if resource == "pods/attach":
        env.cluster.forbid("get", resource)
    outcome = env.run(env.formula("true"))
    assert outcome.code == 42
    last = outcome.stderr.strip().splitlines()[-1]
    assert f"r2k8s needs permission to {needed} in namespace 'default'" in last
    assert "Permissions" in last and "forbidden" in last
    assert outcome.stdout == ""
    if env.requests("POST", JOBS) and resource != "jobs":
        assert env.requests("DELETE", JOBS), "the job must be deleted when the run cannot go on"
    env.wait_empty(30)


def test_an_image_that_cannot_be_pulled_fails_fast_and_cleans_up(env: Env) -> None:
    outcome = env.run(env.formula("true"), "--image", f"{MISSING_IMAGE_PREFIX}python:3")
    assert outcome.code == 42
    assert "cannot start: ErrImagePull" in outcome.stderr and "--image" in outcome.stderr
    env.wait_empty(10)


def test_a_pod_the_node_cannot_create_fails_with_the_nodes_reason(env: Env) -> None:
    started = time.monotonic()
    outcome = env.run(env.formula("true"), "--image", f"{NO_SANDBOX_IMAGE_PREFIX}python:3")
    assert outcome.code == 42
    assert "cannot create the build pod" in outcome.stderr and "can't get final child's PID" in outcome.stderr
    assert time.monotonic() - started < 60  # not the hour of --timeout
    env.wait_empty(10)


def start(env: Env, formula: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        env.argv(formula, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=env.dir
    )


def wait_for_line(process: subprocess.Popen[str], text: str, bound: float = 60) -> str:
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + bound
    while text not in seen:
        assert time.monotonic() < deadline, f"never saw {text!r} in:\n{seen}"
        ready, _, _ = select.select([process.stderr], [], [], 0.5)
        if ready:
            line = process.stderr.readline()
            assert line, f"the client exited early:\n{seen}"
            seen += line
    return seen


def test_sigint_deletes_the_job_in_the_background_and_exits_8(env: Env) -> None:
    process = start(env, env.formula("echo started; sleep 300"))
    wait_for_line(process, "started")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 8
    assert err.strip().splitlines()[-1] == "cancelled: received SIGINT"
    assert [d.query.get("propagationPolicy") for d in env.requests("DELETE", JOBS)] == [["Background"]]
    env.wait_empty(15 + 5)  # the pod's grace period, at most


def test_sigkill_of_the_client_leaves_nothing_after_the_documented_bound(env: Env) -> None:
    process = start(env, env.formula("echo started; sleep 300"), "--ttl", "2")
    wait_for_line(process, "started")
    process.kill()
    process.wait()
    assert env.requests("DELETE", JOBS) == []  # nobody deleted it: the agent and the TTL must
    took = env.wait_empty(20 + 10 + 2 + 5)  # heartbeat timeout + stop grace and margin + TTL + slack
    assert took < 15  # here the closed stdin is noticed at once, not after the heartbeat timeout


def test_timeout_stops_the_run_and_deletes_the_job(env: Env) -> None:
    began = time.monotonic()
    outcome = env.run(env.formula("echo started; sleep 300"), "--timeout", "4")
    assert outcome.code == 8
    assert "took longer than --timeout 4 s" in outcome.stderr.strip().splitlines()[-1]
    assert time.monotonic() - began < 30
    env.wait_empty(20)


def formulas_that_fail(env: Env) -> dict[str, Path]:
    wrong = make_tar([D("."), F("x", b"something else")], compression="gzip")
    (env.dir / "wrong.tgz").write_bytes(wrong)
    return {
        "nonzero-exit": env.formula("echo bye; exit 9"),
        "unreachable-http": env.formula("true", fetch={"/": ["http://127.0.0.1:9/rootfs.tgz"]}, name="a.formula"),
        "unreachable-file": env.formula("true", fetch={"/": ["file://./nowhere/rootfs.tgz"]}, name="b.formula"),
        "wrong-hash": env.formula("true", fetch={"/": ["file://./wrong.tgz"]}, name="c.formula"),
        "unwritable-save": env.formula(
            "mkdir -p /task/out",
            outputs={"/task/out": {"packtype": "tar"}},
            save={"/task/out": "ca+file://./missing-dir"},
            name="d.formula",
        ),
        "http-save": env.formula(
            "mkdir -p /task/out",
            outputs={"/task/out": {"packtype": "tar"}},
            save={"/task/out": "ca+http://127.0.0.1:9/"},
            name="e.formula",
        ),
        "job-invalid": write_formula(
            env.dir,
            {"/": rootfs_ware_id()},
            {"exec": ["/bin/nonexistent"]},
            fetch={"/": ["file://./rootfs.tgz"]},
            name="f.formula",
        ),
    }


def test_failures_give_the_same_outcome_and_exit_code_as_locally(env: Env) -> None:
    for case, formula in formulas_that_fail(env).items():
        remote, local = env.run(formula), env.run_local(formula)
        assert (case, remote.code) == (case, local.code), f"{case}:\n{remote.stderr}\n---\n{local.stderr}"
        if local.code == 0:
            assert remote.record.exit_code == local.record.exit_code == 9
            assert remote.output_lines() == local.output_lines() == ["bye"]
        else:  # no record, repeatr's two error lines, and the message starts the same (paths may differ after)
            assert remote.stdout == local.stdout == ""
            assert "error: failed to evaluate formula --- error: " in remote.stderr
            remote_last, local_last = remote.stderr.strip().splitlines()[-1], local.stderr.strip().splitlines()[-1]
            assert remote_last.split(":")[0] == local_last.split(":")[0], (case, remote_last, local_last)
    assert env.cluster.items("jobs") == []


def test_mount_inputs_are_refused_before_touching_the_cluster(env: Env) -> None:
    formula = env.formula("true", inputs={"/": rootfs_ware_id(), "/src": "mount:ro:/etc"})
    outcome = env.run(formula)
    assert outcome.code == 10
    assert 'input "/src" is a host mount' in outcome.stderr and "--local" in outcome.stderr
    assert env.cluster.requests == []


def test_no_configured_cluster_is_a_clear_error(tmp_path: Path) -> None:
    formula = write_formula(tmp_path, {"/": rootfs_ware_id()}, {"exec": ["/bin/true"]})
    environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    environment["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "run", str(formula)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert done.returncode == 42
    assert "no cluster configured" in done.stderr and "--local" in done.stderr


def test_a_legacy_formula_runs_with_the_legacy_hash_checks_in_the_pod(env: Env) -> None:
    legacy_hash = ingest_tar(__import__("io").BytesIO(rootfs_tgz()), UNPACK_CONSERVATIVE, legacy=True).prefilter_id.hash
    formula = env.dir / "legacy.formula"
    formula.write_text(
        "inputs:\n"
        f"  rootfs:\n    type: tar\n    mount: /\n    hash: {legacy_hash}\n    silo: file://./rootfs.tgz\n"
        "action:\n  command:\n    - /bin/sh\n    - -c\n    - echo legacy $HOME; pwd\n"
    )
    remote, local = env.run(formula), env.run_local(formula)
    assert remote.code == 0, remote.stderr
    assert remote.record.formula_id == local.record.formula_id
    assert remote.output_lines() == local.output_lines() == ["legacy /home/luser", "/task"]


def test_progress_shows_on_a_terminal_only() -> None:
    import io as _io

    from r2k8s.cluster.conversation import Progress

    class Terminal(_io.StringIO):
        def isatty(self) -> bool:
            return True

    shown, piped = Terminal(), _io.StringIO()
    for stream in (shown, piped):
        progress = Progress(stream)
        progress.update('sending input "/"', 3 << 20, 4 << 20)
        progress.update('sending input "/"', 4 << 20, 4 << 20)
        progress.clear()
    assert piped.getvalue() == ""
    assert 'r2k8s: sending input "/": 4.0 MiB / 4.0 MiB (100%)' in shown.getvalue()
    assert shown.getvalue().endswith("\r\x1b[K")
