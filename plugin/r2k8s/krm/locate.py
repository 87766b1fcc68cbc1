"""Find every container of a resource by its shape, not by a list of kinds.

A fixed kind→path table never covers CRDs (kustomize's issues #686, #758,
#3542, #5138 and #5889 are users hitting that wall), so this walks the whole
object the way kustomize's legacy image filter and the old polydawn/r2k8s
did, and recognises two shapes:

* a **pod spec**: a mapping reached through a key ``spec`` (or KServe's
  ``predictor``/``transformer``/``explainer``, which inline a PodSpec, or
  ``template``/``worker``/``workers``, which KServe's LLMInferenceService and
  ServingRuntime give a PodSpec) whose
  ``containers`` is a list of mappings, each with a string ``name`` or none
  (Knative names unnamed containers itself). Its ``containers``,
  ``initContainers`` and ``ephemeralContainers`` are container lists, and the
  pod spec itself can take new init containers and volumes. This covers every
  core workload (Pod, PodTemplate, Deployment, CronJob, …) and the CRDs of the
  reference's kinds table (Rollout, Knative, KEDA, JobSet, LeaderWorkerSet,
  KubeRay, Kubeflow, Volcano, ECK, Flink, ARC, Prometheus, …);
* a **standalone container**: container-shaped fields that are not in a pod
  spec — Argo Workflows' template ``container`` and ``script`` and its
  ``initContainers``/``sidecars``/``containerSet.containers``, Tekton's
  ``steps``/``sidecars`` — i.e. a mapping with a string ``image`` under the key
  ``container`` or ``script``, or in a list under ``containers``,
  ``initContainers``, ``sidecars`` or ``steps``.

Users name further places with field paths in the function config (see
:class:`FieldPath`). ``CustomResourceDefinition`` objects are never walked:
their schemas are full of keys named ``containers``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from r2k8s.core.jsonpath import JsonPath

__all__ = ["ContainerSite", "FieldPath", "find_containers", "images_named"]


POD_SPEC_KEYS = frozenset({"spec", "predictor", "transformer", "explainer", "template", "worker", "workers"})
POD_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
STANDALONE_KEYS = frozenset({"container", "script"})
STANDALONE_LISTS = frozenset({"containers", "initContainers", "sidecars", "steps"})
SKIPPED_KINDS = frozenset({"CustomResourceDefinition"})
DATA_KINDS = frozenset({"ConfigMap", "Secret"})
"""Kinds whose content is data, whatever it looks like: an ``image`` there names no container."""


@dataclasses.dataclass(frozen=True)
class ContainerSite:
    """One container: where it is, and where its pod's init containers and volumes go."""

    path: JsonPath
    """JSON path of the container mapping within the resource."""
    pod_spec: JsonPath | None
    """JSON path of the enclosing pod spec, or ``None`` for a standalone container."""
    keys: tuple[Any, ...] | None = dataclasses.field(default=None, compare=False)
    """The keys as they are in the data, where one on the way is not a string (``0:``, ``true:``, a complex
    key): :attr:`path` writes them as strings, which finds nothing in the data and which no JSON patch can
    name. ``None`` when :attr:`path` is exact."""

    @property
    def exact(self) -> tuple[Any, ...]:
        """The keys and indexes that lead to the container in the data itself."""
        return self.keys if self.keys is not None else self.path

    @property
    def field(self) -> str:
        """``spec.template.spec.containers[0]``-style path, as KRM results and error messages write it."""
        return dotted(self.path)


@dataclasses.dataclass(frozen=True)
class FieldPath:
    """A user-named place holding a container or a list of containers.

    ``path`` uses kustomize's fieldSpec syntax: ``/``-separated keys, ``[]``
    after a key for "every element of this list" (``spec/runners[]/container``).
    ``kind``/``apiVersion``, when given, restrict it to those resources.
    """

    path: str
    kind: str | None = None
    api_version: str | None = None

    def applies_to(self, resource: Mapping[str, Any]) -> bool:
        return (self.kind is None or resource.get("kind") == self.kind) and (
            self.api_version is None or resource.get("apiVersion") == self.api_version
        )

    def resolve(self, resource: Any) -> Iterator[JsonPath]:
        """Every existing JSON path this field path reaches in ``resource``."""
        current: list[tuple[JsonPath, Any]] = [((), resource)]
        for part in (p for p in self.path.strip("/").split("/") if p):
            each = part.endswith("[]")
            key = part[:-2] if each else part
            following: list[tuple[JsonPath, Any]] = []
            for path, node in current:
                if not isinstance(node, Mapping) or key not in node:
                    continue
                child = node[key]
                if each:
                    if isinstance(child, list):
                        following.extend(((*path, key, index), item) for index, item in enumerate(child))
                else:
                    following.append(((*path, key), child))
            current = following
        for path, node in current:
            if isinstance(node, list):
                yield from ((*path, index) for index, item in enumerate(node) if _is_container(item))
            elif _is_container(node):
                yield path


