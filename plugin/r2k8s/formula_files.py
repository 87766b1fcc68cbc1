"""Load a formula file, modern or legacy, JSON or YAML, with errors that say FILE:LINE:COL.

Detection (by content, not file name):

* a document whose top level has ``formula`` is a **modern** formula
  (``{"formula": …, "context": …}``, as ``repeatr run`` reads it);
* one whose top level has ``inputs``, ``action`` or ``outputs`` is a **legacy**
  formula (repeatr v0.13-v0.15).

Syntax:

* a file starting with ``{`` is read with repeatr's lenient JSON decoder
  (:mod:`r2k8s.core.lenient_json`). Only if that fails *and* the text is a
  legacy formula in YAML flow syntax is it read as YAML: a modern formula must
  be in repeatr's JSON dialect, because a YAML reading of text refmt reads
  differently could change its formula ID;
* anything else is YAML. Modern YAML has exactly the JSON shape; the YAML 1.1
  resolution rules apply, so ``yes``/``no``/``on``/``off`` are booleans,
  ``0644`` is octal, ``12:30`` is sexagesimal and ``2001-12-14`` a date. Where
  a string is required such a value is an error that names the field and says
  to quote it; an integer (``uid``) written any way but plain decimal is refused
  too. Duplicate keys, multiple documents and tags other than the core ones are
  refused.
* legacy files are always read the way ``api/hitch.DecodeYaml`` did: leading
  tabs of every line become two spaces each (``cereal.Tab2space``), then YAML
  with **go-yaml v2's** resolution rules (``y``/``n`` are booleans too; ``12:30``
  and ``1e3`` stay strings; no timestamps), duplicate keys keep the last value.
  A legacy file in JSON syntax is read the same way, as repeatr did.

Validation: the JSON Schemas in ``schemas/`` (the same ones editors use), then
the typed model, which adds the checks a schema cannot express. Every error
becomes one line ``FILE:LINE:COL: $.json.path: problem`` (several lines if the
schema finds several problems), raised as ``R2k8sError(Category.USAGE, …)``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from r2k8s.core import lenient_json
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula import Formula, FormulaContext, FormulaError, parse_formula_document, type_name
from r2k8s.core.legacy_formula import LegacyFormula, LegacyInputRef, ignored_keys, parse_legacy_formula, to_modern
from r2k8s.core.lenient_json import (
    DEFAULT_MAX_DEPTH,
    JsonPath,
    JsonSyntaxError,
    Position,
    SourceMap,
    json_path,
)

__all__ = ["LoadedFormula", "load_formula_bytes", "load_formula_file"]

Kind = Literal["modern", "legacy"]
MAX_REPORTED_ERRORS = 20
MAX_YAML_NODES = 100_000
"""Alias expansion ("billion laughs") stops here instead of exhausting memory."""


@dataclasses.dataclass(frozen=True)
class LoadedFormula:
    """A formula file, parsed: the modern model to run, and the legacy original if any."""

    path: Path
    kind: Kind
    formula: Formula
    context: FormulaContext
    legacy: LegacyFormula | None = None
    """The legacy formula as repeatr v0.15 decoded it (hash it with ``legacy_setup_hash``)."""
    legacy_inputs: dict[str, LegacyInputRef] = dataclasses.field(default_factory=dict)
    """For legacy files: mount path -> legacy input, whose ware ID carries a legacy hash."""
    notes: tuple[str, ...] = ()
    """Warnings: keys repeatr ignored, trailing bytes it ignored, what a legacy conversion dropped."""

    @property
    def formula_id(self) -> str:
        """What ``repeatr run`` reports as the formulaID: the legacy setup hash for legacy files."""
        from r2k8s.core.formula_id import formula_id, legacy_setup_hash

        return legacy_setup_hash(self.legacy) if self.kind == "legacy" and self.legacy else formula_id(self.formula)


# -- public entry points ----------------------------------------------------------------


def load_formula_file(path: str | os.PathLike[str]) -> LoadedFormula:
    """Read and parse the formula file at ``path``; see the module docstring."""
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"error opening formula file: {file_path}: {exc.strerror or exc}") from None
    return load_formula_bytes(data, str(file_path), path=file_path)


def load_formula_bytes(data: bytes, source: str, *, path: Path | None = None) -> LoadedFormula:
    """Parse formula file content; ``source`` names it in error messages."""
    loader = _Loader(data, source, path if path is not None else Path(source))
    return loader.load()


# -- schemas ------------------------------------------------------------------------------


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    text = importlib.resources.files("r2k8s").joinpath("schemas", name).read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@dataclasses.dataclass(frozen=True)
class _Problem:
    path: JsonPath
    message: str
    at_key: bool = False


def _schema_problems(value: Any, schema_name: str) -> list[_Problem]:
    problems: list[_Problem] = []
    for error in _validator(schema_name).iter_errors(value):
        problems.extend(_describe_schema_error(error))
    return problems


def _describe_schema_error(error: jsonschema.ValidationError) -> Iterator[_Problem]:
    path: JsonPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "propertyNames" in error.absolute_schema_path:
        key = error.instance
        yield _Problem(path + (key,), f"key {key!r} {schema.get('patternErrorMessage', error.message)}", at_key=True)
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = schema.get("properties", {})
        for key in error.instance:
            if key not in known:
                yield _Problem(path + (key,), f"unknown key {key!r} (allowed: {', '.join(known)})", at_key=True)
        return
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        wanted_text = " or ".join(_article(w) for w in wanted)
        yield _Problem(path, f"expected {wanted_text}, got {_short(error.instance)}")
        return
    if error.validator == "pattern" and "patternErrorMessage" in schema:
        yield _Problem(path, f"{error.instance!r} {schema['patternErrorMessage']}")
        return
    if error.validator == "enum":
        choices = ", ".join("null" if c is None else repr(c) for c in error.validator_value)
        shown = repr(error.instance) if isinstance(error.instance, str) else _short(error.instance)
        yield _Problem(path, f"{shown} is not one of {choices}")
        return
    if error.validator == "required":
        yield _Problem(path, error.message.replace("is a required property", "is required"))
        return
    yield _Problem(path, error.message)


def _article(json_type: str) -> str:
    return {"array": "an array", "object": "an object", "integer": "an integer", "null": "null"}.get(
        json_type, f"a {json_type}"
    )


def _short(value: Any) -> str:
    name = type_name(value)
    if value is None or isinstance(value, (dict, list)):
        return name
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return f"{name} {text[:40] + '...' if len(text) > 40 else text}"


# -- YAML -----------------------------------------------------------------------------------

_PLAIN = "tag:r2k8s.dev,2024:plain"
_CORE = "tag:yaml.org,2002:"
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")


class _ComposeLoader(yaml.SafeLoader):
    """Composes nodes only; plain scalars get a marker tag so we resolve them ourselves."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:  # type: ignore[override]
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


