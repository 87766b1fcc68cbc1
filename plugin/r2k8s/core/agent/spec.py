"""What the run spec and the service spec share: a formula for a pod, read from JSON the same way.

Both specs (:mod:`r2k8s.core.agent.run_spec` for ``r2k8s run``'s build pod,
:mod:`r2k8s.core.agent.service_spec` for a service container) carry the
parsed formula in repeatr's JSON shape, the fetch and save URLs the pod
uses, the formula ID the client computed and the inputs verified with the
legacy hash. :class:`FormulaSpec` holds those four fields and reads them;
:func:`read_spec` turns anything wrong in a spec into the spec's own usage
error. Each spec writes its JSON itself: the key order is part of the
manifests (a changed service spec would roll every workload). Standard
library only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from r2k8s.core.agent.contract import decode_spec
from r2k8s.core.errors import R2k8sError
from r2k8s.core.formula.model import Formula, FormulaContext
from r2k8s.core.formula.parse import parse_context, parse_formula

__all__ = ["FormulaSpec", "read_spec"]

SpecT = TypeVar("SpecT")


@dataclasses.dataclass(frozen=True)
class FormulaSpec:
    """The fields every spec starts with."""

    formula: Formula
    context: FormulaContext
    formula_id: str
    legacy_inputs: tuple[str, ...] = ()

    @staticmethod
    def formula_fields(doc: Mapping[str, Any]) -> tuple[Formula, FormulaContext, str, tuple[str, ...]]:
        """Those fields read from a spec's JSON object, in their order (a subclass passes them on with ``*``)."""
        return (
            parse_formula(doc.get("formula")),
            parse_context(doc.get("context")),
            str(doc["formulaID"]),
            tuple(str(p) for p in doc.get("legacyInputs") or ()),
        )


def read_spec(
    text: str, error: Callable[[str], R2k8sError], peer: str, build: Callable[[dict[str, Any]], SpecT]
) -> SpecT:
    """The spec ``build`` makes of the JSON object in ``text``; any fault in it is raised as ``error(message)``.

    ``text`` is checked by :func:`r2k8s.core.agent.contract.decode_spec`
    (JSON, an object, this protocol version; ``peer`` names who wrote it).
    """
    doc = decode_spec(text, error, peer)
    try:
        return build(doc)
    except R2k8sError as exc:
        raise error(exc.message) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise error(f"{type(exc).__name__}: {exc}") from None
