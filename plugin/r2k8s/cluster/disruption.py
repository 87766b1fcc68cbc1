"""Build pods the cluster took away (drains, preemption): telling them from failures, and waiting for the next.

Kubernetes marks a pod it is about to remove for its own reasons with the
condition ``DisruptionTarget`` (reasons ``EvictionByEvictionAPI`` -- what
``kubectl drain`` does --, ``PreemptionByScheduler``,
``DeletionByTaintManager``, ``DeletionByPodGC``, ``TerminationByKubelet``);
a plain ``DELETE`` of the pod sets none, so deleting a build pod by hand
still fails the run. The build Job's ``podFailurePolicy`` ignores such pods
and the Job controller makes another one, which :mod:`r2k8s.cluster.run`
then talks to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from r2k8s.cluster.kube import Kube, Permission

__all__ = ["REPLACEMENT_WAIT", "disruption_of", "replacement_wait"]

REPLACEMENT_WAIT = 60.0
"""How long a pod that vanished may take to show either a replacement or the Job's failure."""


def disruption_of(pod: dict[str, Any]) -> str | None:
    """``"reason: message"`` of the pod's ``DisruptionTarget`` condition, or None if it has none."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, dict) or condition.get("type") != "DisruptionTarget":
            continue
        if condition.get("status") == "True":
            reason, message = condition.get("reason") or "DisruptionTarget", condition.get("message") or ""
            return f"{reason}: {message}" if message else str(reason)
    return None


def replacement_wait(
    kube: Kube, pod: str, selector: str, replaced: set[str], check: Callable[[], None], wait: float = REPLACEMENT_WAIT
) -> str | None:
    """Why the conversation with ``pod`` ended, if the cluster took the pod away (the Job replaces it); else None.

    The pod is read at once: with the condition, it was disrupted; without it, the run failed. A pod already
    gone (its removal can outrun this read) counts as disrupted only if another pod of the run appears within
    ``wait`` seconds, which the Job makes only for an ignored failure.
    """
    from kubernetes.client.exceptions import ApiException

    try:
        doc = kube.call_json(
            f"read pod {pod}", Permission("get", "pods"), kube.core.read_namespaced_pod, pod, kube.namespace
        )
    except ApiException as exc:
        if exc.status != 404:
            return None
    else:
        return disruption_of(doc)
    until = time.monotonic() + wait
    while time.monotonic() < until:
        check()
        pods = kube.call_json(
            "list the build pod",
            Permission("list", "pods"),
            kube.core.list_namespaced_pod,
            kube.namespace,
            label_selector=selector,
        )
        names = {str((item.get("metadata") or {}).get("name")) for item in pods.get("items") or []}
        if names - replaced - {pod}:
            return f"pod {pod} is gone and the Job made another"
        kube.sleep(1.0)
    return None
