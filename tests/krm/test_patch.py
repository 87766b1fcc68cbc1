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
