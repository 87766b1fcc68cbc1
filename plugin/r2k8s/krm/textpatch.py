"""A changed item written without ruamel.yaml where that is certain: ruamel's bytes, each comment on its line.

ruamel.yaml keeps what a user wrote (comments, quotes, ``yes``) but reads and writes every node in pure
Python: about 12 ms for an ordinary Deployment, 50 ms on a loaded machine, per changed item. Most
items are written in the layout ruamel.yaml itself writes (kubectl's: two-space mappings, sequences at
their key's column, one space after the colon, no ``~`` or ``True``), and for such an item its round
trip gives back every line the operations do not touch. So :func:`rewrite`:

1. reads the item's events with libyaml into a small model (mappings, sequences, scalars with the text
   they were written as, the comment after each line and the blank and comment lines after it);
2. writes the model back and insists on getting the item's text exactly: any layout, scalar or comment
   it does not reproduce (a float, a block scalar, a flow collection that is not empty, a quoted key,
   text after a value, …) means ``None``, and the caller takes the ruamel.yaml round trip;
3. applies the JSON-patch operations to the model, new values written by ruamel.yaml's rules for the
   values :func:`r2k8s.krm.yamlio.block` makes (a scalar it is not certain of is written by ruamel.yaml
   itself, once per value);
4. checks that what it wrote reads back as the item with the operations applied.

Comments are not placed as ruamel.yaml places them. ruamel.yaml files the comment lines between two
fields under the last scalar *before* them, so a list element appended to ``env`` lands under the
``# what it may use`` written above ``resources:``, and :mod:`.patch` has to carry such lines by hand when
a collection is replaced or removed. Here a comment stays on the line it was written on, and a comment
line stays above the line it was written above (the rules are above :func:`_apply`); apart from the
comments, the answer is byte for byte what ruamel.yaml's round trip writes for the item without them.
``tests/krm/test_textpatch.py`` proves both over generated items and operations: without comments, the
answer is ruamel.yaml's; with them, it is ruamel.yaml's answer for the bare item with every comment put
back where these rules say, and nothing else differs.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

import yaml

from r2k8s.krm.patch import Operation
from r2k8s.krm.scan import build_mapping, events
from r2k8s.krm.yaml11 import needs_quotes

__all__ = ["rewrite"]


class _Unsure(Exception):
    """ruamel.yaml might write this otherwise: leave it to ruamel.yaml."""


@dataclasses.dataclass(slots=True)
class _Scalar:
    src: str
    """The scalar as written (quotes included)."""
    eol: str = ""
    """What follows it on its line (spaces and a comment), or nothing."""
    gap: str = ""
    """The blank and comment lines after its line."""
    quotes: str = ""
    """``"`` or ``'`` for a string ruamel.yaml holds as a quoted one (read quoted, or quoted by
    :func:`~r2k8s.krm.yamlio.block`): a string set in its place gets its quotes (:func:`_restyled`)."""
    fresh: bool = False
    """Written by the operations (not read)."""


@dataclasses.dataclass(slots=True)
class _Entry:
    key: str
    value: Any
    eol: str = ""
    """A collection value: what follows ``key:`` on its line."""
    gap: str = ""
    """A collection value: the blank and comment lines between ``key:`` and it."""
    fresh: bool = False


@dataclasses.dataclass(slots=True)
class _Map:
    entries: list[_Entry]
    fresh: bool = False


@dataclasses.dataclass(slots=True)
class _Seq:
    """A block sequence. The entry holding it (whose ``gap`` is above its first element) is found on the way to it
    (:func:`_apply`), not kept: the model has no cycles, so it goes when the last reference does (no collector)."""

    items: list[Any]
    fresh: bool = False


_Node = _Scalar | _Map | _Seq

_PLAIN = re.compile(r"(?:[A-Za-z_/]|--?[A-Za-z]|\.\.?/)(?:[A-Za-z0-9_./=@+%~()-]|:(?! |$)| (?![ #]))*(?<! )")
"""Strings both libyaml and ruamel.yaml read back as written plain (a conservative class)."""
_NOT_PLAIN = re.compile(r"^[\[\]{}#&*!|>'\"%@`,]|^[-?:](?: |$)|: | #|:$|^\s|\s$")
"""Strings no YAML writer writes plain: an indicator first, ``: `` or `` #`` inside, white space around."""
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_KEY_OR_DASH = re.compile(r"[^\n]*")


