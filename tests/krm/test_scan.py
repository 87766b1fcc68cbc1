"""The one-pass reader gives the spans and data the full libyaml read gives, and reads in part only what may.

:func:`r2k8s.krm.scan.layout` must agree with :func:`r2k8s.krm.splice.layout` (``CSafeLoader`` and a
second pass over the events) on every input it answers: the same spans and places to add items and
results, the same data for every item it builds in full and for the fields of the ones it builds in
part; an item holding a formula reference, the re-render annotation or a Formula is always built in full;
and whatever only the slow reader can read (an anchor, a tag, a complex key, a date that is none) makes it
decline, in any item (a merge key too, where it builds; deep in a partial item it changes nothing read).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2k8s.krm import scan, splice

VALUES = [
    "web", "'yes'", "yes", "0644", "1.10", "~", "", '"a\\tb"', "2024-01-01", "{}", "[]", "[a, b]", "{a: 1}",
    "./web.formula", "formula:web", "../x.formula", "|\n    block\n", "80", "-1", "True", "null", "x  # c",
]  # fmt: skip
UNUSUAL = ["&a x", "!!str 3", "2024-13-45", "!Ref x"]


@st.composite
def resource(draw: Any, index: int) -> str:
    kind = draw(st.sampled_from(["ConfigMap", "Deployment", "Formula", "Service"]))
    lines = [f"apiVersion: {'fn.r2k8s.io/v1alpha1' if kind == 'Formula' else 'v1'}", f"kind: {kind}", "metadata:"]
    lines += [f"  name: r{index}", f"  namespace: {draw(st.sampled_from(['a', 'b', '80', 'yes']))}"]
    if draw(st.booleans()):
        lines += ["  annotations:", f"    r2k8s.io/source: {draw(st.sampled_from(['x', '[]']))}"]
    lines.append("spec:")
    for key in draw(st.lists(st.sampled_from(["image", "data", "on", "port", "args"]), unique=True, max_size=4)):
        value = draw(st.sampled_from(VALUES + UNUSUAL if draw(st.integers(0, 9)) == 0 else VALUES))
        lines.append(f"  {key}: {value}".rstrip())
    if draw(st.integers(0, 19)) == 0:
        lines += ["  selector:", "    ? {a: b}", "    : x"]
    return "\n".join(lines) + "\n"


@st.composite
def inputs(draw: Any) -> str:
    documents = [draw(resource(index)) for index in range(draw(st.integers(1, 5)))]
    comment = draw(st.sampled_from(["", "# between\n", "\n"]))
    if draw(st.booleans()):
        return "".join(f"---\n{comment}{document}" for document in documents)
    items = "".join("- " + document.replace("\n", "\n  ").rstrip(" ") + comment for document in documents)
    results = draw(st.sampled_from(["", "results: []\n"]))
    return f"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n{results}items:\n{items}"


def _items(layout: splice.Layout) -> list[Any]:
    return list(layout.documents[0]["items"]) if layout.mode == "list" else list(layout.documents)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_the_one_pass_reader_agrees_with_the_full_read(text: str) -> None:
    fast, full = scan.layout(text), splice.layout(text)
    if fast is None:
        return
    assert full is not None, "read by the one pass, refused by libyaml"
    assert not full.crossing
    assert (fast.mode, fast.spans, fast.append_at, fast.results_at, fast.dash_column, fast.root_column) == (
        full.mode,
        full.spans,
        full.append_at,
        full.results_at,
        full.dash_column,
        full.root_column,
    )
    for index, (mine, theirs) in enumerate(zip(_items(fast), _items(full), strict=True)):
        if index in fast.partial:
            assert mine == {key: theirs[key] for key in scan.WHOLE_KEYS if key in theirs}
            assert theirs.get("kind") != "Formula"
            assert "./web.formula" not in str(theirs) and "formula:web" not in str(theirs)
        else:
            assert mine == theirs
    if fast.mode == "list":
        assert {k: v for k, v in fast.documents[0].items() if k != "items"} == {
            k: v for k, v in full.documents[0].items() if k != "items"
        }


@pytest.mark.parametrize("unusual", [*UNUSUAL, "*a", "? [a]\n  : b"])
def test_what_only_the_full_read_reads_makes_the_one_pass_decline_even_deep_in_a_partial_item(unusual: str) -> None:
    text = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  deep:\n    x: 1\n    y: {unusual}\n"
    if unusual.startswith("?"):
        text = text.replace(f"y: {unusual}", unusual.replace("\n", "\n    "))
    assert scan.layout(text) is None


def test_a_formula_reference_anywhere_builds_the_item_in_full() -> None:
    text = (
        "apiVersion: v1\nkind: List\nmetadata:\n  name: l\nitems:\n- spec:\n    containers:\n"
        "    - {name: a, image: ./web.formula}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
        "data:\n  a: b\n"
    )
    layout = scan.layout(text)
    assert layout is not None and layout.partial == frozenset({1})
    assert layout.documents[0] == yaml.safe_load(text.split("---")[0])


@st.composite
def nested(draw: Any, depth: int = 0) -> str:
    """A block mapping's lines (indented by ``depth``): scalars of every kind, nested mappings and lists."""
    pad = "  " * depth
    lines = []
    for key in draw(st.lists(st.sampled_from(["a", "b", "on", "80", "'q'", "<<", "c"]), unique=True, max_size=4)):
        shape = draw(st.integers(0, 5 if depth < 3 else 2))
        if shape <= 2:
            value = draw(st.sampled_from(VALUES + UNUSUAL if shape == 0 else VALUES))
            lines.append(f"{pad}{key}: {value}".rstrip())
        elif shape == 3:
            lines.append(f"{pad}{key}:")
            lines += [f"{pad}- {draw(st.sampled_from(VALUES[:14]))}".rstrip() for _ in range(draw(st.integers(1, 3)))]
        else:
            inner = draw(nested(depth + 1))
            lines += [f"{pad}{key}:", inner] if inner else [f"{pad}{key}: {{}}"]
    return "\n".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested(), st.integers(0, 4))
def test_build_mapping_reads_what_csafeloader_reads_or_declines(body: str, column: int) -> None:
    """build_mapping is libyaml's reading of one item (indented as it was in its input): the same data, or
    ``None`` exactly where it holds what the one-pass reader leaves to the full read."""
    text = "\n".join(" " * column + line if line else line for line in f"kind: x\n{body}".split("\n")) + "\n"
    built = scan.build_mapping(text)
    try:
        expected = yaml.load(text, Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, ValueError):
        assert built is None
        return
    unusual = any(u in text for u in UNUSUAL) or "<<" in text or "? " in text
    assert built == expected if not unusual or built is not None else built is None
    if not unusual:
        assert built is not None


@pytest.mark.parametrize(
    "items",
    [
        "items:\n- kind: A\n- b\nitems:\n- kind: C\n- kind: D\n",  # given twice (the fuzzer's find)
        "items:\n- kind: A\n- b\n",  # a scalar among the items
    ],
)
def test_items_whose_spans_would_not_match_their_data_make_the_one_pass_decline(items: str) -> None:
    """Each span must be its item's: the one pass declines (the slow way then reads and explains the input)
    rather than give the planner spans of other items than the data it plans."""
    text = f"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n{items}"
    found = scan.layout(text)
    assert found is None or len(found.spans) == len(found.documents[0]["items"])
    assert found is None
