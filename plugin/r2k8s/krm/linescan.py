"""A plain block ResourceList read by its lines, with libyaml checking in C what the lines say.

:func:`r2k8s.krm.scan.layout` walks every libyaml event of the input in Python: on 2,000 resources
(1.7 MB, 200,000 events) PyYAML spends 0.16 s only making the event objects, and the walk 0.1 s
more, though nine items in ten are read only for ``apiVersion``, ``kind`` and ``metadata``. Most
ResourceLists are written the one way kustomize, kpt and kubectl write them: a block mapping at
column 0 whose ``items:`` is a block sequence of block mappings, one ``- key:`` line starting
each. For such a text, :func:`layout` finds the items and their top-level fields by their lines
and builds (:func:`~r2k8s.krm.scan.build_mapping`) only the root outside the items, each item's
``apiVersion``, ``kind`` and ``metadata`` (read without libyaml where every line of them is ``key: value``
with a plain value of no spaces: :func:`_simple`), and in full the items :mod:`.scan` builds in full.

The lines only propose; libyaml decides, in C (``CParser.raw_parse`` makes no Python objects): each item
alone must parse (its data read up to its last wanted field, the rest parsed), and the root outside the
items. A ``- `` or field line that lies inside a quoted scalar or a flow collection leaves the text before
it unterminated, which does not parse alone; inside a plain or block scalar such a line ends the scalar
in libyaml too (its column is the mapping's). So where every piece parses alone, the pieces are libyaml's.
What this cannot see without events — an anchor, an alias, a tag, a merge or complex key, a date — and any
layout it does not know (``\\r``, tabs, several documents, a flow item, a line less indented than its
item's fields, a quoted key, ``items: []``) makes it answer ``None``, and :mod:`.scan` walks the events as
before. ``tests/krm/test_linescan.py`` holds it to that walk.
"""

from __future__ import annotations

import re
from typing import Any

from r2k8s.krm.references import FORMULA_PREFIX
from r2k8s.krm.rerender import SOURCE_ANNOTATION
from r2k8s.krm.scan import WHOLE_KEYS, Unusual, build_mapping, plain_value, raw_parse
from r2k8s.krm.splice import Layout

__all__ = ["layout"]

_UNREAD_TEXT = ("\r", "\t", "\ufeff", "!", "<<", "\n---", "\n...", "\n%")
_UNREAD = [
    re.compile(pattern)
    for pattern in (r"&[0-9A-Za-z_-]", r"\*[0-9A-Za-z_-]", r"\][ ]*:(?=[ \n]|\Z)", r"\}[ ]*:(?=[ \n]|\Z)")
    + (r"\?(?=[ \n]|\Z)", r"-[0-9]{1,2}-[0-9]")
]
"""What only libyaml's events tell: anchors and aliases (libyaml spells their names ``[0-9A-Za-z_-]``), tags,
merge keys, flow collections as keys, complex keys (``?``), dates (``YYYY-M-D``), several documents; and the
layouts the lines are not read for. Any of it, anywhere (in a quoted scalar too: the lines cannot tell), and
the events are walked. Each pattern starts with a fixed character, which ``re`` finds fast (one alternation
of them all took 100 ms on 1.7 MB)."""
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_./-]*):(?=[ \n]|\Z)")
"""A field's line: a plain key that is its own text, then ``:`` and a space or the line's end."""
_CONTENT = re.compile(r"^( *)([^ \n#])", re.MULTILINE)
"""The first character of a line that holds more than a comment."""
_COLUMN_0 = re.compile(r"\n[^ \n#]")
"""A line that holds more than a comment, at column 0 (after the first line; ``re`` finds a pattern that starts
with a fixed character fast: ``^`` with ``re.MULTILINE`` was five times slower)."""
_SIMPLE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_./-]*):(?: ([A-Za-z0-9_./][A-Za-z0-9_./@+=:-]*(?<!:)))?")
"""A line :func:`_simple` reads: a plain key, ``:``, and nothing or a plain value with no space (no comment, no
``: ``, no indicator first, no ``:`` last): libyaml reads each as the one scalar its text is."""
_CANDIDATE = ("./", FORMULA_PREFIX, SOURCE_ANNOTATION)
_ESCAPE = re.compile(r"\\[xuU/\n]")
"""Text that may make a scalar name a formula or be the re-render annotation (:mod:`.scan` builds such items in
full): a scalar starting with ``./`` is written so, unless an escape writes its characters (``\\x2e``,
``\\/``) or a line break escaped at a line's end joins them (``"formu\\`` then ``la:…"``); ``\\n`` and
``\\"`` write none of them."""


