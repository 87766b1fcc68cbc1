"""The text patcher writes a changed item byte for byte as ruamel.yaml's round trip does, or declines.

Items are generated in kubectl's layout and around it (indented sequences, extra spaces, floats, ``~``,
``True``, quoted keys, block scalars, comments on lines and between them), operations of the kinds the
function plans (replace a value, add a key, insert or append to a list, remove a key) with new values of
every kind :func:`~r2k8s.krm.yamlio.block` handles. Wherever :func:`~r2k8s.krm.textpatch.rewrite` answers,
its answer must be ruamel.yaml's; and it must answer for the layouts users write most.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from r2k8s.krm import textpatch, yamlio
from r2k8s.krm.patch import apply, apply_round_trip

PLAIN = [
    "web", "nginx:1.25.3", "yes", "no", "-c", "--verbose", "./web.formula", "/healthz", "a b", "it's", "1Gi",
    "80", "0", "-1", "1e3", "0x1F", "2jGwN6", "1_000",
    "true", "false", "True", "null", "~", "1.10", "0644", "2024-01-01", "x#y", "a:b", "a [b]",
]  # fmt: skip
QUOTED = ['"50m"', '"0"', '"yes"', "'single'", "'it''s'", '"a\\"b"', '"tab\\there"', '""', "''", '"ünï"']
KEYS = ["name", "image", "env", "value", "ports", "app.kubernetes.io/name", "x", "command", '"quoted"', "args"]
NEW_VALUES = [
    "docker.io/library/python:3.11-slim", "yes", "", "it's", '[{"op":"x"}]', '{"a":"it\'s"}', "a: b",
    "two\nlines\n", "1Gi", "-x", " lead", "ünï", 'say "hi"', "back\\slash", "0644", "x #y", 0, 8080, True, False,
    {}, [], {"name": "r2k8s-agent", "mountPath": "/r2k8s/agent", "readOnly": True},
    [{"name": "A", "value": "1"}, {"name": "B", "value": "it's"}], ["python3", "/r2k8s/agent/r2k8s-agent.pyz"],
    {"capabilities": {"add": ["CHOWN", "KILL"]}, "runAsUser": 0}, [["nested"]],
]  # fmt: skip


KUBECTL = ["web", "nginx:1.25.3", "64Mi", "-c", "./web.formula", "/healthz", "80", "true", '"50m"', "'x y'", "{}"]
"""What kubectl-style manifests mostly hold (drawn more often: the patcher must answer for them)."""


def _scalar(draw: Any, tidy: bool) -> str:
    return str(draw(st.sampled_from(KUBECTL if tidy or draw(st.booleans()) else PLAIN + QUOTED + ["{}", "[]"])))


def _comment(draw: Any, column: int) -> str:
    """Nothing mostly; else blank or comment lines, at the column or elsewhere."""
    if draw(st.integers(0, 4)) != 0:
        return ""
    lines = draw(st.lists(st.sampled_from(["", "# note", "  # indented", "#"]), max_size=2))
    return "".join(" " * column + line + "\n" if line else "\n" for line in lines)


def _eol(draw: Any, tidy: bool) -> str:
    return str(draw(st.sampled_from(["", "", "", "", "  # why", " # b", *([] if tidy else ["   "])])))


def _mapping(draw: Any, column: int, depth: int, tidy: bool, first: str | None = None) -> str:
    keys = draw(st.lists(st.sampled_from(KEYS[:-2] if tidy else KEYS), min_size=1, max_size=4, unique=True))
    out = ""
    for index, key in enumerate(keys):
        lead = first if index == 0 and first is not None else " " * column
        kinds = ["scalar", "scalar", "map", "seq", *([] if tidy else ["block"])]
        kind = draw(st.sampled_from(kinds if depth < 3 else ["scalar"]))
        if kind == "scalar":
            space = draw(st.sampled_from([" "] if tidy else [" ", " ", "  "]))
            out += f"{lead}{key}:{space}{_scalar(draw, tidy)}{_eol(draw, tidy)}\n"
        elif kind == "block":
            pad = " " * (column + 2)
            out += f"{lead}{key}: {draw(st.sampled_from(['|', '|-', '>']))}\n{pad}line one\n\n{pad}line two\n"
        elif kind == "map":
            out += f"{lead}{key}:{_eol(draw, tidy)}\n{_comment(draw, column + 2)}"
            out += _mapping(draw, column + 2, depth + 1, tidy)
        else:
            out += f"{lead}{key}:{_eol(draw, tidy)}\n{_comment(draw, column)}"
            out += _sequence(draw, column + draw(st.sampled_from([0] if tidy else [0, 0, 0, 2])), depth + 1, tidy)
        out += _comment(draw, column)
    return out


def _sequence(draw: Any, column: int, depth: int, tidy: bool) -> str:
    out = ""
    for _ in range(draw(st.integers(1, 3))):
        if depth < 3 and draw(st.booleans()):
            out += _mapping(draw, column + 2, depth + 1, tidy, first=" " * column + "- ")
        else:
            out += f"{' ' * column}- {_scalar(draw, tidy)}{_eol(draw, tidy)}\n"
        out += _comment(draw, column)
    return out


@st.composite
def items(draw: Any) -> str:
    """An item; ``tidy`` ones (half) in kubectl's layout with only kubectl's scalars, comments anywhere."""
    return _mapping(draw, 0, 0, draw(st.booleans()))


def _places(data: Any, path: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...], Any]]:
    """(what, path, node) for every mapping, sequence and value in ``data``."""
    found: list[tuple[str, tuple[str, ...], Any]] = []
    if isinstance(data, dict):
        found.append(("map", path, data))
        for key, value in data.items():
            if isinstance(key, str):
                found.append(("value", (*path, key), value))
                found += _places(value, (*path, key))
    elif isinstance(data, list):
        found.append(("seq", path, data))
        for index, value in enumerate(data):
            found.append(("value", (*path, str(index)), value))
            found += _places(value, (*path, str(index)))
    return found


def _pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


@st.composite
def operations(draw: Any, data: Any) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    current = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 4))):
        places = _places(current)
        what, path, node = draw(st.sampled_from(places))
        value = copy.deepcopy(draw(st.sampled_from(NEW_VALUES)))
        if what == "map":
            key = draw(
                st.sampled_from(["imagePullPolicy", "r2k8s.io/formulas", *[k for k in node if isinstance(k, str)]])
            )
            if key in node and draw(st.booleans()):
                op = {"op": "remove", "path": _pointer((*path, key))}
            else:
                op = {"op": "add", "path": _pointer((*path, key)), "value": value}
        elif what == "seq":
            at = draw(st.sampled_from(["-", "0", str(len(node))]))
            op = {"op": "add", "path": _pointer((*path, at)), "value": value}
        else:
            if not path:
                continue
            op = {"op": "replace", "path": _pointer(path), "value": value}
        try:
            apply(current, [copy.deepcopy(op)])
        except Exception:
            continue
        ops.append(op)
    return ops


def round_trip(text: str, ops: list[dict[str, Any]]) -> str:
    documents = yamlio.load_documents(text)
    apply_round_trip(documents[0], ops)
    return yamlio.dump_documents(documents)


def ruamel_answer(text: str, patched: Any, ops: list[dict[str, Any]]) -> str | None:
    """What the splice writes by ruamel.yaml (:func:`r2k8s.krm.splice._rewrite`): its round trip, if that reads
    back (with libyaml, as the function planned) as the patched item; ``None`` otherwise."""
    try:
        written = round_trip(text, ops)
    except Exception:  # a path libyaml's data has and ruamel.yaml's not (on: is True to one, "on" to the other)
        return None
    return written if yaml.load(written, Loader=yaml.CSafeLoader) == patched else None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_where_the_text_patcher_answers_it_writes_what_ruamel_writes(data: st.DataObject) -> None:
    text = data.draw(items())
    try:
        plain = yaml.load(text, Loader=yaml.CSafeLoader)
        yamlio.load_documents(text)
    except (yaml.YAMLError, yamlio.YAMLError):
        assume(False)
        return
    assume(isinstance(plain, dict))
    ops = data.draw(operations(plain))
    assume(ops)
    patched = copy.deepcopy(plain)
    apply(patched, ops)
    written = textpatch.rewrite(text, patched, ops)
    if written is not None:
        assert written == ruamel_answer(text, patched, ops)


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # the web server
  labels:
    app: web
spec:
  # two, for a rolling update
  replicas: 2
  template:
    spec:
      containers:
      - name: main
        image: ./web.formula
        args:
        - --verbose
        env:
        - name: MODE
          value: production
        - name: SHARD
          value: "0"
        resources:
          requests:
            cpu: "50m"

        # what it may use
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
      - name: sidecar  # logs
        image: 'busybox:1.36'
"""

