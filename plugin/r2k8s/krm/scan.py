"""One libyaml pass over the function's input: the items' spans, and only the data the function will look at.

PyYAML's ``CSafeLoader`` parses in C but builds every value in Python, about 1 µs an event for the
parse and ten times that for the building: on 2,000 resources (1.7 MB) the building alone took 1.5 s,
more than kustomize's whole ``images:`` build. Yet nine items in ten hold no formula reference, and of
those the function reads only ``apiVersion``, ``kind`` and ``metadata`` (is it a ConfigMap the input
already has, a Formula, local config, the function config itself?). So :func:`layout` walks libyaml's
events once and

* builds the data outside the items (the ResourceList's own keys, the function config) in full;
* builds each item's ``apiVersion``, ``kind`` and ``metadata`` while it notes whether any scalar of the
  item may name a formula (``./…``, ``../…``, ``formula:…``) or is the re-render annotation's name;
* builds such a *candidate* item (and every ``Formula``) in full afterwards, from its own text;
* leaves the others *partial* (:attr:`~r2k8s.krm.splice.Layout.partial`): the planner never plans them,
  and copies of them go out as their own bytes.

The data is exactly what ``CSafeLoader`` gives (YAML 1.1 scalars, later duplicate keys winning): plain
scalars that can be something other than a string are resolved by PyYAML's own resolver and
constructors. Anything this does not build itself — an anchor, an alias, an explicit tag, a merge key,
a collection as a key — makes :func:`layout` return ``None``, and the caller reads the input the slow
way (:func:`r2k8s.krm.splice.layout`), which also says what is wrong with it.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from r2k8s.krm.references import FORMULA_PREFIX, PATH_PREFIXES
from r2k8s.krm.rerender import SOURCE_ANNOTATION
from r2k8s.krm.splice import Layout

__all__ = ["WHOLE_KEYS", "Unusual", "build_mapping", "events", "layout", "plain_value", "raw_parse"]

WHOLE_KEYS = frozenset({"apiVersion", "kind", "metadata"})
"""What a partial item holds."""
_REFERENCE_PREFIXES = (*PATH_PREFIXES, FORMULA_PREFIX)
_LIST_KIND = re.compile(r"^kind:[ \t]*[\"']?ResourceList[\"']?[ \t]*(?:#.*)?\r?$", re.MULTILINE)
_STR = "tag:yaml.org,2002:str"
_BUILT_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)  # what SafeConstructor builds from a plain scalar (no merge "<<", no value "=")
_SPECIAL_FIRST = frozenset(key for key in Resolver.yaml_implicit_resolvers if key is not None)
"""First characters of plain scalars that may resolve to something other than a string ('' too: null)."""


def _libyaml_parser() -> Any:
    """PyYAML's libyaml parser class, or ``None`` (PyYAML built without libyaml: the slow way reads everything)."""
    try:
        import yaml.cyaml
    except ImportError:
        return None
    return getattr(yaml.cyaml, "CParser", None)


_CParser: Any = _libyaml_parser()

_Scalar, _MappingStart, _SequenceStart = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
_MappingEnd, _SequenceEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent
_Alias, _DocumentStart = yaml.AliasEvent, yaml.DocumentStartEvent
_NO_KEY = object()


class Unusual(Exception):
    """Something only the slow way reads (and explains)."""


_Unusual = Unusual


_resolver = Resolver()
_resolve: Any = _resolver.resolve
_constructor = SafeConstructor()


@functools.lru_cache(maxsize=4096)
def _resolved(value: str) -> Any:
    """A plain scalar as ``CSafeLoader`` reads it (cached: ``80``, ``true`` and ``2`` repeat a lot)."""
    tag = _resolve(yaml.ScalarNode, value, (True, False))
    if tag == _STR:
        return value
    if tag not in _BUILT_TAGS:
        raise _Unusual(f"a plain scalar resolving to {tag}")
    return _constructor.yaml_constructors[tag](_constructor, yaml.ScalarNode(tag, value))


def plain_value(text: str) -> Any:
    """A plain scalar written ``text``, as ``CSafeLoader`` reads it; raises :class:`Unusual` for one it does
    not build (a merge key ``<<``, ``=``) and ``ValueError`` for a date that is none."""
    if text[:1] not in _SPECIAL_FIRST and text:
        return text
    return _resolved(text)


def _value(event: Any) -> Any:
    if event.anchor is not None or (event.tag is not None and event.tag != "!"):
        raise _Unusual("an anchor or an explicit tag")
    value = event.value
    if event.style or not event.implicit[0] or (value[:1] not in _SPECIAL_FIRST and value):
        return value
    return _resolved(value)


def _start(event: Any) -> None:
    if event.anchor is not None or (event.tag is not None and event.tag != "!"):
        raise _Unusual("an anchor or an explicit tag")


def events(text: str) -> list[Any] | None:
    """libyaml's events of ``text`` (``None`` without libyaml); raises ``yaml.YAMLError`` on bad YAML."""
    if _CParser is None:
        return None
    return list(iter(_CParser(text).get_event, None))  # the loop in C: the text patcher reads every changed item


