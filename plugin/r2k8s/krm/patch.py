"""Applying the planned RFC 6902 operations, to plain data or to round-trip YAML objects.

``jsonpatch`` is imported on first use (the function's start-up path never
needs it) and only here, so its missing type hints are dealt with once.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Operation", "apply", "apply_round_trip"]

Operation = Mapping[str, Any]
"""One JSON-patch operation: ``op``, ``path`` and, for ``add``/``replace``, ``value`` (plain data)."""


def apply(document: Any, operations: Sequence[Operation]) -> None:
    """Apply ``operations`` to ``document`` in place.

    The function applies a few dozen operations to every changed item, to plain data; ``jsonpatch`` builds a
    pointer and an operation object for each (0.7 ms an item). So each operation it would apply plainly is
    applied here (:func:`_applied`), and the first that is anything else (a ruamel.yaml object on its way, a
    path that does not resolve, ``move``, ``test``…) goes to ``jsonpatch`` with every one after it, which then
    does, or refuses, exactly what it always did."""
    operations = list(operations)
    done = 0
    if all(_plain_operation(op) for op in operations):  # jsonpatch refuses a malformed one before applying any
        while done < len(operations) and _applied(document, operations[done]):
            done += 1
    if done < len(operations):
        import jsonpatch  # type: ignore[import-untyped]  # jsonpatch ships no type hints (no py.typed, no stubs)

        jsonpatch.apply_patch(document, operations[done:], in_place=True)


_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")
"""An array index as RFC 6901 (and ``jsonpointer``) takes it: no sign, no leading zero."""


def _plain_operation(operation: Operation) -> bool:
    """An ``add``, ``replace`` or ``remove`` with a path (and a value where it needs one): :func:`_applied` may
    take it."""
    op, path = operation.get("op"), operation.get("path")
    return (
        type(path) is str
        and path.startswith("/")
        and not _BAD_ESCAPE.search(path)  # jsonpointer refuses "~2" before jsonpatch applies anything
        and (op == "remove" or (op in ("add", "replace") and "value" in operation))
    )


def _applied(document: Any, operation: Operation) -> bool:
    """Apply one :func:`_plain_operation` to plain ``dict``/``list`` data as ``jsonpatch`` would, if every step
    resolves plainly; ``False`` (``document`` untouched) leaves it to ``jsonpatch``."""
    path = operation["path"]
    parts = path.split("/")[1:]
    if "~" in path:  # escaped: most paths are not, and unescaping every part was a third of this function
        parts = [part.replace("~1", "/").replace("~0", "~") for part in parts]
    node = document
    for part in parts[:-1]:
        if type(node) is dict and part in node:
            node = node[part]
        elif type(node) is list and _INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    last, op = parts[-1], operation["op"]
    if type(node) is dict:
        if op == "add" or (op == "replace" and last in node and last != "-"):  # jsonpatch refuses to replace "-"
            node[last] = operation["value"]
        elif op == "remove" and last in node:
            del node[last]
        else:
            return False
        return True
    if type(node) is not list:
        return False
    if op == "add" and last == "-":
        node.append(operation["value"])
        return True
    if not _INDEX.fullmatch(last) or int(last) > len(node) or (op != "add" and int(last) == len(node)):
        return False
    if op == "add":
        node.insert(int(last), operation["value"])
    elif op == "replace":
        node[int(last)] = operation["value"]
    else:
        del node[int(last)]
    return True


def apply_round_trip(document: Any, operations: Sequence[Operation]) -> None:
    """Apply ``operations`` to a ruamel.yaml document, new values as block-style round-trip objects.

    ruamel.yaml keeps the comment lines *after* a block collection on its last element, though they sit
    above, and describe, the field that follows (``# drain first`` above ``terminationGracePeriodSeconds``
    after a block ``command:``). Replacing or removing that collection would take them with it; so they are
    cut out first and, once every operation is applied, put back at the end of what now precedes that
    following field: above it again, whatever the operations appended before it.
    """
    from r2k8s.krm import yamlio

    carried = []
    for op in operations:
        if op["op"] in ("replace", "remove"):
            lines = _take_following_lines(document, op["path"])
            if lines is not None:
                carried.append(lines)
    apply(document, [{**op, "value": yamlio.block(op["value"])} if "value" in op else op for op in operations])
    for token, anchor in carried:
        _give_following_lines(document, anchor, token)


_Anchor = tuple[Any, Any]
"""(container, element) after whose end carried comment lines go; ``(None, None)`` for the document's end."""


