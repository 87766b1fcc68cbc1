"""The modern formula (repeatr v0.210+) as one typed model.

The model keeps every "as written" distinction that changes a formula ID:

* ``inputs`` / ``outputs`` absent (or ``null``) is ``None``; ``{}`` is an empty dict.
  refmt emits ``null`` for the first and an empty map for the second.
* ``OutputSpec.filters`` absent is ``None``; ``{}`` or ``null`` written in the
  file is ``{}`` (refmt runs its filter transform on ``null`` too, producing an
  initialised, empty filter). Only an *absent* key hashes as ``null``, and only
  in the raw hash, because ``FormulaDefaults``' Clone turns it into ``{}``.
* ``Userinfo.uid`` / ``gid`` absent is ``None``; ``0`` is kept (Go ``*int``).
  ``userinfo: {}`` is an empty :class:`Userinfo` (a non-nil pointer, hashed as
  ``{}``), absent or ``null`` is ``None`` (omitted).
* ``Action.env`` and ``Action.exec`` absent is ``None``; written empty is an
  empty dict / tuple. Both hash the same (omitempty), but the executor may care.

Parsing lives in :mod:`r2k8s.core.formula.parse`, the inverse in
:mod:`r2k8s.core.formula.document`, repeatr's defaults in
:mod:`r2k8s.core.formula.defaults`. Standard library only.
"""

from __future__ import annotations

import dataclasses

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.jsonpath import JsonPath, json_path
from r2k8s.core.ware.wareid import WareID

__all__ = ["Action", "Formula", "FormulaContext", "FormulaError", "OutputSpec", "Userinfo"]


class FormulaError(R2k8sError):
    """A formula does not parse; ``path`` says where, ``problem`` says what.

    ``at_key`` is true when the *key* at ``path`` is the problem (an unknown
    field, a relative mount path), so a position lookup should point at the key.
    """

    def __init__(self, path: JsonPath, problem: str, *, at_key: bool = False) -> None:
        super().__init__(Category.USAGE, f"{json_path(path)}: {problem}")
        self.path = tuple(path)
        self.problem = problem
        self.at_key = at_key


@dataclasses.dataclass(frozen=True)
class Userinfo:
    """``FormulaUserinfo``: who the job runs as. ``None`` ids mean "not written"."""

    uid: int | None = None
    gid: int | None = None
    username: str = ""
    homedir: str = ""


@dataclasses.dataclass(frozen=True)
class Action:
    """``FormulaAction``; fields in Go declaration order, which the hash follows."""

    exec: tuple[str, ...] | None = None
    noop: bool = False
    policy: str = ""
    cwd: str = ""
    env: dict[str, str] | None = None
    userinfo: Userinfo | None = None
    cradle: str = ""
    hostname: str = ""

    @property
    def cradle_enabled(self) -> bool:
        """Only the exact string ``"disable"`` turns the cradle off."""
        return self.cradle != "disable"


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """``FormulaOutputSpec``: how to pack one output path."""

    packtype: str = ""
    filters: dict[str, str] | None = None
    """Pack filters as written (``None``: the key was absent)."""


@dataclasses.dataclass(frozen=True)
class Formula:
    """``api.Formula``: inputs, action, outputs. Treat the dicts as read-only."""

    inputs: dict[str, WareID] | None = None
    action: Action = dataclasses.field(default_factory=Action)
    outputs: dict[str, OutputSpec] | None = None


@dataclasses.dataclass(frozen=True)
class FormulaContext:
    """``repeatr.FormulaContext``: where wares come from and go to; never hashed."""

    fetch_urls: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    save_urls: dict[str, str] = dataclasses.field(default_factory=dict)
