"""Reading a ResourceList by its lines gives what walking libyaml's events gives, or declines.

:func:`r2k8s.krm.linescan.layout` proposes the items and their fields from the lines and lets libyaml
confirm; over generated ResourceLists — the dash at column 0 or 2, comments and blank lines anywhere,
fields in any order, top-level lists at the key's column, and scalars whose lines look like new items or
fields (quoted scalars and flow collections over several lines, block scalars, plain scalars that go on)
— it must answer exactly what the event walk (:func:`r2k8s.krm.scan._walk`) answers, spans and data, or
``None``; where the walk refuses a text (libyaml cannot read it, or it holds what only the slow way reads),
it must refuse it too. And it must
answer the plain layouts kustomize, kpt and kubectl write, or the speed it is for is gone.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2k8s.krm import linescan, scan

SCALARS = [
    "web", "'yes'", "80", "~", '"a\\nb"', "{}", "[]", "[a, b]", "./web.formula", "formula:web", "x  # c",
    "'it''s'", '"\\x2e/web.formula"', "2024-01-01", "2024-13-45", "&a x", "*a", "!!str 3", "{a: 1}: b", "=",
]  # fmt: skip
TRICKY = [
    # scalars whose continuation lines sit where a field or an item would start (the column is filled in)
    '"first\n{dash}- kind: Formula\n{col}kind: Secret"',
    '"first\n{dash}- kind: B\n{col}name: y"',
    "'first\n{odd}second'",
    "'first\n{col}kind: Secret'",
    "[a,\n{col}kind: b]",
    "{{a: 1,\n{dash}- kind: c}}",
    "|\n{deep}line one\n{deep}- kind: x",
    "plain\n{deep}goes on",
    '"formu\\\n{deep}la:web"',
]


@st.composite
def field(draw: Any, key: str, column: int, dash: int) -> list[str]:
    pad = " " * column
    shape = draw(st.integers(0, 9))
    if key == "metadata" or shape >= 8:
        lines = [f"{pad}{key}:", f"{pad}  name: r{draw(st.integers(0, 9))}"]
        if draw(st.booleans()):
            lines += [f"{pad}  labels:", f"{pad}    app: {draw(st.sampled_from(SCALARS))}"]
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"{pad}  annotations: {{r2k8s.io/source: x}}")
        if draw(st.integers(0, 3)) == 0:  # a key with nothing after it: null, or the mapping on the lines below
            lines[1:1] = draw(st.sampled_from([[f"{pad}  namespace:"], [f"{pad}  owner:", f"{pad}    team: a"]]))
        if draw(st.integers(0, 5)) == 0:  # a key at a column no mapping has (libyaml refuses it)
            lines.append(f"{pad}   odd: 1")
        return lines
    if shape == 7:  # a list at the key's column, kubectl style
        return [f"{pad}{key}:", *[f"{pad}- {draw(st.sampled_from(SCALARS))}" for _ in range(draw(st.integers(1, 2)))]]
    if shape == 6:
        tricky = draw(st.sampled_from(TRICKY)).format(dash=" " * dash, col=pad, deep=pad + "  ", odd=" " * (dash + 1))
        return f"{pad}{key}: {tricky}".split("\n")
    value = draw(st.sampled_from(SCALARS)) if key != "kind" else draw(st.sampled_from(["Deployment", "Formula", "'x'"]))
    return [f"{pad}{key}: {value}"]


@st.composite
def resource_list(draw: Any) -> str:
    dash = draw(st.sampled_from([0, 2]))
    column = dash + 2
    items = []
    for _ in range(draw(st.integers(0, 4))):
        keys = draw(st.permutations(["apiVersion", "kind", "metadata", "spec", "data"]))
        keys = keys[: draw(st.integers(1, 5))]
        lines: list[str] = []
        for key in keys:
            lines += draw(field(key, column, dash))
            if draw(st.integers(0, 5)) == 0:
                lines.append(draw(st.sampled_from(["", "# between fields", " " * column + "# indented", "  # odd"])))
        lines[0] = " " * dash + "- " + lines[0][column:]
        items.append("\n".join(lines))
        if draw(st.integers(0, 4)) == 0:
            items.append(draw(st.sampled_from(["# between items", ""])))
        if draw(st.integers(0, 19)) == 0:
            items.append(" " * dash + draw(st.sampled_from(["- {kind: A, image: ./web.formula}", "- x", "- [a]"])))
    root = ["apiVersion: config.kubernetes.io/v1", "kind: ResourceList"]
    after = draw(st.sampled_from([[], ["functionConfig:", "  data: {a: b}"], ["results: []"]]))
    if draw(st.booleans()):
        root, after = root + after, []
    text = "\n".join([*root, "items:", *items, *after])
    return text + draw(st.sampled_from(["\n", "", "\n\n# end\n"]))


def _walked(text: str) -> Any:
    try:
        return scan._walk(text, "list")
    except (yaml.YAMLError, ValueError, TypeError, scan._Unusual):  # what the walk refuses, the lines must too
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resource_list())
def test_the_line_reader_answers_what_the_event_walk_answers_or_declines(text: str) -> None:
    by_lines = linescan.layout(text)
    if by_lines is not None:
        assert by_lines == _walked(text)


@pytest.mark.parametrize("dash", [0, 2])
def test_a_plain_resource_list_is_read_by_its_lines(dash: int) -> None:
    """The layout kustomize, kpt and kubectl write: read by the lines (else the speed it is for is lost), and as
    the walk reads it: a formula item whole, the others in part."""
    pad, col = " " * dash, " " * (dash + 2)
    text = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
        f"{pad}- apiVersion: apps/v1\n{col}kind: Deployment\n{col}metadata:\n{col}  name: web\n{col}spec:\n"
        f"{col}  template:\n{col}    spec:\n{col}      containers:\n{col}      - image: ./web.formula\n"
        f'{pad}- apiVersion: v1\n{col}kind: ConfigMap\n{col}metadata:\n{col}  name: c\n{col}data:\n{col}  a: "x\\ny"\n'
        "functionConfig:\n  apiVersion: fn.r2k8s.io/v1alpha1\n  kind: R2k8sFunction\n"
    )
    by_lines = linescan.layout(text)
    assert by_lines is not None
    assert by_lines == scan._walk(text, "list")
    assert by_lines.partial == {1}
    assert by_lines.documents[0]["items"][1] == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}


@pytest.mark.parametrize(
    "item",
    [
        '- kind: A\n  data: "x\n- kind: Formula\n  y"\n',  # a "- " line inside a quoted scalar
        "- kind: A\n  data: 'x\n  kind: Secret'\n",  # a field's line inside a quoted scalar
        "- kind: A\n  data: [x,\n  kind: b]\n",  # ... inside a flow collection
        '- kind: A\n  data: "x\n- kind: B\n  name: y"\n',  # each piece reads as a resource, but the first alone not
    ],
)
def test_lines_inside_a_scalar_are_not_taken_for_items_or_fields(item: str) -> None:
    text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + item
    by_lines = linescan.layout(text)
    assert by_lines is None or by_lines == scan._walk(text, "list")
    if by_lines is not None:
        assert by_lines.documents[0]["items"][0]["kind"] == "A"


@pytest.mark.parametrize("value", ["2024-13-45", "&a x", "*a", "!!str 3", "{a: 1}: b", "[a]: b", "? a", "<<: {}"])
def test_what_only_the_walk_reads_makes_the_lines_decline_even_in_a_field_they_do_not_build(value: str) -> None:
    """An anchor, alias, tag, complex or merge key, or a date that is none, in ``spec`` (never built for a
    partial item): the lines cannot tell what it is, so they leave it to the walk, which reads or refuses it."""
    text = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
        f"- kind: A\n  metadata:\n    name: a\n  spec:\n    x: {value}\n"
    )
    assert linescan.layout(text) is None
    plain = text.replace(f"x: {value}", "x: 1")
    assert linescan.layout(plain) == scan._walk(plain, "list")  # the same item without it is read by its lines


@pytest.mark.parametrize(
    "item",
    ["- {kind: A, image: ./web.formula}\n", "- [a]\n", "- x\n", "- 'kind': A\n", "-   kind: A\n  x: 1\n", "- ", "-\n"],
)
def test_an_item_that_is_no_plain_block_mapping_is_left_to_the_walk(item: str) -> None:
    """A flow item (the walk refuses it: the round trip writes it), a list or a scalar as an item, a quoted key,
    an item indented past its dash, an empty one where the text ends: not the layout the lines are read for."""
    assert linescan.layout("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + item) is None
