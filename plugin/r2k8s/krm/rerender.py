"""Expanding again what the function already expanded: kpt's in-place renders.

``kpt fn render`` writes the function's output back into the package, so the next render reads the
*expanded* resource: its containers no longer name a formula, and without help the function would find
nothing to do — a changed formula file, or an r2k8s upgrade with a new agent, would never reach the
package. So every expansion leaves what it needs to be undone on the resource, in the annotation
``r2k8s.io/source``: the inverse of each operation it applied (compact JSON, sorted keys), i.e. the
fields it replaced with their original values, the keys it added, and the list entries it appended.

A later run *restores* the resource (:func:`restored`), expands the restored resource again with today's
formulas, agent and config, and, only where that differs from what is there, writes the difference as
operations on the resource as it is (:func:`difference`): a render with nothing changed changes no byte,
and a changed formula changes only the fields that carry it.

Edits made to the expanded resource survive: a field is restored only while it still holds what the
function wrote (an ``image:`` changed by hand to an ordinary image stays so, and the container is then
simply no formula container any more), and appended entries are taken out by name, so entries a user
added beside them stay.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from r2k8s.core.jsonpath import JsonPath, pointer
from r2k8s.krm.patch import Operation

__all__ = ["SOURCE_ANNOTATION", "difference", "inverse_operations", "restored", "source_value"]

SOURCE_ANNOTATION = "r2k8s.io/source"
_MISSING = object()


def _parts(path: str) -> list[str]:
    parts = path.split("/")[1:]
    return [part.replace("~1", "/").replace("~0", "~") for part in parts] if "~" in path else parts


def _node(document: Any, parts: Sequence[str]) -> Any:
    """The value at ``parts`` (strings; list indexes as digits), or :data:`_MISSING`."""
    node = document
    for part in parts:
        if isinstance(node, list):  # asked first: a list is no Mapping, and asking the ABC costs
            if not (part.isdigit() and int(part) < len(node)):
                return _MISSING
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _identity(entry: Any) -> Any:
    """What names a list entry: a mapping's ``name``, else the entry itself (capability names)."""
    return ("name", entry.get("name")) if isinstance(entry, Mapping) else ("value", entry)


def _skeleton(value: Any) -> Any:
    """What :func:`_prune` needs of an added ``value``: list entries by their identity alone (an env entry's
    name, not the service spec it carries), mapping keys with their skeletons, scalars as they are."""
    if type(value) is str:
        return value  # most values (and asking a string whether it is a Mapping goes through the ABC's check)
    if isinstance(value, list):
        return [{"name": entry.get("name")} if isinstance(entry, Mapping) else entry for entry in value]
    if isinstance(value, Mapping):
        return {key: _skeleton(inner) for key, inner in value.items()}
    return value


def inverse_operations(resource: Any, operations: Sequence[Operation]) -> list[dict[str, Any]]:
    """How to undo ``operations`` (planned against ``resource``), as :func:`restored` reads them back.

    * ``{"op": "replace", "path", "value", "written"}``: put ``value`` back while the field holds ``written``;
    * ``{"op": "add", "path", "value"}``: put a removed field back (unless it was set since);
    * ``{"op": "prune", "path", "value"[, "keep": true]}``: take out what was added at ``path``: the entries
      of a list by name (``value`` holds only their names), the keys of a mapping recursively, a scalar if
      it is unchanged; a collection left empty goes too, unless ``keep`` (it was there before).
    """
    inverses: list[dict[str, Any]] = []
    for op in operations:
        parts = _parts(str(op["path"]))
        parent = _node(resource, parts[:-1])
        last = parts[-1]
        if isinstance(parent, list):  # an entry inserted into an existing list
            inverses.append(
                {"op": "prune", "path": pointer(tuple(parts[:-1])), "value": _skeleton([op["value"]]), "keep": True}
            )
        elif op["op"] == "remove":
            inverses.append({"op": "add", "path": op["path"], "value": copy.deepcopy(parent[last])})
        elif isinstance(parent, Mapping) and last in parent:
            inverses.append(
                {"op": "replace", "path": op["path"], "value": copy.deepcopy(parent[last]), "written": op["value"]}
            )
        else:
            inverses.append({"op": "prune", "path": op["path"], "value": _skeleton(op["value"])})
    return inverses