_QUANTITY = re.compile(r"(?!0[xob])[0-9]+(?![eE][0-9]*$)[A-Za-z][A-Za-z0-9]*")
"""Digits, then letters (``64Mi``, a base58 ID): a string to YAML 1.1 and 1.2 alike (no ``1e3``, ``0x1F``)."""


@functools.lru_cache(maxsize=4096)
def _plain_string(text: str) -> bool:
    """Whether ``text`` is written plain (cached: the same names and values come back in every item)."""
    return (
        bool(_PLAIN.fullmatch(text) or _QUANTITY.fullmatch(text))
        and text.lower() not in ("true", "false", "null")
        and not needs_quotes(text)
    )


def _original_scalar(event: Any, src: str) -> bool:
    """Whether ruamel.yaml writes this scalar back as ``src``."""
    value = event.value
    if event.tag is not None and event.tag != "!":
        return False
    if event.style == "":
        if src != value or "\n" in src:
            return False
        return bool(_INT.fullmatch(src)) or src in ("true", "false", "null") or _plain_string(src)
    if not _PRINTABLE.fullmatch(value):
        return False
    if event.style == '"':
        return '"' not in value and "\\" not in value and bool(src == f'"{value}"')
    if event.style == "'":
        return bool(src == "'" + value.replace("'", "''") + "'")
    return False


@functools.lru_cache(maxsize=1024)
def _ruamel_scalar(value: Any) -> str:
    """``value`` as ruamel.yaml writes it as a mapping's value (through :func:`~r2k8s.krm.yamlio.block`)."""
    from r2k8s.krm import yamlio

    written = yamlio.dump_documents([{"k": yamlio.block(value)}])
    if not written.startswith("k: ") or written.count("\n") != 1:
        raise _Unsure("a scalar written on several lines")
    return written[3:-1]


def _new_scalar(value: Any) -> str:
    """A new scalar as ruamel.yaml writes what :func:`~r2k8s.krm.yamlio.block` makes of it."""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is not str or "\n" in value:
        return _ruamel_scalar(value)
    if needs_quotes(value):
        if _PRINTABLE.fullmatch(value):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return _ruamel_scalar(value)
    if _plain_string(value):
        return value
    if _PRINTABLE.fullmatch(value) and _NOT_PLAIN.search(value):
        if "'" in value:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return "'" + value + "'"
    return _ruamel_scalar(value)


def _new(value: Any) -> _Node:
    """``value`` as new nodes (each marked fresh). A string, the commonest, is asked for first: it is neither a
    dict nor a list, and the new values of every changed item (an init container, volumes, env) are ~100 nodes."""
    if type(value) is str:
        return _Scalar(_new_scalar(value), quotes='"' if needs_quotes(value) else "", fresh=True)
    if isinstance(value, dict) and value:
        for key in value:
            if type(key) is not str or not _plain_string(key):
                raise _Unsure("a new key that is not a plain string")
        return _Map([_Entry(key, _new(item)) for key, item in value.items()], fresh=True)
    if isinstance(value, list) and value:
        return _Seq([_new(item) for item in value], fresh=True)
    if isinstance(value, dict):
        return _Scalar("{}", fresh=True)
    if isinstance(value, list):
        return _Scalar("[]", fresh=True)
    return _Scalar(_new_scalar(value), fresh=True)


# --- reading: events to the model -------------------------------------------------------------------------------


_SCALAR_EVENT, _MAPPING_START, _SEQUENCE_START = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
_MAPPING_END, _SEQUENCE_END = yaml.MappingEndEvent, yaml.SequenceEndEvent
"""libyaml makes events of exactly these classes: the reader compares types (``isinstance`` cost 10 % of it)."""


