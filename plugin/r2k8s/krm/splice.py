"""The fast path: read with libyaml, round-trip only the items that change, copy the rest as text.

ruamel.yaml's round trip is what keeps ``yes``, ``0644``, comments and key
order intact, but it is pure Python: on 2,000 resources it spent 22 s reading
and 19 s writing, and 20,000 resources took 2.4 GiB. Most items never change
(a tenth refer to formulas in a typical package), and an item the function
does not change is best served by its own bytes. So:

1. :func:`layout` reads the input once with PyYAML's C parser and returns the
   plain data (for finding formula references) plus the character span of
   every item (ResourceList items, or stream documents);
2. the caller plans its changes on the plain data;
3. :func:`splice` re-reads only the changed items' spans with ruamel.yaml,
   applies the operations, writes them back in place, and appends new items.

Anything unusual — flow-style items, a ResourceList whose items are not a
block sequence, text libyaml does not read — makes :func:`layout` return
``None`` and the caller takes the full round-trip path. Tabs, anchors and
aliases do not: an untouched item is copied whatever it holds, and a changed
item is re-read on its own and checked (its aliases are written expanded). An
anchor or alias that reaches from a changed item into another part of the
ResourceList cannot be kept that way (:attr:`Layout.crossing`): the full
path then writes every item. Otherwise the full path splices too
(:func:`spans`, :func:`rewrite_round_trip`): no path rewrites an item it does
not change.

Line ends: a rewritten item gets the line end of its own first line
(``\r\n`` or ``\n``), new items and results the one of the line before them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal, Protocol

import yaml

from r2k8s.krm.patch import Operation, apply, apply_round_trip

__all__ = ["Crossing", "Layout", "layout", "rewrite_round_trip", "spans", "splice"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MARKER = re.compile(r"^---(?:[ \t].*)?\r?$", re.MULTILINE)
"""A document start marker line (``---``, maybe with a comment or a value after it)."""


@dataclasses.dataclass
class Layout:
    mode: Literal["list", "stream"]
    """``list`` or ``stream``."""
    documents: list[Any]
    """The plain data of each YAML document."""
    spans: list[tuple[int, int, int]]
    """(start, end, column) of each item's mapping in the text."""
    append_at: int | None
    """Where new items go (after the last item); ``None`` when there is no block sequence to extend."""
    dash_column: int
    """List mode: the column of the items' ``-``."""
    crossing: dict[int, Crossing] = dataclasses.field(default_factory=dict)
    """List mode: items holding an anchor an alias elsewhere names, or an alias naming an anchor elsewhere (in
    another item or outside the items), by item index; the first such one of each."""
    results_at: int | None = None
    """List mode: where a ``results:`` key can go (the end of a block root mapping that has none yet)."""
    root_column: int = 0
    partial: frozenset[int] = frozenset()
    """The items whose data is only their ``apiVersion``, ``kind`` and ``metadata`` (:mod:`.scan`): nothing in
    them can name a formula, so nothing plans them."""
    read_alone: bool = False
    """Every other item's data is its span read on its own (:mod:`.scan`, :mod:`.linescan`), not its reading
    within the whole input: :func:`_rewrite_checked` need not read it alone again to know they agree."""


@dataclasses.dataclass(frozen=True)
class Crossing:
    """An anchor or alias of one item that the rest of the ResourceList depends on, or that depends on it."""

    position: int
    """Where the anchor or alias is in the text."""
    name: str
    alias: bool
    """True: this item's alias names an anchor elsewhere; False: this item's anchor is named elsewhere."""
    other: int | None
    """The other item's index (``None``: outside the items, e.g. the function config)."""


class _Unusual(Exception):
    pass


def layout(text: str) -> Layout | None:
    """The items' spans, or ``None`` when the text is not plain block YAML (use the full path)."""
    try:
        documents = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
        mode: Literal["list", "stream"] = (
            "list"
            if (len(documents) == 1 and isinstance(documents[0], dict) and documents[0].get("kind") == "ResourceList")
            else "stream"
        )
        return _spans(text, documents, mode)
    except (_Unusual, yaml.YAMLError, ValueError):  # ValueError: a plain 2024-13-45 is a date that is none
        return None


