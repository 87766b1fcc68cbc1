"""Items a resolver read from files: where each came from, and the record of each formula's origin.

The function learns where an item came from from its orchestrator (kpt's path annotation, kustomize's
origin, helm's ``# Source:``). ``r2k8s resolve`` (:mod:`r2k8s.resolve`) reads the files itself, so it
tells the processor directly, one :class:`ItemSource` per item, through :class:`Sourcing`: relative
formula paths then start at the folder of the item's file, and messages name that file.

It may also ask for the record (:data:`ORIGINS_ANNOTATION`): which file each formula came from, its
formula ID and its git commit, written beside ``r2k8s.io/formulas`` wherever the owner's rules put that
(:mod:`.owners`). Only a resolver asks for it, never the function: kpt writes a function's output back
into the package, where a commit hash would change on every commit and dirty the tree it records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from r2k8s.krm.references import FormulaRef

__all__ = ["ORIGINS_ANNOTATION", "ItemSource", "Recorder", "Sourcing"]

ORIGINS_ANNOTATION = "r2k8s.io/formula-origins"
"""Pod-template annotation ``r2k8s resolve`` writes: container name → where its formula came from (JSON)."""

Recorder = Callable[["FormulaRef"], Mapping[str, Any]]
"""The record of one formula reference (plain JSON data): where its formula came from."""


@dataclasses.dataclass(frozen=True)
class ItemSource:
    """Where a resolver read one item."""

    shown: str
    """The file as the user named it (or ``stdin``, or the URL), for messages."""
    path: Path | None = None
    """The local file, absolute: relative formula paths start at its folder (``None``: the current directory)."""
    refusal: str = ""
    """Why a relative formula path cannot be followed from this item (read from a URL), or ``""``."""
    widen: str = "use --root to widen it"
    """What a formula path leaving the root should say to do."""


@dataclasses.dataclass(frozen=True)
class Sourcing:
    """What a resolver tells the processor: each item's source, the root, and the record to write."""

    items: Sequence[ItemSource]
    """One per item the input holds, in order (the processor checks the count)."""
    root: Path
    """The root, overriding the function config's ``spec.root``."""
    record: Recorder | None = None
    """When given, the pod templates get :data:`ORIGINS_ANNOTATION`."""
    left_out: frozenset[int] = frozenset()
    """Items the output leaves out (by index), as it leaves out Formula items: what must not reach a cluster."""
