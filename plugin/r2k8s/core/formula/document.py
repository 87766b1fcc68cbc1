"""A formula written back in repeatr's JSON shape: the exact inverse of :mod:`r2k8s.core.formula.parse`.

The pods receive formulas this way (the client has already loaded and
checked the file, with YAML, legacy formats and positions in errors), so
:func:`formula_document` followed by :func:`~r2k8s.core.formula.parse.parse_formula`
must give back an equal formula, and with it the same formula ID (a test
checks both). Key order and omitted fields follow refmt's serialisation.
Standard library only.
"""

from __future__ import annotations

from typing import Any

from r2k8s.core.formula.model import Action, Formula, FormulaContext, OutputSpec, Userinfo

__all__ = ["context_document", "formula_document", "userinfo_document"]


def userinfo_document(info: Userinfo) -> dict[str, Any]:
    """``FormulaUserinfo`` as refmt serialises it: keys in declaration order, nil/empty fields left out."""
    doc: dict[str, Any] = {}
    if info.uid is not None:
        doc["uid"] = info.uid
    if info.gid is not None:
        doc["gid"] = info.gid
    if info.username:
        doc["username"] = info.username
    if info.homedir:
        doc["homedir"] = info.homedir
    return doc


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
