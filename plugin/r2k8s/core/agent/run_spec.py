"""What ``r2k8s run`` hands the build agent in its pod: the formula, its ID, and who moves which ware.

The client has already loaded and checked the formula file (YAML, legacy
formats, positions in errors: none of that is needed in the pod), so the
agent receives the parsed :class:`Formula` written back in repeatr's JSON
shape, which :func:`formula_document` and :func:`parse_formula_document`
round-trip exactly (a test checks the formula ID survives). Alongside it:

* ``formulaID``: computed by the client (legacy formulas need the legacy
  document to compute it);
* ``context``: the fetch and save URLs the *pod* uses itself (warehouses it
  can reach, and http save URLs, which it refuses exactly as a local run does);
* ``streamed``: wares the client streams in over stdin, by ware ID, with the
  input paths that use each (their warehouses are on the client's machine);
* ``trees``: those of them the client streams as their placed tree, a tar,
  with that tar's ID (``git:`` commits from repositories only the client
  reaches: it checks them out, verified by git's hashes, and the pod verifies
  the tar);
* ``returned``: output paths whose packed wares go back to the client, which
  saves them to their (client-local) save URLs;
* the heartbeat limits of the dead-man switch.

The spec travels as JSON in an environment variable of the pod. Standard
library only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from r2k8s.core.agent.contract import PROTOCOL_VERSION
from r2k8s.core.agent.spec import FormulaSpec, read_spec
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.document import context_document, formula_document

__all__ = ["RunSpec"]


def _spec_error(message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, f"build agent: invalid run spec: {message}")


@dataclasses.dataclass(frozen=True)
class RunSpec(FormulaSpec):
    streamed: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Ware ID string -> the input paths it fills; the client sends each ware once."""
    trees: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Streamed ware ID string -> the ``tar:`` ID of the placed tree the client sends for it instead of the ware."""
    returned: tuple[str, ...] = ()
    heartbeat_timeout: float = 20.0
    first_contact_timeout: float = 120.0

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": PROTOCOL_VERSION,
                "formula": formula_document(self.formula),
                "context": context_document(self.context),
                "formulaID": self.formula_id,
                "legacyInputs": list(self.legacy_inputs),
                "streamed": {ware: list(paths) for ware, paths in sorted(self.streamed.items())},
                "trees": dict(sorted(self.trees.items())),
                "returned": list(self.returned),
                "heartbeatTimeout": self.heartbeat_timeout,
                "firstContactTimeout": self.first_contact_timeout,
            },
            ensure_ascii=True,
            separators=(",", ":"),
            sort_keys=False,
        )

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return read_spec(text, _spec_error, "the client", cls._from_document)

    @classmethod
    def _from_document(cls, doc: dict[str, Any]) -> RunSpec:
        return cls(
            *cls.formula_fields(doc),
            streamed={
                str(ware): tuple(str(p) for p in paths) for ware, paths in dict(doc.get("streamed") or {}).items()
            },
            trees={str(ware): str(tree) for ware, tree in dict(doc.get("trees") or {}).items()},
            returned=tuple(str(p) for p in doc.get("returned") or ()),
            heartbeat_timeout=float(doc.get("heartbeatTimeout", 20.0)),
            first_contact_timeout=float(doc.get("firstContactTimeout", 120.0)),
        )
