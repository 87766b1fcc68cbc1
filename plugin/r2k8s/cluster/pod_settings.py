"""What a user may set on a build pod, as one typed, checked object (:class:`PodSettings`).

``r2k8s run`` builds it from its flags (:meth:`PodSettings.from_flags`) and
:func:`r2k8s.cluster.manifests.job_manifest` applies it; anything else that
creates build Jobs takes the same object. Everything is checked here, so a
bad value is a usage error naming its flag (exit 1) before anything exists on
the cluster, and what reaches the API server is what the Job controller
accepts:

* **resources** (``--requests``/``--limits cpu=1,memory=2Gi``): known names
  (``cpu``, ``memory``, ``ephemeral-storage``, ``hugepages-<size>``) or
  ``domain/name`` extended resources, quantities as Kubernetes writes them,
  no request above its limit; extended resources and huge pages need a limit
  and a request equal to it, as the API server demands;
* **placement** (``--node-selector``, ``--toleration``, ``--priority-class``);
* **identity** (``--service-account``): the token stays unmounted. The
  action runs chrooted into the formula's own filesystem, where a mounted
  token would be invisible anyway; the account still selects image pull
  secrets, workload-identity webhooks and policies;
* **metadata** (``--label``, ``--annotation``), on the Job and its pod. Keys
  r2k8s or the Job controller select by (``r2k8s.io/…``,
  ``app.kubernetes.io/managed-by``, ``app.kubernetes.io/component``,
  ``job-name``, ``controller-uid``, ``batch.kubernetes.io/…``) are refused,
  and so are the annotations Pod Security reads (AppArmor, the old seccomp
  ones): the pod's security settings are r2k8s's, fixed to fit *baseline*;
* **the ware cache** (``--cache-volume``): see :class:`CacheVolume`.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from r2k8s.cluster.kube_values import (
    dns_subdomain_problem,
    label_value_problem,
    parse_quantity,
    qualified_name_problem,
)
from r2k8s.core.agent.contract import CACHE_DIR
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["CacheVolume", "PodSettings", "Toleration"]

STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
RESERVED_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/component", "job-name", "controller-uid")
RESERVED_PREFIXES = ("r2k8s.io/", "batch.kubernetes.io/")
SECURITY_ANNOTATION_PREFIXES = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
)
ANNOTATIONS_LIMIT = 256 * 1024
"""The API server's limit on the total size of an object's annotations (keys and values)."""
CACHE_VOLUME = "cache"
SYSTEM_DIRECTORIES = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/lib/kubelet",
        "/var/log",
        "/var/run",
        "/var/tmp",
    ]
)
"""A node's own directories, which a ``hostPath`` cache must not be: the cache makes its root mode 0700."""


def _usage(flag: str, text: str, why: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, f"{flag} {text!r}: {why}")


@dataclasses.dataclass(frozen=True)
class Toleration:
    """One ``tolerations`` entry; :meth:`parse` reads kubectl's taint syntax."""

    key: str
    operator: str  # "Equal" or "Exists"
    value: str = ""
    effect: str = ""  # "" tolerates every effect

    @classmethod
    def parse(cls, text: str, flag: str = "--toleration") -> Toleration:
        """``key=value:Effect``, ``key=value`` (every effect), ``key:Effect`` or ``key`` (any value; also
        ``key:Exists``)."""
        body, colon, effect = text.rpartition(":") if ":" in text else (text, "", "")
        if colon and effect == "Exists":
            effect = ""
        elif colon and effect not in EFFECTS:
            raise _usage(flag, text, f"the effect {effect!r} is none of {', '.join(EFFECTS)} (or Exists)")
        key, equals, value = body.partition("=")
        if not key:
            raise _usage(flag, text, "the key is empty (KEY[=VALUE][:EFFECT])")
        problem = qualified_name_problem(key)
        if problem is None and equals:
            problem = label_value_problem(value)
        if problem:
            raise _usage(flag, text, problem)
        return cls(key, "Equal" if equals else "Exists", value, effect)

    def manifest(self) -> dict[str, str]:
        entry = {"key": self.key, "operator": self.operator}
        if self.operator == "Equal":
            entry["value"] = self.value
        if self.effect:
            entry["effect"] = self.effect
        return entry


