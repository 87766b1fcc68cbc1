"""What the function refuses to read: YAML nested too deeply, alias bombs, aliases inside what they name.

Every reader the function uses builds its data recursively somewhere: libyaml's
composer in PyYAML's C extension (the quick path and the splice path) recurses
in C and *segfaults* around 50,000 levels; ruamel.yaml's composer, the
round trip's alias expansion, :mod:`.locate` and the writers recurse in Python
(``RecursionError`` a few hundred levels down). And a YAML alias is a pointer:
ten lines of ``a1: &a1 [*a0, *a0, …]`` name 10⁹ nodes, which the alias
expansion (:func:`~r2k8s.krm.yamlio.expand_aliases`) or any walk would build or
visit one by one, hanging with growing memory. An alias inside the node it
names (``&a [*a]``) makes the data recursive, which every walk follows forever
(and which ruamel.yaml writes back as ``[null]``: a silent change).

So before anything reads the input as data, two checks:

* :func:`might_be_hostile`, a few regular expressions over the text, cheap
  enough for every input (the quick path runs it before its libyaml load). It is
  *sound for libyaml*: when it says False, no document libyaml reads can nest
  deeper than :data:`MAX_DEPTH` or hold an alias (the argument is in its
  docstring). False positives only cost the second check;
* :func:`shape_problem`, exact: it walks libyaml's *event* stream (libyaml's
  parser is iterative; only its composer recurses), tracking the nesting depth
  and the number of nodes the aliases add, and names the offending resource and
  field. It costs about a third of a libyaml load, which is why the libyaml
  readers run it only when the first check says so. ruamel.yaml (the round
  trip) takes anchor names libyaml refuses (``&"x``, ``&.x``), so the first
  check says nothing about it: the round trip always runs this one, which is
  cheap beside ruamel.yaml's own reading, and which walks ruamel.yaml's events
  where libyaml cannot parse the text.

A refused input is not echoed back (it cannot be read safely, not even to be
copied into a ResourceList): the function exits 1 with the message on stderr.
:func:`nested_key_problem` uses the same walk to name a mapping key that holds
nested collections, which ruamel.yaml cannot build (it raises ``TypeError``).
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES_PER_DOCUMENT",
    "Problem",
    "might_be_hostile",
    "nested_key_problem",
    "shape_problem",
]

MAX_DEPTH = 100
"""Deepest nesting of mappings and sequences accepted in a YAML document (aliases followed); real manifests
need about 15, and every reader handles 100 with room to spare."""
MAX_NODES_PER_DOCUMENT = 1_000_000
"""Most nodes the aliases of one YAML document may add when expanded. Literal nodes are not limited: they cost
what the input's size costs, and a large ResourceList holds millions; aliases multiply for free."""

GATE_COLUMN = 32
""":func:`might_be_hostile` is true when a line's indentation and block indicators reach this column ..."""
GATE_FLOW_OPENERS = 32
"""... or a document has this many ``[``/``{`` that are not closed at once."""
SHOWN_PATH_PARTS = 12
"""How much of a very deep field path a message shows."""

_DEEP_LINE = re.compile(rf"\n[ \t?:-]{{{GATE_COLUMN}}}")
"""A line after a ``\\n`` whose indentation and indicators reach :data:`GATE_COLUMN` (a ``\\n`` first: ``re`` then
skips to each line break at C speed, where a leading character class would be tried at every position)."""
_DEEP_LINE_ANYWHERE = rf"(?:\A\ufeff?|[\n\r\x85\u2028\u2029])[ \t?:-]{{{GATE_COLUMN}}}"
"""The same after every line break libyaml knows (YAML 1.1 also breaks lines at CR, NEL, LS and PS), and at the
start after a byte order mark (libyaml refuses one anywhere else). Compiled on first use (by :func:`re.search`'s
cache), as the patterns below: most inputs never need them, and start-up counts."""
_DEEP_FIRST_LINE = re.compile(rf"\ufeff?[ \t?:-]{{{GATE_COLUMN}}}")
_LONE_CR = "\\r(?!\\n)"
_DOCUMENT_MARKER = r"\n(?:---|\.\.\.)(?=[ \t\n\r\x85\u2028\u2029]|\Z)"
"""Where a document may end (the ``\\n`` ends the previous one). Missing a marker after another kind of line break
only merges two documents' counts, which errs on the safe side."""
_TOKEN_BEFORE = frozenset(" \t\n\r\x85\u2028\u2029\ufeff,[]{}?:")
"""What may come right before a token libyaml scans (whitespace, flow indicators, ``?`` and ``:`` in flow)."""
_ANCHOR_NAME = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")
_NULL_SCALARS = frozenset({"", "~", "null", "Null", "NULL"})
_IDENTITY = frozenset({"apiVersion", "kind"})
_METADATA_IDENTITY = frozenset({"name", "namespace"})