def raw_parse(text: str) -> bool:
    """Whether libyaml parses ``text``, asked in C: no event objects are made (:mod:`.linescan`)."""
    if _CParser is None:
        return False
    try:
        _CParser(text).raw_parse()
    except (yaml.YAMLError, ValueError):
        return False
    return True


_IN_SEQUENCE, _KEY_NEXT, _VALUE_NEXT = 0, 1, 2


def _skipped_scalar(event: Any, skipped: list[int]) -> None:
    """What ``CSafeLoader`` would refuse in a scalar not built: an anchor, a tag, a date that is none."""
    if event.anchor is not None or (event.tag is not None and event.tag != "!"):
        raise _Unusual("an anchor or an explicit tag")
    value = event.value
    if not event.style and value[:1].isdigit() and "-" in value:
        _resolved(value)  # 2024-13-45 resolves as a timestamp and fails to build
    if skipped and skipped[-1]:
        skipped[-1] ^= 3  # a key, then a value


def build_mapping(text: str) -> dict[str, Any] | None:
    """The data of ``text``, one block mapping (an item cut from its input, indented as it was), as
    ``CSafeLoader`` reads it; ``None`` when it is anything else or holds what :func:`layout` leaves to the slow
    way.

    Called three times for every changed item (its text read in full, checked alone, and its new text checked),
    so the loop is written out: the collection being filled and its pending key are locals, not a stack top,
    and no function is called per event but libyaml's (what :func:`_value`, :func:`_start` and :func:`_add`
    do, inline)."""
    if _CParser is None:
        return None
    try:
        root: list[Any] = []
        saved: list[tuple[Any, bool, Any]] = []  # the enclosing collections: (container, is a list, its key)
        container: Any = root
        in_list = True
        key: Any = _NO_KEY
        get = _CParser(text).get_event
        special, resolved = _SPECIAL_FIRST, _resolved
        while (event := get()) is not None:
            kind = type(event)
            if kind is _Scalar:
                tag = event.tag
                if event.anchor is not None or (tag is not None and tag != "!"):
                    raise _Unusual("an anchor or an explicit tag")
                value = event.value
                if not event.style and event.implicit[0] and (value[:1] in special or not value):
                    value = resolved(value)
            elif kind is _MappingStart or kind is _SequenceStart:
                tag = event.tag
                if event.anchor is not None or (tag is not None and tag != "!"):
                    raise _Unusual("an anchor or an explicit tag")
                value = {} if kind is _MappingStart else []
                if not in_list and key is _NO_KEY:
                    raise _Unusual("a collection as a key")
            elif kind is _MappingEnd or kind is _SequenceEnd:
                container, in_list, key = saved.pop()
                continue
            elif kind is _Alias:
                raise _Unusual("an alias")
            else:
                continue
            if in_list:
                container.append(value)
            elif key is _NO_KEY:
                if value == "<<":
                    raise _Unusual("a merge key")
                key = value
            else:
                container[key] = value
                key = _NO_KEY
            if kind is not _Scalar:
                saved.append((container, in_list, key))
                container, in_list, key = value, kind is _SequenceStart, _NO_KEY
        documents = [document for document in root if document is not None]
    except (_Unusual, yaml.YAMLError, TypeError, ValueError):
        return None
    return documents[0] if len(documents) == 1 and isinstance(documents[0], dict) else None


def _add(stack: list[list[Any]], value: Any) -> None:
    top = stack[-1]
    container = top[0]
    if type(container) is list:
        container.append(value)
    elif top[1] is _NO_KEY:
        if type(value) is dict or type(value) is list:
            raise _Unusual("a collection as a key")
        if value == "<<":
            raise _Unusual("a merge key")
        top[1] = value
    else:
        container[top[1]] = value
        top[1] = _NO_KEY


def layout(text: str) -> Layout | None:
    """The input's items, their spans and data (partial where the function will not look: see the module);
    ``None`` when libyaml cannot read it or it holds what only the slow way reads."""
    if _CParser is None:
        return None
    guess: Literal["list", "stream"] = "list" if _LIST_KIND.search(text) else "stream"
    if guess == "list":
        from r2k8s.krm import linescan  # it builds on this module

        by_lines = linescan.layout(text)  # most ResourceLists: their lines, checked by libyaml in C
        if by_lines is not None:
            return by_lines
    for mode in (guess, "stream" if guess == "list" else "list"):
        try:
            found = _walk(text, mode)
        except (_Unusual, yaml.YAMLError, TypeError, ValueError):
            return None
        if found is not None:
            return found
    return None