def dotted(path: Sequence[str | int]) -> str:
    """``("spec", "containers", 0, "image")`` → ``spec.containers[0].image``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_container(node: Any) -> bool:
    return isinstance(node, Mapping) and isinstance(node.get("image"), str)


def _is_pod_spec(node: Any) -> bool:
    containers = node.get("containers") if isinstance(node, Mapping) else None
    return (
        isinstance(containers, list)
        and bool(containers)
        and all(isinstance(c, Mapping) and isinstance(c.get("name", ""), str) for c in containers)
    )


def find_containers(resource: Mapping[str, Any], extra: Sequence[FieldPath] = ()) -> list[ContainerSite]:
    """Every container of ``resource`` with a string ``image``, in document order, each once."""
    kind = resource.get("kind")
    if isinstance(kind, str) and kind in SKIPPED_KINDS:
        return []
    sites: dict[JsonPath, ContainerSite] = {}

    def site(path: JsonPath, pod_spec: JsonPath | None, keys: tuple[Any, ...] | None) -> None:
        sites.setdefault(path, ContainerSite(path, pod_spec, keys))

    def walk(node: Any, path: JsonPath, key: str | int | None, keys: tuple[Any, ...] | None) -> None:
        if type(node) is str:
            return  # most nodes (and asking a string whether it is a Mapping goes through the ABC's check)
        if isinstance(node, Mapping):
            if key in POD_SPEC_KEYS and _is_pod_spec(node):
                for field in POD_CONTAINER_LISTS:
                    containers = node.get(field)
                    for index, container in enumerate(containers if isinstance(containers, list) else ()):
                        if _is_container(container):
                            site((*path, field, index), path, keys and (*keys, field, index))
            elif key in STANDALONE_KEYS and _is_container(node):
                site(path, None, keys)
            for child_key, child in node.items():
                name = str(child_key)
                exact = (*(keys or path), child_key) if keys is not None or not isinstance(child_key, str) else None
                walk(child, (*path, name), name, exact)
        elif isinstance(node, list):
            standalone = key in STANDALONE_LISTS
            for index, item in enumerate(node):
                if standalone and _is_container(item):
                    site((*path, index), None, keys and (*keys, index))
                walk(item, (*path, index), index, keys and (*keys, index))

    walk(resource, (), None, None)
    for field_path in extra:
        if field_path.applies_to(resource):
            for path in field_path.resolve(resource):
                sites.setdefault(path, ContainerSite(path, None))
    if len(sites) < 2:  # most resources: no need to number every node of the document to order them
        return list(sites.values())
    return [sites[path] for path in sorted(sites, key=_document_order(resource))]


def _document_order(resource: Mapping[str, Any]) -> Any:
    """Sort key: the order in which the paths' nodes appear in the document."""
    order: dict[JsonPath, int] = {}

    def number(node: Any, path: JsonPath) -> None:
        order[path] = len(order)
        if type(node) is str:
            return
        if isinstance(node, Mapping):
            for key, child in node.items():
                number(child, (*path, str(key)))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                number(item, (*path, index))

    number(resource, ())
    return lambda path: order.get(path, len(order))


def images_named(resource: Mapping[str, Any], wanted: Callable[[str], bool]) -> list[JsonPath]:
    """The path of every named mapping in ``resource`` (a string ``name`` beside a string ``image``, as every
    container has) whose ``image`` is ``wanted``, container or not; never in a ConfigMap's or Secret's data.

    Iterative (the input's depth is limited, but a walk need not rely on it). The function compares these
    with the containers it found: a formula named anywhere else would reach the cluster as an image name
    nothing can pull, so it is an error, not something to pass over."""
    kind = resource.get("kind")
    if isinstance(kind, str) and (kind in SKIPPED_KINDS or kind in DATA_KINDS):
        return []
    found: list[JsonPath] = []
    stack: list[tuple[Any, JsonPath]] = [(resource, ())]
    while stack:
        node, path = stack.pop()
        if type(node) is str:
            continue  # most nodes (and asking a string whether it is a Mapping goes through the ABC's check)
        if isinstance(node, Mapping):
            image = node.get("image")
            if isinstance(image, str) and isinstance(node.get("name"), str) and wanted(image):
                found.append(path)
            stack.extend((child, (*path, str(key))) for key, child in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((child, (*path, index)) for index, child in reversed(list(enumerate(node))))
    return found