def spans(text: str, mode: Literal["list", "stream"]) -> Layout | None:
    """The items' spans from libyaml's events alone (no data: another reader read it), flow-style items allowed;
    ``None`` when libyaml cannot parse the text."""
    try:
        return _spans(text, [], mode, flow_items=True)
    except (_Unusual, yaml.YAMLError):
        return None


def _spans(text: str, documents: list[Any], mode: Literal["list", "stream"], *, flow_items: bool = False) -> Layout:
    item_depth = 3 if mode == "list" else 1
    spans: list[tuple[int, int, int]] = []
    depth = 0
    root_key_next = True  # list mode: is the next scalar of the root mapping a key?
    items_value_next = False
    in_items = False
    append_at: int | None = len(text)
    owners: dict[str, tuple[int | None, int]] = {}  # list mode: anchor -> (item index or None, position)
    crossing: dict[int, Crossing] = {}
    results_at: int | None = None
    has_results = False
    root_column = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth == 1 and mode == "list":
                root_column = _position(event.start_mark)[1]
                if event.flow_style or not isinstance(event, yaml.MappingStartEvent):
                    has_results = True  # nowhere to add a key as text
            if depth == 2 and mode == "list":
                in_items, items_value_next, root_key_next = items_value_next, False, True
                if in_items and not isinstance(event, yaml.SequenceStartEvent):
                    raise _Unusual("items is not a sequence")
                if in_items and event.flow_style:
                    append_at = None  # "items: []": fine to read, nowhere to splice new items into
            if depth == item_depth and (mode == "stream" or in_items):
                if not isinstance(event, yaml.MappingStartEvent) or (event.flow_style and not flow_items):
                    raise _Unusual("an item that is not a block mapping")
                start, column = _position(event.start_mark)
                spans.append((start, -1, column))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            if depth == 1 and mode == "list" and not has_results:
                results_at = _position(event.end_mark)[0]
            if depth == item_depth and (mode == "stream" or in_items):
                start, _, column = spans[-1]
                spans[-1] = (start, _position(event.end_mark)[0], column)
            if depth == 2 and in_items:
                in_items = False
                if append_at is not None:
                    append_at = _position(event.end_mark)[0]
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and mode == "list" and depth == 1:
            if root_key_next:
                items_value_next = event.value == "items"
                has_results = has_results or event.value == "results"
            root_key_next = not root_key_next
        if mode == "list" and (isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None)):
            inside = spans and spans[-1][1] == -1 and in_items and depth >= item_depth
            _note_anchor(event, len(spans) - 1 if inside else None, owners, crossing)
    if mode == "list" and not spans:
        append_at = None
    dash_column = max(0, spans[0][2] - 2) if mode == "list" and spans else 0
    return Layout(mode, documents, spans, append_at, dash_column, crossing, results_at, root_column)


def _note_anchor(
    event: Any, item: int | None, owners: dict[str, tuple[int | None, int]], crossing: dict[int, Crossing]
) -> None:
    """Note an anchor's item; an alias naming an anchor of another item (or from outside the items) crosses."""
    position, name = _position(event.start_mark)[0], str(event.anchor)
    if not isinstance(event, yaml.AliasEvent):
        owners[name] = (item, position)
        return
    owner, anchored = owners.get(name, (item, position))
    if owner == item:
        return
    if item is not None:
        crossing.setdefault(item, Crossing(position, name, True, owner))
    if owner is not None:
        crossing.setdefault(owner, Crossing(anchored, name, False, item))


class _Mark(Protocol):
    index: int
    column: int


def _position(mark: _Mark | None) -> tuple[int, int]:
    """(index, column) of an event's mark (libyaml always gives one; without it, take the full path)."""
    if mark is None:
        raise _Unusual("an event without a position")
    return mark.index, mark.column


def _dedent(span: str, column: int) -> str:
    lines = span.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        stripped = line[:column]
        if stripped.strip():
            raise _Unusual("a line less indented than its item")
        out.append(line[column:])
    return "\n".join(out)


def _indent(text: str, column: int) -> str:
    lines = text.rstrip("\n").split("\n")
    pad = " " * column
    return "\n".join([lines[0], *[pad + line if line else line for line in lines[1:]]])


