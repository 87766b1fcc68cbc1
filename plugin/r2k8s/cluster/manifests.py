"""The build Job ``r2k8s run`` creates (the agent's ConfigMap comes from :mod:`r2k8s.agent_bundle`).

The Job follows the reference recommendation for one-shot build pods:
``backoffLimit: 0`` and ``restartPolicy: Never`` (a failed run is reported,
never retried behind the user's back), except that a pod the cluster took
away -- a drain's eviction, preemption, a node-pressure eviction, a tainted
node -- is replaced: its ``podFailurePolicy`` ignores pods with the
``DisruptionTarget`` condition, and ignored failures do not count against
``backoffLimit`` (the client then talks to the new pod:
:mod:`r2k8s.cluster.run`); ``activeDeadlineSeconds`` from
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
job tree, and the agent zipapp from its ConfigMap. Per-run settings
(resources, placement, metadata, a shared cache volume) come from
:class:`r2k8s.cluster.pod_settings.PodSettings`.
"""

from __future__ import annotations

import copy
from typing import Any

from r2k8s.agent_bundle import MANAGED_BY
from r2k8s.cluster.pod_settings import PodSettings
from r2k8s.core.agent.contract import (
    AGENT_DIR,
    AGENT_ZIPAPP,
    BUILD_CAPABILITIES,
    BUILD_SPEC_ENV,
    NODE_NAME_ENV,
    TERMINATION_LOG,
    WORK_DIR,
    agent_argv,
)

__all__ = ["CONTAINER", "DISRUPTIONS_IGNORED", "RUN_ID_LABEL", "job_manifest"]

RUN_ID_LABEL = "r2k8s.io/run-id"
CONTAINER = "main"
DISRUPTIONS_IGNORED = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
"""The Job's ``podFailurePolicy``: a pod the cluster disrupted is replaced, not counted as a failed build."""


def job_manifest(
    *,
    run_id: str,
    formula_id: str,
    spec_json: str,
    configmap: str,
    image: str,
    timeout: int,
    ttl: int,
    work_size_limit: str | None = None,
    settings: PodSettings | None = None,
) -> dict[str, Any]:
    labels = {**MANAGED_BY, "app.kubernetes.io/component": "build", RUN_ID_LABEL: run_id}
    work_volume: dict[str, Any] = {"name": "work", "emptyDir": {}}
    if work_size_limit:
        work_volume["emptyDir"]["sizeLimit"] = work_size_limit
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": agent_argv("--work", WORK_DIR, "--termination-log", TERMINATION_LOG),
        "env": [
            {"name": BUILD_SPEC_ENV, "value": spec_json},
            {"name": NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "stdin": True,
        "stdinOnce": True,
        "tty": False,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "capabilities": {"add": sorted(BUILD_CAPABILITIES)},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "agent", "mountPath": AGENT_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    }
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "r2k8s-run-",
            "labels": labels,
            "annotations": {"r2k8s.io/formula-id": formula_id},
        },
        "spec": {
            "backoffLimit": 0,
            "podFailurePolicy": copy.deepcopy(DISRUPTIONS_IGNORED),
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
                        {
                            "name": "agent",
                            "configMap": {"name": configmap, "items": [{"key": AGENT_ZIPAPP, "path": AGENT_ZIPAPP}]},
                        },
                        work_volume,
                    ],
                },
            },
        },
    }
    if settings is not None:
        settings.apply(job)
    return job