def _steps(document: Any, pointer: str) -> list[tuple[Any, Any]] | None:
    """(container, key) of every step of an RFC 6901 ``pointer`` into ``document``, or ``None``."""
    node, steps = document, []
    for raw in pointer.split("/")[1:]:
        part: Any = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            part = int(part)
        elif not (isinstance(node, Mapping) and part in node):
            return None
        steps.append((node, part))
        node = node[part]
    return steps


def _last_key(container: Any) -> Any:
    """The index or key of a non-empty sequence's or mapping's last element."""
    return len(container) - 1 if isinstance(container, list) else list(container)[-1]


def _is_last(container: Any, key: Any) -> bool:
    return bool(key == _last_key(container))


def _commented_collection(value: Any) -> bool:
    """A non-empty round-trip sequence or mapping: what can hold the comment lines after it."""
    return isinstance(value, (list, Mapping)) and len(value) > 0 and hasattr(value, "ca")


def _end_slot(container: Any, key: Any) -> tuple[Any, Any, int]:
    """Where the comment after ``container[key]`` lives: its deepest last element's slot (index 0 of a
    sequence item's, 2 of a mapping key's), as ruamel.yaml stores it."""
    while True:
        value = container[key]
        if _commented_collection(value):
            container, key = value, _last_key(value)
            continue
        return container, key, 0 if isinstance(container, list) else 2


def _take_following_lines(document: Any, pointer: str) -> tuple[Any, _Anchor] | None:
    """Cut the whole comment lines that follow the value at ``pointer`` (a block collection) from its last
    element, with where they belong: after the element that precedes the field they sit above."""
    steps = _steps(document, pointer)
    if not steps:
        return None
    container, key = steps[-1]
    value = container[key]
    if not _commented_collection(value):
        return None
    end_container, end_key, index = _end_slot(container, key)
    slots = end_container.ca.items.get(end_key)
    token = slots[index] if slots and len(slots) > index else None
    text = getattr(token, "value", None)
    if token is None or not isinstance(text, str) or "\n" not in text or "#" not in text[text.index("\n") :]:
        return None
    anchor: _Anchor = (None, None)
    for outer, step in reversed(steps):
        if not _is_last(outer, step):  # the field they sit above: the next one here
            following = step + 1 if isinstance(outer, list) else list(outer)[list(outer).index(step) + 1]
            anchor = (outer, outer[following] if isinstance(outer, list) else following)
            break
    cut = text.index("\n")
    carried = copy.copy(token)
    carried.value, token.value = text[cut:], text[: cut + 1]
    if not text[:cut].strip():
        slots[index] = None  # nothing is left on the element's own line
    return carried, anchor


def _give_following_lines(document: Any, anchor: _Anchor, carried: Any) -> None:
    """Put ``carried`` back at the end of whatever now precedes the field of ``anchor`` (or ends the document)."""
    container, following = anchor
    key: Any = None
    if container is None:  # the end of the document
        if not (isinstance(document, (list, Mapping)) and len(document)):
            return
        container, key = document, _last_key(document)
    elif isinstance(container, list):
        at = next((i for i, value in enumerate(container) if value is following), 0)
        key = at - 1 if at > 0 else None
    elif following in container:
        keys = list(container)
        at = keys.index(following)
        key = keys[at - 1] if at > 0 else None
    if key is None or not hasattr(container, "ca"):
        return  # nothing precedes the field any more (or the field is gone): the lines go with what they described
    end_container, end_key, index = _end_slot(container, key)
    slots = end_container.ca.items.setdefault(end_key, [None, None, None, None])
    while len(slots) <= index:
        slots.append(None)
    token = slots[index]
    if token is None:
        slots[index] = carried
    else:
        text = token.value
        token.value = (text[: text.index("\n")] if "\n" in text else text) + carried.value
