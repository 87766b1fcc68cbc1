"""Reading formula YAML into plain values while keeping every node's position, with two rule sets.

Modern YAML follows PyYAML's YAML 1.1 resolution; legacy files follow go-yaml
v2's (``api/hitch.DecodeYaml``: leading tabs become two spaces each, ``y``/``n``
are booleans, ``12:30`` and ``1e3`` stay strings, no timestamps). Alias
expansion is bounded by :data:`MAX_YAML_NODES` so a "billion laughs" file
fails fast instead of exhausting memory.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.lenient_json import DEFAULT_MAX_DEPTH, Position
from r2k8s.core.jsonpath import JsonPath, json_path

__all__ = [
    "CORE",
    "DECIMAL",
    "MAX_YAML_NODES",
    "ColumnFix",
    "Kind",
    "Scalar",
    "YamlBuilder",
    "compose",
    "leading_tabs",
    "tab2space",
    "top_level_kind",
]

Kind = Literal["modern", "legacy"]
"""The two formula formats a file can hold."""

MAX_YAML_NODES = 100_000
"""Alias expansion ("billion laughs") stops here instead of exhausting memory."""


_PLAIN = "tag:r2k8s.dev,2024:plain"


CORE = "tag:yaml.org,2002:"


DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")


ColumnFix: TypeAlias = Callable[[int, int], int]
"""Maps a (0-based line, column) of the YAML that was parsed to the column in the file as written."""

_Resolve: TypeAlias = Callable[[type[Node], str | None, tuple[bool, bool] | bool], str]
"""PyYAML's ``BaseResolver.resolve`` (unannotated in its stubs): the tag for a node's kind, value and
implicit flags, which are (plain, non-plain) for a scalar and one bool for a collection."""


class _ComposeLoader(yaml.SafeLoader):
    """Composes nodes only; plain scalars get a marker tag so we resolve them ourselves."""

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool] | bool) -> str:
        if kind is ScalarNode and isinstance(implicit, tuple) and implicit[0]:
            return _PLAIN
        resolve: _Resolve = super().resolve
        return resolve(kind, value, implicit)


_RESOLVER = yaml.SafeLoader("")  # PyYAML's own implicit resolver and constructors, for modern YAML
_pyyaml_resolve: _Resolve = _RESOLVER.resolve


def _pyyaml_plain(text: str) -> tuple[str, Any]:
    """YAML 1.1 as PyYAML reads a plain scalar: (resolved tag, value)."""
    tag = _pyyaml_resolve(ScalarNode, text, (True, False))
    if tag == CORE + "str":
        return tag, text
    node = ScalarNode(tag, text)
    constructor = _RESOLVER.yaml_constructors.get(tag)
    try:
        return tag, constructor(_RESOLVER, node) if constructor else text
    except (ValueError, OverflowError, yaml.YAMLError):
        return CORE + "str", text


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
        return CORE + kind, value
    hint = text[:1]
    if hint == ".":
        if _GO_FLOAT.match(text):
            return CORE + "float", float(text)
    elif hint and (hint in "+-" or hint.isdigit()) and hint.isascii():
        plain = text.replace("_", "")
        number = _go_parse_int_base0(plain)
        if number is not None:
            return CORE + "int", number
        if _GOYAML_FLOAT.match(plain):
            try:
                return CORE + "float", float(plain)
            except ValueError:
                pass
        for prefix, sign in (("0b", 1), ("-0b", -1)):
            digits = plain[len(prefix) :]
            if plain.startswith(prefix) and digits and all(c in "01" for c in digits):
                return CORE + "int", sign * int(digits, 2)
    return CORE + "str", text


@dataclasses.dataclass
class Scalar:
    text: str
    plain: bool
    tag: str


class YamlBuilder:
    """Turns a composed node tree into plain Python values, recording positions and scalars."""

    def __init__(self, source: str, legacy: bool, column_fix: ColumnFix) -> None:
        self.source = source
        self.legacy = legacy
        self.column_fix = column_fix
        self.values: dict[JsonPath, Position] = {}
        self.keys: dict[JsonPath, Position] = {}
        self.scalars: dict[JsonPath, Scalar] = {}
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
        if node.tag != CORE + kind:
            raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}")

    def scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        text = node.value
        if node.tag == _PLAIN:
            self.check_goyaml_flow_colon(node, path)
            tag, value = (_goyaml_plain if self.legacy else _pyyaml_plain)(text)
            self.scalars[path] = Scalar(text, True, tag)
            return value
        self.scalars[path] = Scalar(text, False, node.tag)
        if node.tag == CORE + "str":
            return text
        if node.tag in (CORE + "int", CORE + "float", CORE + "bool", CORE + "null"):
            constructor = _RESOLVER.yaml_constructors[node.tag]
            try:
                return constructor(_RESOLVER, node)
            except (ValueError, OverflowError, yaml.YAMLError):
                raise self.fail(node, path, f"{text!r} is not a valid {node.tag[len(CORE) :]}") from None
        raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}")

    def check_goyaml_flow_colon(self, node: ScalarNode, path: JsonPath) -> None:
        # libyaml, and so go-yaml v2, stops with "found unexpected ':'" on an unquoted
        # value containing ':' inside [ ] or { }; PyYAML reads it. Refuse it for
        # legacy files, which repeatr v0.15 read with go-yaml.
        if self.legacy and self.flow and ":" in node.value:
            raise self.fail(
                node,
                path,
                f"unquoted {node.value!r} contains ':' inside [ ] or {{ }}, which "
                "repeatr v0.15's YAML parser rejects; quote it",
            )

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
        text: str = node.value  # a scalar node's value is its text
        if node.tag == _PLAIN:
            self.check_goyaml_flow_colon(node, path)
            tag, _ = (_goyaml_plain if self.legacy else _pyyaml_plain)(text)
        else:
            tag = node.tag
        if tag != CORE + "str":
            raise self.fail(
                node, path, f"mapping key {node.value!r} is read as a {tag[len(CORE) :]}, not a string; quote it"
            )
        return text  # both rule sets resolve a string to the text itself


def tab2space(data: bytes) -> bytes:
    """repeatr's ``cereal.Tab2space``: every *leading* tab of a line becomes two spaces."""
    out = []
    for line in data.split(b"\n"):
        stripped = line.lstrip(b"\t")
        out.append(b"  " * (len(line) - len(stripped)) + stripped)
    return b"\n".join(out)


def leading_tabs(data: bytes) -> list[int]:
    return [len(line) - len(line.lstrip(b"\t")) for line in data.split(b"\n")]


def compose(data: bytes, source: str, column_fix: ColumnFix) -> Node | None:
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


def top_level_kind(node: Node | None) -> Kind | None:
    if not isinstance(node, MappingNode):
        return None
    names = {k.value for k, _ in node.value if isinstance(k, ScalarNode)}
    if "formula" in names:
        return "modern"
    if names & {"inputs", "action", "outputs"}:
        return "legacy"
    return None