class _Declined(Exception):
    pass


def layout(text: str) -> Layout | None:
    """The input's items, their spans and data, as :func:`r2k8s.krm.scan.layout` gives them, or ``None``."""
    if any(mark in text for mark in _UNREAD_TEXT) or text.startswith(("---", "...", "%")):
        return None
    if any(pattern.search(text) for pattern in _UNREAD):
        return None
    try:
        return _read(text)
    except _Declined:
        return None


def _read(text: str) -> Layout:
    # the root's fields: lines at column 0; "items:" with nothing after it, then its block sequence
    lines_0 = ([0] if text[:1] not in ("", " ", "\n", "#") else []) + [m.start() + 1 for m in _COLUMN_0.finditer(text)]
    roots = [position for position in lines_0 if not _entry(text, position)]
    keys = [_key(text, position) for position in roots]
    content = _CONTENT.search(text)
    if content is None or not roots or roots[0] != content.start(2) or len(set(keys)) != len(keys):
        raise _Declined  # the root is not a block mapping at column 0 (or it repeats a key)
    if "items" not in keys:
        raise _Declined
    at = keys.index("items")
    block_start = text.find("\n", roots[at]) + 1
    if not block_start or text[roots[at] + len("items:") : block_start].strip():
        raise _Declined  # "items: []", or a comment on its line
    block_end = roots[at + 1] if at + 1 < len(roots) else len(text)
    found = _CONTENT.search(text, block_start, block_end)
    if found is None or found.group(2) != "-":
        raise _Declined
    dash = len(found.group(1))
    column = dash + 2
    shallow = re.compile(f"\\n {{0,{column}}}[^ \\n#]")  # the lines that can start a field: at most at its column
    lines = [
        (match.end() - 1, match.end() - match.start() - 2)
        for match in shallow.finditer(text, block_start - 1, block_end)
    ]
    starts = [index for index, (_, at) in enumerate(lines) if at <= dash]
    spans: list[tuple[int, int, int]] = []
    items: list[dict[str, Any]] = []
    partial: set[int] = set()
    for number, index in enumerate(starts):
        position, at = lines[index]
        if (
            at != dash
            or text[position : position + 2] != "- "
            or text[position + 2 : position + 3] in ("", " ", "#", "\n")
        ):
            raise _Declined  # a line less indented than the items, a "-" alone, "-  key" or "- # comment"
        following = starts[number + 1] if number + 1 < len(starts) else len(lines)
        end = lines[following][0] if following < len(lines) else block_end
        tops = [position + 2]
        for inner, inner_at in lines[index + 1 : following]:
            if inner_at < column:
                raise _Declined  # a line between the "-" and the item's keys
            if not _entry(text, inner):
                tops.append(inner)
        spans.append((position + 2, end, column))
        item, whole = _item(text, tops, end, column)
        items.append(item)
        if not whole:
            partial.add(len(items) - 1)
    outside = text[:block_start] + text[block_end:]
    root = build_mapping(outside)
    if root is None or root.get("kind") != "ResourceList" or "items" not in root or root["items"] is not None:
        raise _Declined
    root["items"] = items
    results_at = None if "results" in keys else len(text)
    return Layout(
        "list", [root], spans, block_end, dash, {}, results_at, 0, partial=frozenset(partial), read_alone=True
    )


