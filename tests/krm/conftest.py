"""Fixtures the function's tests share: ``r2k8s`` on PATH for the real orchestrators, and, for the tests on
the real test cluster, kubectl, a loopback warehouse serving busybash and a baseline namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from krm_inputs import BUSYBASH
from loopback_http import LoopbackWarehouse, serve
from service_cluster import BUSYBASH_TGZ, cluster_settings


@pytest.fixture(scope="module")
def r2k8s_on_path(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose ``r2k8s`` on PATH runs this checkout with this interpreter."""
    directory = tmp_path_factory.mktemp("bin")
    script = directory / "r2k8s"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m r2k8s "$@"\n')
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture(scope="module")
def kubectl(cluster_kubeconfig: Path) -> Any:
    """``kubectl(*args, input=, check=, timeout=)`` against the test cluster; fails the test on an error."""
    binary = shutil.which("kubectl")
    if binary is None:
        from testcluster import build

        binary = str(build.ensure_binaries().kubectl)

    def call(
        *args: Any, check: bool = True, input: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, "--kubeconfig", str(cluster_kubeconfig), *map(str, args)],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(map(str, args))} exited {result.returncode}: {result.stderr}")
        return result

    return call


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, cluster_kubeconfig: Path) -> Iterator[LoopbackWarehouse]:
    """An HTTP warehouse on the host serving busybash (CA layout), reached by pods through the node's bridge."""
    root = tmp_path_factory.mktemp("warehouse")
    digest = BUSYBASH.split(":", 1)[1]
    target = root / digest[:3] / digest[3:6] / digest
    target.parent.mkdir(parents=True)
    shutil.copy(BUSYBASH_TGZ, target)
    with serve(root, host=cluster_settings()[1]) as running:
        yield running


@pytest.fixture
def namespace(kubectl: Any) -> Iterator[str]:
    """A fresh namespace enforcing Pod Security baseline, deleted afterwards."""
    name = f"r2k8s-svc-{os.getpid()}-{int(time.time() * 1000) % 10000000}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=baseline")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)
