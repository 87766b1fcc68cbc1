"""Legacy formulas (repeatr v0.13-v0.15, the format the original r2k8s ran).

Two jobs:

1. Keep the legacy structure (``api/def`` at ``release/v0.15``) exactly as
   repeatr decoded it, because the legacy formula hash
   (:func:`r2k8s.core.formula.ids.legacy_setup_hash`) is computed over it.
2. Convert it into the modern model (:func:`to_modern`) so the modern executor
   can run it, keeping the legacy identity of each input alongside.

Decoding follows ``api/hitch.DecodeYaml`` (YAML → generic value → ugorji
CBOR → ``def.Formula``), as observed against the pinned code:

* unknown keys are **ignored**, at every level (ugorji's default); see
  :func:`ignored_keys` to warn about them;
* a string field accepts a string or ``null`` (read as ``""``); numbers,
  booleans and lists are refused. (ugorji would even turn ``[1]`` into the
  string ``"\\x01"`` and decode a list into a struct; such accidents are
  refused here, which only ever rejects a file);
* ``mount`` defaults to the map key, for inputs and outputs alike;
* ``silo`` is a string or a list of strings; ``null`` and ``[]`` mean none;
* ``policy`` must be ``routine``, ``uidzero``, ``governor`` or ``sysad``
  (``null`` means unset; ``""`` is an error, as upstream);
* ``cradle`` is a boolean or ``null``;
* ``escapes.mounts`` maps container paths to host paths (writable binds);
* an input or output whose value is ``null`` is an error
  ("configuration is empty"); ``inputs: null`` / ``outputs: null`` are empty;
* output ``filters`` are a list of ``"name value"`` lines (``uid``, ``gid``,
  ``mtime``) parsed by ``Filters.FromStringSlice``: blank lines are skipped, a
  repeated name overrides the earlier one, uid/gid must be non-negative. A
  decoded output always has a (possibly empty) filter set: ``OutputGroup``'s
  decoder allocates one, which is why file-loaded outputs hash ``filters: null``
  while the in-memory upstream test vector (nil pointer) omits the key.

What :func:`to_modern` can and cannot map (everything it drops is listed in
:attr:`ModernView.notes`):

* inputs become ``<type>:<hash>`` ware IDs at their mount path. For ``tar``
  the hash is the *legacy* tree hash (base64url), which no modern ware ID
  scheme produces: :attr:`ModernView.legacy_inputs` marks every converted
  input so the fetcher verifies it with the legacy algorithm. Legacy names
  (e.g. ``rootfs``) have no modern place and are kept only there.
* silo URLs with schemes ``file``, ``http``, ``https`` (one ware at that URL)
  and ``file+ca``, ``http+ca``, ``https+ca`` (legacy flat CA layout
  ``<base>/<hash>``) are carried over **verbatim**: the ``+ca`` suffix schemes
  are *not* the modern ``ca+`` prefix schemes (modern CA warehouses shard by
  ``H[0:3]/H[3:6]/H`` and key by the modern hash), so renaming them would point
  at the wrong place. ``s3``, ``gs`` (and their ``+ca`` forms) and anything else
  have no modern transport and are dropped, with a note. Git input silos are
  git remotes and are carried over verbatim.
* an output may list several silos; a modern output has one save URL, so the
  first usable one is kept and the rest are noted.
* escapes (writable host mounts) become ``mount:rw:<host path>`` inputs; host
  paths are copied verbatim, so relative ones resolve against the runner's
  working directory as they did in repeatr v0.15.
* legacy defaults are made explicit, because modern defaults differ: cwd
  ``/task`` (also with the cradle off, where modern would pick ``/``), and per
  policy uid/gid 1000 and ``HOME=/home/luser`` (``routine``) or uid/gid 0 and
  ``HOME=/root`` (the others), plus ``PATH``. The modern cradle also sets a
  ``USER`` variable (``luser``/``root`` here), which legacy repeatr never did.
* ``uidzero`` has no modern policy: it becomes ``routine`` with uid/gid 0
  (legacy ``uidzero`` was exactly "uid 0, no capabilities"); legacy
  ``governor`` and ``sysad`` ran as uid 0, so the uid is made explicit too.
* ``cradle: false`` becomes ``cradle: "disable"``.
* legacy filters (``uid``/``gid``/``mtime``) map to the same modern filter keys;
  legacy had no ``sticky``/``setid``/``dev`` filters and kept those bits, which
  is what the modern defaults do too.

Standard library only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from r2k8s.core.formula.defaults import DEFAULT_PATH_ENV
from r2k8s.core.formula.model import Action, Formula, FormulaContext, FormulaError, OutputSpec, Userinfo
from r2k8s.core.formula.parse import expect_object, type_name
from r2k8s.core.goparse import atoi, rfc3339_unix
from r2k8s.core.jsonpath import JsonPath, json_path
from r2k8s.core.ware.wareid import WareID

__all__ = [
    "LEGACY_POLICIES",
    "LegacyAction",
    "LegacyFilters",
    "LegacyFormula",
    "LegacyInput",
    "LegacyInputRef",
    "LegacyOutput",
    "ModernView",
    "ignored_keys",
    "parse_legacy_filters",
    "parse_legacy_formula",
    "to_modern",
]

LEGACY_POLICIES = ("routine", "uidzero", "governor", "sysad")

FilterValue = int | str | None  # an int, "keep", or None (not set)


@dataclasses.dataclass(frozen=True)
class LegacyFilters:
    """``def.Filters``: each of uid, gid, mtime is unset (``None``), ``"keep"``, or a number.

    ``mtime`` is in Unix seconds (an RFC 3339 date is converted on parsing, as upstream).
    """

    uid: FilterValue = None
    gid: FilterValue = None
    mtime: FilterValue = None

    def as_strings(self) -> tuple[str, ...]:
        """``Filters.AsStringSlice``: ``uid``, ``gid``, ``mtime`` lines in that order."""
        lines = []
        for name in ("uid", "gid", "mtime"):
            value = getattr(self, name)
            if value is None:
                continue
            if value == "keep":
                lines.append(f"{name} keep")
            else:
                lines.append(f"{name} @{value}" if name == "mtime" else f"{name} {value}")
        return tuple(lines)


@dataclasses.dataclass(frozen=True)
class LegacyInput:
    """``def.Input``; ``mount`` already defaulted to the map key by the decoder."""

    type: str = ""
    hash: str = ""
    silo: tuple[str, ...] = ()
    mount: str = ""


@dataclasses.dataclass(frozen=True)
class LegacyOutput:
    """``def.Output``; ``filters`` is ``None`` only for in-memory formulas (nil pointer)."""

    type: str = ""
    hash: str = ""
    silo: tuple[str, ...] = ()
    mount: str = ""
    filters: LegacyFilters | None = None


@dataclasses.dataclass(frozen=True)
class LegacyAction:
    """``def.Action``; ``escape_mounts`` is ``escapes.mounts``: container path -> host path."""

    command: tuple[str, ...] = ()
    cwd: str = ""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    hostname: str = ""
    policy: str = ""
    cradle: bool | None = None
    escape_mounts: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LegacyFormula:
    """``def.Formula``: inputs and outputs are keyed by *name* (often, but not always, a path)."""

    inputs: dict[str, LegacyInput] = dataclasses.field(default_factory=dict)
    action: LegacyAction = dataclasses.field(default_factory=LegacyAction)
    outputs: dict[str, LegacyOutput] = dataclasses.field(default_factory=dict)


# -- parsing ------------------------------------------------------------------------------

_TOP_KEYS = ("inputs", "action", "outputs")
_INPUT_KEYS = ("type", "hash", "silo", "mount")
_OUTPUT_KEYS = ("type", "hash", "silo", "mount", "filters")
_ACTION_KEYS = ("command", "cwd", "env", "hostname", "policy", "cradle", "escapes")
_ESCAPE_KEYS = ("mounts",)


def _object(value: Any, path: JsonPath, *, nullable: bool = True) -> Mapping[str, Any]:
    """An object; ``null`` reads as an empty one where ugorji allowed it."""
    if value is None and nullable:
        return {}
    return expect_object(value, path)


def _string(value: Any, path: JsonPath) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormulaError(path, f"expected a string, got {type_name(value)} {value!r}")
    return value


def _string_list(value: Any, path: JsonPath) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise FormulaError(path, f"expected a list of strings, got {type_name(value)}")
    return tuple(_string(item, path + (i,)) for i, item in enumerate(value))


def _silo(value: Any, path: JsonPath) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):  # coerceStringList: nil is not a string here
                raise FormulaError(path + (i,), f"silo entries must be strings, got {type_name(item)}")
            out.append(item)
        return tuple(out)
    raise FormulaError(path, f"silo must be a string or list of strings, got {type_name(value)}")


def _mount_fields(kind: str, name: str, item: Any, here: JsonPath) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The fields inputs and outputs share (type, hash, silo, mount defaulting to the key)."""
    if item is None:
        raise FormulaError(here, f"{kind} {name!r} configuration is empty")
    obj = _object(item, here, nullable=False)
    common = {
        "type": _string(obj.get("type"), here + ("type",)),
        "hash": _string(obj.get("hash"), here + ("hash",)),
        "silo": _silo(obj.get("silo"), here + ("silo",)),
        "mount": _string(obj.get("mount"), here + ("mount",)) or name,
    }
    return obj, common


