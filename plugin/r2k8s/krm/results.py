"""What the function reports: typed results, in the shape of kustomize's kyaml ``fn/framework``.

A :class:`Result` is one finding (``message``, ``severity``, ``resourceRef``,
``field``, ``file``), a frozen value; :class:`Results` is the ordered
collection the function returns. Two encodings:

* :meth:`Results.encode`: the ResourceList ``results`` entries of the KRM
  function spec, which kpt shows and stores and kustomize prints;
* :meth:`Results.stderr_lines`: one ``severity: file: Kind/namespace/name:
  field: message`` line per result, for people and for helm (a plain stream
  has nowhere else to say it).

As with kyaml's ``Results.ExitCode``, the exit code is 1 when any result is
an error and 0 otherwise: warnings and infos never fail a build.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from r2k8s.krm.resource_list import file_index, resource_ref

__all__ = ["ResourceRef", "Result", "Results", "Severity"]


class Severity(enum.StrEnum):
    """How bad a result is; only errors fail the function."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """The resource a result is about (kyaml's ``ResourceIdentifier``)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> ResourceRef:
        """The reference to ``item`` (empty strings where the item does not say)."""
        ref = resource_ref(item)
        return cls(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))

    def encode(self) -> dict[str, str]:
        encoded = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            encoded["namespace"] = self.namespace
        return encoded

    def display(self) -> str:
        """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped or unset), as kubectl writes it."""
        return "/".join(part for part in (self.kind or "?", self.namespace or "", self.name or "?") if part)


@dataclasses.dataclass(frozen=True)
class Result:
    """One finding of the function.

    ``field`` is a dotted field path within the resource
    (``spec.template.spec.containers[0].image``); ``file`` and ``file_index``
    name the file the resource came from and its position among the file's
    documents, where the orchestrator says.
    """

    message: str
    severity: Severity = Severity.ERROR
    resource_ref: ResourceRef | None = None
    field: str | None = None
    file: str | None = None
    file_index: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))  # "warning" as well as Severity.WARNING

    @classmethod
    def about(
        cls,
        item: Mapping[str, Any],
        message: str,
        *,
        field: str | None = None,
        file: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Result:
        """A result about ``item``: its reference, and its index in ``file`` from the orchestrator's annotations."""
        return cls(message, severity, ResourceRef.of(item), field, file, file_index(item) if file else 0)

    def encode(self) -> dict[str, Any]:
        """The ResourceList ``results`` entry (plain data; absent parts are left out)."""
        entry: dict[str, Any] = {"message": self.message, "severity": self.severity.value}
        if self.resource_ref is not None:
            entry["resourceRef"] = self.resource_ref.encode()
        if self.field:
            entry["field"] = {"path": self.field}
        if self.file:
            entry["file"] = {"path": self.file, "index": self.file_index}
        return entry

    def text(self) -> str:
        """``file: Kind/namespace/name: field: message``, each part only where known."""
        where = (self.file, self.resource_ref.display() if self.resource_ref is not None else None, self.field)
        return ": ".join([*(part for part in where if part), self.message])


class Results(tuple[Result, ...]):
    """The function's results, in the order they were found: an immutable sequence (kyaml's ``Results``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Results({tuple(self)!r})"

    @property
    def errors(self) -> tuple[Result, ...]:
        return tuple(result for result in self if result.severity is Severity.ERROR)

    @property
    def exit_code(self) -> int:
        """1 when any result is an error, else 0 (kyaml's ``Results.ExitCode``)."""
        return 1 if self.errors else 0

    def encode(self) -> list[dict[str, Any]]:
        """The ResourceList ``results`` list."""
        return [result.encode() for result in self]

    def messages(self) -> list[str]:
        """Each result's text, without its severity."""
        return [result.text() for result in self]

    def stderr_lines(self) -> list[str]:
        """What the command prints on stderr: ``severity: text`` per result."""
        return [f"{result.severity.value}: {result.text()}" for result in self]