def _body_and_tail(span: str) -> tuple[str, str]:
    """Split trailing blank and comment-only lines (they belong between items) off an item's text.

    The body keeps its own last line break: it is part of the item's last scalar when that is a block scalar
    (``args: [|]`` ending the item holds ``"echo one\\n"``; read without the break it would hold ``"echo one"``
    and be written back as ``|-``)."""
    lines = span.split("\n")
    keep = len(lines)
    while keep > 1 and (not lines[keep - 1].strip() or lines[keep - 1].lstrip().startswith("#")):
        keep -= 1
    return "\n".join(lines[:keep]) + ("\n" if keep < len(lines) else ""), "\n".join(lines[keep:])


def _dump_new(item: Any) -> str:
    """New items hold no user text, so libyaml's emitter (a YAML 1.1 one: it quotes ``yes`` and ``0644``) is
    faithful, and it is far faster than ruamel.yaml on the agent ConfigMap's 200 KB base64 line. They are plain
    data (:meth:`r2k8s.krm.function._Planner.agent_configmaps`; the emitter refuses anything else)."""
    return _dump_plain(item)


_NEVER_LIBYAML = re.compile(r"""(?:^|[:-] )"[\x20\x21\x23-\x5b\x5d-\x7e]*"[ \t]*$""", re.MULTILINE)
"""A value double-quoted though it holds only printable ASCII: libyaml's emitter would write it plain or in
single quotes, so it cannot have written this item (and checking that by writing the item costs a millisecond)."""


def _rewrite(body: str, plain: Any, operations: Sequence[Operation]) -> str | None:
    """One item's new text. If libyaml writes the item exactly as it is written (no comments, no ``yes`` or
    ``0644`` to keep, the usual kyaml/PyYAML layout), libyaml writes the patched item too; otherwise it is
    written as ruamel.yaml's round trip writes it, keeping comments and every scalar as the user wrote it: by
    :mod:`.textpatch` where that is certain (each comment then stays on its line, where ruamel.yaml would file
    the lines between two fields under the one before them), else by ruamel.yaml itself."""
    from r2k8s.krm import textpatch

    patched = _copied(plain, {})
    apply(patched, operations)
    if (
        "#" not in body
        and "&" not in body
        and not _NEVER_LIBYAML.search(body)
        and _dump_plain(plain).rstrip("\n") == body.rstrip("\n")
    ):
        return _dump_plain(patched)
    written = textpatch.rewrite(body, patched, operations)
    if written is not None:
        return written  # what the round trip below would write, without it (:mod:`.textpatch`)
    from r2k8s.krm import yamlio  # ruamel.yaml (9 ms to import) for the items the text patcher leaves to it

    documents = yamlio.load_documents(body)
    if len(documents) != 1:
        return None
    apply_round_trip(documents[0], operations)
    written = yamlio.dump_documents(documents)
    # The item's text was cut out of its document: anything that reads differently on its own (a keep-chomped
    # block scalar whose trailing blank lines went with the tail, say) must not change data silently.
    return written if yaml.load(written, Loader=_Loader) == patched else None


def _refusals_of_the_round_trip() -> tuple[type[BaseException], ...]:
    """What ruamel.yaml and jsonpatch raise where an item read on its own by ruamel.yaml is not what libyaml read
    within the whole input (a path the plan's operations name is not there): no splice, the full path decides.
    Only the modules already imported are asked (each is imported where an item went to the round trip)."""
    refusals = (
        ("ruamel.yaml.error", "YAMLError"),
        ("jsonpointer", "JsonPointerException"),
        ("jsonpatch", "JsonPatchException"),
    )
    return tuple(getattr(sys.modules[module], name) for module, name in refusals if module in sys.modules)