def _end(event: Any) -> int:
    """Where an event ends in the text (libyaml always gives a mark)."""
    return int(event.end_mark.index)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        found = events(text)
        if found is None or yaml.AliasEvent in set(map(type, found)):
            raise _Unsure("no libyaml, or an alias")
        self.events: list[Any] = found
        self.at = 2  # after StreamStart, DocumentStart

    def tail(self, position: int) -> tuple[str, str]:
        """(the rest of the line from ``position``, the blank and comment lines after it)."""
        text = self.text
        end = text.find("\n", position)
        if end < 0:
            return text[position:], ""
        eol = text[position:end]
        if eol and not (eol.lstrip(" ").startswith("#") and eol[0] == " "):
            raise _Unsure("more than a comment after a value")
        start = cursor = end + 1
        while cursor < len(text):
            stop = text.find("\n", cursor)
            line = text[cursor : stop if stop >= 0 else len(text)]
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                break
            cursor = stop + 1 if stop >= 0 else len(text)
        return eol, text[start:cursor]

    def node(self) -> _Node:
        found = self.events
        event = found[self.at]
        self.at += 1
        if event.anchor is not None:
            raise _Unsure("an anchor")
        kind = type(event)
        if kind is _SCALAR_EVENT:
            end = event.end_mark.index
            src = self.text[event.start_mark.index : end]
            if not _original_scalar(event, src):
                raise _Unsure("a scalar ruamel.yaml may write otherwise")
            eol, gap = self.tail(end)
            style = event.style
            return _Scalar(src, eol, gap, style if style == "'" or style == '"' else "")
        if event.tag is not None and event.tag != "!":
            raise _Unsure("an explicit tag")
        end_type = _MAPPING_END if kind is _MAPPING_START else _SEQUENCE_END
        if event.flow_style:
            closing = found[self.at]
            self.at += 1
            src_end = closing.end_mark.index
            src = self.text[event.start_mark.index : src_end]
            if type(closing) is not end_type or src not in ("{}", "[]"):
                raise _Unsure("a flow collection that is not empty")
            eol, gap = self.tail(src_end)
            return _Scalar(src, eol, gap)
        if kind is _SEQUENCE_START:
            items = []
            while type(found[self.at]) is not end_type:
                items.append(self.node())
            self.at += 1
            return _Seq(items)
        entries = []
        text = self.text
        key: Any  # libyaml's event (typed as any: the stubs' marks may be None, libyaml's never are)
        while type(key := found[self.at]) is not end_type:
            self.at += 1
            if type(key) is not _SCALAR_EVENT or key.style != "" or not _plain_string(key.value):
                raise _Unsure("a key that is not a plain string")
            entry = _Entry(key.value, None)
            following = found[self.at]
            kind = type(following)
            if (kind is _MAPPING_START or kind is _SEQUENCE_START) and not following.flow_style:
                colon = _end(key)
                if text[colon : colon + 1] != ":":
                    raise _Unsure("a key not followed by its colon")
                entry.eol, entry.gap = self.tail(colon + 1)
            entry.value = self.node()
            entries.append(entry)
        self.at += 1
        return _Map(entries)


# --- writing: the model to text, as ruamel.yaml does ----------------------------------------------------------


def _write_map(node: _Map, column: int, out: list[str], first: str | None = None) -> None:
    indent = " " * column
    for entry in node.entries:
        value = entry.value
        kind = type(value)  # the model's own classes, never subclassed: compared, not asked (twice a changed item)
        if kind is _Scalar:
            out += (first or indent, entry.key, ": ", value.src, value.eol, "\n", value.gap)
        else:
            out += (first or indent, entry.key, ":", entry.eol, "\n", entry.gap)
            if kind is _Map:
                _write_map(value, column + 2, out)
            else:
                _write_seq(value, column, out)
        first = None


def _write_seq(node: _Seq, column: int, out: list[str]) -> None:
    indent = " " * column
    for item in node.items:
        kind = type(item)
        if kind is _Scalar:
            out += (indent, "- ", item.src, item.eol, "\n", item.gap)
        elif kind is _Map:
            _write_map(item, column + 2, out, indent + "- ")
        else:
            raise _Unsure("a sequence in a sequence")


def _written(root: _Map) -> str:
    out: list[str] = []
    _write_map(root, 0, out)
    return "".join(out)


# --- the operations: where comments go ------------------------------------------------------------------------
#
# Comments stay on the lines they were written on. A comment line describes the line below it (the way
# kubectl-style manifests are written, and kyaml's head comments): new entries and elements go right after the
# last line of what precedes them, above the comment lines there, so a comment never ends up above anything
# but the line it sat above. A replaced scalar keeps the comment after it on its line. A removed key takes its
# own lines with it (the comments on them and between them); the comment lines above it and after its last
# line stay, above the line that now follows them.


