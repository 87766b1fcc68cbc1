"""What the service path's tests on the real test cluster share: the agent image and the host address."""

from __future__ import annotations

import os

from repo import FIXTURES

BUSYBASH_TGZ = FIXTURES / "repeatr" / "fixtures" / "busybash.tgz"
"""busybash as a gzipped tar: the ware behind ``krm_inputs.BUSYBASH``."""


def cluster_settings() -> tuple[str, str]:
    """The agent image the cluster's node has (no registry), and the host address its pods reach."""
    from testcluster.settings import NODE_IP, PYTHON_IMAGE

    return os.environ.get("R2K8S_E2E_IMAGE", PYTHON_IMAGE), os.environ.get("R2K8S_E2E_HOST_IP", NODE_IP)