_ATOMS = frozenset((str, int, float, bool, type(None)))


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy(value)`` for libyaml's data, several times as fast: plain dicts, lists and scalars are
    copied here (a collection met twice, an alias's, is copied once, as deepcopy does), anything else by
    deepcopy with the same memo."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        done = memo.get(id(value))
        if done is None:
            done = memo[id(value)] = {}
            for key, inner in value.items():
                done[key if type(key) in _ATOMS else copy.deepcopy(key, memo)] = (
                    inner if type(inner) in _ATOMS else _copied(inner, memo)
                )
        return done
    if kind is list:
        done = memo.get(id(value))
        if done is None:
            done = memo[id(value)] = []
            done.extend(inner if type(inner) in _ATOMS else _copied(inner, memo) for inner in value)
        return done
    return copy.deepcopy(value, memo)


def _dump_plain(value: Any) -> str:
    return yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 30, allow_unicode=True
    )


def _item(plan: Layout, index: int) -> Any:
    return plan.documents[0]["items"][index] if plan.mode == "list" else plan.documents[index]


Rewrite = Callable[[int, str, Sequence[Operation]], "str | None"]
"""How a changed item's text is written: (item index, its text alone at column 0 with ``\\n`` line ends, its
operations) → its new text, or ``None`` when it cannot be written on its own."""


def splice(
    text: str,
    plan: Layout,
    changes: Mapping[int, Sequence[Operation]],
    new_items: Sequence[Any],
    results: Sequence[Any] = (),
    rewrite: Rewrite | None = None,
    *,
    removed: Collection[int] = (),
) -> str | None:
    """Apply ``changes`` (item index → JSON-patch operations) in place, leave out the items at ``removed``
    (list mode: the item's own lines, from its ``-``; the comment lines after it stay; stream mode: the
    document from its ``---`` line to the next one), append ``new_items``
    and (list mode) a ``results`` key; every other byte is the input's.

    ``rewrite`` writes each changed item (by default: checked against libyaml's data, :func:`_rewrite`).
    Returns ``None`` if an item's text cannot be re-read on its own, or there is nowhere to put the new items or
    results (the caller takes the full path).
    """
    if rewrite is None:
        rewrite = functools.partial(_rewrite_checked, plan)
    pieces: list[str] = []
    cursor = 0
    try:
        for index in sorted({*changes, *removed}):
            start, end, column = plan.spans[index]
            if index in removed:
                cut = _item_lines(text, start, end) if plan.mode == "list" else _document_lines(text, plan, index)
                if cut is None:
                    return None
                pieces.append(text[cursor : cut[0]])
                cursor = cut[1]
                continue
            if plan.mode == "stream" and column:
                return None  # "--- {…}": a document on its marker's line
            newline = _newline(text, start, end)
            body, tail = _body_and_tail(text[start:end])
            alone = _dedent(body.replace("\r\n", "\n") if newline == "\r\n" else body, column)
            new_text = rewrite(index, alone, changes[index])
            if new_text is None:
                return None
            rewritten = _indent(new_text, column)
            pieces += [text[cursor:start], rewritten.replace("\n", newline) if newline != "\n" else rewritten]
            pieces += [newline, tail]
            cursor = end
    except (_Unusual, yaml.YAMLError):
        return None
    except Exception as exc:
        if isinstance(exc, _refusals_of_the_round_trip()):
            return None
        raise
    if (new_items and plan.append_at is None) or (results and plan.results_at is None):
        return None
    append_at = plan.append_at if plan.append_at is not None else cursor
    if append_at < cursor:
        return None
    addition = ""
    if new_items:
        if plan.mode == "list":
            pad = " " * plan.dash_column
            for item in new_items:
                addition += pad + "- " + _indent(_dump_new(item), plan.dash_column + 2) + "\n"
        else:
            addition = "".join("---\n" + _dump_new(item) for item in new_items)
    pieces.append(text[cursor:append_at])
    output = _insert("".join(pieces), addition, _newline(text, 0, append_at, last=True))
    if not results or plan.results_at is None:
        return output + text[append_at:]
    if plan.results_at < append_at:
        return None
    written = " " * plan.root_column + _indent("results:\n" + _dump_plain(list(results)), plan.root_column) + "\n"
    output = _insert(output + text[append_at : plan.results_at], written, _newline(text, 0, plan.results_at, last=True))
    return output + text[plan.results_at :]


