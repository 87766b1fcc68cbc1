"""The text patcher writes a changed item as ruamel.yaml's round trip does, each comment on its line, or declines.

Items are generated in kubectl's layout and around it (indented sequences, extra spaces, floats, ``~``,
``True``, quoted keys, block scalars, comments on lines and between them), operations of the kinds the
function plans (replace a value, add a key, insert or append to a list, remove a key) with new values of
every kind :func:`~r2k8s.krm.yamlio.block` handles. Each item comes in two forms, with its comments and
without them (the same item, the same operations). Wherever :func:`~r2k8s.krm.textpatch.rewrite` answers:

* without comments, its answer is ruamel.yaml's, byte for byte;
* with them, its answer is ruamel.yaml's answer for the bare item with every comment put back by the rules
  of :mod:`r2k8s.krm.textpatch` (:func:`placed`, written here from the rules, not from the module): an
  end-of-line comment on the line of the same key or element; a run of blank and comment lines right above
  the first original line after it that is still there; neither when the lines around it were all taken
  out by one removal or replacement. So nothing but the changed values and the added entries differs.

And it must answer for the layouts users write most, comments included.
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
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


OPEN, CLOSE = "\x02", "\x03"
"""Around each comment (and blank line) the generator writes, so that :func:`forms` can drop them."""


def _comment(draw: Any, column: int) -> str:
    """Nothing mostly; else blank or comment lines, at the column or elsewhere."""
    if draw(st.integers(0, 4)) != 0:
        return ""
    lines = draw(st.lists(st.sampled_from(["", "# note", "  # indented", "#"]), max_size=2))
    return "".join(OPEN + (" " * column + line + "\n" if line else "\n") + CLOSE for line in lines)


def _eol(draw: Any, tidy: bool) -> str:
    eol = str(draw(st.sampled_from(["", "", "", "", "  # why", " # b", *([] if tidy else ["   "])])))
    return OPEN + eol + CLOSE if "#" in eol else eol


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
    """An item; ``tidy`` ones (half) in kubectl's layout with only kubectl's scalars, comments anywhere (marked)."""
    return _mapping(draw, 0, 0, draw(st.booleans()))


_MARKED = re.compile(f"{OPEN}([^{CLOSE}]*){CLOSE}")


def forms(marked: str) -> tuple[str, str]:
    """(the item with its comments, each made unique by a number: ``# note`` is ``#c3 note``; the item without
    them)."""
    count = itertools.count(1)
    commented = _MARKED.sub(lambda m: m.group(1).replace("#", f"#c{next(count)}", 1), marked)
    return commented, _MARKED.sub("", marked)


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


# --- where the comments go: the rules, applied to ruamel.yaml's answer for the bare item ----------------------

Path = tuple[Any, ...]
_END: Path = ("<the end>",)
_EOL = re.compile(r" +#c[0-9]+.*$")


class _Token:
    """An original scalar, so that the operations show which ones stay where they were."""

    def __init__(self, path: Path) -> None:
        self.path = path


class _Slot(_Token):
    """A new scalar set in place of a list's element: on the line of the element it replaced."""


def _line_paths(text: str) -> dict[int, Path]:
    """Line number -> the path of the key (or, for a scalar element, the element) that starts on that line."""
    found: dict[int, Path] = {}

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found[key.start_mark.line] = (*path, key.value)
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                found[value.start_mark.line] = (*path, index)  # a mapping's first key overrides it
                walk(value, (*path, index))

    walk(yaml.compose(text, Loader=yaml.CSafeLoader), ())
    return found


