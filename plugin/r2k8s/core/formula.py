"""The modern formula (repeatr v0.210+): one typed model, built from decoded JSON or YAML.

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

Validation mirrors refmt's unmarshalling (repeatr ``loadFormula``) and is a
little stricter where the file could never run; every error names the JSON
path of the offending value (``$.formula.inputs["/x"]``) so callers holding a
:class:`~r2k8s.core.lenient_json.SourceMap` can add ``FILE:LINE:COL``:

* unknown keys are errors, as in refmt (``ErrNoSuchField``); so are unknown
  *filter* keys, which refmt silently ignores (a typo there would otherwise
  change how outputs are packed without a word);
* types are checked as refmt does: strings must be strings (``null`` is not a
  string), ``uid``/``gid`` must be integers (``1.0`` is a float and refused),
  ``noop`` a boolean; ``null`` is accepted wherever refmt accepts it (structs,
  maps, lists, pointers) with refmt's meaning;
* mount paths (keys of ``inputs``, ``outputs``, ``fetchUrls``, ``saveUrls``)
  and ``cwd``/``homedir`` must be absolute. repeatr does not check this when
  parsing, but no executor can run a relative one;
* ware IDs must be ``<packtype>:<hash>`` with both parts non-empty. repeatr
  parses ``""`` as the zero ware ID (hashed as ``""``), ``":x"`` likewise, and
  ``"tar:"`` as ``tar:-``; none of these can be fetched, so they are refused;
* filter values must be what ``filesetFiltersSerialComp.go`` parses. repeatr
  *normalises* them before hashing (``"0042"`` → ``"42"``, an RFC 3339 mtime →
  ``"@<unix>"``, ``"-1"`` → unspecified, ``"-2"`` → ``"keep"``; values below
  ``-2`` make repeatr panic). :func:`canonical_pack_filters` reproduces that and
  the formula ID uses it; the model keeps the values as written.

:func:`apply_defaults` is repeatr's ``cradle.FormulaDefaults`` including its
``Clone()`` round trip, and is what both the formula ID and the executor use.
Standard library only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.filters import KEYS, PACK, FilterValueError, canonical_value
from r2k8s.core.goparse import fits_int64
from r2k8s.core.lenient_json import JsonPath, json_path
from r2k8s.core.wareid import WareID

__all__ = [
    "DEFAULT_PATH_ENV",
    "FILTER_KEYS",
    "Action",
    "Formula",
    "FormulaContext",
    "FormulaError",
    "OutputSpec",
    "Userinfo",
    "apply_defaults",
    "canonical_pack_filters",
    "clone",
    "expect_object",
    "parse_context",
    "parse_formula",
    "parse_formula_document",
    "parse_ware_id",
    "type_name",
]

DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FILTER_KEYS = KEYS



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


# -- the model ------------------------------------------------------------------


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


# -- helpers ----------------------------------------------------------------------


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


def _check_key(key: str, path: JsonPath, absolute: bool) -> None:
    if _has_surrogate(key):
        raise FormulaError(path, "key contains a lone UTF-16 surrogate", at_key=True)
    if absolute and not key.startswith("/"):
        raise FormulaError(path, f"mount path {key!r} must be absolute (start with '/')", at_key=True)


def _reject_unknown(obj: Mapping[str, Any], allowed: tuple[str, ...], path: JsonPath, what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise FormulaError(
                path + (key,),
                f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})",
                at_key=True,
            )


def _absolute(value: str, path: JsonPath, what: str) -> str:
    if value and not value.startswith("/"):
        raise FormulaError(path, f"{what} {value!r} must be an absolute path (start with '/')")
    return value


# -- parsing ------------------------------------------------------------------------


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
        _check_key(key, here, absolute=True)
        inputs[key] = parse_ware_id(_expect_string(item, here), here)
    return inputs


def parse_ware_id(text: str, path: JsonPath) -> WareID:
    """``<packtype>:<hash>`` split at the first colon, both parts non-empty."""
    packtype, colon, hash_ = text.partition(":")
    if not colon:
        raise FormulaError(path, f"ware ID {text!r} has no ':' (expected '<packtype>:<hash>', e.g. 'tar:6q7G4h...')")
    if not packtype:
        raise FormulaError(path, f"ware ID {text!r} has an empty packtype before ':'")
    if not hash_:
        raise FormulaError(path, f"ware ID {text!r} has an empty hash after ':'")
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
        fields["cwd"] = _absolute(_expect_string(obj["cwd"], path + ("cwd",)), path + ("cwd",), "cwd")
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
        _check_key(key, path + (key,), absolute=False)
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
        here = path + ("homedir",)
        fields["homedir"] = _absolute(_expect_string(obj["homedir"], here), here, "homedir")
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
        _check_key(key, here, absolute=True)
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
                raise FormulaError(here, "filters must be an object such as {\"uid\": \"keep\"}; "
                                         "the string form 'uid=keep' is not accepted in a formula")
            filters = {}
            for key, item in expect_object(raw, here).items():
                if key not in FILTER_KEYS:
                    raise FormulaError(here + (key,), f"unknown filter {key!r} (allowed: {', '.join(FILTER_KEYS)})",
                                       at_key=True)
                filters[key] = _expect_string(item, here + (key,))
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
            _check_key(key, here + (key,), absolute=True)
            fetch[key] = _parse_string_list(item, here + (key,)) or ()
    save: dict[str, str] = {}
    here = path + ("saveUrls",)
    if obj.get("saveUrls") is not None:
        for key, item in expect_object(obj["saveUrls"], here).items():
            _check_key(key, here + (key,), absolute=True)
            save[key] = _expect_string(item, here + (key,))
    return FormulaContext(fetch_urls=fetch, save_urls=save)


# -- filters ------------------------------------------------------------------------------

def canonical_pack_filters(filters: Mapping[str, str], path: JsonPath = ("filters",)) -> dict[str, str]:
    """The filter map as repeatr re-marshals it (and hashes it), keys sorted.

    Each value is parsed the way ``filesetFiltersSerialComp.go`` parses it and
    written back with ``string_*`` (see :func:`r2k8s.core.filters.canonical_value`);
    unspecified values drop out. Unknown keys are refused.
    """
    out: dict[str, str] = {}
    for key in sorted(filters):
        here = path + (key,)
        if key not in FILTER_KEYS:
            raise FormulaError(here, f"unknown filter {key!r} (allowed: {', '.join(FILTER_KEYS)})", at_key=True)
        try:
            canonical = canonical_value(PACK, key, filters[key], serialised=True)
        except FilterValueError as exc:
            raise FormulaError(here, exc.problem) from None
        if canonical is not None:
            out[key] = canonical
    return out


# -- defaults -----------------------------------------------------------------------------


def clone(formula: Formula) -> Formula:
    """repeatr's ``Formula.Clone()``: a refmt marshal/unmarshal round trip.

    What the round trip changes: absent output filters come back as ``{}``
    (the quirk behind §2.2), filter values come back canonical, and an empty
    ``env`` or ``exec`` is dropped by omitempty and comes back as ``None``.
    Everything else survives unchanged (``inputs: {}`` stays ``{}``).
    """
    action = formula.action
    action = dataclasses.replace(
        action,
        exec=action.exec or None,
        env=dict(action.env) if action.env else None,
    )
    outputs = None
    if formula.outputs is not None:
        outputs = {
            path: OutputSpec(spec.packtype, canonical_pack_filters(spec.filters or {}, ("outputs", path, "filters")))
            for path, spec in formula.outputs.items()
        }
    inputs = dict(formula.inputs) if formula.inputs is not None else None
    return Formula(inputs=inputs, action=action, outputs=outputs)


def apply_defaults(formula: Formula) -> Formula:
    """repeatr's ``executor/cradle.FormulaDefaults`` (cradle.go L15-93), exactly.

    Clone first; userinfo and uid/gid 1000 always; cwd ``/task`` (``/`` when
    ``cradle`` is ``"disable"``); with the cradle on, also username
    (``root``/``reuser``), homedir (``/root``/``/home/<username>``) and the
    ``HOME``, ``USER`` and ``PATH`` variables where absent. Policy, hostname and
    output filters are *not* defaulted here (they are at exec/pack time).
    """
    formula = clone(formula)
    action = formula.action
    userinfo = action.userinfo or Userinfo()
    userinfo = dataclasses.replace(
        userinfo,
        uid=1000 if userinfo.uid is None else userinfo.uid,
        gid=1000 if userinfo.gid is None else userinfo.gid,
    )
    cwd = action.cwd or ("/task" if action.cradle_enabled else "/")
    if not action.cradle_enabled:
        return dataclasses.replace(formula, action=dataclasses.replace(action, userinfo=userinfo, cwd=cwd))
    username = userinfo.username or ("root" if userinfo.uid == 0 else "reuser")
    homedir = userinfo.homedir or ("/root" if userinfo.uid == 0 else f"/home/{username}")
    userinfo = dataclasses.replace(userinfo, username=username, homedir=homedir)
    env = dict(action.env or {})
    env.setdefault("HOME", homedir)
    env.setdefault("USER", username)
    env.setdefault("PATH", DEFAULT_PATH_ENV)
    action = dataclasses.replace(action, userinfo=userinfo, cwd=cwd, env=env)
    return dataclasses.replace(formula, action=action)
