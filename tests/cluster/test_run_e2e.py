"""``r2k8s run`` on the real single-node cluster of the test suite (marker ``e2e``).

The cluster comes from the ``cluster_kubeconfig`` fixture (tests/support/cluster_fixture.py:
``tests/support/testcluster/up``, which reuses a running cluster), or from
``$R2K8S_E2E_KUBECONFIG``. Runs go to a namespace that enforces Pod Security
**baseline**, with the suite's Debian Python image. What is compared with
``r2k8s run --local``: formula ID, results, exit codes; and that after
Ctrl-C or SIGKILL of the client no Job or pod is left after the documented
bound.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import Outcome, run_local, write_formula
from repo import FIXTURES, needs_shared
from tarbuild import D, F, make_tar

from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.ingest import ingest_tar

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_root, needs_busybox]

NAMESPACE = "r2k8s-e2e"
HEARTBEAT_TIMEOUT, STOP_MARGIN, TTL, SLACK = 20, 10, 5, 20
"""The documented bound after SIGKILL: heartbeat timeout + stop grace and margin + --ttl + controller slack."""


def _image() -> str:
    if os.environ.get("R2K8S_E2E_IMAGE"):
        return os.environ["R2K8S_E2E_IMAGE"]
    try:
        from testcluster.settings import PYTHON_IMAGE

        return PYTHON_IMAGE
    except ImportError:
        return "localhost/r2k8s/python:3-debian"


@pytest.fixture(scope="session")
def kubeconfig(cluster_kubeconfig: Path) -> Path:
    return cluster_kubeconfig


@pytest.fixture(scope="session")
def api(kubeconfig: Path):
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api_client)
    body = {"metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    try:
        core.create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:
            raise
    return api_client


@dataclass
class Env:
    dir: Path
    tmp: Path
    kubeconfig: Path
    api: object

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
            str(self.kubeconfig),
            "-n",
            NAMESPACE,
            "--image",
            _image(),
            *args,
            str(formula),
        ]

    def run(self, formula: Path, *args: str) -> Outcome:
        done = subprocess.run(
            self.argv(formula, *args), capture_output=True, text=True, timeout=600, cwd=formula.parent
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def run_local(self, formula: Path) -> Outcome:
        return run_local(formula, cache=self.tmp / f"cache-{formula.stem}", jobs=self.tmp / "jobs")

    def leftovers(self, job: str) -> list[str]:
        from kubernetes import client

        batch, core = client.BatchV1Api(self.api), client.CoreV1Api(self.api)
        jobs = [j.metadata.name for j in batch.list_namespaced_job(NAMESPACE).items if j.metadata.name == job]
        pods = [p.metadata.name for p in core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={job}").items]
        return jobs + pods

    def wait_gone(self, job: str, bound: float) -> float:
        began = time.monotonic()
        while left := self.leftovers(job):
            assert time.monotonic() - began < bound, f"still there after {bound} s: {left}"
            time.sleep(1)
        return time.monotonic() - began


@pytest.fixture
def env(tmp_path: Path, kubeconfig: Path, api: object) -> Env:
    work = tmp_path / "pkg"
    work.mkdir()
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    (work / "wares").mkdir()
    return Env(work, tmp_path, kubeconfig, api)


def saved(directory: Path, ware: str) -> Path:
    h = ware.split(":", 1)[1]
    return directory / "wares" / h[:3] / h[3:6] / h


def job_name(stderr: str) -> str:
    match = re.search(rf"created job {NAMESPACE}/(\S+)", stderr)
    assert match, stderr
    return match.group(1)


@needs_shared
def test_example_03_gives_the_local_record_and_saves_into_wares(env: Env, tmp_path: Path) -> None:
    examples = tmp_path / "repeatr"
    shutil.copytree(FIXTURES / "repeatr", examples)
    (examples / "wares").mkdir()
    formula = examples / "example_03_output.formula"
    remote = env.run(formula)
    assert remote.code == 0, remote.stderr
    local = env.run_local(formula)
    assert (remote.record.formula_id, remote.record.results) == (local.record.formula_id, local.record.results)
    for ware in remote.record.results.values():
        with saved(examples, ware).open("rb") as f:
            assert str(ingest_tar(f, UNPACK_CONSERVATIVE).prefilter_id) == ware
    env.wait_gone(job_name(remote.stderr), 60)  # deleted by the client; the pod follows through the GC


def test_two_inputs_two_outputs_match_the_local_run(env: Env) -> None:
    extra = make_tar([D("."), F("greeting", b"hello from the second input\n")], compression="gzip")
    (env.dir / "extra.tgz").write_bytes(extra)
    extra_id = str(ingest_tar(io.BytesIO(extra), UNPACK_CONSERVATIVE).prefilter_id)
    formula = env.formula(
        "cat /opt/extra/greeting; mkdir -p /task/a /task/b; cp /opt/extra/greeting /task/a/; echo b > /task/b/b",
        inputs={"/": rootfs_ware_id(), "/opt/extra": extra_id},
        fetch={"/": ["file://./rootfs.tgz"], "/opt/extra": ["file://./extra.tgz"]},
        outputs={"/task/a": {"packtype": "tar"}, "/task/b": {"packtype": "tar"}},
        save={"/task/a": "ca+file://./wares", "/task/b": "ca+file://./wares"},
    )
    remote, local = env.run(formula), env.run_local(formula)
    assert remote.code == 0, remote.stderr
    assert (remote.record.formula_id, remote.record.exit_code, remote.record.results) == (
        local.record.formula_id,
        local.record.exit_code,
        local.record.results,
    )
    assert remote.output_lines() == local.output_lines() == ["hello from the second input"]
    assert all(saved(env.dir, w).is_file() for w in remote.record.results.values())


def lenient(env: Env, action: dict, **kw) -> Path:
    """A formula file written as given (no defaults filled in), next to the rootfs."""
    kw.setdefault("name", f"lenient-{len(list(env.dir.glob('lenient-*')))}.formula")
    inputs = kw.pop("inputs", {"/": rootfs_ware_id()})
    return write_formula(env.dir, inputs, action, fetch={"/": ["file://./rootfs.tgz"]}, **kw)


def test_failures_match_the_local_run(env: Env) -> None:
    (env.dir / "wrong.tgz").write_bytes(make_tar([D("."), F("x", b"other")], compression="gzip"))
    cases = {
        "nonzero-exit": env.formula("echo bye; exit 9", name="a.formula"),
        "unreachable-warehouse": env.formula("true", fetch={"/": ["http://127.0.0.1:9/rootfs.tgz"]}, name="b.formula"),
        "wrong-hash": env.formula("true", fetch={"/": ["file://./wrong.tgz"]}, name="c.formula"),
        # formulas repeatr hashes but cannot run: the cluster run fails where and as repeatr does (--local too)
        "relative-cwd": lenient(env, {"exec": ["/bin/true"], "cwd": "task"}, name="d.formula"),
        "no-exec": lenient(env, {}, name="e.formula"),
        "relative-output": lenient(env, {"exec": ["/bin/true"]}, outputs={"task/out": {"packtype": "tar"}}),
        "hashless-input": lenient(env, {"exec": ["/bin/true"]}, inputs={"/": rootfs_ware_id(), "/x": "tar:"}),
    }
    for case, formula in cases.items():
        remote, local = env.run(formula), env.run_local(formula)
        assert (case, remote.code) == (case, local.code), f"{case}:\n{remote.stderr}\n---\n{local.stderr}"
        if case == "nonzero-exit":
            assert remote.record.exit_code == local.record.exit_code == 9
        expected = {"relative-cwd": 2, "no-exec": 2, "relative-output": 2, "hashless-input": 3}.get(case)
        assert expected is None or remote.code == expected, f"{case}: {remote.stderr}"


def _start(env: Env, formula: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        env.argv(formula, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=formula.parent
    )
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + 300
    while "started" not in seen:
        assert time.monotonic() < deadline, seen
        line = process.stderr.readline()
        assert line, f"the client exited early:\n{seen}"
        seen += line
    return process, job_name(seen)


def test_sigint_leaves_no_job_or_pod(env: Env) -> None:
    process, job = _start(env, env.formula("echo started; sleep 600"))
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 8
    env.wait_gone(job, 15 + SLACK)  # the pod's grace period, plus the garbage collector


def test_sigkill_leaves_no_job_or_pod_after_the_bound(env: Env) -> None:
    process, job = _start(env, env.formula("echo started; sleep 600"), "--ttl", str(TTL))
    process.kill()
    process.wait()
    env.wait_gone(job, HEARTBEAT_TIMEOUT + STOP_MARGIN + TTL + SLACK)


@pytest.mark.parametrize("git_from", ["pod", "client"])
def test_tar_git_and_zip_inputs_and_a_zip_output_match_the_local_run(env: Env, tmp_path: Path, git_from: str) -> None:
    """``pod``: the pod fetches the commit from a real ``git http-backend`` and the zip (a file here) is streamed to
    it; ``client``: the repository is a ``file://`` one, so this machine checks the commit out and streams the
    tree, and the pod fetches the zip from an HTTP warehouse."""
    from git_http import commit, make_repo, serve_git
    from loopback_http import serve
    from service_cluster import cluster_settings

    from r2k8s.core.ware.filters import PACK, PACK_LOSSLESS, Filters
    from r2k8s.core.ware.pack import pack_tree

    host = cluster_settings()[1]
    repos = tmp_path / "repos"
    source = make_repo(repos / "src")
    (source / "tool").write_text("#!/bin/sh\necho tool\n")
    (source / "tool").chmod(0o755)
    head = commit(source, {"hello.txt": "hello from git\n", "deep/er/file": "deep\n", "link": "symlink:hello.txt"})
    data = tmp_path / "data"
    data.mkdir()
    (data / "greeting").write_text("hello from a zip\n")
    with (env.dir / "data.zip").open("wb") as out:
        zipped = pack_tree(
            data, Filters.parse(PACK, "uid=4000,gid=4000").with_defaults(PACK_LOSSLESS), out, packtype="zip"
        )
    served = tmp_path / "served"
    target = served / zipped.hash[:3] / zipped.hash[3:6] / zipped.hash
    target.parent.mkdir(parents=True)
    target.write_bytes((env.dir / "data.zip").read_bytes())
    with serve_git(repos, host=host) as git_server, serve(served, host=host) as warehouse:
        fetch = {"/": ["file://./rootfs.tgz"]}
        if git_from == "pod":
            fetch |= {"/src": [git_server.url("src")], "/data": ["file://./data.zip"]}
        else:
            fetch |= {"/src": [f"file://{source}"], "/data": [warehouse.ca_url()]}
        formula = env.formula(
            "cat /src/hello.txt /src/deep/er/file /data/greeting;"
            " ls -ln /src/tool /data/greeting | awk '{print $1, $3, $4}';"
            " readlink /src/link; mkdir -p /task/out /task/zout; cp -R /src/. /task/out/; cp -R /src/. /task/zout/",
            inputs={"/": rootfs_ware_id(), "/src": f"git:{head}", "/data": str(zipped)},
            fetch=fetch,
            outputs={"/task/out": {"packtype": "tar"}, "/task/zout": {"packtype": "zip"}},
        )
        remote, local = env.run(formula), env.run_local(formula)
        fetched_git, fetched_zip = list(git_server.requests), list(warehouse.requests)
    assert remote.code == 0, remote.stderr
    assert (remote.record.formula_id, remote.record.exit_code, remote.record.results) == (
        local.record.formula_id,
        local.record.exit_code,
        local.record.results,
    )
    # a zip output packs in the pod as rio's zip packer would: the same tree hash as the tar of the same tree
    assert remote.record.results["/task/zout"] == "zip:" + remote.record.results["/task/out"].removeprefix("tar:")
    assert (
        remote.output_lines()
        == local.output_lines()
        == [
            "hello from git",
            "deep",
            "hello from a zip",
            "-rw-r--r-- 4000 4000",  # ls sorts its arguments: /data/greeting first
            "-rwxr-xr-x 1000 1000",
            "hello.txt",
        ]
    )
    if git_from == "pod":
        assert fetched_git.count(("POST", "/src/git-upload-pack")) == 2, "the pod and the local run each fetched it"
    else:
        assert not fetched_git and len(fetched_zip) == 2, "the pod and the local run each fetched the zip"
