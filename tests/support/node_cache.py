"""The node cache as README's service-path section shows it: a ``local`` PersistentVolume on the node and the
claim ``r2k8s-wares`` bound to it (used by the node-cache e2e tests and ``bench/pod_start.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CLAIM", "node_cache_manifests"]

CLAIM = "r2k8s-wares"


def node_cache_manifests(
    namespace: str, directory: Path, node: str, size: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PersistentVolume ``<namespace>-wares`` on ``node``'s ``directory`` and the claim in ``namespace``."""
    volume = f"{namespace}-wares"
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "r2k8s-node-cache",
            "local": {"path": str(directory)},
            "claimRef": {"namespace": namespace, "name": CLAIM},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
                    ]
                }
            },
        },
    }
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": CLAIM, "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "r2k8s-node-cache",
            "volumeName": volume,
            "resources": {"requests": {"storage": size}},
        },
    }
    return pv, pvc