@dataclasses.dataclass(frozen=True)
class CacheVolume:
    """Where build pods keep their ware cache instead of their own ``emptyDir``, shared between runs.

    ``pvc:NAME`` mounts a PersistentVolumeClaim of the Job's namespace: allowed
    under Pod Security *baseline*; ``ReadWriteOnce`` is enough for the pods of
    one node, ``ReadWriteMany`` shares across nodes. ``hostPath:/DIR`` mounts a
    directory of the node (created if missing): Pod Security baseline refuses
    host paths, so it works only in namespaces labelled ``privileged``. Pods
    sharing it follow the ware cache's locks (``flock`` on one filesystem),
    so concurrent runs fetch each ware once.
    """

    kind: str  # "pvc" or "hostPath"
    source: str

    @classmethod
    def parse(cls, text: str, flag: str = "--cache-volume") -> CacheVolume:
        kind, colon, source = text.partition(":")
        if not colon or kind not in ("pvc", "hostPath"):
            raise _usage(flag, text, "say pvc:CLAIM or hostPath:/DIR")
        if kind == "pvc":
            problem = dns_subdomain_problem(source)
            if problem:
                raise _usage(flag, text, f"the claim name {source!r} is not a Kubernetes name: {problem}")
        elif not source.startswith("/") or "\0" in source or ".." in source.split("/"):
            raise _usage(flag, text, "a hostPath must be an absolute path of the node, without '..'")
        elif posixpath.normpath("/" + source.lstrip("/")) in SYSTEM_DIRECTORIES:
            raise _usage(
                flag,
                text,
                "the cache takes its directory over (mode 0700, root's): give it one of its own,"
                " e.g. hostPath:/var/cache/r2k8s",
            )
        return cls(kind, source)

    def volume(self) -> dict[str, Any]:
        if self.kind == "pvc":
            return {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": self.source}}
        return {"name": CACHE_VOLUME, "hostPath": {"path": self.source, "type": "DirectoryOrCreate"}}


def _pairs(flag: str, items: Sequence[str], *, split_commas: bool) -> dict[str, str]:
    """``k=v`` items (each may hold several, comma-separated, where values cannot contain commas)."""
    found: dict[str, str] = {}
    for item in items:
        for pair in item.split(",") if split_commas else [item]:
            key, equals, value = pair.partition("=")
            if not equals or not key:
                raise _usage(flag, pair, "expected KEY=VALUE")
            if key in found and found[key] != value:
                raise _usage(flag, pair, f"{key!r} is given twice, as {found[key]!r} and {value!r}")
            found[key] = value
    return found


def _metadata_key_problem(key: str, *, annotation: bool) -> str | None:
    problem = qualified_name_problem(key)
    if problem:
        return problem
    if key in RESERVED_LABELS or key.startswith(RESERVED_PREFIXES):
        return "r2k8s and the Job controller find the build pod by this key; choose another"
    if annotation and key.startswith(SECURITY_ANNOTATION_PREFIXES):
        return "Pod Security reads this annotation; the build pod's security settings are r2k8s's (baseline)"
    return None


def _resources(flag: str, items: Sequence[str]) -> dict[str, str]:
    found = _pairs(flag, items, split_commas=True)
    for name, value in found.items():
        if name not in STANDARD_RESOURCES and not name.startswith("hugepages-") and "/" not in name:
            raise _usage(
                flag,
                f"{name}={value}",
                f"unknown resource {name!r}: cpu, memory, ephemeral-storage, hugepages-<size> or a domain/name"
                " extended resource",
            )
        if "/" in name and (problem := qualified_name_problem(name)):
            raise _usage(flag, f"{name}={value}", problem)
        quantity = parse_quantity(value)
        if quantity is None:
            raise _usage(flag, f"{name}={value}", f"{value!r} is not a Kubernetes quantity (e.g. 500m, 1.5, 2Gi)")
        if quantity < 0:
            raise _usage(flag, f"{name}={value}", "a resource amount cannot be negative")
        if "/" in name and quantity != quantity.to_integral_value():
            raise _usage(flag, f"{name}={value}", "an extended resource is counted in whole units")
    return found


def _check_requests_fit(requests: Mapping[str, str], limits: Mapping[str, str]) -> None:
    for name, request in requests.items():
        wanted = parse_quantity(request)
        limit = limits.get(name)
        exact = "/" in name or name.startswith("hugepages-")
        if limit is None:
            if exact:
                raise _usage(
                    "--requests", f"{name}={request}", f"{name} needs --limits {name}={request} too (equal to it)"
                )
            continue
        allowed = parse_quantity(limit)
        assert wanted is not None and allowed is not None  # checked by _resources
        if exact and wanted != allowed:
            raise _usage("--requests", f"{name}={request}", f"{name} must request exactly its limit ({limit})")
        if wanted > allowed:
            raise _usage("--requests", f"{name}={request}", f"more than its limit, --limits {name}={limit}")


@dataclasses.dataclass(frozen=True)
class PodSettings:
    """Per-run settings of a build pod; the defaults change nothing in the Job."""

    requests: Mapping[str, str] = dataclasses.field(default_factory=dict)
    limits: Mapping[str, str] = dataclasses.field(default_factory=dict)
    node_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    service_account: str | None = None
    priority_class: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cache_volume: CacheVolume | None = None

    @classmethod
    def from_flags(
        cls,
        *,
        requests: Sequence[str] = (),
        limits: Sequence[str] = (),
        node_selector: Sequence[str] = (),
        tolerations: Sequence[str] = (),
        service_account: str | None = None,
        priority_class: str | None = None,
        labels: Sequence[str] = (),
        annotations: Sequence[str] = (),
        cache_volume: str | None = None,
    ) -> PodSettings:
        """Check every value, raising a usage error that names the flag and the value."""
        wanted, capped = _resources("--requests", requests), _resources("--limits", limits)
        _check_requests_fit(wanted, capped)
        selector = _pairs("--node-selector", node_selector, split_commas=True)
        for key, value in selector.items():
            if problem := qualified_name_problem(key) or label_value_problem(value):
                raise _usage("--node-selector", f"{key}={value}", problem)
        pod_labels = _pairs("--label", labels, split_commas=True)
        for key, value in pod_labels.items():
            if problem := _metadata_key_problem(key, annotation=False) or label_value_problem(value):
                raise _usage("--label", f"{key}={value}", problem)
        notes = _pairs("--annotation", annotations, split_commas=False)
        for key, value in notes.items():
            if problem := _metadata_key_problem(key, annotation=True):
                raise _usage("--annotation", f"{key}={value}", problem)
        if sum(len(k) + len(v) for k, v in notes.items()) > ANNOTATIONS_LIMIT // 2:
            raise R2k8sError(Category.USAGE, f"--annotation: more than {ANNOTATIONS_LIMIT // 2048} KiB of annotations")
        for flag, name in (("--service-account", service_account), ("--priority-class", priority_class)):
            if name is not None and (problem := dns_subdomain_problem(name)):
                raise _usage(flag, name, problem)
        return cls(
            requests=wanted,
            limits=capped,
            node_selector=selector,
            tolerations=tuple(Toleration.parse(text) for text in tolerations),
            service_account=service_account,
            priority_class=priority_class,
            labels=pod_labels,
            annotations=notes,
            cache_volume=CacheVolume.parse(cache_volume) if cache_volume is not None else None,
        )

    def apply(self, job: dict[str, Any], cache_argv: Sequence[str] = ("--cache", CACHE_DIR)) -> None:
        """Write these settings into a build Job from :func:`r2k8s.cluster.manifests.job_manifest`.

        r2k8s's own labels and annotations win (none of the user's may share their keys anyway).
        """
        template = job["spec"]["template"]
        pod = template["spec"]
        container = pod["containers"][0]
        for meta in (job["metadata"], template["metadata"]):
            if self.labels:
                meta["labels"] = {**self.labels, **meta.get("labels", {})}
            if self.annotations:
                meta["annotations"] = {**self.annotations, **meta.get("annotations", {})}
        resources = {
            key: dict(sorted(values.items()))
            for key, values in (("requests", self.requests), ("limits", self.limits))
            if values
        }
        if resources:
            container["resources"] = resources
        if self.node_selector:
            pod["nodeSelector"] = dict(sorted(self.node_selector.items()))
        if self.tolerations:
            pod["tolerations"] = [toleration.manifest() for toleration in self.tolerations]
        if self.service_account:
            pod["serviceAccountName"] = self.service_account
        if self.priority_class:
            pod["priorityClassName"] = self.priority_class
        if self.cache_volume is not None:
            pod["volumes"].append(self.cache_volume.volume())
            container["volumeMounts"].append({"name": CACHE_VOLUME, "mountPath": CACHE_DIR})
            container["command"] = [*container["command"], *cache_argv]
