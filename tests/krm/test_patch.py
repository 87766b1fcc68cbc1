"""Applying operations to plain data does exactly what ``jsonpatch`` does: the same document, the same refusal.

:func:`r2k8s.krm.patch.apply` applies the operations it can take plainly itself (for speed) and leaves the
rest to ``jsonpatch``; over generated documents and operations (paths that resolve and paths that do not,
indices past the end, ``-``, escaped keys, ``move``/``test``, malformed operations) the outcome must be
``jsonpatch``'s.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from r2k8s.krm.patch import apply

jsonpatch: Any = importlib.import_module("jsonpatch")  # it ships no type hints

KEYS = st.sampled_from(["a", "b", "a/b", "m~n", "", "0", "1"])
LEAVES = st.one_of(st.integers(-2, 3), st.text("xy", max_size=2), st.none(), st.booleans())
DOCUMENTS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@st.composite
def operations(draw: Any) -> list[dict[str, Any]]:
    found = []
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(st.one_of(KEYS, st.sampled_from(["-", "2", "3", "01", "-1"])), min_size=1, max_size=3))
        operation: dict[str, Any] = {
            "op": draw(st.sampled_from(["add", "replace", "remove", "add", "replace", "move", "test", "bogus"])),
            "path": draw(st.sampled_from(["", "/", "/a~2", "/~"]))
            if draw(st.integers(0, 9)) == 0
            else "".join("/" + _escape(part) for part in parts),
        }
        if operation["op"] == "move":
            operation["from"] = "/" + _escape(draw(KEYS))
        if operation["op"] != "remove" and draw(st.integers(0, 9)):
            operation["value"] = draw(DOCUMENTS)
        found.append(operation)
    return found


def _outcome(function: Any, document: Any, ops: list[dict[str, Any]]) -> tuple[Any, str]:
    try:
        function(document, ops)
    except Exception as exc:  # the refusal itself is what is compared
        return document, type(exc).__name__
    return document, ""


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(KEYS, DOCUMENTS, max_size=4), operations())
def test_apply_gives_jsonpatchs_document_and_refusal(document: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    ours = _outcome(apply, copy.deepcopy(document), copy.deepcopy(ops))
    theirs = _outcome(
        lambda doc, o: jsonpatch.apply_patch(doc, o, in_place=True), copy.deepcopy(document), copy.deepcopy(ops)
    )
    assert ours == theirs


def test_a_planned_patch_lands_where_its_paths_say() -> None:
    """The function's kind of operations: a container's image replaced, volumes appended, an annotation added
    under a key holding a slash."""
    item = {"metadata": {"annotations": {}}, "spec": {"containers": [{"image": "./web.formula"}], "volumes": []}}
    apply(
        item,
        [
            {"op": "replace", "path": "/spec/containers/0/image", "value": "pause"},
            {"op": "add", "path": "/spec/volumes/-", "value": {"name": "agent"}},
            {"op": "add", "path": "/spec/containers/0", "value": {"name": "fetch"}},
            {"op": "add", "path": "/metadata/annotations/r2k8s.io~1formulas", "value": "{}"},
            {"op": "remove", "path": "/spec/containers/1/image"},
        ],
    )
    assert item == {
        "metadata": {"annotations": {"r2k8s.io/formulas": "{}"}},
        "spec": {"containers": [{"name": "fetch"}, {}], "volumes": [{"name": "agent"}]},
    }


ANCHORED = st.recursive(
    st.one_of(LEAVES, st.floats(allow_nan=False), st.dates(), st.binary(max_size=2)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(ANCHORED, st.lists(st.integers(0, 3), max_size=4))
def test_an_item_is_copied_before_patching_as_deepcopy_copies_it(document: Any, aliases: list[int]) -> None:
    """The splice path copies an item's data before applying its operations (``splice._copied``, faster than
    ``copy.deepcopy`` on libyaml's data): the same data, nothing shared with the original, and a collection
    that an alias put in several places is still one collection, so an operation changes it everywhere."""
    from r2k8s.krm.splice import _copied

    shared = {"shared": [document]}
    text = yaml.safe_dump({"document": document, "refs": [shared for _ in aliases], "again": shared})
    data = yaml.safe_load(text)  # the aliases libyaml reads: one object in several places
    expected = copy.deepcopy(data)
    copied = _copied(data, {})
    assert copied == expected == data
    originals = {id(node) for node in _collections(data)}
    assert not originals & {id(node) for node in _collections(copied)}
    same = [id(node) for node in _collections(expected)]
    assert [id(node) for node in _collections(copied)].count(id(copied["again"])) == same.count(id(expected["again"]))
    copied["again"]["shared"].append("new")
    assert all(ref["shared"][-1] == "new" for ref in copied["refs"]) and data["again"]["shared"][-1] != "new"


def _collections(node: Any) -> list[Any]:
    """Every dict and list in ``node``, each as often as it is reached."""
    if isinstance(node, dict):
        return [node, *(inner for value in node.values() for inner in _collections(value))]
    if isinstance(node, list):
        return [node, *(inner for value in node for inner in _collections(value))]
    return []
