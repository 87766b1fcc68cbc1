"""What an expanded container runs, as typed entries: the resource, the container, its formula and its wares.

The reader (:mod:`.reader`) makes these from manifests; ``r2k8s inspect``
prints them, the lock (:mod:`.lock`) records them and ``r2k8s mirror``
copies their wares. Each entry is plain data with a stable JSON form
(:meth:`ExpandedContainer.document`), which is what ``inspect -o json`` prints.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ExpandedContainer", "Origin", "ResourceId", "WareInput"]


@dataclasses.dataclass(frozen=True, order=True)
class ResourceId:
    """A resource as kubectl names it; the key of a lock entry (with the container's name)."""

    kind: str
    namespace: str
    """``""`` when the manifest names none (the namespace ``kubectl apply`` is given decides)."""
    name: str

    def text(self) -> str:
        """``Kind/namespace/name`` (``Kind/name`` without a namespace), as kubectl and r2k8s's messages write it."""
        return "/".join(part for part in (self.kind, self.namespace, self.name) if part)

    def document(self) -> dict[str, str]:
        doc = {"kind": self.kind, "name": self.name}
        if self.namespace:
            doc["namespace"] = self.namespace
        return doc


@dataclasses.dataclass(frozen=True)
class WareInput:
    """One input of a formula: where it is mounted, its ware and the warehouses the pod tries, in order."""

    path: str
    ware: str
    urls: tuple[str, ...]
    legacy: bool = False
    """Named by repeatr v0.15's legacy tree hash (a legacy formula), which verification must use."""

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"path": self.path, "ware": self.ware, "warehouses": list(self.urls)}
        if self.legacy:
            doc["legacy"] = True
        return doc


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a container's formula came from, as ``r2k8s resolve`` records it (``r2k8s.io/formula-origins``)."""

    source: str
    """``path``, ``formula`` or ``url``: which of the three the formula was named by."""
    value: str
    """The formula file relative to the root, the ``formula:NAME`` name, or the URL."""
    git_commit: str | None = None
    git_dirty: bool | None = None
    defined_in: str | None = None
    """For ``formula``: the file (relative to the root) or URL holding the Formula resource or config, if known."""
    defined_by: str = "source"
    """Which key names :attr:`defined_in`: ``source`` (a file) or ``url``."""

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {self.source: self.value}
        if self.defined_in is not None:
            doc[self.defined_by] = self.defined_in
        if self.git_commit is not None:
            doc["git"] = {"commit": self.git_commit, "dirty": bool(self.git_dirty)}
        return doc

    def text(self) -> str:
        """``web.formula``, ``formula:web`` or the URL, with ``@commit`` (``+dirty``) when git says one."""
        shown = f"formula:{self.value}" if self.source == "formula" else self.value
        if self.defined_in is not None:
            shown += f" from {self.defined_in}"
        if self.git_commit is not None:
            shown += f"@{self.git_commit[:12]}{'+dirty' if self.git_dirty else ''}"
        return shown


@dataclasses.dataclass(frozen=True)
class ExpandedContainer:
    """One container the function expanded: what it runs and where its wares come from."""

    resource: ResourceId
    container: str
    """Its ``name`` (``container-N`` for an unnamed one, as the function names it in the annotation)."""
    file: str
    """The input it was read from (``stdin``), with the resource's own file after it when an orchestrator
    named one (kpt's path, kustomize's origin, helm's ``# Source:``)."""
    field: str
    """The container's dotted path in the resource (``spec.template.spec.containers[0]``)."""
    formula_id: str
    inputs: tuple[WareInput, ...]
    """Sorted by mount path."""
    origin: Origin | None = None
    legacy: bool = False
    """A legacy (repeatr v0.13-v0.15) formula: its ID is the legacy setup hash, which the spec cannot re-derive."""

    @property
    def key(self) -> tuple[ResourceId, str]:
        return self.resource, self.container

    def where(self) -> str:
        """``file: Kind/namespace/name: container "web"``, the start of every message about it."""
        return f"{self.file}: {self.resource.text()}: container {self.container!r}"

    def document(self) -> dict[str, Any]:
        """The stable JSON form (``r2k8s inspect -o json``; README, "inspect")."""
        doc: dict[str, Any] = {
            "resource": self.resource.document(),
            "container": self.container,
            "file": self.file,
            "field": self.field,
            "formulaID": self.formula_id,
        }
        if self.legacy:
            doc["legacy"] = True
        doc["origin"] = None if self.origin is None else self.origin.document()
        doc["inputs"] = [ware.document() for ware in self.inputs]
        return doc
