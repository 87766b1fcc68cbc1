"""Building a :class:`~r2k8s.core.formula.model.Formula` from decoded JSON or YAML, as repeatr's refmt does.

Validation mirrors refmt's unmarshalling (repeatr ``loadFormula``) and is a
little stricter where the file could never run; every error names the JSON
path of the offending value (``$.formula.inputs["/x"]``) so callers holding a
:class:`~r2k8s.core.formula.lenient_json.SourceMap` can add ``FILE:LINE:COL``:

* unknown keys are errors, as in refmt (``ErrNoSuchField``), except inside
  ``filters``: refmt's filter transform reads the map and ignores keys it does
  not know, so they are kept here (as written) and left out of the hash;
* types are checked as refmt does: strings must be strings (``null`` is not a
  string), ``uid``/``gid`` must be integers (``1.0`` is a float and refused),
  ``noop`` a boolean; ``null`` is accepted wherever refmt accepts it (structs,
  maps, lists, pointers) with refmt's meaning;
* paths and ware IDs are taken as refmt takes them: mount paths (keys of
  ``inputs``, ``outputs``, ``fetchUrls``, ``saveUrls``) and ``cwd``/``homedir``
  may be relative or empty, and a ware ID is anything with a ``:`` (or ``""``,
  the zero ware ID): ``"tar:"`` hashes as ``tar:-``, ``":x"`` and ``""`` as
  ``""``. repeatr hashes such formulas and fails only when it runs them;
  :func:`lint_formula` lists what cannot run (and what else looks wrong), for
  the loader to refuse (where a formula must run: the KRM function) or to
  print as warnings (``r2k8s formula-id``, ``r2k8s lint``);
* filter values must be what ``filesetFiltersSerialComp.go`` parses. repeatr
  *normalises* them before hashing (``"0042"`` -> ``"42"``, an RFC 3339 mtime ->
  ``"@<unix>"``, ``"-1"`` -> unspecified, ``"-2"`` -> ``"keep"``; values below
  ``-2`` make repeatr panic). :func:`canonical_pack_filters` reproduces that and
  the formula ID uses it; the model keeps the values as written.

Standard library only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from r2k8s.core.formula.model import Action, Formula, FormulaContext, FormulaError, OutputSpec, Userinfo
from r2k8s.core.goparse import fits_int64
from r2k8s.core.jsonpath import JsonPath
from r2k8s.core.ware.filters import KEYS, PACK, FilterValueError, canonical_value
from r2k8s.core.ware.wareid import WareID

__all__ = [
    "FILTER_KEYS",
    "Lint",
    "canonical_pack_filters",
    "expect_object",
    "lint_formula",
    "parse_context",
    "parse_formula",
    "parse_formula_document",
    "parse_ware_id",
    "type_name",
]


FILTER_KEYS = KEYS


def type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages ("got integer 1")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__  # e.g. a YAML date


def _describe(value: Any) -> str:
    name = type_name(value)
    if value is None or isinstance(value, (Mapping, list, tuple)):
        return name
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{name} {text}"


def expect_object(value: Any, path: JsonPath) -> Mapping[str, Any]:
    """``value`` as an object with string keys, or a :class:`FormulaError` naming ``path``."""
    if not isinstance(value, Mapping):
        raise FormulaError(path, f"expected an object, got {_describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise FormulaError(path, f"object keys must be strings, got {_describe(key)}")
    return value


def _expect_string(value: Any, path: JsonPath) -> str:
    if not isinstance(value, str):
        raise FormulaError(path, f"expected a string, got {_describe(value)}")
    if _has_surrogate(value):
        raise FormulaError(path, "string contains a lone UTF-16 surrogate, which is not valid Unicode text")
    return value


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _check_key(key: str, path: JsonPath) -> None:
    if _has_surrogate(key):
        raise FormulaError(path, "key contains a lone UTF-16 surrogate", at_key=True)


def _reject_unknown(obj: Mapping[str, Any], allowed: tuple[str, ...], path: JsonPath, what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise FormulaError(
                path + (key,),
                f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})",
                at_key=True,
            )


_DOCUMENT_KEYS = ("formula", "context")


_FORMULA_KEYS = ("inputs", "action", "outputs")


_ACTION_KEYS = ("exec", "noop", "policy", "cwd", "env", "userinfo", "cradle", "hostname")


_USERINFO_KEYS = ("uid", "gid", "username", "homedir")


_OUTPUT_KEYS = ("packtype", "filters")


_CONTEXT_KEYS = ("fetchUrls", "saveUrls")


def parse_formula_document(value: Any, path: JsonPath = ()) -> tuple[Formula, FormulaContext]:
    """A ``repeatr run`` file's content: ``{"formula": {...}, "context": {...}}``.

    A missing ``formula`` gives an empty formula, as refmt does; callers that
    need one (file loading) check for the key themselves.
    """
    obj = expect_object(value, path)
    _reject_unknown(obj, _DOCUMENT_KEYS, path, "a formula file")
    formula = parse_formula(obj.get("formula"), path + ("formula",))
    context = parse_context(obj.get("context"), path + ("context",))
    return formula, context


def parse_formula(value: Any, path: JsonPath = ("formula",)) -> Formula:
    """Build a :class:`Formula` from a decoded ``formula`` object (``null``: the empty formula)."""
    if value is None:
        return Formula()
    obj = expect_object(value, path)
    _reject_unknown(obj, _FORMULA_KEYS, path, "formula")
    return Formula(
        inputs=_parse_inputs(obj.get("inputs"), path + ("inputs",)),
        action=_parse_action(obj.get("action"), path + ("action",)),
        outputs=_parse_outputs(obj.get("outputs"), path + ("outputs",)),
    )


def _parse_inputs(value: Any, path: JsonPath) -> dict[str, WareID] | None:
    if value is None:
        return None
    inputs: dict[str, WareID] = {}
    for key, item in expect_object(value, path).items():
        here = path + (key,)
        _check_key(key, here)
        inputs[key] = parse_ware_id(_expect_string(item, here), here)
    return inputs


def parse_ware_id(text: str, path: JsonPath) -> WareID:
    """go-timeless-api ``ParseWareID``: ``""`` is the zero ware ID; otherwise split at the first colon.

    Either part may be empty (``"tar:"``, ``":x"``): repeatr hashes those, and
    :func:`lint_formula` says they cannot be fetched.
    """
    if text == "":
        return WareID("", "")
    packtype, colon, hash_ = text.partition(":")
    if not colon:
        raise FormulaError(path, f"ware ID {text!r} has no ':' (expected '<packtype>:<hash>', e.g. 'tar:6q7G4h...')")
    return WareID(packtype, hash_)


def _parse_action(value: Any, path: JsonPath) -> Action:
    if value is None:
        return Action()  # refmt zeroes a struct on null
    obj = expect_object(value, path)
    _reject_unknown(obj, _ACTION_KEYS, path, "action")
    fields: dict[str, Any] = {}
    if "exec" in obj:
        fields["exec"] = _parse_string_list(obj["exec"], path + ("exec",))
    if "noop" in obj:
        if not isinstance(obj["noop"], bool):
            raise FormulaError(path + ("noop",), f"expected a boolean, got {_describe(obj['noop'])}")
        fields["noop"] = obj["noop"]
    for name in ("policy", "cradle", "hostname"):
        if name in obj:
            fields[name] = _expect_string(obj[name], path + (name,))
    if "cwd" in obj:
        fields["cwd"] = _expect_string(obj["cwd"], path + ("cwd",))
    if "env" in obj:
        fields["env"] = _parse_string_map(obj["env"], path + ("env",))
    if "userinfo" in obj:
        fields["userinfo"] = _parse_userinfo(obj["userinfo"], path + ("userinfo",))
    return Action(**fields)


def _parse_string_list(value: Any, path: JsonPath) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise FormulaError(path, f"expected an array of strings, got {_describe(value)}")
    return tuple(_expect_string(item, path + (i,)) for i, item in enumerate(value))


def _parse_string_map(value: Any, path: JsonPath) -> dict[str, str] | None:
    if value is None:
        return None
    out: dict[str, str] = {}
    for key, item in expect_object(value, path).items():
        _check_key(key, path + (key,))
        out[key] = _expect_string(item, path + (key,))
    return out


def _parse_userinfo(value: Any, path: JsonPath) -> Userinfo | None:
    if value is None:
        return None
    obj = expect_object(value, path)
    _reject_unknown(obj, _USERINFO_KEYS, path, "userinfo")
    fields: dict[str, Any] = {}
    for name in ("uid", "gid"):
        if name in obj and obj[name] is not None:
            fields[name] = _parse_int(obj[name], path + (name,))
    if "username" in obj:
        fields["username"] = _expect_string(obj["username"], path + ("username",))
    if "homedir" in obj:
        fields["homedir"] = _expect_string(obj["homedir"], path + ("homedir",))
    return Userinfo(**fields)


def _parse_int(value: Any, path: JsonPath) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormulaError(path, f"expected an integer, got {_describe(value)}")
    if not fits_int64(value):
        raise FormulaError(path, f"integer {value} does not fit in 64 bits")
    return value


def _parse_outputs(value: Any, path: JsonPath) -> dict[str, OutputSpec] | None:
    if value is None:
        return None
    outputs: dict[str, OutputSpec] = {}
    for key, item in expect_object(value, path).items():
        here = path + (key,)
        _check_key(key, here)
        outputs[key] = _parse_output_spec(item, here)
    return outputs


def _parse_output_spec(value: Any, path: JsonPath) -> OutputSpec:
    if value is None:
        return OutputSpec()
    obj = expect_object(value, path)
    _reject_unknown(obj, _OUTPUT_KEYS, path, "an output")
    packtype = _expect_string(obj["packtype"], path + ("packtype",)) if "packtype" in obj else ""
    filters: dict[str, str] | None = None
    if "filters" in obj:
        raw = obj["filters"]
        here = path + ("filters",)
        if raw is None:
            filters = {}  # refmt's transform turns null into an initialised, empty filter
        else:
            if isinstance(raw, str):
                raise FormulaError(
                    here,
                    'filters must be an object such as {"uid": "keep"}; '
                    "the string form 'uid=keep' is not accepted in a formula",
                )
            filters = {}
            for key, item in expect_object(raw, here).items():
                _check_key(key, here + (key,))
                filters[key] = _expect_string(item, here + (key,))  # refmt: a map[string]string
            canonical_pack_filters(filters, here)  # validates every value
    return OutputSpec(packtype=packtype, filters=filters)


def parse_context(value: Any, path: JsonPath = ("context",)) -> FormulaContext:
    """Build a :class:`FormulaContext` (``null`` or absent: empty)."""
    if value is None:
        return FormulaContext()
    obj = expect_object(value, path)
    _reject_unknown(obj, _CONTEXT_KEYS, path, "context")
    fetch: dict[str, tuple[str, ...]] = {}
    here = path + ("fetchUrls",)
    if obj.get("fetchUrls") is not None:
        for key, item in expect_object(obj["fetchUrls"], here).items():
            _check_key(key, here + (key,))
            fetch[key] = _parse_string_list(item, here + (key,)) or ()
    save: dict[str, str] = {}
    here = path + ("saveUrls",)
    if obj.get("saveUrls") is not None:
        for key, item in expect_object(obj["saveUrls"], here).items():
            _check_key(key, here + (key,))
            save[key] = _expect_string(item, here + (key,))
    return FormulaContext(fetch_urls=fetch, save_urls=save)


def canonical_pack_filters(filters: Mapping[str, str], path: JsonPath = ("filters",)) -> dict[str, str]:
    """The filter map as repeatr re-marshals it (and hashes it), keys sorted.

    Each value is parsed the way ``filesetFiltersSerialComp.go`` parses it and
    written back with ``string_*`` (see :func:`r2k8s.core.ware.filters.canonical_value`);
    unspecified values drop out, and so do keys refmt's transform does not read.
    """
    out: dict[str, str] = {}
    for key in sorted(filters):
        here = path + (key,)
        if key not in FILTER_KEYS:
            continue
        try:
            canonical = canonical_value(PACK, key, filters[key], serialised=True)
        except FilterValueError as exc:
            raise FormulaError(here, exc.problem) from None
        if canonical is not None:
            out[key] = canonical
    return out


@dataclasses.dataclass(frozen=True)
class Lint:
    """Something repeatr accepts in a formula but that looks wrong: ``fatal`` when no run of it can succeed."""

    path: JsonPath
    message: str
    at_key: bool = False
    fatal: bool = True


def _relative(text: str) -> bool:
    return not text.startswith("/")


def lint_formula(formula: Formula, context: FormulaContext) -> list[Lint]:
    """What repeatr hashes without a word but cannot run (``fatal``), and unknown filter keys (not fatal).

    Fatal, with how repeatr fails (``r2k8s run --local`` fails the same way,
    :mod:`r2k8s.core.run.job`): a relative or empty input, output, ``cwd`` or
    (cradle on) ``homedir`` path (``fs.MustAbsolutePath`` panics: exit 2); a
    ware ID with an empty packtype (rio: unsupported packtype, exit 1) or hash
    (rio looks for ``tar:-``); a relative ``fetchUrls``/``saveUrls`` key never
    matches a mount path.
    """
    found: list[Lint] = []
    for key, ware in (formula.inputs or {}).items():
        here: JsonPath = ("formula", "inputs", key)
        if _relative(key):
            found.append(Lint(here, f"mount path {key!r} must be absolute (start with '/')", at_key=True))
        if not ware.packtype and not ware.hash:
            found.append(Lint(here, "ware ID '' is empty (expected '<packtype>:<hash>', e.g. 'tar:6q7G4h...')"))
        elif not ware.packtype:
            found.append(Lint(here, f"ware ID {ware.packtype + ':' + ware.hash!r} has an empty packtype before ':'"))
        elif not ware.hash:
            found.append(Lint(here, f"ware ID {ware.packtype + ':'!r} has an empty hash after ':'"))
    for key, spec in (formula.outputs or {}).items():
        here = ("formula", "outputs", key)
        if _relative(key):
            found.append(Lint(here, f"mount path {key!r} must be absolute (start with '/')", at_key=True))
        for name in spec.filters or {}:
            if name not in FILTER_KEYS:
                found.append(
                    Lint(
                        here + ("filters", name),
                        f"unknown filter {name!r} is ignored, as repeatr ignores it (known: {', '.join(FILTER_KEYS)})",
                        at_key=True,
                        fatal=False,
                    )
                )
    action = formula.action
    if action.cwd and _relative(action.cwd):
        found.append(
            Lint(("formula", "action", "cwd"), f"cwd {action.cwd!r} must be an absolute path (start with '/')")
        )
    homedir = action.userinfo.homedir if action.userinfo else ""
    if homedir and _relative(homedir):
        found.append(
            Lint(
                ("formula", "action", "userinfo", "homedir"),
                f"homedir {homedir!r} must be an absolute path (start with '/')",
                fatal=action.cradle != "disable",
            )
        )
    for name, keys in (("fetchUrls", context.fetch_urls), ("saveUrls", context.save_urls)):
        for key in keys:
            if _relative(key):
                found.append(
                    Lint(("context", name, key), f"mount path {key!r} must be absolute (start with '/')", at_key=True)
                )
    return found