def source_value(resource: Any, operations: Sequence[Operation]) -> str:
    """The ``r2k8s.io/source`` annotation for ``resource`` expanded by ``operations``."""
    return json.dumps(inverse_operations(resource, operations), sort_keys=True, separators=(",", ":"))


def _prune(holder: Any, key: Any, added: Any, keep: bool = False) -> None:
    """Take ``added`` out of ``holder[key]``; drop ``holder[key]`` when nothing is left of it, unless ``keep``
    (the entries went into a list that was there before: ``env: []`` stays as it was written)."""
    if isinstance(holder, list):
        if not (isinstance(key, int) and key < len(holder)):
            return
    elif not (isinstance(holder, Mapping) and key in holder):
        return
    value = holder[key]
    if isinstance(added, list) and isinstance(value, list):
        names = {_identity(entry) for entry in added}
        value[:] = [entry for entry in value if _identity(entry) not in names]
    elif isinstance(added, Mapping) and isinstance(value, Mapping):
        for inner, inner_added in added.items():
            _prune(value, inner, inner_added)
    elif value != added:
        return  # changed since it was written: it is the user's now
    else:
        value = None
    if value is None or (not keep and isinstance(value, (list, Mapping)) and not value):
        del holder[key]


def _restorable(inverse: Mapping[str, Any], current: Any) -> bool:
    """Whether a field holding ``current`` gets ``inverse``'s value back: a removed field while it is still
    absent, a replaced one while it still holds what was written."""
    if inverse["op"] == "add":
        return current is _MISSING
    return bool(inverse["op"] == "replace" and current == inverse.get("written"))


def restored(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    """``resource`` as it was before the function expanded it (plain data), or ``None`` when it carries no
    (readable) ``r2k8s.io/source``. Raises ``ValueError`` naming what is wrong with an unreadable one."""
    metadata = resource.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping) or SOURCE_ANNOTATION not in annotations:
        return None
    try:
        inverses = json.loads(str(annotations[SOURCE_ANNOTATION]))
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(inverses, list) or not all(
        isinstance(i, Mapping) and i.get("op") in ("replace", "add", "prune") and isinstance(i.get("path"), str)
        for i in inverses
    ):
        raise ValueError("expected a list of operations written by r2k8s")
    document = copy.deepcopy(dict(resource))
    for inverse in reversed(inverses):
        parts = _parts(inverse["path"])
        holder = _node(document, parts[:-1])
        if holder is _MISSING or not parts:
            continue
        key: Any = int(parts[-1]) if isinstance(holder, list) and parts[-1].isdigit() else parts[-1]
        if inverse["op"] == "prune":
            _prune(holder, key, inverse.get("value"), keep=bool(inverse.get("keep")))
        elif isinstance(holder, dict) and _restorable(inverse, holder.get(key, _MISSING)):
            holder[key] = inverse.get("value")
    _prune(document, "metadata", {"annotations": {SOURCE_ANNOTATION: annotations[SOURCE_ANNOTATION]}})
    return document


def difference(old: Any, new: Any, path: JsonPath = ()) -> list[Operation]:
    """RFC 6902 operations that turn ``old`` into ``new``, touching nothing the two share: keys are added,
    removed or descended into; lists of one length are compared entry by entry; anything else is replaced."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        ops: list[Operation] = [{"op": "remove", "path": pointer((*path, key))} for key in old if key not in new]
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "add", "path": pointer((*path, key)), "value": value})
            else:
                ops += difference(old[key], value, (*path, key))
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            op for index, (a, b) in enumerate(zip(old, new, strict=True)) for op in difference(a, b, (*path, index))
        ]
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": pointer(path), "value": new}]