def _last_leaf(node: _Node) -> _Scalar:
    """The scalar written last in ``node``: the comment lines after ``node`` are kept on it (:attr:`_Scalar.gap`)."""
    while not isinstance(node, _Scalar):
        node = node.entries[-1].value if isinstance(node, _Map) else node.items[-1]
    return node


def _take_trailing(node: _Node) -> str:
    """Cut the blank and comment lines after ``node``'s last line (they sit above what follows it)."""
    leaf = _last_leaf(node)
    gap, leaf.gap = leaf.gap, ""
    return gap


def _step(node: _Node, part: str) -> tuple[Any, Any]:
    if isinstance(node, _Map):
        for entry in node.entries:
            if entry.key == part:
                return entry, entry.value
        raise _Unsure(f"no key {part!r}")
    if isinstance(node, _Seq) and part.isdigit() and int(part) < len(node.items):
        return int(part), node.items[int(part)]
    raise _Unsure("a path through a scalar")


def _apply(root: _Map, operation: Operation) -> None:
    op, path = operation["op"], str(operation["path"])
    parts = path.split("/")[1:]
    if "~" in path:
        parts = [part.replace("~1", "/").replace("~0", "~") for part in parts]
    if not parts or op not in ("add", "replace", "remove"):
        raise _Unsure(f"a {op} operation")
    node: _Node = root
    slot: Any = None
    for part in parts[:-1]:
        slot, node = _step(node, part)
    owner = slot if isinstance(slot, _Entry) else None  # the key a sequence is the value of
    last = parts[-1]
    if op == "remove":
        _remove(root, node, last)
        return
    value = operation["value"]
    if isinstance(node, _Map):
        for entry in node.entries:
            if entry.key == last:
                _replace(entry, "value", entry.value, value)
                return
        if op == "replace":
            raise _Unsure("replacing a key that is not there")
        if not _plain_string(last):
            raise _Unsure("a new key that is not a plain string")
        entry = _Entry(last, _new(value), fresh=True)
        gap = _take_trailing(node)  # the new key goes above the comment lines after the mapping
        node.entries.append(entry)
        _last_leaf(entry.value).gap = gap
        return
    if not isinstance(node, _Seq):
        raise _Unsure("a path through a scalar")
    if op == "replace":
        index = int(last) if last.isdigit() else len(node.items)
        if index >= len(node.items):
            raise _Unsure("replacing past the end")
        _replace(node.items, index, node.items[index], value)
        return
    index = len(node.items) if last == "-" else int(last) if last.isdigit() else -1
    if not 0 <= index <= len(node.items) or not node.items:
        raise _Unsure("an index past the end")
    new = _new(value)
    if index:
        gap = _take_trailing(node.items[index - 1])  # they sit above the element that was at ``index``
    elif owner is not None:
        gap, owner.gap = owner.gap, ""  # the lines between ``key:`` and the first element
    else:
        raise _Unsure("a first element of a sequence with no key")
    node.items.insert(index, new)
    _last_leaf(new).gap = gap


def _gap_above(root: _Map, target: _Entry) -> _Scalar | _Entry | None:
    """What holds the blank and comment lines written right above ``target``'s key line (its ``- `` line, for
    the first key of a list element), or ``None`` for the item's first line."""
    above: _Scalar | _Entry | None = None
    stack: list[Any] = [root]
    while stack:  # the model in writing order
        here = stack.pop()
        if isinstance(here, _Scalar):
            above = here
        elif isinstance(here, _Entry):
            if here is target:
                return above
            if isinstance(here.value, _Scalar):
                above = here.value
            else:
                above = here
                stack.append(here.value)
        elif isinstance(here, _Map):
            stack.extend(reversed(here.entries))
        else:
            stack.extend(reversed(here.items))
    raise _Unsure("a key not in the item")


def _starts(node: _Node) -> Any:
    """The entries and elements of ``node`` in writing order (each begins a line, but a list element's first key)."""
    if isinstance(node, _Map):
        for entry in node.entries:
            yield entry
            yield from _starts(entry.value)
    elif isinstance(node, _Seq):
        for item in node.items:
            yield item
            yield from _starts(item)


