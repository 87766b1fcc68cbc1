"""``r2k8s emerge`` on the real test cluster (marker ``e2e``): a diamond module, each step a build Job.

Proves what the issue asks: the two independent steps run at once (each
action records its start and end inside its pod; the intervals must
overlap), a second emerge is fully memoized (a watch on the namespace's Jobs
sees none created), and Ctrl-C or a killed emerge leaves no Job behind. Runs
in a namespace of its own (Pod Security baseline), deleted afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from emerge_events import events_of, statuses, step_events
from formula_runs import Outcome
from service_cluster import cluster_settings
from timeless_modules import diamond

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_root, needs_busybox]


@pytest.fixture(scope="module")
def namespace(cluster_kubeconfig: Path) -> Iterator[tuple[str, Any]]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(cluster_kubeconfig))
    name = f"r2k8s-emerge-{secrets.token_hex(4)}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    try:
        yield name, api
    finally:
        core.delete_namespace(name)


class Env:
    def __init__(self, root: Path, kubeconfig: Path, namespace: str, api: Any) -> None:
        self.root, self.kubeconfig, self.namespace, self.api = root, kubeconfig, namespace, api
        (root / ".timeless").mkdir()
        (root / "rootfs.tgz").write_bytes(rootfs_tgz())

    def write(self, module: dict[str, Any]) -> None:
        (self.root / "module.tl").write_text(json.dumps(module, indent="\t"))

    def argv(self, *args: str) -> list[str]:
        image, _host = cluster_settings()
        return [
            *(sys.executable, "-m", "r2k8s", "emerge", "--warehouse", "file://./rootfs.tgz"),
            *("--kubeconfig", str(self.kubeconfig), "-n", self.namespace, "--image", image, "--ttl", "5"),
            *args,
        ]

    def emerge(self, *args: str) -> Outcome:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=900, cwd=self.root)
        return Outcome(done.returncode, done.stdout, done.stderr)

    def ware_file(self, ware: str, name: str) -> str:
        h = ware.split(":", 1)[1]
        with tarfile.open(self.root / ".timeless" / "warehouse" / h[:3] / h[3:6] / h) as tar:
            member = tar.extractfile(f"./{name}")
            assert member is not None
            return member.read().decode().strip()

    def jobs(self) -> tuple[set[str], str]:
        from kubernetes import client

        listed = client.BatchV1Api(self.api).list_namespaced_job(self.namespace)
        return {job.metadata.name for job in listed.items}, listed.metadata.resource_version

    def jobs_added_since(self, resource_version: str) -> list[str]:
        from kubernetes import client, watch

        added = []
        for event in watch.Watch().stream(
            client.BatchV1Api(self.api).list_namespaced_job,
            self.namespace,
            resource_version=resource_version,
            timeout_seconds=2,
        ):
            if event["type"] == "ADDED":
                added.append(event["object"].metadata.name)
        return added

    def wait_no_jobs(self, names: set[str], bound: float) -> None:
        began = time.monotonic()
        while left := names & self.jobs()[0]:
            assert time.monotonic() - began < bound, f"still there after {bound} s: {sorted(left)}"
            time.sleep(1)


@pytest.fixture
def env(tmp_path: Path, cluster_kubeconfig: Path, namespace: tuple[str, Any]) -> Env:
    return Env(tmp_path, cluster_kubeconfig, *namespace)


def created_jobs(stderr: str, namespace: str) -> set[str]:
    return set(re.findall(rf"created job {namespace}/(\S+)", stderr))


def test_a_diamond_runs_its_sides_at_once_and_a_second_emerge_creates_no_job(env: Env) -> None:
    env.write(diamond(sleep=8))
    began = time.monotonic()
    first = env.emerge()
    first_took = time.monotonic() - began
    assert first.code == 0, first.stderr
    assert len(created_jobs(first.stderr, env.namespace)) == 3
    exports = json.loads(first.stdout)
    assert env.ware_file(exports["both"], "both") == "left\nright"
    left = {k: int(env.ware_file(exports["left"], k)) for k in ("start", "end")}
    right = {k: int(env.ware_file(exports["right"], k)) for k in ("start", "end")}
    assert left["start"] < right["end"] and right["start"] < left["end"], (left, right)  # overlapping in the pods

    _names, version = env.jobs()
    began = time.monotonic()
    second = env.emerge()
    second_took = time.monotonic() - began
    assert second.code == 0, second.stderr
    assert second.stdout == first.stdout
    assert second.stderr.count("eliding run") == 3 and "created job" not in second.stderr
    assert env.jobs_added_since(version) == []
    print(f"\nfirst emerge {first_took:.1f} s, memoized emerge {second_took:.2f} s")
    assert second_took < first_took / 4


def test_json_events_of_cluster_steps_are_tagged_and_end_with_the_exports(env: Env) -> None:
    env.write(diamond(sleep=0))
    done = env.emerge("--format", "json", "--no-memo")
    assert done.code == 0, done.stderr
    events = events_of(done.stdout)
    exports = events[-1]["result"]["exports"]
    assert env.ware_file(exports["both"], "both") == "left\nright"
    jobs = set()
    for name, export in (("left", "left"), ("right", "right"), ("join", "both")):
        assert statuses(events, name) == ["started", "succeeded"]
        created = [body["msg"] for body in step_events(events, name, "log") if "created job" in body["msg"]]
        assert len(created) == 1, created  # the step's own Job, told by its own child
        jobs.add(created[0])
        (result,) = step_events(events, name, "result")
        assert result["runRecord"]["results"] == {"/task/out": exports[export]}
    assert len(jobs) == 3


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_stopping_or_killing_emerge_leaves_no_job(env: Env, how: str) -> None:
    env.write(diamond(sleep=300))
    proc = subprocess.Popen(env.argv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=env.root)
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 300
    while seen.count("\tstarted\n") < 2 and time.monotonic() < deadline:  # both actions run in their pods
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    jobs = created_jobs(seen, env.namespace)
    assert len(jobs) == 2 and jobs <= env.jobs()[0]
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 8, seen + err
        assert not jobs & env.jobs()[0]  # each step deleted its Job before emerge exited
    else:
        proc.kill()
        proc.wait()
        proc.stderr.close()
        env.wait_no_jobs(jobs, 60)  # the steps got SIGTERM from the kernel and deleted their Jobs


def test_a_memoized_cluster_run_prints_the_same_record_and_creates_no_job(env: Env) -> None:
    """``r2k8s run`` (not emerge) keeps its memo on the client: the second run asks the cluster nothing."""
    formula = {
        "formula": {
            "inputs": {"/": rootfs_ware_id()},
            "action": {"exec": ["/bin/sh", "-c", "mkdir out; echo hi > out/x; echo ran"]},
            "outputs": {"/task/out": {"packtype": "tar"}},
        },
        "context": {"fetchUrls": {"/": ["file://./rootfs.tgz"]}, "saveUrls": {"/task/out": "ca+file://./wares"}},
    }
    (env.root / "wares").mkdir()
    (env.root / "job.formula").write_text(json.dumps(formula))
    image, _host = cluster_settings()
    argv = [
        *(sys.executable, "-m", "r2k8s", "run", "--kubeconfig", str(env.kubeconfig), "-n", env.namespace),
        *("--image", image, "--memo-dir", "memo", "job.formula"),
    ]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=env.root)
    assert first.returncode == 0, first.stderr
    _names, version = env.jobs()
    second = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=env.root)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert "eliding run" in second.stderr and "created job" not in second.stderr
    assert env.jobs_added_since(version) == []
