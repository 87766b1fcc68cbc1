"""Applying the planned RFC 6902 operations, to plain data or to round-trip YAML objects.

``jsonpatch`` is imported on first use (the function's start-up path never
needs it) and only here, so its missing type hints are dealt with once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Operation", "apply", "apply_round_trip"]

Operation = Mapping[str, Any]
"""One JSON-patch operation: ``op``, ``path`` and, for ``add``/``replace``, ``value`` (plain data)."""


def apply(document: Any, operations: Sequence[Operation]) -> None:
    """Apply ``operations`` to ``document`` in place."""
    import jsonpatch  # type: ignore[import-untyped]  # jsonpatch ships no type hints (no py.typed, no stubs)

    jsonpatch.apply_patch(document, list(operations), in_place=True)


def apply_round_trip(document: Any, operations: Sequence[Operation]) -> None:
    """Apply ``operations`` to a ruamel.yaml document, new values as block-style round-trip objects."""
    from r2k8s.krm import yamlio

    apply(document, [{**op, "value": yamlio.block(op["value"])} if "value" in op else op for op in operations])
