"""A timeless module as ``reach`` reads it (go-timeless-api ``Module``, ``Operation``, ``SlotRef``, ``ImportRef``).

``module.tl`` is JSON in refmt's lenient dialect::

    {"imports": {"base": "ingest:literal:tar:6q7G…"},
     "steps":   {"build": {"operation": {"inputs":  {"/": "base"},
                                         "action":  {"exec": ["/bin/sh", "-c", "…"]},
                                         "outputs": {"out": "/task/out"}}}},
     "exports": {"bin": "build.out"}}

A slot reference is ``NAME`` (an import) or ``STEP.SLOT`` (a step's output);
an operation's ``inputs`` map paths to slot references and its ``outputs`` map
slot names to paths (the other way round from a formula's). An operation
becomes a formula once every input is a ware ID (:mod:`.formulas`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from r2k8s.core.ware.wareid import WareID

__all__ = ["Import", "Module", "Operation", "SlotRef"]


@dataclasses.dataclass(frozen=True, order=True)
class SlotRef:
    """``step.slot``, or ``slot`` alone (``step`` empty) for a module import: go-timeless-api ``SlotRef``."""

    step: str
    slot: str

    @classmethod
    def parse(cls, text: str) -> SlotRef:
        """As ``ParseSlotRef``: split at the first dot; the empty string is no reference."""
        if not text:
            raise ValueError("empty string is not a slot reference")
        step, dot, slot = text.partition(".")
        return cls(step, slot) if dot else cls("", text)

    def __str__(self) -> str:
        return f"{self.step}.{self.slot}" if self.step else self.slot


@dataclasses.dataclass(frozen=True)
class Import:
    """One entry of ``imports``: the ware it pins and, for ``catalog:`` imports, where the catalog sources it."""

    name: str
    text: str
    """As written: ``ingest:literal:tar:…``, ``tar:…`` or ``catalog:MODULE:RELEASE:ITEM``."""
    ware: WareID
    warehouses: tuple[str, ...] = ()
    """Absolute URLs to fetch it from, before the ``--warehouse`` ones (a catalog's ``mirrors.tl``)."""


@dataclasses.dataclass(frozen=True)
class Operation:
    """A step whose ``operation`` is a formula with slot references for inputs."""

    name: str
    inputs: dict[str, SlotRef]
    """Mount path -> slot reference."""
    action: Any
    """The ``action`` object as written (checked by the formula parser; hashed as the formula's action)."""
    outputs: dict[str, str]
    """Slot name -> path."""


@dataclasses.dataclass(frozen=True)
class Module:
    path: Path
    imports: dict[str, Import]
    steps: dict[str, Operation]
    exports: dict[str, SlotRef]
    order: tuple[str, ...]
    """The steps in reach's order (a topological sort, ties broken by name): for messages; runs start when ready."""

    def needs(self, step: str) -> set[str]:
        """The steps whose outputs ``step`` takes as inputs."""
        return {ref.step for ref in self.steps[step].inputs.values() if ref.step}
