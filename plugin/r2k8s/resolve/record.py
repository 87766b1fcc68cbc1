"""The record ``r2k8s resolve`` leaves on each expanded pod template: where each formula came from.

As kbld records where an image came from, ``r2k8s.io/formula-origins`` says, per container (named as in
``r2k8s.io/formulas``, whose meaning does not change), what was resolved: compact JSON, keys sorted::

    {"web": {"formulaID": "…", "path": "formulas/web.formula", "git": {"commit": "<hex>", "dirty": false}}}

* ``path``: a ``./x.formula`` reference's file, relative to the root, in POSIX form;
* ``formula``: a ``formula:NAME`` reference's name instead, with ``source`` (the file holding the Formula
  resource, or the ``--config`` file whose ``spec.formulas`` gave it, relative to the root; ``stdin``) or
  ``url`` (the URL it was read from), when known;
* ``git``: only when that file is in a git work tree (:mod:`.git`): ``HEAD``'s commit (absent before the
  first commit) and ``dirty``, whether the work tree has uncommitted changes, untracked files included.

The function never writes it (:mod:`r2k8s.krm.sourced`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from r2k8s.krm.manifests import Source
from r2k8s.krm.references import FormulaRef
from r2k8s.krm.sourced import Recorder
from r2k8s.resolve.git import WorkTrees

__all__ = ["recorder", "relative"]


def relative(file: Path, root: Path) -> str:
    """``file`` relative to ``root`` in POSIX form, folders' links resolved (the file itself is named as it is)."""
    real = Path(os.path.realpath(file.parent)) / file.name
    return Path(os.path.relpath(real, os.path.realpath(root))).as_posix()


def recorder(root: Path, item_files: Sequence[Source], config_file: Path | None = None) -> Recorder:
    """The record of a formula reference, for items read from ``item_files`` (one per item) under ``root``."""
    trees = WorkTrees()

    def located(file: Path) -> dict[str, Any]:
        where: dict[str, Any] = {}
        tree = trees.of(file)
        if tree is not None:
            git: dict[str, Any] = {"dirty": tree.dirty}
            if tree.commit:
                git["commit"] = tree.commit
            where["git"] = git
        return where

    def record(ref: FormulaRef) -> Mapping[str, Any]:
        entry: dict[str, Any] = {"formulaID": ref.formula_id}
        if ref.file is not None:
            return {**entry, "path": relative(ref.file, root), **located(ref.file)}
        entry["formula"] = ref.name
        if ref.item is not None and ref.item < len(item_files):
            source = item_files[ref.item]
            if source.url is not None:
                entry["url"] = source.url
            elif source.path is not None:
                entry |= {"source": relative(source.path, root), **located(source.path)}
            else:
                entry["source"] = source.name
        elif ref.item is None and config_file is not None:
            entry |= {"source": relative(config_file, root), **located(config_file)}
        return entry

    return record