def _next_fresh(root: _Map, target: _Entry) -> bool:
    """Whether what is written right after ``target`` (and its value) is new: comment lines above a removed key
    then have an original line further down to stay above, and a new one right below."""
    inside = {id(node) for node in _starts(target.value)}
    found = False
    for node in _starts(root):
        if node is target:
            found = True
        elif found and id(node) not in inside:
            return bool(node.fresh)
    return False


def _remove(root: _Map, node: _Node, key: str) -> None:
    """A key, its value and the comments on and between their lines out of a mapping; the lines after its last
    line stay where they are (above the line that now follows them)."""
    if not isinstance(node, _Map):
        raise _Unsure("removing from a sequence")
    for index, entry in enumerate(node.entries):
        if entry.key == key:
            if len(node.entries) == 1:
                raise _Unsure("removing the last key")
            gap = _last_leaf(entry.value).gap
            above = _gap_above(root, entry)
            if (gap or (above is not None and above.gap)) and _next_fresh(root, entry):
                raise _Unsure("comment lines around a removed key, and a new line after it (above which they go?)")
            if gap:
                if above is None:
                    raise _Unsure("comment lines after the item's first key, removed")
                above.gap += gap
            del node.entries[index]
            return
    raise _Unsure("removing a key that is not there")


def _restyled(old: _Node, value: Any) -> _Node | None:
    """ruamel.yaml gives a string set on a mapping's key or a list's index the quotes of the string it replaces
    (``CommentedMap.__setitem__``, ``CommentedSeq.__setsingleitem__``), unless
    :func:`~r2k8s.krm.yamlio.block` quoted the new one itself."""
    if not isinstance(old, _Scalar) or not old.quotes or type(value) is not str or needs_quotes(value):
        return None
    if "\n" in value or not _PRINTABLE.fullmatch(value):
        raise _Unsure("a string replacing a quoted one, not printable on one line")
    if old.quotes == '"':
        return _Scalar('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"', quotes='"')
    return _Scalar("'" + value.replace("'", "''") + "'", quotes="'")


def _first_line_comment(node: _Node) -> str:
    """The comment at the end of ``node``'s first line (a list element's: its ``- `` line)."""
    while isinstance(node, _Map):
        first = node.entries[0]
        if not isinstance(first.value, _Scalar):
            return first.eol
        node = first.value
    return node.eol if isinstance(node, _Scalar) else ""


def _replace(holder: Any, slot: Any, old: _Node, value: Any) -> None:
    """``old`` replaced by ``value``: the key's line keeps its comment (``image: x  # why``), the comment lines
    after ``old`` stay after the new value; those inside a replaced collection go with it."""
    new = _restyled(old, value) or _new(value)
    gap = _last_leaf(old).gap
    if isinstance(holder, _Entry):
        eol = old.eol if isinstance(old, _Scalar) else holder.eol
        if not isinstance(old, _Scalar) and holder.gap:
            raise _Unsure("lines between a key and the collection replaced (they described the old value)")
        holder.gap = ""
        if isinstance(new, _Scalar):
            new.eol, holder.eol = eol, ""
        else:
            holder.eol = eol
        holder.value = new
    else:
        if _first_line_comment(old):
            raise _Unsure("a comment on the line of a replaced list element")
        holder[slot] = new
    _last_leaf(new).gap = gap


def rewrite(alone: str, patched: Any, operations: Sequence[Operation]) -> str | None:
    """``alone`` (one item at column 0, ``\\n`` line ends) with ``operations`` applied, or ``None`` when this
    module is not certain of its answer. Without comments the answer is what ruamel.yaml's round trip writes
    (:func:`r2k8s.krm.splice._rewrite`); with them, that answer with each comment on its line (see above).
    ``patched``: the item's data with the operations applied, which the answer must read back as."""
    try:
        reader = _Reader(alone)
        root = reader.node()
        if not isinstance(root, _Map) or not root.entries or _written(root) != alone:
            return None
        for operation in operations:
            _apply(root, operation)
        written = _written(root)
    except (_Unsure, yaml.YAMLError, IndexError, KeyError, TypeError, ValueError):
        return None
    return written if build_mapping(written) == patched else None