def might_be_hostile(text: str) -> bool:
    """False only when no YAML document libyaml reads in ``text`` can nest deeper than :data:`MAX_DEPTH` or use an
    alias.

    True when any of these holds (each a superset of what it guards against):

    * an anchor or alias token may be present: ``&`` or ``*`` where libyaml can
      start a token (line start, whitespace, a flow indicator, ``?`` or ``:``)
      followed by a character libyaml's anchor names are made of (letters,
      digits, ``_``, ``-``; it refuses anything else). Without anchors there is
      nothing to expand and nothing recursive. Cron schedules (``"*/5 * * * *"``,
      ``"0 * * * *"``), globs (``*.example.com``) and URL queries (``?a=1&b=2``)
      do not match;
    * a line starts with :data:`GATE_COLUMN` characters of spaces, tabs and the
      block indicators ``-``, ``?`` and ``:`` (a superset of "indentation and
      compact indicators reach that column");
    * a document (between ``---``/``...`` marker lines, where libyaml ends one:
      a marker anywhere else is an error, after which it reads nothing) has
      :data:`GATE_FLOW_OPENERS` or more ``[``/``{`` not immediately followed by a
      closing bracket.

    Why that bounds the depth when all three are false. A document's nesting
    is its block collections' nesting plus, below one of them, flow collections
    (which hold no block collections).

    *Flow*: a flow collection with a child collection opens with a ``[``/``{``
    not immediately followed by a closer (``[]`` and ``[}`` hold nothing, ``[]]``
    is an error), so fewer than 32 such openers allow at most 31 enclosing
    collections and one empty one: flow depth ≤ 32. Brackets in scalars and
    comments only add to the count.

    *Block*: one level down from a block collection either indents further (a
    mapping's mapping value, anything on the lines after a ``-``), stays in the
    column (a mapping's sequence value: ``key:`` then ``- x`` below it), or moves
    right on the same line (a compact ``- - x``, ``- key: x``, ``? - x``,
    ``: - x``). Only mapping → sequence keeps the column, and a sequence's child
    is never in its column, so every two levels move the first entry at least
    one column right: a block collection at depth d has its first entry in
    column c ≥ ⌊(d-1)/2⌋, i.e. d ≤ 2c + 2. Everything before that entry on its
    line is indentation and indicators (a tag or anchor cannot precede a compact
    collection on the same line; anchors trip the first check anyway), so
    c < 32 and block depth ≤ 64.

    Together, depth ≤ 64 + 32 = 96 ≤ :data:`MAX_DEPTH`. Line breaks are all of
    libyaml's (``\\r``, ``\\n``, NEL, LS, PS), so ``\\r``-only text is no way round.
    """
    if _has_anchor_or_alias(text) or _has_deep_line(text):
        return True
    if _flow_openers(text, 0, len(text)) < GATE_FLOW_OPENERS:
        return False
    bounds = [0, *(match.start() for match in re.finditer(_DOCUMENT_MARKER, text)), len(text)]
    return any(_flow_openers(text, start, end) >= GATE_FLOW_OPENERS for start, end in itertools.pairwise(bounds))


def _has_anchor_or_alias(text: str) -> bool:
    """An ``&`` or ``*`` where libyaml starts a token, followed by the first character of a name it accepts.

    ``str.find`` runs at memory speed and these characters are rare in manifests; a regular expression starting
    with a lookbehind would be tried at every position."""
    for indicator in "&*":
        at = text.find(indicator)
        while at != -1:
            if (at == 0 or text[at - 1] in _TOKEN_BEFORE) and text[at + 1 : at + 2] in _ANCHOR_NAME:
                return True
            at = text.find(indicator, at + 1)
    return False


def _has_deep_line(text: str) -> bool:
    if _DEEP_LINE.search(text) or _DEEP_FIRST_LINE.match(text):
        return True
    if ("\r" in text and re.search(_LONE_CR, text)) or any(c in text for c in "\x85\u2028\u2029"):
        return re.search(_DEEP_LINE_ANYWHERE, text) is not None
    return False


def _flow_openers(text: str, start: int, end: int) -> int:
    """How many ``[``/``{`` in ``text[start:end]`` are not closed right away (``[ ]`` counts: an overestimate).

    Counted with ``str.count`` (memory speed); the empty pairs only when the openers alone reach the limit."""
    openers = text.count("[", start, end) + text.count("{", start, end)
    if openers < GATE_FLOW_OPENERS:
        return openers
    return openers - sum(text.count(pair, start, end) for pair in ("[]", "{}", "[}", "{]"))


