"""The objects ``r2k8s run`` creates: the agent's ConfigMap and the build Job.

The Job follows the reference recommendation for one-shot build pods:
``backoffLimit: 0`` and ``restartPolicy: Never`` (a failed run is reported,
never retried behind the user's back), ``activeDeadlineSeconds`` from
``--timeout`` (a hard cap even if every client-side safeguard fails),
``ttlSecondsAfterFinished`` (the controller removes a finished Job and its
pod when the client could not: it was killed), and a container with
``stdin``/``stdinOnce`` for the heartbeat dead-man switch.

The pod fits Pod Security **baseline**: root (the chroot executor needs
``CAP_SYS_CHROOT``, setting the formula's uid/gid needs ``CAP_SETUID`` and
``CAP_SETGID``, unpacking wares as they are needs ``CAP_CHOWN``, ``CAP_FOWNER``,
``CAP_FSETID``, ``CAP_MKNOD``), those capabilities named explicitly (CRI-O's
defaults lack ``SYS_CHROOT`` and ``MKNOD``; all are in baseline's allowed
list), ``RuntimeDefault`` seccomp, no privilege, no host namespaces, no
service-account token. Its volumes: an ``emptyDir`` for the ware cache and
job tree, and the agent zipapp from its ConfigMap.
"""

from __future__ import annotations

import base64
from typing import Any

from r2k8s import __version__
from r2k8s.bundle import AGENT_KEY

__all__ = ["AGENT_DIR", "CAPABILITIES", "DEFAULT_IMAGE", "RUN_ID_LABEL", "WORK_DIR", "configmap_manifest",
           "job_manifest"]

DEFAULT_IMAGE = "docker.io/library/python:3.11-slim"
"""Any image with ``python3`` >= 3.11 on its PATH will do (``--image``)."""
RUN_ID_LABEL = "r2k8s.io/run-id"
MANAGED_BY = {"app.kubernetes.io/managed-by": "r2k8s"}
AGENT_DIR = "/r2k8s/agent"
WORK_DIR = "/r2k8s/work"
CONTAINER = "main"
CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "SETFCAP", "SETGID", "SETUID",
                "SYS_CHROOT")


def configmap_manifest(name: str, zipapp: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {**MANAGED_BY, "app.kubernetes.io/component": "agent",
                                              "app.kubernetes.io/version": __version__}},
        "immutable": True,
        "binaryData": {AGENT_KEY: base64.b64encode(zipapp).decode("ascii")},
    }


def job_manifest(*, run_id: str, formula_id: str, spec_json: str, configmap: str, image: str, timeout: int,
                 ttl: int, work_size_limit: str | None = None) -> dict[str, Any]:
    labels = {**MANAGED_BY, "app.kubernetes.io/component": "build", RUN_ID_LABEL: run_id}
    work_volume: dict[str, Any] = {"name": "work", "emptyDir": {}}
    if work_size_limit:
        work_volume["emptyDir"]["sizeLimit"] = work_size_limit
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", f"{AGENT_DIR}/{AGENT_KEY}", "--work", WORK_DIR,
                    "--termination-log", "/dev/termination-log"],
        "env": [
            {"name": "R2K8S_RUN", "value": spec_json},
            {"name": "R2K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "stdin": True,
        "stdinOnce": True,
        "tty": False,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "capabilities": {"add": list(CAPABILITIES)},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "agent", "mountPath": AGENT_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "r2k8s-run-",
            "labels": labels,
            "annotations": {"r2k8s.io/formula-id": formula_id},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout,
            "ttlSecondsAfterFinished": ttl,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 15,
                    "containers": [container],
                    "volumes": [
                        {"name": "agent", "configMap": {"name": configmap, "items": [{"key": AGENT_KEY, "path": AGENT_KEY}]}},
                        work_volume,
                    ],
                },
            },
        },
    }
