"""Evicted build pods against the fake API server (tests/support/fake_kube.py), for what the real cluster's timing
rarely shows: a pod gone (404) before the client reads it, and a second eviction of the replacement.

The main case, a real eviction on the real cluster, is in ``test_run_knobs_e2e.py``. Here too the pods really
run the agent on the busybox ware, and the client is the CLI in a subprocess.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from fake_kube import FakeCluster, fake_cluster
from formula_runs import write_formula

from r2k8s.core.run.record import from_json

pytestmark = [needs_root, needs_busybox]


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    (tmp_path / "fake").mkdir()
    with fake_cluster(tmp_path / "fake") as fake:
        yield fake


def start(cluster: FakeCluster, work: Path, script: str) -> subprocess.Popen[str]:
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    formula = write_formula(
        work, {"/": rootfs_ware_id()}, {"exec": ["/bin/sh", "-c", script]}, fetch={"/": ["file://./rootfs.tgz"]}
    )
    argv = [sys.executable, "-m", "r2k8s", "run", "--kubeconfig", str(cluster.kubeconfig()), str(formula)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)


def wait_for(process: subprocess.Popen[str], text: str, seen: str = "", count: int = 1, bound: float = 60) -> str:
    """The stderr so far (``seen`` and more) once ``text`` shows in it ``count`` times."""
    assert process.stderr is not None
    deadline = time.monotonic() + bound
    while seen.count(text) < count:
        assert time.monotonic() < deadline, f"never saw {text!r} in:\n{seen}"
        if select.select([process.stderr], [], [], 0.5)[0]:
            line = process.stderr.readline()
            assert line, f"the client exited early:\n{seen}"
            seen += line
    return seen


def running_pod(cluster: FakeCluster, other_than: frozenset[str] = frozenset()) -> str:
    live = [p["metadata"]["name"] for p in cluster.items("pods", "default") if p["metadata"]["name"] not in other_than]
    assert len(live) == 1, live
    return live[0]


@pytest.mark.parametrize("vanish", [False, True])
def test_each_eviction_restarts_the_run_in_the_replacement(cluster: FakeCluster, tmp_path: Path, vanish: bool) -> None:
    """Evicted twice (the second time the pod is gone before the client can read it): one record, the third pod's."""
    process = start(cluster, tmp_path, "echo started; sleep 3; echo done")
    seen = wait_for(process, "\tstarted")
    first = running_pod(cluster)
    cluster.evict("default", first)
    seen = wait_for(process, "\tstarted", seen, count=2)
    second = running_pod(cluster, frozenset({first}))
    cluster.evict("default", second, vanish=vanish)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, seen + stderr
    assert from_json(stdout).exit_code == 0
    assert f"took the build pod {first} away (EvictionByEvictionAPI" in seen + stderr
    reason = "is gone and the Job made another" if vanish else "EvictionByEvictionAPI"
    assert f"took the build pod {second} away ({'pod ' + second + ' ' if vanish else ''}{reason}" in seen + stderr
    assert "done" in stderr