class Problem(NamedTuple):
    """Why an input is refused, and where: which resource, which field (a named tuple: :mod:`dataclasses` would
    cost the quick path's start-up the import of :mod:`inspect`)."""

    message: str
    """The problem with where it is (``items[3] nests deeper than 100 levels``), without the resource."""
    where: str
    """``items[3]`` (an item of a ResourceList), ``document 2`` (of a plain stream) or ``the ResourceList``."""
    resource: dict[str, str]
    """``apiVersion``/``kind``/``name``/``namespace`` of the resource as far as they could be read (may be empty)."""
    field: str | None
    """The dotted path within the resource (shortened with ``…`` when very deep)."""


def shape_problem(text: str) -> Problem | None:
    """The first document or item nesting deeper than :data:`MAX_DEPTH`, expanding through aliases to more than
    :data:`MAX_NODES_PER_DOCUMENT` added nodes, or holding an alias to a node that contains it; ``None`` if none.

    libyaml's events are walked first. Where libyaml cannot parse the text, the round trip will read it with
    ruamel.yaml, which accepts a little more (YAML 1.2): then ruamel.yaml's events (its parser is iterative too)
    are walked instead, so that what ruamel.yaml will build is what was checked. A text neither parses is left
    to the readers, which report the syntax error.
    """
    import yaml

    walk = _Walk()
    try:
        walk.run(yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except (yaml.YAMLError, UnicodeError):
        if walk.problem is None:
            walk = _Walk()
            with contextlib.suppress(Exception):  # a ruamel.yaml syntax error: the round trip reports it
                walk.run(_ruamel_events(text))
    return walk.finish()


def nested_key_problem(text: str) -> Problem | None:
    """The first mapping key that is a collection holding a collection (``? {a: [b]}``, ``? matchLabels:`` with a
    mapping under it), which ruamel.yaml cannot build (its key types are hashable only over scalars)."""
    walk = _Walk(nested_keys=True)
    with contextlib.suppress(Exception):  # a ruamel.yaml syntax error before any such key: nothing to name
        walk.run(_ruamel_events(text))
    return walk.finish()


def _ruamel_events(text: str) -> Iterator[Any]:
    from ruamel.yaml import YAML

    yield from YAML(typ="rt").parse(text)


class _Frame:
    """One open mapping or sequence: where the walk is in it, and what its anchor needs when it ends."""

    __slots__ = ("anchor", "deepest", "depth", "index", "is_key", "is_map", "key", "key_next", "start_nodes")

    def __init__(self, is_map: bool, depth: int, anchor: str | None, start_nodes: int, is_key: bool) -> None:
        self.is_map = is_map
        self.depth = depth
        self.anchor = anchor
        self.start_nodes = start_nodes
        self.is_key = is_key
        self.deepest = depth
        self.key_next = True
        self.key: str | int = "?"
        self.index = 0

    @property
    def part(self) -> str | int:
        """The path part of the child being read (a mapping's key, a sequence's index)."""
        if not self.is_map:
            return self.index
        return "<key>" if self.key_next else self.key


class _Walk:
    """The event walk behind :func:`shape_problem`: depth, alias sizes, and the identity of the offending item."""

    def __init__(self, *, nested_keys: bool = False) -> None:
        self.nested_keys = nested_keys
        self.problem: tuple[str, list[str | int]] | None = None
        self.problem_document = 0
        self.problem_entry: int | None = None
        self.document = 0
        self.root: dict[str, str] = {}
        self.entry: dict[str, str] = {}
        self.entry_index: int | None = None

    def run(self, events: Iterable[Any]) -> None:
        """Walk ``events`` up to the first problem (or to the end of the stream).

        Not one event further: libyaml's scanner is quadratic in the flow nesting depth (it checks every open
        level's possible simple key on each token), so finishing a 50,000-level document to read its name would
        take minutes. The names come from what was read before the problem (apiVersion, kind and metadata
        usually come first)."""
        stack: list[_Frame] = []
        anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes when expanded, levels below and including it)
        open_anchors: dict[str, int] = {}
        nodes = added = 0
        for event in events:
            kind = type(event).__name__
            if kind == "ScalarEvent" or kind == "AliasEvent":
                depth = len(stack)
                if kind == "AliasEvent":
                    name = event.anchor
                    if name in open_anchors:
                        return self._found(f"holds the YAML alias *{name} inside the node it names", stack)
                    if name in anchors:
                        size, height = anchors[name]
                        added += size
                        nodes += size
                        if stack:
                            stack[-1].deepest = max(stack[-1].deepest, depth + height)
                        if added > MAX_NODES_PER_DOCUMENT:
                            return self._found(
                                f"expands to more than {MAX_NODES_PER_DOCUMENT:,} nodes through YAML aliases", stack
                            )
                        if depth + height > MAX_DEPTH:
                            return self._found(
                                f"nests deeper than {MAX_DEPTH} levels through the YAML alias *{name}", stack
                            )
                else:
                    nodes += 1
                    if not stack and not (event.value in _NULL_SCALARS and event.implicit[0]):
                        self.document += 1  # an empty document is no resource: numbered as the readers number them
                    if event.anchor is not None:
                        anchors[event.anchor] = (1, 0)
                    if depth <= 4 and stack:
                        self._identity(stack, event)
                if stack:
                    self._advance(stack[-1], event.value if kind == "ScalarEvent" else "?")
            elif kind == "MappingStartEvent" or kind == "SequenceStartEvent":
                nodes += 1
                depth = len(stack) + 1
                parent = stack[-1] if stack else None
                is_key = parent is not None and (parent.is_key or (parent.is_map and parent.key_next))
                if depth > MAX_DEPTH:
                    return self._found(f"nests deeper than {MAX_DEPTH} levels", stack)
                if self.nested_keys and is_key and parent is not None and parent.is_key:
                    return self._found("has a mapping key holding a nested mapping or list", stack)
                if depth == 1:
                    self.document += 1
                elif depth == 3 and self._in_items(stack):
                    self.entry_index, self.entry = stack[1].index, {}
                anchor = event.anchor
                if anchor is not None:
                    open_anchors[anchor] = open_anchors.get(anchor, 0) + 1
                stack.append(_Frame(kind == "MappingStartEvent", depth, anchor, nodes - 1, is_key))
            elif kind == "MappingEndEvent" or kind == "SequenceEndEvent":
                frame = stack.pop()
                if frame.anchor is not None:
                    anchors[frame.anchor] = (nodes - frame.start_nodes, frame.deepest - frame.depth + 1)
                    open_anchors[frame.anchor] -= 1
                    if not open_anchors[frame.anchor]:
                        del open_anchors[frame.anchor]
                if stack:
                    stack[-1].deepest = max(stack[-1].deepest, frame.deepest)
                    self._advance(stack[-1], "?")
            elif kind == "DocumentStartEvent":
                self.root, self.entry, self.entry_index = {}, {}, None
                anchors.clear()
                open_anchors.clear()
                nodes = added = 0

    def _found(self, message: str, stack: list[_Frame]) -> None:
        """Note the problem and where it is (the open frames' keys and indexes)."""
        path = [frame.part for frame in stack]
        self.problem = (message, path)
        self.problem_document = self.document
        self.problem_entry = stack[1].index if len(stack) >= 2 and self._in_items(stack) else None

    @staticmethod
    def _in_items(stack: list[_Frame]) -> bool:
        """Inside an entry of the root mapping's ``items`` sequence (the items, if the document is a ResourceList)."""
        return stack[0].is_map and stack[0].key == "items" and not stack[0].key_next and not stack[1].is_map

    @staticmethod
    def _advance(frame: _Frame, key: Any) -> None:
        """A child of ``frame`` ended: a mapping moves between key and value, a sequence to its next entry."""
        if frame.is_map:
            if frame.key_next:
                frame.key = key if isinstance(key, str) else "?"
            frame.key_next = not frame.key_next
        else:
            frame.index += 1

    def _identity(self, stack: list[_Frame], event: Any) -> None:
        """Keep ``apiVersion``, ``kind`` and ``metadata.name``/``namespace`` of the document and of the item."""
        top = stack[-1]
        if not top.is_map or top.key_next or top.is_key:
            return
        into, start = self.root, 0
        if len(stack) >= 3 and self._in_items(stack):
            if stack[1].index != self.entry_index:
                return
            into, start = self.entry, 2
        inner = stack[start:]
        if (len(inner) == 1 and top.key in _IDENTITY) or (
            len(inner) == 2 and inner[0].key == "metadata" and top.key in _METADATA_IDENTITY
        ):
            into[str(top.key)] = event.value

    def finish(self) -> Problem | None:
        if self.problem is None:
            return None
        message, path = self.problem
        is_list = self.root.get("kind", "ResourceList" if self.problem_entry is not None else "") == "ResourceList"
        if is_list and self.problem_entry is not None:
            where, resource, path = f"items[{self.problem_entry}]", self.entry, path[2:]
        elif is_list:
            where, resource = "the ResourceList", self.root
        else:
            where, resource = f"document {self.problem_document}", self.root
        shown = path[:SHOWN_PATH_PARTS]
        field = _dotted(shown) + ("…" if len(path) > len(shown) else "") if path else None
        return Problem(f"{where} {message}", where, dict(resource), field)


def _dotted(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
