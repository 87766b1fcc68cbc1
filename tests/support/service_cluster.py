"""What the service path's tests on the real test cluster share: the agent image, the host address, the pods."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from repo import FIXTURES

BUSYBASH_TGZ = FIXTURES / "repeatr" / "fixtures" / "busybash.tgz"
"""busybash as a gzipped tar: the ware behind ``krm_inputs.BUSYBASH``."""


def cluster_settings() -> tuple[str, str]:
    """The agent image the cluster's node has (no registry), and the host address its pods reach."""
    from testcluster.settings import NODE_IP, PYTHON_IMAGE

    return os.environ.get("R2K8S_E2E_IMAGE", PYTHON_IMAGE), os.environ.get("R2K8S_E2E_HOST_IP", NODE_IP)


def cluster_empty_image() -> str:
    """The almost empty image formula containers start from: the pause image the node already has."""
    from testcluster.settings import PAUSE_IMAGE

    return os.environ.get("R2K8S_E2E_EMPTY_IMAGE", PAUSE_IMAGE)


def cluster_function_config(warehouses: dict[str, Any] | None = None) -> dict[str, Any]:
    """A function config (``R2k8sFunction``) for the test cluster: the agent image its node already has (there is
    no registry, so it is never pulled) and, if given, the ``warehouses`` settings (mirrors, rewrite)."""
    image, _ = cluster_settings()
    spec: dict[str, Any] = {"agent": {"image": image, "emptyImage": cluster_empty_image(), "imagePullPolicy": "Never"}}
    if warehouses is not None:
        spec["warehouses"] = warehouses
    return {"apiVersion": "fn.r2k8s.io/v1alpha1", "kind": "R2k8sFunction", "metadata": {"name": "r2k8s"}, "spec": spec}


def pod_of(kubectl: Any, namespace: str, selector: str) -> dict[str, Any]:
    """The newest live pod matching ``selector``."""
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert live, f"no pod for {selector}"
    return sorted(live, key=lambda p: p["metadata"]["creationTimestamp"])[-1]


def http_get(pod: dict[str, Any], port: int = 8080) -> str:
    """What the pod serves over HTTP at ``/``, reached by its pod IP from the host."""
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:{port}/", timeout=10) as response:
        return response.read().decode()
