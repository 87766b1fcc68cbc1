"""YAML in and out of the function without changing what the user wrote.

kpt hands a function the package files verbatim and writes back whatever it
returns, so a load/dump cycle must be the identity on everything the
function does not touch: ``yes``, ``0644``, ``12:30:00``, ``1.10`` and
``NO`` stay as written (PyYAML turns them into ``true``, ``420``, ``45000``,
``1.1`` and ``false``), comments and key order survive, long strings are not
folded. ruamel.yaml's round-trip mode does that.

Two things are deliberately *not* preserved:

* **anchors and aliases**: kustomize refuses documents with aliases it cannot
  resolve across its own re-serialisation, and kpt splits items into separate
  files, breaking cross-file aliases. Every alias is expanded to a copy.
* **flow style of new content**: added fields are written in block style,
  because kpt writes the function's style back into the package files.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarfloat import ScalarFloat
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString, ScalarString

from r2k8s.krm.yaml11 import needs_quotes

__all__ = [
    "NestedKeyError",
    "YAMLError",
    "block",
    "dump_documents",
    "expand_aliases",
    "load_documents",
    "needs_quotes",
    "to_plain",
]


class _NoAliasRepresenter(RoundTripRepresenter):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Representer = _NoAliasRepresenter
    yaml.preserve_quotes = True
    yaml.width = 1 << 30  # never fold long strings
    yaml.default_flow_style = False
    return yaml


class NestedKeyError(YAMLError):
    """A mapping key that is a collection holding a collection (``? {a: [b]}``): ruamel.yaml cannot build it.

    Its key types are hashable only over scalars, so it fails with a bare ``TypeError``; this says what it is
    (:func:`r2k8s.krm.limits.nested_key_problem` names the resource and field)."""

    def __str__(self) -> str:
        return "a mapping key that is a mapping or list holding another mapping or list cannot be read"


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, round-trip objects, empty documents left out."""
    try:
        return [doc for doc in _yaml().load_all(text) if doc is not None]
    except TypeError as exc:
        if "unhashable" in str(exc):
            raise NestedKeyError() from None
        raise


def expand_aliases(node: Any) -> Any:
    """Return ``node`` with every shared sub-object replaced by its own copy and anchors dropped.

    Works in place (the top-level object is kept); a child met a second time
    is deep-copied, so that patching one place cannot change the other.
    """
    seen: set[int] = set()

    def visit(value: Any) -> Any:
        if isinstance(value, (dict, list)):
            if id(value) in seen:
                value = copy.deepcopy(value)
            seen.add(id(value))
            items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
            for key, item in items:
                value[key] = visit(item)
        anchor = (
            getattr(value, "anchor", None)
            if isinstance(value, (CommentedBase, ScalarInt, ScalarFloat, ScalarString, ScalarBoolean))
            else None
        )
        if anchor is not None and anchor.value is not None:
            anchor.value = None
            anchor.always_dump = False
        return value

    return visit(node)


def dump_documents(documents: Iterable[Any], *, explicit_start: bool = False) -> str:
    """A block-style YAML stream with ``---`` between documents, no anchors."""
    yaml = _yaml()
    yaml.explicit_start = explicit_start
    buffer = io.StringIO()
    expanded = [expand_aliases(doc) for doc in documents]
    for document in expanded:
        # A flow root (a JSON document) would be written on the marker's line, "--- {...}", which kubectl's
        # document splitter refuses ("only comments may follow ---"): its root goes block, its insides stay.
        if explicit_start and hasattr(document, "fa") and document.fa.flow_style():
            document.fa.set_block_style()
    yaml.dump_all(expanded, buffer)
    return buffer.getvalue()


def to_plain(value: Any) -> Any:
    """A plain ``dict``/``list``/scalar copy (for jsonschema and JSON), dropping round-trip types."""
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def block(value: Any) -> Any:
    """``value`` (plain JSON-like data) as round-trip objects that dump in block style and read back equal.

    New strings of several lines are written as literal blocks (``|``) where that keeps them exact.
    New strings that YAML 1.1 readers would take for a boolean, number, null or
    date (``yes``, ``0644``, ``12:30:00``, ``2024-01-01``) are double-quoted:
    ruamel.yaml speaks YAML 1.2 and would write them plain, and Kubernetes'
    readers would then see ``true`` or ``420`` where a string belongs.
    """
    if isinstance(value, (CommentedBase, ScalarString)):
        return value  # already a round-trip object: written as the user wrote it
    if isinstance(value, dict):
        return CommentedMap((key, block(item)) for key, item in value.items())
    if isinstance(value, list):
        return CommentedSeq(block(item) for item in value)
    if isinstance(value, str) and "\n" in value.rstrip("\n") and _literal_reads_back(value):
        return LiteralScalarString(value)  # a script stays lines (a "|" block), not one quoted line
    if isinstance(value, str) and needs_quotes(value):
        return DoubleQuotedScalarString(value)
    return value


def _literal_reads_back(text: str) -> bool:
    """Whether ``text`` written as a literal block scalar (``|``) reads back as exactly ``text``: not for text
    with control characters, carriage returns or trailing spaces, which only a quoted scalar keeps."""
    if any(ord(c) < 32 and c not in "\t\n" for c in text) or "\x7f" in text:
        return False
    stream = io.StringIO()
    writer = YAML(typ="rt")
    try:
        writer.dump({"v": LiteralScalarString(text)}, stream)
        return bool(YAML(typ="rt").load(stream.getvalue())["v"] == text)
    except YAMLError:
        return False
