"""What the API that owns a pod spec accepts: the shape of the rewrite, per kind where the kind decides it.

The function finds pod specs by shape (:mod:`.locate`), but what may be *added* to one is up to the API that
owns it, and a spec that API refuses is worse than none. Most owners take a full Kubernetes ``PodSpec`` and
a ``PodTemplateSpec``'s annotations: the default, decided by shape. Some do not, and are known by name:

* **Knative Serving** (``serving.knative.dev`` Service, Configuration, Revision): its webhook refuses
  ``initContainers`` unless the ``kubernetes.podspec-init-containers`` feature flag is Enabled and
  ``capabilities.add`` unless ``kubernetes.containerspec-addcapabilities`` is (both are Disabled by default,
  ``knative.dev/serving`` ``pkg/apis/config/features.go``; the checks are in ``pkg/apis/serving/
  k8s_validation.go`` and ``fieldmask.go``). So by default the container fetches its own wares (the agent's
  ``run``, as for Argo and Tekton containers) and names no capability: containerd's and Docker's default
  set already holds every one the agent uses (CRI-O's lacks ``MKNOD`` and ``SETFCAP``: wares with device
  nodes or file capabilities then fail to place). A ``persistentVolumeClaim`` cache needs two more flags
  (the function refuses without them, naming them); a ``hostPath`` one never works (Knative mounts those
  read-only). ``spec.knative.features`` in the
  function config says which flags the cluster has on.
* **KServe** ``InferenceService``: a component (``spec.predictor``, ``transformer``, ``explainer``) inlines
  the PodSpec, and the pod's annotations are the component's ``annotations`` field (there is no
  ``spec.metadata``). Unless ``serving.kserve.io/deploymentMode`` is ``RawDeployment`` or ``Standard``,
  KServe renders it into a Knative Service, so Knative's rules apply.
* **KServe** ``ServingRuntime``/``ClusterServingRuntime``: ``ServingRuntimePodSpec`` has no
  ``initContainers`` at all, and its pod annotations are ``spec.annotations``; its containers join an
  InferenceService's pod, which may be Knative's: Knative's capability rule applies.
* Pod specs reached through another key than ``spec`` (KServe's ``LLMInferenceService`` ``spec.template``
  and ``spec.worker``): no pod template metadata exists there, so the formula annotation goes on the
  resource's own ``metadata.annotations``; the pod spec itself still changes with every formula (the spec
  in its env carries the formula ID), so the workload rolls all the same.

Cluster-scoped kinds (:data:`CLUSTER_SCOPED_KINDS`) are known by name too: their pods run in namespaces the
manifest does not name, which must each hold the agent ConfigMap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from r2k8s.core.jsonpath import JsonPath
from r2k8s.krm.config import FunctionConfig

__all__ = ["CLUSTER_SCOPED_KINDS", "KNATIVE_DEFAULTS", "PodRules", "cluster_scoped", "pod_rules"]

KNATIVE_SERVING = "serving.knative.dev"
KSERVE = "serving.kserve.io"
INIT_CONTAINERS_FLAG = "kubernetes.podspec-init-containers"
ADD_CAPABILITIES_FLAG = "kubernetes.containerspec-addcapabilities"
PVC_FLAGS = ("kubernetes.podspec-persistent-volume-claim", "kubernetes.podspec-persistent-volume-write")
KNATIVE_DEFAULTS = {
    INIT_CONTAINERS_FLAG: "disabled",
    ADD_CAPABILITIES_FLAG: "disabled",
    PVC_FLAGS[0]: "disabled",
    PVC_FLAGS[1]: "disabled",
}
"""The defaults of the flags the rewrite depends on (Knative Serving's ``config-features``)."""
RAW_DEPLOYMENT_MODES = frozenset({"RawDeployment", "Standard"})
CLUSTER_SCOPED_KINDS = frozenset(
    {
        ("argoproj.io", "ClusterWorkflowTemplate"),
        (KSERVE, "ClusterServingRuntime"),
        (KSERVE, "ClusterStorageContainer"),
        ("tekton.dev", "ClusterTask"),
    }
)
"""Cluster-scoped kinds that hold containers (the manifest cannot say its scope; the CRD does)."""


@dataclasses.dataclass(frozen=True)
class PodRules:
    """How to change one pod spec so that its owner accepts it."""

    owner: str = ""
    """Who decides, for messages (``""``: Kubernetes' own PodSpec rules)."""
    init_containers: bool = True
    """Whether a fetch init container may be added; if not, the container fetches its own wares (``run``)."""
    add_capabilities: bool = True
    """Whether ``capabilities.add`` may name what the agent needs."""
    escalation_field: bool = True
    """Whether a container's ``securityContext`` may say ``allowPrivilegeEscalation`` (Knative's field mask
    dropped it before 1.8 and its webhook refuses what the mask drops)."""
    annotations: JsonPath = ()
    """The mapping that holds the pod's annotations (created if absent)."""
    refusals: tuple[str, ...] = ()
    """Why this owner would refuse the pod whatever shape it has (a cache volume it does not admit)."""


def _group(item: Mapping[str, Any]) -> str:
    api_version = item.get("apiVersion")
    return api_version.split("/")[0] if isinstance(api_version, str) and "/" in api_version else ""


def _kind(item: Mapping[str, Any]) -> str:
    """The item's ``kind`` when it is a string (a malformed one matches no rule), else ``""``."""
    kind = item.get("kind")
    return kind if isinstance(kind, str) else ""


def cluster_scoped(item: Mapping[str, Any]) -> bool:
    """Whether ``item`` is of a known cluster-scoped kind that holds containers."""
    return (_group(item), _kind(item)) in CLUSTER_SCOPED_KINDS


def _knative_flag(config: FunctionConfig, flag: str) -> str:
    return config.knative_features.get(flag, KNATIVE_DEFAULTS[flag])


def _knative(config: FunctionConfig, annotations: JsonPath, owner: str, *, init_field: bool = True) -> PodRules:
    """Knative Serving's rules, with the flags the function config says the cluster has."""
    needed = []
    if config.cache.type == "hostPath":
        return PodRules(
            owner=owner,
            refusals=(
                "it admits a hostPath volume only with its feature flag and only mounted read-only, and the ware"
                " cache must be written: use an emptyDir or persistentVolumeClaim cache",
            ),
        )
    if config.cache.type == "persistentVolumeClaim" and any(
        _knative_flag(config, flag) != "enabled" for flag in PVC_FLAGS
    ):
        needed.append(
            f"a persistentVolumeClaim cache volume needs Knative's {' and '.join(PVC_FLAGS)} feature flags Enabled"
        )
    refusals = (
        (f"{'; '.join(needed)} (set them in the cluster's config-features and in spec.knative.features)",)
        if needed
        else ()
    )
    return PodRules(
        owner=owner,
        init_containers=init_field and _knative_flag(config, INIT_CONTAINERS_FLAG) == "enabled",
        add_capabilities=_knative_flag(config, ADD_CAPABILITIES_FLAG) != "disabled",
        escalation_field=False,
        annotations=annotations,
        refusals=refusals,
    )


def _template_annotations(pod_spec: JsonPath) -> JsonPath:
    """By shape: a ``spec`` beside ``metadata`` (a PodTemplateSpec, or the Pod itself) has its annotations
    there; a pod spec under any other key has no pod metadata, so the resource's own is used."""
    if pod_spec and pod_spec[-1] == "spec":
        return (*pod_spec[:-1], "metadata", "annotations")
    return ("metadata", "annotations")


def pod_rules(item: Mapping[str, Any], pod_spec: JsonPath, config: FunctionConfig) -> PodRules:
    """The rules for the pod spec at ``pod_spec`` in ``item``."""
    group, kind = _group(item), _kind(item)
    if group == KNATIVE_SERVING:
        return _knative(config, _template_annotations(pod_spec), f"Knative Serving ({kind})")
    if group == KSERVE and kind == "InferenceService" and len(pod_spec) == 2 and pod_spec[0] == "spec":
        annotations = (*pod_spec, "annotations")
        metadata = item.get("metadata")
        item_annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        mode = (
            item_annotations.get("serving.kserve.io/deploymentMode") if isinstance(item_annotations, Mapping) else None
        )
        if mode in RAW_DEPLOYMENT_MODES:
            return PodRules(owner=f"KServe ({kind}, {mode})", annotations=annotations)
        return _knative(config, annotations, f"KServe ({kind}, serverless: Knative Serving)")
    if group == KSERVE and kind in ("ServingRuntime", "ClusterServingRuntime"):
        return _knative(config, (*pod_spec, "annotations"), f"KServe ({kind})", init_field=False)
    return PodRules(annotations=_template_annotations(pod_spec))
