"""What the service path's tests on the real test cluster share: the agent image and the host address."""

from __future__ import annotations

import os
from typing import Any

from repo import FIXTURES

BUSYBASH_TGZ = FIXTURES / "repeatr" / "fixtures" / "busybash.tgz"
"""busybash as a gzipped tar: the ware behind ``krm_inputs.BUSYBASH``."""


def cluster_settings() -> tuple[str, str]:
    """The agent image the cluster's node has (no registry), and the host address its pods reach."""
    from testcluster.settings import NODE_IP, PYTHON_IMAGE

    return os.environ.get("R2K8S_E2E_IMAGE", PYTHON_IMAGE), os.environ.get("R2K8S_E2E_HOST_IP", NODE_IP)


def cluster_function_config(warehouses: dict[str, Any] | None = None) -> dict[str, Any]:
    """A function config (``R2k8sFunction``) for the test cluster: the agent image its node already has (there is
    no registry, so it is never pulled) and, if given, the ``warehouses`` settings (mirrors, rewrite)."""
    image, _ = cluster_settings()
    spec: dict[str, Any] = {"agent": {"image": image, "imagePullPolicy": "Never"}}
    if warehouses is not None:
        spec["warehouses"] = warehouses
    return {"apiVersion": "fn.r2k8s.io/v1alpha1", "kind": "R2k8sFunction", "metadata": {"name": "r2k8s"}, "spec": spec}
