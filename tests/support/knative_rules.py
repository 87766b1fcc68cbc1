"""Knative Serving's admission rules for a revision's pod spec, as far as the r2k8s rewrite can touch them.

Written from knative/serving's ``pkg/apis/serving/k8s_validation.go``, ``fieldmask.go`` and
``pkg/apis/config/features.go`` (no Knative control plane runs on the test cluster): what its webhook
refuses in ``spec.template.spec`` of a Service, with the feature flags at their defaults unless given.
A test's checker, not the product's rules: it must stay stricter than or equal to Knative's.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

DEFAULT_FEATURES = {
    "kubernetes.podspec-init-containers": "disabled",
    "kubernetes.containerspec-addcapabilities": "disabled",
    "kubernetes.podspec-volumes-emptydir": "enabled",
    "kubernetes.podspec-volumes-hostpath": "disabled",
    "kubernetes.podspec-persistent-volume-claim": "disabled",
    "kubernetes.podspec-persistent-volume-write": "disabled",
}
RESERVED_PATHS = {"/", "/dev", "/dev/log"}
RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}
SECURITY_FIELDS = {"capabilities", "readOnlyRootFilesystem", "runAsUser", "runAsGroup", "runAsNonRoot"}
"""Knative's ``SecurityContextMask`` before 1.8, the strictest: ``allowPrivilegeEscalation`` is refused."""


def knative_refusals(pod_spec: Mapping[str, Any], features: Mapping[str, str] | None = None) -> list[str]:
    """What Knative's webhook would say about ``pod_spec`` (empty: it admits it)."""
    flags = {**DEFAULT_FEATURES, **{k: v.lower() for k, v in (features or {}).items()}}
    found: list[str] = []
    inits = list(pod_spec.get("initContainers") or ())
    containers = list(pod_spec.get("containers") or ())
    if inits and flags["kubernetes.podspec-init-containers"] != "enabled":
        found.append(f"pod spec support for init-containers is off, but found {len(inits)} init containers")
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or ()}
    mounted = {m["name"] for c in [*inits, *containers] for m in c.get("volumeMounts") or ()}
    for name, volume in volumes.items():
        if name not in mounted:
            found.append(f"volume with name {name!r} not mounted")
        if "hostPath" in volume and flags["kubernetes.podspec-volumes-hostpath"] != "enabled":
            found.append(f"hostPath volume {name!r} needs kubernetes.podspec-volumes-hostpath")
        if "emptyDir" in volume and flags["kubernetes.podspec-volumes-emptydir"] != "enabled":
            found.append(f"EmptyDir volume support is disabled, but found EmptyDir volume {name}")
        if "persistentVolumeClaim" in volume and flags["kubernetes.podspec-persistent-volume-claim"] != "enabled":
            found.append(f"Persistent volume claim support is disabled, but found {name}")
    for index, container in enumerate([*containers, *inits]):
        where = f"container {container.get('name', index)!r}"
        if container.get("name") == "queue-proxy":
            found.append(f"{where}: 'queue-proxy' is a reserved container name")
        if index < len(containers):
            for env in container.get("env") or ():
                if env.get("name") in RESERVED_ENV:
                    found.append(f"{where}: {env['name']!r} is a reserved environment variable")
        security = container.get("securityContext") or {}
        for key in sorted(set(security) - SECURITY_FIELDS):
            found.append(f"{where}: must not set the field(s): securityContext.{key}")
        add = (security.get("capabilities") or {}).get("add")
        if add and flags["kubernetes.containerspec-addcapabilities"] == "disabled":
            found.append(f"{where}: must not set the field(s): securityContext.capabilities.add")
        seen: set[str] = set()
        for mount in container.get("volumeMounts") or ():
            path = posixpath.normpath(mount.get("mountPath", ""))
            volume = volumes.get(mount["name"])
            if volume is None:
                found.append(f"{where}: volumeMount {mount['name']!r} has no matching volume")
            if path in RESERVED_PATHS:
                found.append(f"{where}: mountPath {path!r} is a reserved path")
            if path in seen:
                found.append(f"{where}: mountPath {path!r} must be unique")
            seen.add(path)
            writable_kind = volume is not None and ("emptyDir" in volume or "persistentVolumeClaim" in volume)
            if volume is not None and not writable_kind and not mount.get("readOnly"):
                found.append(f"{where}: volume mount {mount['name']!r} should be readOnly for this type of volume")
    return found