_RESOLVER = yaml.SafeLoader("")  # PyYAML's own implicit resolver and constructors, for modern YAML


def _pyyaml_plain(text: str) -> tuple[str, Any]:
    """YAML 1.1 as PyYAML reads a plain scalar: (resolved tag, value)."""
    tag = yaml.resolver.Resolver.resolve(_RESOLVER, ScalarNode, text, (True, False))
    if tag == _CORE + "str":
        return tag, text
    node = ScalarNode(tag, text)
    constructor = _RESOLVER.yaml_constructors.get(tag)
    try:
        return tag, constructor(_RESOLVER, node) if constructor else text
    except (ValueError, OverflowError, yaml.YAMLError):
        return _CORE + "str", text


# go-yaml v2 (cd8b52f) resolve.go, for legacy files.
_GOYAML_MAP: dict[str, Any] = {}
for _words, _value in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    (("", "~", "null", "Null", "NULL"), None),
    ((".nan", ".NaN", ".NAN"), float("nan")),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    (("-.inf", "-.Inf", "-.INF"), float("-inf")),
):
    for _word in _words:
        _GOYAML_MAP[_word] = _value
_GOYAML_FLOAT = re.compile(r"[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?\Z")
_GO_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\Z")


def _go_parse_int_base0(text: str) -> int | None:
    """Go (pre-1.13) ``strconv.ParseInt(s, 0, 64)``/``ParseUint``: 0x hex, leading-0 octal, decimal."""
    sign = 1
    body = text
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        return None
    try:
        if body[:2] in ("0x", "0X"):
            if len(body) < 3 or not all(c in "0123456789abcdefABCDEF" for c in body[2:]):
                return None
            value = int(body[2:], 16)
        elif body[0] == "0" and len(body) > 1:
            if not all(c in "01234567" for c in body[1:]):
                return None
            value = int(body[1:], 8)
        else:
            if not body.isascii() or not body.isdigit():
                return None
            value = int(body)
    except ValueError:
        return None
    value *= sign
    return value if -(1 << 63) <= value < (1 << 64) else None