def parse_legacy_formula(value: Any, path: JsonPath = ()) -> LegacyFormula:
    """Decode a legacy formula from its generic (YAML/JSON-decoded) value, as repeatr v0.15 did."""
    _refuse_surrogates(value, path)
    top = _object(value, path, nullable=False)
    inputs: dict[str, LegacyInput] = {}
    for name, item in _object(top.get("inputs"), path + ("inputs",)).items():
        _, common = _mount_fields("input", name, item, path + ("inputs", name))
        inputs[name] = LegacyInput(**common)
    outputs: dict[str, LegacyOutput] = {}
    for name, item in _object(top.get("outputs"), path + ("outputs",)).items():
        here = path + ("outputs", name)
        obj, common = _mount_fields("output", name, item, here)
        filters = parse_legacy_filters(_string_list(obj.get("filters"), here + ("filters",)), here + ("filters",))
        outputs[name] = LegacyOutput(**common, filters=filters)
    return LegacyFormula(inputs=inputs, action=_parse_action(top.get("action"), path + ("action",)), outputs=outputs)


def _refuse_surrogates(value: Any, path: JsonPath) -> None:
    """Refuse a string or key holding a UTF-16 surrogate (``"\\ud800"``), anywhere in the document.

    Only an escape writes one (a YAML file must be valid Unicode), and
    repeatr's go-yaml refuses such an escape while scanning, whichever field
    holds it ("found invalid Unicode character escape code"); Python's YAML
    reader lets it through, and the legacy hash could then not even encode
    the string (an internal error). The modern parser refuses them too.
    Walked with a stack: a document may nest deeper than Python recurses.
    """
    pending: list[tuple[Any, JsonPath]] = [(value, path)]
    while pending:
        item, here = pending.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                raise FormulaError(here, "string contains a lone UTF-16 surrogate, which is not valid Unicode text")
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and _has_surrogate(key):
                    raise FormulaError(here + (key,), "key contains a lone UTF-16 surrogate", at_key=True)
                pending.append((child, here + (key,)))
        elif isinstance(item, (list, tuple)):
            pending.extend((child, here + (i,)) for i, child in enumerate(item))


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _parse_action(value: Any, path: JsonPath) -> LegacyAction:
    obj = _object(value, path)
    env = {}
    for key, item in _object(obj.get("env"), path + ("env",)).items():
        env[key] = _string(item, path + ("env", key))
    policy_value = obj.get("policy")
    policy = ""
    if policy_value is not None:
        policy = _string(policy_value, path + ("policy",))
        if policy not in LEGACY_POLICIES:
            raise FormulaError(
                path + ("policy",),
                f"policy value {policy!r} is not a known policy name (known: {', '.join(LEGACY_POLICIES)})",
            )
    cradle = obj.get("cradle")
    if cradle is not None and not isinstance(cradle, bool):
        raise FormulaError(path + ("cradle",), f"expected a boolean, got {type_name(cradle)} {cradle!r}")
    escapes = _object(obj.get("escapes"), path + ("escapes",))
    mounts = {}
    for target, source in _object(escapes.get("mounts"), path + ("escapes", "mounts")).items():
        if not isinstance(source, str):
            raise FormulaError(
                path + ("escapes", "mounts", target), f"host path must be a string, got {type_name(source)}"
            )
        mounts[target] = source
    return LegacyAction(
        command=_string_list(obj.get("command"), path + ("command",)),
        cwd=_string(obj.get("cwd"), path + ("cwd",)),
        env=env,
        hostname=_string(obj.get("hostname"), path + ("hostname",)),
        policy=policy,
        cradle=cradle,
        escape_mounts=mounts,
    )


