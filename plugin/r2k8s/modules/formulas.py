"""A step, once its inputs are known, as the formula reach would hand repeatr (``gadgets/operation/resolve.go``).

The formula: ``inputs`` each slot's ware, the ``action`` as written, and for
every output slot its path with ``{"packtype": "tar"}`` and no filters
(repeatr's defaults apply when packing). ``outputs`` is always written, empty
or not, as reach's ``make(map…)`` makes it: so formula IDs and memo keys are
reach's and repeatr's. The context: every output saved to the one staging
warehouse; another step's output fetched from there; an import fetched
from its own warehouses (a catalog's mirrors), then the ``--warehouse``
ones, then the staging warehouse (``tar``/``zip`` wares only: a ``git:``
ware's warehouses are repositories). Every URL is absolute, so the formula file can
live anywhere.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from r2k8s.core.ware.wareid import WareID
from r2k8s.formula_files import LoadedFormula, load_formula_data
from r2k8s.modules.model import Module, Operation, SlotRef

__all__ = ["StepFormula", "step_formula"]


@dataclasses.dataclass(frozen=True)
class StepFormula:
    document: dict[str, Any]
    loaded: LoadedFormula

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.document, indent="\t", ensure_ascii=False) + "\n", encoding="utf-8")


def step_formula(
    module: Module,
    step: Operation,
    scope: Mapping[SlotRef, WareID],
    warehouses: Sequence[str],
    staging: str,
) -> StepFormula:
    """The formula of ``step`` with the wares in ``scope`` (imports and the outputs of steps already run)."""
    inputs: dict[str, str] = {}
    fetch: dict[str, list[str]] = {}
    for path, ref in sorted(step.inputs.items()):
        ware = scope[ref]
        inputs[path] = str(ware)
        if ref.step:
            urls = [staging]  # where the step that made it saved it
        else:
            urls = [*module.imports[ref.slot].warehouses, *warehouses]
            if ware.packtype in ("tar", "zip"):
                urls.append(staging)
        fetch[path] = list(dict.fromkeys(urls))
    outputs = {path: {"packtype": "tar"} for path in sorted(step.outputs.values())}
    document: dict[str, Any] = {
        "formula": {"inputs": inputs, "action": step.action, "outputs": outputs},
        "context": {"fetchUrls": fetch, "saveUrls": dict.fromkeys(outputs, staging)},
    }
    loaded = load_formula_data(document, f"{module.path}: step {step.name!r}", path=module.path)
    return StepFormula(document, loaded)