def _goyaml_plain(text: str) -> tuple[str, Any]:
    """go-yaml v2 ``resolve("", in)`` for a plain scalar: (kind tag, value)."""
    if text in _GOYAML_MAP:
        value = _GOYAML_MAP[text]
        kind = "null" if value is None else ("bool" if isinstance(value, bool) else "float")
        return _CORE + kind, value
    hint = text[:1]
    if hint == ".":
        if _GO_FLOAT.match(text):
            return _CORE + "float", float(text)
    elif hint and (hint in "+-" or hint.isdigit()) and hint.isascii():
        plain = text.replace("_", "")
        number = _go_parse_int_base0(plain)
        if number is not None:
            return _CORE + "int", number
        if _GOYAML_FLOAT.match(plain):
            try:
                return _CORE + "float", float(plain)
            except ValueError:
                pass
        for prefix, sign in (("0b", 1), ("-0b", -1)):
            digits = plain[len(prefix):]
            if plain.startswith(prefix) and digits and all(c in "01" for c in digits):
                return _CORE + "int", sign * int(digits, 2)
    return _CORE + "str", text


@dataclasses.dataclass
class _Scalar:
    text: str
    plain: bool
    tag: str


class _YamlBuilder:
    """Turns a composed node tree into plain Python values, recording positions and scalars."""

    def __init__(self, source: str, legacy: bool, column_fix: Any) -> None:
        self.source = source
        self.legacy = legacy
        self.column_fix = column_fix
        self.values: dict[JsonPath, Position] = {}
        self.keys: dict[JsonPath, Position] = {}
        self.scalars: dict[JsonPath, _Scalar] = {}
        self.count = 0
        self.active: set[int] = set()
        self.flow = 0  # depth of enclosing flow collections ([...] / {...})

    def mark(self, node: Node) -> Position:
        line = node.start_mark.line
        return Position(line + 1, self.column_fix(line, node.start_mark.column) + 1)

    def fail(self, node: Node, path: JsonPath, problem: str) -> R2k8sError:
        return R2k8sError(Category.USAGE, f"{self.source}:{self.mark(node)}: {json_path(path)}: {problem}")

    def build(self, node: Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_YAML_NODES:
            raise self.fail(node, path, f"more than {MAX_YAML_NODES} YAML nodes (alias expansion?)")
        if len(path) >= DEFAULT_MAX_DEPTH:
            raise self.fail(node, path, f"nesting deeper than {DEFAULT_MAX_DEPTH} levels is not accepted")
        if id(node) in self.active:
            raise self.fail(node, path, "recursive YAML alias")
        self.values[path] = self.mark(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        flow = bool(getattr(node, "flow_style", False))
        self.flow += flow
        try:
            if isinstance(node, SequenceNode):
                self.expect_tag(node, path, "seq")
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            self.expect_tag(node, path, "map")
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
            self.flow -= flow

    def expect_tag(self, node: Node, path: JsonPath, kind: str) -> None:
        if node.tag != _CORE + kind:
            raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}")

    def scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        text = node.value
        if node.tag == _PLAIN:
            self.check_goyaml_flow_colon(node, path)
            tag, value = (_goyaml_plain if self.legacy else _pyyaml_plain)(text)
            self.scalars[path] = _Scalar(text, True, tag)
            return value
        self.scalars[path] = _Scalar(text, False, node.tag)
        if node.tag == _CORE + "str":
            return text
        if node.tag in (_CORE + "int", _CORE + "float", _CORE + "bool", _CORE + "null"):
            constructor = _RESOLVER.yaml_constructors[node.tag]
            try:
                return constructor(_RESOLVER, node)
            except (ValueError, OverflowError, yaml.YAMLError):
                raise self.fail(node, path, f"{text!r} is not a valid {node.tag[len(_CORE):]}") from None
        raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}")

    def check_goyaml_flow_colon(self, node: ScalarNode, path: JsonPath) -> None:
        # libyaml, and so go-yaml v2, stops with "found unexpected ':'" on an unquoted
        # value containing ':' inside [ ] or { }; PyYAML reads it. Refuse it for
        # legacy files, which repeatr v0.15 read with go-yaml.
        if self.legacy and self.flow and ":" in node.value:
            raise self.fail(node, path, f"unquoted {node.value!r} contains ':' inside [ ] or {{ }}, which "
                                        "repeatr v0.15's YAML parser rejects; quote it")

    def mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        explicit: set[str] = set()
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _PLAIN and key_node.value == "<<":
                merged.extend(self.merge_sources(value_node, path))
                continue
            key = self.key(key_node, path)
            if key in explicit and not self.legacy:
                first = self.keys[path + (key,)]
                raise self.fail(key_node, path, f"duplicate key {key!r} (first at {first})")
            explicit.add(key)
            self.keys[path + (key,)] = self.mark(key_node)
            out.pop(key, None)  # go-yaml keeps the last value
            out[key] = self.build(value_node, path + (key,))
        for key_node, value_node in merged:  # explicit keys win over merged ones
            key = self.key(key_node, path)
            if key not in out:
                self.keys[path + (key,)] = self.mark(key_node)
                out[key] = self.build(value_node, path + (key,))
        return out

    def merge_sources(self, node: Node, path: JsonPath) -> list[tuple[Node, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        pairs: list[tuple[Node, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.fail(source, path, "a '<<' merge key needs a mapping (or a list of mappings)")
            pairs.extend(source.value)
        return pairs

    def key(self, node: Node, path: JsonPath) -> str:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, path, "mapping keys must be plain strings")
        if node.tag == _PLAIN:
            self.check_goyaml_flow_colon(node, path)
            tag, value = (_goyaml_plain if self.legacy else _pyyaml_plain)(node.value)
        else:
            tag, value = node.tag, node.value
        if tag != _CORE + "str":
            raise self.fail(node, path, f"mapping key {node.value!r} is read as a {tag[len(_CORE):]}, "
                                        "not a string; quote it")
        return value


def _tab2space(data: bytes) -> bytes:
    """repeatr's ``cereal.Tab2space``: every *leading* tab of a line becomes two spaces."""
    out = []
    for line in data.split(b"\n"):
        stripped = line.lstrip(b"\t")
        out.append(b"  " * (len(line) - len(stripped)) + stripped)
    return b"\n".join(out)


def _leading_tabs(data: bytes) -> list[int]:
    return [len(line) - len(line.lstrip(b"\t")) for line in data.split(b"\n")]


@dataclasses.dataclass
class _YamlDoc:
    value: Any
    builder: _YamlBuilder


def _compose(data: bytes, source: str, column_fix: Any) -> Node | None:
    loader = None
    try:
        loader = _ComposeLoader(data)  # the reader already checks encoding and characters
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{column_fix(mark.line, mark.column) + 1}" if mark else "?"
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise R2k8sError(Category.USAGE, f"{source}:{where}: YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise R2k8sError(Category.USAGE, f"{source}: YAML: {exc}") from None
    except RecursionError:
        raise R2k8sError(Category.USAGE, f"{source}: YAML nesting is too deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def _top_level_kind(node: Node | None) -> Kind | None:
    if not isinstance(node, MappingNode):
        return None
    names = {k.value for k, _ in node.value if isinstance(k, ScalarNode)}
    if "formula" in names:
        return "modern"
    if names & {"inputs", "action", "outputs"}:
        return "legacy"
    return None


# -- the loader -------------------------------------------------------------------------------


class _Loader:
    def __init__(self, data: bytes, source: str, path: Path) -> None:
        self.data = data
        self.source = source
        self.path = path

    def load(self) -> LoadedFormula:
        if self.data.lstrip(b" \t\r\n").startswith((b"{", b"\xef\xbb\xbf{")):
            try:
                doc = lenient_json.loads(self.data, source=self.source)
            except JsonSyntaxError as json_error:
                # Only legacy files may fall back to YAML: repeatr v0.15 read them as YAML.
                # A modern file that refmt's decoder reads differently from YAML must not
                # be rescued by a YAML reading (e.g. a bare key, which refmt replaces with
                # the previous token), or its formula ID could differ from repeatr's.
                if _top_level_kind(self._try_compose(_tab2space(self.data))) == "legacy":
                    return self._legacy()
                raise json_error from None
            if isinstance(doc.value, dict) and "formula" in doc.value:
                return self._modern_json(doc)
            if isinstance(doc.value, dict) and doc.value.keys() & {"inputs", "action", "outputs"}:
                return self._legacy()
            raise self._not_a_formula()
        no_fix = _no_column_fix
        try:
            node = _compose(self.data, self.source, no_fix)
        except R2k8sError as yaml_error:
            if b"\n\t" in b"\n" + self.data and _top_level_kind(self._try_compose(_tab2space(self.data))) == "legacy":
                return self._legacy()
            raise yaml_error from None
        kind = _top_level_kind(node)
        if kind == "modern":
            return self._modern_yaml(node)
        if kind == "legacy":
            return self._legacy()
        raise self._not_a_formula()

    def _try_compose(self, data: bytes) -> Node | None:
        try:
            return _compose(data, self.source, _no_column_fix)
        except R2k8sError:
            return None

    def _not_a_formula(self) -> R2k8sError:
        return R2k8sError(
            Category.USAGE,
            f"{self.source}: not a formula: expected a top-level 'formula' (modern) "
            "or 'inputs'/'action'/'outputs' (legacy) key",
        )

    # modern

    def _modern_json(self, doc: lenient_json.Document) -> LoadedFormula:
        notes = []
        if doc.trailing is not None:
            notes.append(f"{self.source}:{doc.trailing}: text after the formula is ignored (as repeatr does)")
        return self._modern(doc.value, doc.source_map, {}, tuple(notes))

    def _modern_yaml(self, node: Node | None) -> LoadedFormula:
        builder = _YamlBuilder(self.source, legacy=False, column_fix=_no_column_fix)
        value = builder.build(node, ()) if node is not None else None
        source_map = SourceMap(builder.values, builder.keys)
        loaded = self._modern(value, source_map, builder.scalars, ())
        self._check_yaml_ints(value, builder, source_map)
        return loaded

    def _modern(self, value: Any, source_map: SourceMap, scalars: dict[JsonPath, _Scalar],
                notes: tuple[str, ...]) -> LoadedFormula:
        problems = _schema_problems(value, "formula.schema.json")
        if problems:
            raise self._report(problems, source_map, scalars)
        try:
            formula, context = parse_formula_document(value)
        except FormulaError as exc:
            raise self._report([_Problem(exc.path, exc.problem, exc.at_key)], source_map, scalars) from None
        return LoadedFormula(self.path, "modern", formula, context, notes=notes)

    def _check_yaml_ints(self, value: Any, builder: _YamlBuilder, source_map: SourceMap) -> None:
        problems = []
        for path, scalar in builder.scalars.items():
            if scalar.plain and scalar.tag == _CORE + "int" and not _DECIMAL.match(scalar.text):
                resolved = _lookup(value, path)
                problems.append(_Problem(
                    path,
                    f"YAML 1.1 reads the unquoted {scalar.text!r} as the integer {resolved!r}; "
                    "write integers in plain decimal",
                ))
        if problems:
            raise self._report(problems, source_map, {})

    # legacy

    def _legacy(self) -> LoadedFormula:
        data = _tab2space(self.data)
        tabs = _leading_tabs(self.data)

        def column_fix(line: int, column: int) -> int:
            count = tabs[line] if line < len(tabs) else 0
            return column // 2 if column < 2 * count else column - count

        node = _compose(data, self.source, column_fix)
        builder = _YamlBuilder(self.source, legacy=True, column_fix=column_fix)
        value = builder.build(node, ()) if node is not None else None
        source_map = SourceMap(builder.values, builder.keys)
        problems = _schema_problems(value, "formula-legacy.schema.json")
        if problems:
            raise self._report(problems, source_map, builder.scalars)
        try:
            legacy = parse_legacy_formula(value)
            view = to_modern(legacy)
        except FormulaError as exc:
            raise self._report([_Problem(exc.path, exc.problem, exc.at_key)], source_map, builder.scalars) from None
        notes = [
            f"{self._where(source_map, path, True)}{json_path(path)}: unknown key ignored (as repeatr v0.15 did)"
            for path in ignored_keys(value)
        ]
        notes.extend(f"{self.source}: {note}" for note in view.notes)
        return LoadedFormula(self.path, "legacy", view.formula, view.context, legacy, view.legacy_inputs,
                             tuple(notes))

    # errors

    def _where(self, source_map: SourceMap, path: JsonPath, at_key: bool) -> str:
        position = source_map.key(path) if at_key else source_map.value(path)
        return f"{self.source}:{position}: " if position else f"{self.source}: "

    def _report(self, problems: list[_Problem], source_map: SourceMap,
                scalars: dict[JsonPath, _Scalar]) -> R2k8sError:
        lines = []
        ordered = sorted(
            problems,
            key=lambda p: ((source_map.key(p.path) if p.at_key else source_map.value(p.path)) or Position(0, 0),
                           json_path(p.path)),
        )
        for problem in ordered[:MAX_REPORTED_ERRORS]:
            # Suggesting quotes only helps where a string was wanted (not for uid: 1.0).
            wants_number = problem.message.startswith(("expected an integer", "expected a boolean"))
            hint = "" if problem.at_key or wants_number else _yaml_hint(scalars.get(problem.path))
            lines.append(f"{self._where(source_map, problem.path, problem.at_key)}"
                         f"{json_path(problem.path)}: {problem.message}{hint}")
        if len(ordered) > MAX_REPORTED_ERRORS:
            lines.append(f"{self.source}: ... and {len(ordered) - MAX_REPORTED_ERRORS} more problems")
        return R2k8sError(Category.USAGE, "\n".join(lines))


def _no_column_fix(line: int, column: int) -> int:
    return column


def _yaml_hint(scalar: _Scalar | None) -> str:
    """Explain a YAML 1.1 surprise when an unquoted scalar did not come out as a string."""
    if scalar is None or not scalar.plain or scalar.tag == _CORE + "str":
        return ""
    kind = scalar.tag[len(_CORE):]
    what = {"bool": "a boolean", "int": "an integer", "float": "a number", "null": "null",
            "timestamp": "a date"}.get(kind, kind)
    quoted = json.dumps(scalar.text, ensure_ascii=False)
    return f" (YAML reads the unquoted {scalar.text!r} as {what}; write {quoted} if you meant a string)"


def _lookup(value: Any, path: JsonPath) -> Any:
    for part in path:
        value = value[part]
    return value
