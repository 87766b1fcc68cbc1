"""The import graph of the r2k8s package, read with ``ast`` (nothing is imported), and the layer rules it must obey.

Every ``import`` and ``from … import`` counts, at module level or inside a
function (a lazy import is still a dependency; it only runs later). A
``from PACKAGE import NAME`` where ``NAME`` is a submodule counts as an import
of the submodule. The rules are those written in :mod:`r2k8s.core`'s
docstring and the README's layout section, in the spirit of import-linter's
layer contracts (as kopf uses them).
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["CORE_LAYERS", "Import", "Violation", "core_layer", "imports_of", "package_modules", "violations"]

CORE_LAYERS = {
    "leaf": frozenset({"leaf"}),
    "ware": frozenset({"leaf", "ware"}),
    "formula": frozenset({"leaf", "ware", "formula"}),
    "warehouse": frozenset({"leaf", "ware", "warehouse"}),
    "run": frozenset({"leaf", "ware", "formula", "warehouse", "run"}),
    "agent": frozenset({"leaf", "ware", "formula", "warehouse", "run", "agent"}),
}
"""A core layer -> the core layers its modules may import."""

THIRD_PARTY_OWNERS = {"kubernetes": "r2k8s.cluster", "urllib3": "r2k8s.cluster"}
"""A third-party package -> the only part of r2k8s that may import it."""


@dataclasses.dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


@dataclasses.dataclass(frozen=True)
class Violation:
    edge: Import
    rule: str

    def __str__(self) -> str:
        return f"{self.edge.importer} (line {self.edge.line}) imports {self.edge.imported}: {self.rule}"


def package_modules(root: Path, package: str = "r2k8s") -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``root/package`` (packages as their ``__init__``)."""
    modules: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, source: str, modules: Iterable[str]) -> Iterator[Import]:
    """Every module ``name`` imports (relative imports resolved; submodules named by ``from`` resolved)."""
    known = set(modules)
    package = name if _is_package_source(name, known) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "__future__":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield Import(name, candidate if candidate in known else base, node.lineno)


def _is_package_source(name: str, known: set[str]) -> bool:
    prefix = name + "."
    return any(other.startswith(prefix) for other in known)


def core_layer(module: str) -> str | None:
    """The core layer of ``module``, or None outside :mod:`r2k8s.core`."""
    parts = module.split(".")
    if parts[:2] != ["r2k8s", "core"]:
        return None
    if len(parts) >= 3 and parts[2] in CORE_LAYERS:
        return parts[2]
    return "leaf"


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(edges: Iterable[Import]) -> list[Violation]:
    """Every edge that breaks a rule; empty when the package is layered as documented."""
    found: list[Violation] = []
    for edge in edges:
        top = edge.imported.partition(".")[0]
        importer_layer = core_layer(edge.importer)
        if importer_layer is not None:
            if top != "r2k8s" and top not in sys.stdlib_module_names:
                found.append(Violation(edge, "the core imports only the standard library"))
                continue
            if top == "r2k8s" and edge.imported != "r2k8s":
                imported_layer = core_layer(edge.imported)
                if imported_layer is None:
                    found.append(Violation(edge, "the core imports nothing of r2k8s outside r2k8s.core"))
                elif imported_layer not in CORE_LAYERS[importer_layer]:
                    allowed = ", ".join(sorted(CORE_LAYERS[importer_layer]))
                    found.append(Violation(edge, f"core layer {importer_layer!r} may import only {allowed}"))
            continue
        if _within(edge.importer, "r2k8s.krm") and _within(edge.imported, "r2k8s.cluster"):
            found.append(Violation(edge, "the KRM function never imports r2k8s.cluster"))
        owner = THIRD_PARTY_OWNERS.get(top)
        if owner is not None and not _within(edge.importer, owner):
            found.append(Violation(edge, f"only {owner} imports {top}"))
    return found