class _Identities:
    """The operations applied to a copy of the item whose every node knows its original path: which original
    nodes and lines are still there, and the original line of each line now."""

    def __init__(self, data: Any, ops: list[dict[str, Any]]) -> None:
        self.origin: dict[int, tuple[Path, Any, set[Any]]] = {}  # id -> (path, the node itself, original keys)
        self.gone_keys: set[tuple[int, Any]] = set()
        self.slots: dict[int, tuple[Path, Any]] = {}  # id -> (the line it took, the new collection itself)
        tree = self._copy(data, ())
        for op in ops:
            parts = [part.replace("~1", "/").replace("~0", "~") for part in op["path"].split("/")[1:]]
            parent = tree
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            if op["op"] == "remove" and isinstance(parent, dict):
                self.gone_keys.add((id(parent), parts[-1]))  # its line goes: the same key added again is new
            replaced = parent[int(parts[-1])] if op["op"] == "replace" and isinstance(parent, list) else None
            apply(tree, [copy.deepcopy(op)])
            if replaced is not None:  # the new element takes the line of the one it replaces
                line = self._first_line(replaced)
                if line is not None:
                    if isinstance(parent[int(parts[-1])], (dict, list)):
                        self.slots[id(parent[int(parts[-1])])] = (line, parent[int(parts[-1])])
                    else:
                        parent[int(parts[-1])] = _Slot(line)
        self.nodes: set[Path] = set()  # the original nodes still there
        self.lines: dict[Path, Path] = {}  # a line's path now -> its original line's path
        self._walk(tree, ())

    def _first_line(self, node: Any) -> Path | None:
        """The original line an element starts on (``- key: …``: its first key's), if it is one."""
        if isinstance(node, _Token):
            return node.path
        if id(node) in self.slots and self.slots[id(node)][1] is node:
            return self.slots[id(node)][0] if not isinstance(node, dict) or not node else None
        known = self.origin.get(id(node))
        if known is None or known[1] is not node:
            return None
        if isinstance(node, dict) and node:
            key = next(iter(node))
            return (*known[0], key) if key in known[2] and (id(node), key) not in self.gone_keys else None
        return known[0]

    def _copy(self, value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            copied: Any = {key: self._copy(item, (*path, key)) for key, item in value.items()}
        elif isinstance(value, list):
            copied = [self._copy(item, (*path, index)) for index, item in enumerate(value)]
        else:
            return _Token(path)
        self.origin[id(copied)] = (path, copied, set(value) if isinstance(value, dict) else set())
        return copied

    def _walk(self, value: Any, now: Path) -> None:
        if isinstance(value, _Slot):
            self.lines[now] = value.path
            return
        if isinstance(value, _Token):
            self.nodes.add(value.path)
            return
        if id(value) in self.slots and self.slots[id(value)][1] is value:
            line = self.slots[id(value)][0]
            first = (*now, next(iter(value))) if isinstance(value, dict) and value else now
            self.lines[first] = line  # its first line: ``- key: …`` or ``- {}``
        known = self.origin.get(id(value))
        if known is None or known[1] is not value:
            return  # new: none of its lines is original
        path, _, keys = known
        self.nodes.add(path)
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in children:
            if isinstance(value, dict) and key in keys and (id(value), key) not in self.gone_keys:
                self.lines[(*now, key)] = (*path, key)  # the key's line, whatever its value is now
            elif isinstance(value, list) and isinstance(item, _Token):
                self.lines[(*now, key)] = item.path
            elif isinstance(value, list) and id(item) in self.origin and self.origin[id(item)][1] is item:
                self.lines[(*now, key)] = self.origin[id(item)][0]  # an element's line (``- {}``; else its first key's)
            self._walk(item, (*now, key))

    def removed_with(self, line: Path) -> Path:
        """The outermost original node gone from around a line (what took it), or ``()``."""
        for length in range(1, len(line) + 1):
            if line[:length] not in self.nodes:
                return line[:length]
        return ()


def placed(commented: str, bare_answer: str, data: Any, ops: list[dict[str, Any]]) -> str:
    """``bare_answer`` (ruamel.yaml's, for the item without comments) with the comments of ``commented`` put back
    by the rules: an end-of-line comment on the line of its key or element (if that line is still there); a run
    of blank and comment lines right above the first original line after it that is still there (or at the end),
    unless the lines before and after it were both taken out by the same removal or replacement."""
    ids = _Identities(data, ops)
    alive = set(ids.lines.values())
    labels = _line_paths(commented)
    content: list[Path] = []  # the original lines' paths, in order
    eols: dict[Path, str] = {}
    runs: list[tuple[int, str]] = []  # (how many content lines precede the run, its text)
    for number, line in enumerate(commented.splitlines(keepends=True)):
        if not line.strip() or line.lstrip().startswith("#"):
            if runs and runs[-1][0] == len(content):
                runs[-1] = (len(content), runs[-1][1] + line)
            else:
                runs.append((len(content), line))
            continue
        path = labels[number]
        content.append(path)
        eol = _EOL.search(line.rstrip("\n"))
        if eol:
            eols[path] = eol.group(0)
    above: dict[Path, str] = {}
    for at, text in runs:
        before = content[at - 1] if at else None
        after = content[at] if at < len(content) else None
        if before is not None and after is not None and ids.removed_with(before) == ids.removed_with(after) != ():
            continue  # inside what was taken out (an element replaced: even below its line, which the new one takes)
        target = next((line for line in content[at:] if line in alive), _END)
        above[target] = above.get(target, "") + text
    out = []
    now = _line_paths(bare_answer)
    for number, line in enumerate(bare_answer.splitlines(keepends=True)):
        original = ids.lines.get(now[number]) if number in now else None
        if original is not None:
            out.append(above.pop(original, ""))
            line = line[:-1] + eols.get(original, "") + "\n"
        out.append(line)
    out.append(above.pop(_END, ""))
    assert not above, f"original lines missing from ruamel.yaml's answer: {above}"
    return "".join(out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_where_the_text_patcher_answers_it_writes_ruamels_bytes_with_each_comment_on_its_line(
    data: st.DataObject,
) -> None:
    commented, bare = forms(data.draw(items()))
    try:
        plain = yaml.load(commented, Loader=yaml.CSafeLoader)
        same = yaml.load(bare, Loader=yaml.CSafeLoader)
        yamlio.load_documents(commented)
        yamlio.load_documents(bare)
    except (yaml.YAMLError, yamlio.YAMLError):
        assume(False)
        return
    assume(isinstance(plain, dict) and plain == same)
    ops = data.draw(operations(plain))
    assume(ops)
    patched = copy.deepcopy(plain)
    apply(patched, ops)
    expected = ruamel_answer(bare, patched, ops)
    written = textpatch.rewrite(bare, patched, ops)
    if written is not None:
        assert written == expected
    written = textpatch.rewrite(commented, patched, ops)
    event(f"{'answered' if written is not None else 'declined'}, {'commented' if commented != bare else 'bare'}")
    if written is not None:
        assert expected is not None, "ruamel.yaml cannot write it, and the text patcher did"
        assert written == placed(commented, expected, plain, ops)
        assert yaml.load(written, Loader=yaml.CSafeLoader) == patched
        assert textpatch.rewrite(written, patched, []) in (written, None), "read again, it is written as it is"


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
        image: ./web.formula  # built by repeatr
        args:
        - --verbose  # for now
        env:
        # the mode first
        - name: MODE
          value: production
        - name: SHARD
          value: "0"

        # what it may use
        resources:
          requests:
            cpu: "50m"
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


def _next_lines(text: str) -> dict[str, str]:
    """Each comment line -> the first line below it that is not a comment or blank."""
    lines = text.splitlines()
    found = {}
    for at, line in enumerate(lines):
        if line.strip().startswith("#"):
            found[line] = next((below for below in lines[at + 1 :] if below.strip() and "#" not in below[:2]), "")
    return found


def test_a_kubectl_style_item_with_comments_is_written_without_ruamel_each_comment_on_its_line() -> None:
    plain = yaml.safe_load(DEPLOYMENT)
    apply(plain, EXPANSION)
    written = textpatch.rewrite(DEPLOYMENT, plain, EXPANSION)
    assert written is not None, "the layout users write most, comments included, must not need ruamel.yaml"
    assert yaml.safe_load(written) == plain
    lines = written.splitlines()
    assert "        image: docker.io/library/python:3.11  # built by repeatr" in lines
    assert "  name: web  # the web server" in lines and "      - name: sidecar  # logs" in lines
    assert "# for now" not in written, "the comment on a removed line goes with it"
    expected_next = {**_next_lines(DEPLOYMENT), "        # the mode first": "        - name: MODE"}
    assert _next_lines(written) == expected_next, "each comment line stays above the line it was written above"
    bare = "".join(line.split("  #")[0].rstrip() + "\n" for line in DEPLOYMENT.splitlines() if line.strip()[:1] != "#")
    bare = bare.replace("\n\n", "\n")
    numbers = itertools.count(1)
    commented = re.sub("#", lambda _: f"#c{next(numbers)}", DEPLOYMENT)
    numbered = textpatch.rewrite(commented, plain, EXPANSION)
    assert numbered == placed(commented, round_trip(bare, EXPANSION), yaml.safe_load(DEPLOYMENT), EXPANSION)
    written_bare = textpatch.rewrite(bare, plain, EXPANSION)
    assert written_bare is not None and written_bare == round_trip(bare, EXPANSION)


def test_ruamels_placement_is_not_kept_for_a_list_appended_to() -> None:
    """ruamel.yaml writes an element appended to ``env`` under the comment written above ``resources:``; the text
    patcher keeps that comment above ``resources:`` (what r2k8s wants; the same item without comments is
    byte for byte ruamel.yaml's)."""
    ops = [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "X", "value": "1"}}]
    plain = yaml.safe_load(DEPLOYMENT)
    apply(plain, ops)
    ruamel = _next_lines(round_trip(DEPLOYMENT, ops))["        # what it may use"]
    ours = _next_lines(str(textpatch.rewrite(DEPLOYMENT, plain, ops)))["        # what it may use"]
    assert (ruamel, ours) == ("        - name: X", "        resources:")


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
