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
* ``returned``: output paths whose packed wares go back to the client, which
  saves them to their (client-local) save URLs;
* the heartbeat limits of the dead-man switch.

The spec travels as JSON in an environment variable of the pod. Standard
library only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula import (
    Action,
    Formula,
    FormulaContext,
    OutputSpec,
    parse_context,
    parse_formula,
    userinfo_document,
)

__all__ = ["PROTOCOL_VERSION", "RunSpec", "context_document", "decode_spec", "formula_document"]

PROTOCOL_VERSION = 1
"""Bumped when the spec or the frames change incompatibly; client and agent must agree."""


def _action_document(action: Action) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if action.exec is not None:
        doc["exec"] = list(action.exec)
    if action.noop:
        doc["noop"] = True
    for name in ("policy", "cwd", "cradle", "hostname"):
        value = getattr(action, name)
        if value:
            doc[name] = value
    if action.env is not None:
        doc["env"] = dict(action.env)
    if action.userinfo is not None:
        doc["userinfo"] = userinfo_document(action.userinfo)
    return doc


def _output_document(spec: OutputSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if spec.packtype:
        doc["packtype"] = spec.packtype
    if spec.filters is not None:
        doc["filters"] = dict(spec.filters)
    return doc


def formula_document(formula: Formula) -> dict[str, Any]:
    """``formula`` in repeatr's JSON shape; :func:`parse_formula` gives back an equal :class:`Formula`."""
    doc: dict[str, Any] = {}
    if formula.inputs is not None:
        doc["inputs"] = {path: str(ware) for path, ware in formula.inputs.items()}
    doc["action"] = _action_document(formula.action)
    if formula.outputs is not None:
        doc["outputs"] = {path: _output_document(spec) for path, spec in formula.outputs.items()}
    return doc


def context_document(context: FormulaContext) -> dict[str, Any]:
    return {
        "fetchUrls": {path: list(urls) for path, urls in context.fetch_urls.items()},
        "saveUrls": dict(context.save_urls),
    }


def _spec_error(message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, f"build agent: invalid run spec: {message}")


def decode_spec(text: str, error: Callable[[str], R2k8sError], peer: str) -> dict[str, Any]:
    """The JSON object of a spec for the agent, checked to speak this :data:`PROTOCOL_VERSION`.

    ``peer`` names who wrote it, for the mismatch message (the client, the manifests).
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise error(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise error("not a JSON object")
    if doc.get("version") != PROTOCOL_VERSION:
        raise error(f"protocol version {doc.get('version')!r}; this agent speaks {PROTOCOL_VERSION}"
                    f" ({peer} and the agent bundle come from different r2k8s versions)")
    return doc


@dataclasses.dataclass(frozen=True)
class RunSpec:
    formula: Formula
    context: FormulaContext
    formula_id: str
    legacy_inputs: tuple[str, ...] = ()
    streamed: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Ware ID string -> the input paths it fills; the client sends each ware once."""
    returned: tuple[str, ...] = ()
    heartbeat_timeout: float = 20.0
    first_contact_timeout: float = 120.0

    def to_json(self) -> str:
        return json.dumps({
            "version": PROTOCOL_VERSION,
            "formula": formula_document(self.formula),
            "context": context_document(self.context),
            "formulaID": self.formula_id,
            "legacyInputs": list(self.legacy_inputs),
            "streamed": {ware: list(paths) for ware, paths in sorted(self.streamed.items())},
            "returned": list(self.returned),
            "heartbeatTimeout": self.heartbeat_timeout,
            "firstContactTimeout": self.first_contact_timeout,
        }, ensure_ascii=True, separators=(",", ":"), sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        doc = decode_spec(text, _spec_error, "the client")
        try:
            formula = parse_formula(doc.get("formula"))
            context = parse_context(doc.get("context"))
            streamed = {str(ware): tuple(str(p) for p in paths) for ware, paths in dict(doc.get("streamed") or {}).items()}
            return cls(
                formula=formula,
                context=context,
                formula_id=str(doc["formulaID"]),
                legacy_inputs=tuple(str(p) for p in doc.get("legacyInputs") or ()),
                streamed=streamed,
                returned=tuple(str(p) for p in doc.get("returned") or ()),
                heartbeat_timeout=float(doc.get("heartbeatTimeout", 20.0)),
                first_contact_timeout=float(doc.get("firstContactTimeout", 120.0)),
            )
        except R2k8sError as exc:
            raise _spec_error(exc.message) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise _spec_error(f"{type(exc).__name__}: {exc}") from None