def _entry(text: str, position: int) -> bool:
    """Whether the line's content at ``position`` is a block sequence entry (``- …`` or ``-`` alone)."""
    return text.startswith("-", position) and text[position + 1 : position + 2] in (" ", "\n", "")


def _key(text: str, position: int) -> str:
    match = _KEY.match(text, position)
    if match is None:
        raise _Declined  # a quoted or complex key, "key :", a sequence at the root
    return match.group(1)


def _item(text: str, tops: list[int], end: int, column: int) -> tuple[dict[str, Any], bool]:
    """One item's data (partial: ``apiVersion``, ``kind`` and ``metadata``), and whether it is whole.

    ``tops``: where the item's top-level keys are (the lines at its column), the first just after ``- ``. The
    item alone must parse: then its first line is one (a ``- `` inside a quoted scalar or a flow collection of
    the item before would leave that one unterminated). A partial item is built from its text up to the end
    of the last of its wanted fields and the rest must parse alone: then that end is one too (the same
    argument), and libyaml, not the lines, read the fields before it."""
    pad = " " * column
    keys = [_key(text, top) for top in tops]  # a block mapping (not "- {…}": a flow item is left to the walk)
    span = pad + text[tops[0] : end]
    if any(mark in span for mark in _CANDIDATE) or ("\\" in span and _ESCAPE.search(span)):
        return _built(span), True
    wanted = [number for number, key in enumerate(keys) if key in WHOLE_KEYS]
    if not wanted:
        if not raw_parse(span):
            raise _Declined
        return {}, False
    stop = tops[wanted[-1] + 1] - column if wanted[-1] + 1 < len(tops) else end
    if stop < end and not raw_parse(pad + text[stop + column : end]):
        raise _Declined  # the rest of the item: with the prefix built below, the item parses alone
    prefix = text[tops[0] : stop]
    after = prefix[prefix.rfind("\n") + 1 :]
    if "\n" in prefix and not after.strip():
        prefix = prefix[: len(prefix) - len(after)]  # the next item's "- " line's indentation
    built = _simple(pad + prefix) or _built(pad + prefix)
    if built.get("kind") == "Formula":
        return _built(span), True
    return {key: value for key, value in built.items() if key in WHOLE_KEYS}, False


def _simple(text: str) -> dict[str, Any] | None:
    """The block mapping ``text`` holds when each of its lines is ``key:`` or ``key: value`` with a plain value
    of no spaces (:data:`_SIMPLE`; ``apiVersion: v1``, ``name: web-1``, ``app: web``: most items' first
    fields), read without libyaml as ``CSafeLoader`` reads it (scalars by PyYAML's own resolver); ``None`` for
    anything else. Such lines hold no scalar of several lines, so where the text ends, a field does."""
    root: dict[Any, Any] = {}
    stack: list[tuple[int, dict[Any, Any]]] = []  # the open mappings: (the column of their keys, the mapping)
    pending: tuple[dict[Any, Any], Any, int] | None = None  # "key:" with nothing after it yet
    try:
        for line in text.split("\n"):
            match = _SIMPLE.fullmatch(line)
            if match is None:
                if line.strip(" ") and not line.lstrip(" ").startswith("#"):
                    return None
                continue  # a blank or comment line
            column = len(match.group(1))
            if not stack:
                stack.append((column, root))
            if pending is not None:
                holder, key, at = pending
                pending = None
                holder[key] = {} if column > at else None
                if column > at:
                    stack.append((column, holder[key]))
            while column < stack[-1][0]:
                stack.pop()
            if column != stack[-1][0]:
                return None  # no open mapping has its keys at this column: libyaml refuses it
            key = plain_value(match.group(2))
            if match.group(3) is None:
                pending = (stack[-1][1], key, column)
            else:
                stack[-1][1][key] = plain_value(match.group(3))
    except (TypeError, ValueError, Unusual):
        return None
    if pending is not None:
        pending[0][pending[1]] = None
    return root if stack else None


def _built(text: str) -> dict[str, Any]:
    built = build_mapping(text)
    if built is None:
        raise _Declined
    return built