def _item_lines(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Where the list item whose mapping spans ``text[start:end]`` begins (the start of its ``-`` line) and its
    own lines end (after its last line break; the blank and comment lines after it are not its own), or
    ``None`` for a layout this does not take apart (``- `` not alone before the mapping on its line)."""
    dash = text.rfind("-", 0, start)
    line_start = text.rfind("\n", 0, dash) + 1
    if dash < 0 or text[line_start:dash].strip() or text[dash + 1 : start].strip():
        return None
    body, _ = _body_and_tail(text[start:end])
    stop = start + len(body)
    if not body.endswith("\n"):
        stop = text.find("\n", stop) + 1 or len(text)
    return line_start, stop


def _document_lines(text: str, plan: Layout, index: int) -> tuple[int, int] | None:
    """Where stream document ``index`` begins (its ``---`` line; the start of the text for a first document
    without one, with the comments before it, helm's ``# Source:``) and ends (the next document's ``---`` line,
    or the end of the text), or ``None`` for a layout this does not take apart (a document on its marker's
    line, documents a ``...`` separates without a ``---``)."""
    start, end, column = plan.spans[index]
    if column:
        return None
    before = list(_MARKER.finditer(text, plan.spans[index - 1][1] if index else 0, start))
    if not before and index:
        return None
    following = plan.spans[index + 1][0] if index + 1 < len(plan.spans) else None
    after = _MARKER.search(text, end, following if following is not None else len(text))
    if after is None and following is not None:
        return None
    return (before[-1].start() if before else 0), (after.start() if after is not None else len(text))


def _insert(before: str, addition: str, newline: str) -> str:
    """``before`` and then ``addition`` (``\\n`` line ends) on lines of their own, in ``newline``."""
    if not addition:
        return before
    if before and not before.endswith("\n"):
        before += newline
    return before + (addition.replace("\n", newline) if newline != "\n" else addition)


def _newline(text: str, start: int, end: int, *, last: bool = False) -> str:
    """The line end of the first (or ``last``) line ending within ``text[start:end]``; ``\\n`` if there is none."""
    at = text.rfind("\n", start, end) if last else text.find("\n", start, end)
    return "\r\n" if at > 0 and text[at - 1] == "\r" else "\n"


_KEEP_CHOMPED = re.compile(r"[|>][1-9]?\+")
"""A block scalar keeping its trailing line breaks (``|+``, ``>2+``, …; or text that looks like one): its
data may end with blank lines the item's tail (:func:`_body_and_tail`) took away."""


def _rewrite_checked(plan: Layout, index: int, alone: str, operations: Sequence[Operation]) -> str | None:
    """:func:`_rewrite`, once the item's text alone is known to read as its data: read again, unless the
    layout read it alone already and cutting its tail (blank and comment lines), its indentation and ``\r``
    changed nothing a reader sees (they do not, but for a keep-chomped block scalar's trailing lines)."""
    from r2k8s.krm.scan import build_mapping

    if plan.read_alone and not _KEEP_CHOMPED.search(alone):
        return _rewrite(alone, _item(plan, index), operations)
    read = build_mapping(alone)  # libyaml's reading, built faster where it can be (:mod:`.scan`)
    if (read if read is not None else yaml.load(alone, Loader=_Loader)) != _item(plan, index):
        return None  # its text reads otherwise on its own (the span is not the item): no splice
    return _rewrite(alone, _item(plan, index), operations)


def rewrite_round_trip(alone: str, before: Any, operations: Sequence[Operation]) -> str | None:
    """An item's new text for the full path: ruamel.yaml reads ``alone`` (``None`` unless that gives ``before``,
    the item as ruamel.yaml read it within the whole input), applies ``operations`` and writes it block style,
    aliases expanded; ``None`` unless the written text reads back as ``before`` patched."""
    from r2k8s.krm import yamlio

    documents = yamlio.load_documents(alone)
    if len(documents) != 1 or yamlio.to_plain(documents[0]) != before:
        return None
    document = documents[0]
    if hasattr(document, "fa") and document.fa.flow_style():
        document.fa.set_block_style()  # a flow item ("- {…}", a JSON document) goes block, its insides stay
    apply_round_trip(document, operations)
    written = yamlio.dump_documents([document])
    patched = copy.deepcopy(before)
    apply(patched, operations)
    again = yamlio.load_documents(written)
    return written if len(again) == 1 and yamlio.to_plain(again[0]) == patched else None
