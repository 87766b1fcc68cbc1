"""Formula IDs: the exact bytes repeatr hashes, and the hashes.

Modern (repeatr v0.210+, go-timeless-api ``formulaHashing.go``):

* :func:`formula_id` -- the ``formulaID`` of a run record:
  ``base58(sha384(cbor(FormulaDefaults(formula))))``. Defaulting includes the
  ``Clone()`` round trip, so an output without ``filters`` hashes as ``{}``.
* :func:`raw_setup_hash` -- ``SetupHash()`` of the formula as parsed, which is
  repeatr's memo key (``REPEATR_MEMODIR``); there an absent ``filters`` hashes
  as ``null``. Not the run record's ID; see the reference, §2.5.
* :func:`formula_cbor` -- the canonical CBOR those hashes cover, so a test can
  compare bytes rather than just digests.

CBOR as refmt ``26ba426`` emits it for the ``formulaSerial.go`` atlas: structs
in Go declaration order with omitempty (``exec``, ``noop``, ``policy``, ``cwd``,
``env``, ``userinfo``, ``cradle``, ``hostname``; ``uid``, ``gid``, ``username``,
``homedir``), ``inputs``/``action``/``outputs`` always present (``null`` when
absent), ``packtype`` and ``filters`` always present (the ``filters`` tag's
omitempty sits outside the quotes and is ignored), Go maps sorted byte-wise,
filter values in their re-marshalled canonical form, ware IDs as
``type:hash``.

Legacy (repeatr v0.13-v0.15, ``api/def/formula.go``): :func:`legacy_setup_hash`
and :func:`legacy_formula_cbor`, ugorji ``CborHandle`` at ``708a42d``: struct
keys are the json tags sorted ascending; ``silo`` is blanked everywhere and an
output's ``hash`` is blanked to ``""`` (but still emitted); ``escapes`` is a
struct and always emitted; ``cradle`` is a ``*bool`` (``false`` is emitted);
filters are the ``"name value"`` list, ``null`` when empty, omitted only for a
nil pointer. Standard library only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from r2k8s.core import cbor
from r2k8s.core.base58 import b58encode
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.document import userinfo_document
from r2k8s.core.formula.legacy import LegacyFormula
from r2k8s.core.formula.model import Action, Formula
from r2k8s.core.formula.parse import canonical_pack_filters
from r2k8s.core.ware.wareid import WareID

__all__ = [
    "formula_cbor",
    "formula_id",
    "legacy_formula_cbor",
    "legacy_setup_hash",
    "raw_setup_hash",
]


def _hash(data: bytes) -> str:
    return b58encode(hashlib.sha384(data).digest())


def _ware_string(ware: WareID) -> str:
    """go-timeless-api ``WareID.String()``: ``""`` for an empty type, ``type:-`` for an empty hash."""
    if not ware.packtype:
        return ""
    return f"{ware.packtype}:{ware.hash or '-'}"


def _action_struct(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if action.exec:
        out["exec"] = list(action.exec)
    if action.noop:
        out["noop"] = True
    if action.policy:
        out["policy"] = action.policy
    if action.cwd:
        out["cwd"] = action.cwd
    if action.env:
        out["env"] = cbor.sorted_map(action.env)
    if action.userinfo is not None:
        out["userinfo"] = userinfo_document(action.userinfo)
    if action.cradle:
        out["cradle"] = action.cradle
    if action.hostname:
        out["hostname"] = action.hostname
    return out


def formula_cbor(formula: Formula) -> bytes:
    """The canonical CBOR of ``formula`` exactly as given (no defaults applied)."""
    inputs = None
    if formula.inputs is not None:
        inputs = cbor.sorted_map({path: _ware_string(ware) for path, ware in formula.inputs.items()})
    outputs = None
    if formula.outputs is not None:
        outputs = cbor.sorted_map(
            {
                path: {
                    "packtype": spec.packtype,
                    "filters": None
                    if spec.filters is None
                    else canonical_pack_filters(spec.filters, ("formula", "outputs", path, "filters")),
                }
                for path, spec in formula.outputs.items()
            }
        )
    return cbor.encode({"inputs": inputs, "action": _action_struct(formula.action), "outputs": outputs})


def raw_setup_hash(formula: Formula) -> str:
    """``formula.SetupHash()`` without defaults: repeatr's memoization key."""
    return _hash(formula_cbor(formula))


def formula_id(formula: Formula) -> str:
    """The run record ``formulaID``: the setup hash of the defaulted formula."""
    return _hash(formula_cbor(apply_defaults(formula)))


def legacy_formula_cbor(legacy: LegacyFormula) -> bytes:
    """The ugorji CBOR that repeatr v0.15 hashed, after blanking silos and output hashes."""
    action = legacy.action
    act: dict[str, Any] = {}
    if action.command:
        act["command"] = list(action.command)
    if action.cradle is not None:
        act["cradle"] = action.cradle
    if action.cwd:
        act["cwd"] = action.cwd
    if action.env:
        act["env"] = cbor.sorted_map(action.env)
    act["escapes"] = {"mounts": cbor.sorted_map(action.escape_mounts)} if action.escape_mounts else {}
    if action.hostname:
        act["hostname"] = action.hostname
    if action.policy:
        act["policy"] = action.policy
    inputs = cbor.sorted_map(
        {name: {"hash": inp.hash, "mount": inp.mount, "type": inp.type} for name, inp in legacy.inputs.items()}
    )
    outputs: dict[str, Any] = {}
    for name, out in legacy.outputs.items():
        spec: dict[str, Any] = {}
        if out.filters is not None:
            spec["filters"] = list(out.filters.as_strings()) or None
        spec["hash"] = ""
        if out.mount:
            spec["mount"] = out.mount
        spec["type"] = out.type
        outputs[name] = spec
    return cbor.encode({"action": act, "inputs": inputs, "outputs": cbor.sorted_map(outputs)})


def legacy_setup_hash(legacy: LegacyFormula) -> str:
    """``def.Formula.SetupHash()`` of repeatr v0.15: base58 SHA-384 of :func:`legacy_formula_cbor`."""
    return _hash(legacy_formula_cbor(legacy))