def _walk(text: str, mode: Literal["list", "stream"]) -> Layout | None:
    """One pass reading ``text`` as ``mode``; ``None`` when the text is the other mode."""
    item_depth = 3 if mode == "list" else 1
    spans: list[tuple[int, int, int]] = []
    items: list[dict[str, Any]] = []
    candidates: list[bool] = []
    root: list[Any] = []
    stack: list[list[Any]] = [[root, _NO_KEY]]
    item_entry: list[Any] | None = None
    skipping = 0  # > 0: inside a value not built (the collections open)
    skip_next = False  # the next value, a top-level field of an item outside WHOLE_KEYS, is not built
    skipped: list[int] = []  # per collection open while skipping: what comes next in it (a key, …)
    candidate = False
    depth = 0
    in_items = False
    items_list: list[Any] | None = None
    items_value_next = False
    append_at: int | None = len(text)
    results_at: int | None = None
    has_results = False
    root_column = 0
    root_key_next = True
    get = _CParser(text).get_event
    while True:
        event = get()
        if event is None:
            break
        kind = type(event)
        if kind is _Scalar:
            value = event.value
            if value[:1] in ".fr" and (value.startswith(_REFERENCE_PREFIXES) or value == SOURCE_ANNOTATION):
                candidate = True
            if skipping or skip_next:
                _skipped_scalar(event, skipped)
                if skip_next:
                    skip_next = False
                    item_entry[1] = _NO_KEY  # type: ignore[index]  # skip_next is set only inside an item
                continue
            if mode == "list" and depth == 1:
                if root_key_next:
                    items_value_next = value == "items"
                    has_results = has_results or value == "results"
                root_key_next = not root_key_next
            top = stack[-1]
            _add(stack, _value(event))
            if top is item_entry and top[1] is not _NO_KEY and top[1] not in WHOLE_KEYS:
                skip_next = True
        elif kind is _MappingStart or kind is _SequenceStart:
            depth += 1
            if skipping or skip_next:
                _start(event)
                if skipped and skipped[-1] == _KEY_NEXT:
                    raise _Unusual("a collection as a key")
                if skipped and skipped[-1]:
                    skipped[-1] ^= 3  # the value of a key: a key comes next
                skipped.append(_KEY_NEXT if kind is _MappingStart else _IN_SEQUENCE)
                skipping += 1
                skip_next = False
                continue
            _start(event)
            mark = event.start_mark
            if depth == 1 and mode == "list":
                root_column = mark.column
                if event.flow_style or kind is not _MappingStart:
                    has_results = True  # nowhere to add a key as text
            if depth == 2 and mode == "list":
                in_items, items_value_next, root_key_next = items_value_next, False, True
                if in_items and kind is not _SequenceStart:
                    raise _Unusual("items is not a sequence")
                if in_items and event.flow_style:
                    append_at = None
            container: Any = {} if kind is _MappingStart else []
            if depth == 2 and in_items:
                items_list = container
            _add(stack, container)
            entry = [container, _NO_KEY]
            stack.append(entry)
            if depth == item_depth and (mode == "stream" or in_items):
                if kind is not _MappingStart or event.flow_style:
                    raise _Unusual("an item that is not a block mapping")
                spans.append((mark.index, -1, mark.column))
                items.append(container)
                item_entry, candidate = entry, False
        elif kind is _MappingEnd or kind is _SequenceEnd:
            if skipping:
                skipping -= 1
                depth -= 1
                skipped.pop()
                if not skipping:
                    item_entry[1] = _NO_KEY  # type: ignore[index]  # skipping starts only inside an item
                continue
            mark = event.end_mark
            if depth == 1 and mode == "list" and not has_results:
                results_at = mark.index
            if depth == item_depth and (mode == "stream" or in_items):
                start, _, column = spans[-1]
                spans[-1] = (start, mark.index, column)
                candidates.append(candidate)
                item_entry = None
            if depth == 2 and in_items:
                in_items = False
                if append_at is not None:
                    append_at = mark.index
            stack.pop()
            depth -= 1
        elif kind is _Alias:
            raise _Unusual("an alias")
        elif kind is _DocumentStart and mode == "list" and root:
            return None  # a second document: a stream
    documents = [document for document in root if document is not None]
    is_list = len(documents) == 1 and isinstance(documents[0], dict) and documents[0].get("kind") == "ResourceList"
    if is_list != (mode == "list"):
        return None
    if mode == "list":
        if items_list is None or documents[0].get("items") is not items_list:
            raise _Unusual("items is not one block sequence")
        if len(items) != len(items_list) or any(a is not b for a, b in zip(items, items_list, strict=True)):
            # an item that is a scalar, or a second "items:" whose spans the first one's counted
            raise _Unusual("items that are not each one block mapping of one list: spans and data would not match")
    if mode == "stream" and len(documents) != len(items):
        raise _Unusual("a document that is not a block mapping")
    partial = set()
    for index, item in enumerate(items):
        if candidates[index] or item.get("kind") == "Formula":
            start, end, column = spans[index]
            whole = build_mapping(" " * column + text[start:end])
            if whole is None or any(whole.get(key) != item.get(key) for key in WHOLE_KEYS):
                raise _Unusual("an item that reads otherwise on its own")
            item.clear()
            item.update(whole)
        else:
            partial.add(index)
    if mode == "list" and not spans:
        append_at = None
    dash_column = max(0, spans[0][2] - 2) if mode == "list" and spans else 0
    return Layout(
        mode,
        documents,
        spans,
        append_at,
        dash_column,
        {},
        results_at,
        root_column,
        partial=frozenset(partial),
        read_alone=True,
    )