EXPANSION = [
    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "docker.io/library/python:3.11"},
    {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"},
    {"op": "add", "path": "/spec/template/spec/containers/0/command", "value": ["python3", "agent.pyz", "serve"]},
    {"op": "remove", "path": "/spec/template/spec/containers/0/args"},
    {"op": "add", "path": "/spec/template/spec/containers/0/env/0", "value": {"name": "HOME", "value": "/"}},
    {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "F", "value": '{"a":"it\'s"}'}},
    {"op": "add", "path": "/spec/template/spec/volumes", "value": [{"name": "c", "emptyDir": {}}]},
    {"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {"r2k8s.io/formulas": "main=2jG"}}},
    {"op": "add", "path": "/metadata/annotations", "value": {"r2k8s.io/source": '[{"op":"replace"}]'}},
]


def test_a_commented_item_is_left_to_ruamel_and_an_uncommented_one_is_not() -> None:
    """Comments go to ruamel.yaml (see :func:`textpatch.rewrite`); the same Deployment without them does not."""
    plain = yaml.safe_load(DEPLOYMENT)
    apply(plain, EXPANSION)
    assert textpatch.rewrite(DEPLOYMENT, plain, EXPANSION) is None
    bare = "".join(line.split("  #")[0].rstrip() + "\n" for line in DEPLOYMENT.splitlines() if line.strip()[:1] != "#")
    plain = yaml.safe_load(bare)
    apply(plain, EXPANSION)
    written = textpatch.rewrite(bare, plain, EXPANSION)
    assert written is not None, "the layout users write most must not need ruamel.yaml"
    assert written == round_trip(bare, EXPANSION)


@pytest.mark.parametrize(
    ("layout", "why"),
    [
        ("a:\n  - x\n", "an indented sequence (ruamel.yaml moves it to its key's column)"),
        ("a: 1.10\n", "a float"),
        ("a: ~\n", "a null written ~"),
        ("a:   x\n", "spaces after the colon"),
        ("a: [1, 2]\n", "a flow sequence"),
        ('"a": x\n', "a quoted key"),
    ],
)
def test_a_layout_ruamel_writes_otherwise_is_left_to_ruamel(layout: str, why: str) -> None:
    ops = [{"op": "add", "path": "/b", "value": "y"}]
    plain = yaml.safe_load(layout)
    apply(plain, ops)
    assert textpatch.rewrite(layout, plain, ops) is None, why
