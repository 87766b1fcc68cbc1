"""What ``r2k8s inspect`` prints: a table for people, a JSON document with a stable shape for programs.

The table has one row per container and input ware (a container without
inputs gets one row), columns as kubectl prints them: aligned, upper-case
headers, ``-`` for nothing. IDs are printed whole (they are what one copies).
The JSON document (README, "inspect") is ``{"containers": [...],
"unexpanded": [...]}``, each container as :meth:`ExpandedContainer.document`
writes it, in the order the manifests hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from r2k8s.expanded.entries import ExpandedContainer
from r2k8s.expanded.reader import Reference

__all__ = ["HEADERS", "inspect_document", "table"]

HEADERS = ("RESOURCE", "CONTAINER", "FORMULA ID", "INPUT", "WARE", "WAREHOUSE", "ORIGIN")


def _rows(entry: ExpandedContainer) -> list[tuple[str, ...]]:
    origin = entry.origin.text() if entry.origin is not None else "-"
    start = (entry.resource.text(), entry.container, entry.formula_id + (" (legacy)" if entry.legacy else ""))
    if not entry.inputs:
        return [(*start, "-", "-", "-", origin)]
    rows: list[tuple[str, ...]] = []
    for ware in entry.inputs:
        first = ware.urls[0] if ware.urls else "-"
        more = f" (+{len(ware.urls) - 1})" if len(ware.urls) > 1 else ""
        rows.append((*start, ware.path, ware.ware, first + more, origin))
    return rows


def _shown(cell: str) -> str:
    """``cell`` with control characters escaped: a hostile name must not break the table or drive a terminal."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in cell)


def table(entries: Sequence[ExpandedContainer]) -> str:
    """The header and a row per container and input ware, columns aligned (the last one is not padded)."""
    rows: list[tuple[str, ...]] = [HEADERS]
    rows += [tuple(_shown(cell) for cell in row) for entry in entries for row in _rows(entry)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def inspect_document(entries: Sequence[ExpandedContainer], references: Sequence[Reference]) -> dict[str, Any]:
    """``{"containers": [...], "unexpanded": [...]}``: what ``inspect -o json`` prints."""
    return {
        "containers": [entry.document() for entry in entries],
        "unexpanded": [
            {"resource": ref.resource.document(), "container": ref.container, "file": ref.file, "image": ref.image}
            for ref in references
        ],
    }