# Go's unicode.IsSpace, which strings.Fields splits on (Python's str.split also
# splits on U+001C..U+001F, which Go does not).
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _go_fields(line: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for ch in line:
        if ch in _GO_SPACE:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words


def parse_legacy_filters(lines: tuple[str, ...], path: JsonPath = ("filters",)) -> LegacyFilters:
    """``Filters.FromStringSlice``: ``"uid keep"``, ``"gid 0"``, ``"mtime @1262304000"``, ..."""
    values: dict[str, FilterValue] = {}
    for index, line in enumerate(lines):
        here = path + (index,)
        words = _go_fields(line)
        if not words:
            continue
        name = words[0]
        if name in ("uid", "gid"):
            if len(words) != 2:
                raise FormulaError(here, f"{name} filter requires one parameter")
            if words[1] == "keep":
                values[name] = "keep"
                continue
            number = atoi(words[1])
            if number is None or number < 0:
                raise FormulaError(here, f"{name} filter parameter must be non-negative integer")
            values[name] = number
        elif name == "mtime":
            if len(words) == 2 and words[1] == "keep":
                values[name] = "keep"
                continue
            if len(words) == 2 and words[1].startswith("@"):
                number = atoi(words[1][1:])
                if number is None:
                    raise FormulaError(here, "mtime filter parameter starting with '@' should be timestamp integer")
                values[name] = number
                continue
            unix = rfc3339_unix(" ".join(words[1:])) if len(words) >= 2 else None
            if unix is None:
                raise FormulaError(
                    here, "mtime filter requires either RFC3339 date or unix timestamp denoted by prefix with '@'"
                )
            values[name] = unix
        else:
            raise FormulaError(here, f"unknown filter name {name!r} (known: uid, gid, mtime)")
    return LegacyFilters(**values)


def ignored_keys(value: Any) -> list[JsonPath]:
    """Paths of keys repeatr v0.15 silently ignored (unknown fields), for warnings."""
    found: list[JsonPath] = []

    def extra(obj: Any, allowed: tuple[str, ...], path: JsonPath) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            return {}
        found.extend(path + (k,) for k in obj if k not in allowed)
        return obj

    top = extra(value, _TOP_KEYS, ())
    for group, allowed in (("inputs", _INPUT_KEYS), ("outputs", _OUTPUT_KEYS)):
        members = top.get(group)
        if isinstance(members, Mapping):
            for name, item in members.items():
                extra(item, allowed, (group, name))
    action = extra(top.get("action"), _ACTION_KEYS, ("action",))
    extra(action.get("escapes"), _ESCAPE_KEYS, ("action", "escapes"))
    return found


# -- conversion to the modern model --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LegacyInputRef:
    """The legacy identity of a converted input: its name and legacy ``type``/``hash``."""

    name: str
    type: str
    hash: str


@dataclasses.dataclass(frozen=True)
class ModernView:
    """A legacy formula expressed in the modern model, and what that cost."""

    formula: Formula
    context: FormulaContext
    legacy_inputs: dict[str, LegacyInputRef]
    """Mount path -> legacy input. Their ware IDs carry *legacy* hashes (verify with the legacy tree hash)."""
    notes: tuple[str, ...]
    """Human-readable lines about everything that could not be carried over."""


_KEPT_SCHEMES = ("file", "http", "https", "file+ca", "http+ca", "https+ca")


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def _usable_urls(silo: tuple[str, ...], where: str, kind: str, notes: list[str]) -> tuple[str, ...]:
    if kind == "git":
        return silo  # git remotes, not warehouses: handed on as they are
    kept = []
    for url in silo:
        scheme = _scheme(url)
        if scheme in _KEPT_SCHEMES:
            kept.append(url)
        else:
            notes.append(f"{where}: silo {url!r} dropped: scheme {scheme or '(none)'!r} has no modern transport")
    return tuple(kept)


def _modern_filter(value: FilterValue, name: str, where: JsonPath) -> str | None:
    if value is None:
        return None
    if value == "keep":
        return "keep"
    assert isinstance(value, int)
    if value < 0:
        raise FormulaError(where, f"{name} filter {value} is negative, which the modern format cannot express")
    return f"@{value}" if name == "mtime" else str(value)


def to_modern(legacy: LegacyFormula) -> ModernView:
    """Convert for the modern executor; see the module docstring for what maps and what cannot."""
    notes: list[str] = []
    inputs: dict[str, WareID] = {}
    fetch: dict[str, tuple[str, ...]] = {}
    refs: dict[str, LegacyInputRef] = {}
    for name in sorted(legacy.inputs):
        inp = legacy.inputs[name]
        here: JsonPath = ("inputs", name)
        path = _mount_path(inp.mount, here, inputs)
        if not inp.type or not inp.hash:
            raise FormulaError(here, f"input {name!r} needs both a type and a hash to be fetched")
        inputs[path] = WareID(inp.type, inp.hash)
        refs[path] = LegacyInputRef(name, inp.type, inp.hash)
        fetch[path] = _usable_urls(inp.silo, json_path(here), inp.type, notes)
    for target in sorted(legacy.action.escape_mounts):
        source = legacy.action.escape_mounts[target]
        path = _mount_path(target, ("action", "escapes", "mounts", target), inputs)
        inputs[path] = WareID("mount", f"rw:{source}")

    outputs: dict[str, OutputSpec] = {}
    save: dict[str, str] = {}
    for name in sorted(legacy.outputs):
        out = legacy.outputs[name]
        here = ("outputs", name)
        path = _mount_path(out.mount, here, outputs)
        filters = None
        if out.filters is not None:
            given = {
                key: _modern_filter(getattr(out.filters, key), key, here + ("filters",))
                for key in ("uid", "gid", "mtime")
            }
            filters = {k: v for k, v in given.items() if v is not None} or None
        outputs[path] = OutputSpec(packtype=out.type, filters=filters)
        urls = _usable_urls(out.silo, json_path(here), out.type, notes)
        if urls:
            save[path] = urls[0]
            for extra in urls[1:]:
                notes.append(f"{json_path(here)}: silo {extra!r} not used: a modern output saves to one warehouse")

    action = legacy.action
    policy = action.policy or "routine"
    privileged = policy != "routine"
    if policy == "uidzero":
        notes.append("action.policy 'uidzero' has no modern equivalent: mapped to 'routine' with uid/gid 0")
    uid = 0 if privileged else 1000
    homedir = "/root" if privileged else "/home/luser"
    env = dict(action.env)
    env.setdefault("PATH", DEFAULT_PATH_ENV)
    env.setdefault("HOME", homedir)
    modern_action = Action(
        exec=action.command or None,
        policy="routine" if policy == "uidzero" else policy,
        cwd=action.cwd or "/task",
        env=env,
        userinfo=Userinfo(uid=uid, gid=uid, username="root" if privileged else "luser", homedir=homedir),
        cradle="disable" if action.cradle is False else "",
        hostname=action.hostname,
    )
    formula = Formula(inputs=inputs, action=modern_action, outputs=outputs)
    return ModernView(formula, FormulaContext(fetch_urls=fetch, save_urls=save), refs, tuple(notes))


def _mount_path(path: str, where: JsonPath, taken: Mapping[str, Any]) -> str:
    if not path.startswith("/"):
        raise FormulaError(
            where,
            f"mount path {path!r} must be absolute to run on the modern executor "
            "(set 'mount', or name the entry by its path)",
        )
    if path in taken:
        raise FormulaError(where, f"mount path {path!r} is used twice; the modern format keys mounts by path")
    return path
