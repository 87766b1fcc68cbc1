"""Untouched documents come back byte for byte on every I/O path; a changed one keeps its comments and line ends
(issue 13, defect 7).

One tab or anchor anywhere in the input used to send every document down the full round trip, which
re-serialised all of them; that path also dropped a comment between ResourceList items after a flow value
(``data: {}``), and a file with CRLF in only some documents came back with mixed line ends in the changed one.
Each shape here is run over each path that answers (the splice, and the round trip on its own), in a plain
stream and in a ResourceList. The one limit: an anchor or alias reaching from a changed ResourceList item into
another item (PyYAML writes that when one object is in two items) makes the whole list written again, every
alias expanded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from krm_inputs import answers_over_each_path, write_formula

from r2k8s.krm.function import Processor, run
from r2k8s.krm.io_paths import RoundTripPath

LIST_HEAD = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"

ANCHORED = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anchored\ndata: &d\n  a: 'yes'\nbinaryData: *d\n"
TABBED = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tabbed\ndata:\n  a: "x\ty"   # a tab\n'
FLOW_END = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flow\ndata: {}\n"
PLAIN = "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc  # kept\nspec:\n  ports: [{port: 80}]\n"
CHANGED = """\
apiVersion: v1
kind: Pod
metadata:
  name: web  # the pod
spec:
  containers:
  # the formula container
  - name: app
    image: ./web.formula
    ports: [{containerPort: 8080}]
"""
CHANGED_WITH_ANCHOR = """\
apiVersion: v1
kind: Pod
metadata:
  name: web  # the pod
  labels: &labels
    app: web
spec:
  containers:
  # the formula container
  - name: app
    image: ./web.formula
    env:
    - {name: LABELS, value: "on"}
  nodeSelector: *labels
"""
UNTOUCHED = {"anchored": ANCHORED, "tabbed": TABBED, "flow": FLOW_END, "plain": PLAIN}


@pytest.fixture(autouse=True)
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def as_item(document: str, comment: str = "") -> str:
    """``document`` as an item of a ResourceList's block ``items`` (its line ends kept), with a comment line after
    it."""
    indented = "".join("  " + line if line.strip() else line for line in document.splitlines(keepends=True))
    return "-" + indented[1:] + (f"# {comment}\n" if comment else "")


def stream(documents: list[str]) -> str:
    return "---\n".join(documents)


def resource_list(documents: list[str]) -> str:
    return LIST_HEAD + "".join(as_item(d, f"after item {i}") for i, d in enumerate(documents))


def check(text: str, untouched: list[str], changed_crlf: bool = False) -> None:
    """Over each path: every ``untouched`` text is in the answer as it is in ``text``; the changed document
    keeps its comments, and its line ends (CRLF or LF)."""
    for output in answers_over_each_path(text):
        for part in untouched:
            assert part in text and part in output, part
        assert output.startswith(text[: text.index(untouched[0]) + len(untouched[0])])
        changed = output[output.index("kind: Pod") :]
        changed = changed[: changed.index("r2k8s-agent-")]
        assert "# the pod" in changed and "# the formula container" in changed
        if changed_crlf:
            assert changed.count("\n") == changed.count("\r\n"), changed[:400]
        else:
            assert "\r" not in changed, changed[:400]
        data = [d for d in yaml.safe_load_all(output) if d]
        pods = [d for d in (data[0]["items"] if text.startswith(LIST_HEAD) else data) if d["kind"] == "Pod"]
        assert pods[0]["spec"]["containers"][0]["image"] != "./web.formula"


@pytest.mark.parametrize("shape", sorted(UNTOUCHED))
def test_an_untouched_document_of_any_shape_is_kept_byte_for_byte_in_a_stream(shape: str) -> None:
    check(stream([UNTOUCHED[shape], CHANGED]), [UNTOUCHED[shape]])


@pytest.mark.parametrize("shape", sorted(UNTOUCHED))
def test_an_untouched_item_of_any_shape_and_the_comment_after_it_are_kept_in_a_resource_list(shape: str) -> None:
    item = as_item(UNTOUCHED[shape], "between the items")
    check(LIST_HEAD + item + as_item(CHANGED), [item])


def test_a_crlf_file_stays_crlf_throughout() -> None:
    text = crlf(stream([ANCHORED, CHANGED, PLAIN]))
    check(text, [crlf(ANCHORED), crlf(PLAIN)], changed_crlf=True)
    for output in answers_over_each_path(text):
        assert output.count("\n") == output.count("\r\n")  # the agent ConfigMap too


@pytest.mark.parametrize("changed_crlf", [True, False], ids=["changed-crlf", "changed-lf"])
def test_crlf_in_some_documents_each_keeps_its_own_line_ends(changed_crlf: bool) -> None:
    changed = crlf(CHANGED) if changed_crlf else CHANGED
    others = [PLAIN if changed_crlf else crlf(PLAIN), TABBED if changed_crlf else crlf(TABBED)]
    check(stream([others[0], changed, others[1]]), others, changed_crlf=changed_crlf)


def test_an_anchor_inside_the_changed_document_is_expanded_there_and_nothing_else_moves() -> None:
    for text in (
        stream([TABBED, CHANGED_WITH_ANCHOR]),
        LIST_HEAD + as_item(TABBED, "x") + as_item(CHANGED_WITH_ANCHOR),
    ):
        for output in answers_over_each_path(text):
            assert output.startswith(text[: text.index("kind: Pod")])
            changed = output[output.index("kind: Pod") :]
            assert "&labels" not in changed and "*labels" not in changed and "# the formula container" in changed
            assert 'value: "on"' in changed  # as written (a YAML 1.1 reader would take a plain on for true)
            data = [d for d in yaml.safe_load_all(output) if d]
            pod = next(d for d in data[0].get("items", data) if d["kind"] == "Pod")
            assert pod["spec"]["nodeSelector"] == {"app": "web"}


CROSSING = [
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anchored\ndata: &d\n  app: web\n",
        CHANGED + "  nodeSelector: *d\n",
        1,
        "alias",
        id="the changed item uses another's anchor",
    ),
    pytest.param(
        CHANGED_WITH_ANCHOR.replace("  nodeSelector: *labels\n", ""),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aliased\ndata: *labels\n",
        0,
        "anchor",
        id="another item uses the changed item's anchor",
    ),
]


@pytest.mark.parametrize(("first", "second", "changed", "what"), CROSSING)
def test_an_alias_crossing_from_a_changed_item_has_the_whole_list_written_with_aliases_expanded(
    first: str, second: str, changed: int, what: str
) -> None:
    text = LIST_HEAD + as_item(first, "between") + as_item(second)
    for output in answers_over_each_path(text):
        assert "*" not in output.replace("*/", "") and "&" not in output  # every alias written out
        items = yaml.safe_load(output)["items"]
        pod = items[changed]
        assert pod["kind"] == "Pod" and pod["spec"]["containers"][0]["image"] != "./web.formula"
        other = items[1 - changed]
        assert other["data"] == {"app": "web"}  # what the alias named, now a copy
        if what == "alias":
            assert pod["spec"]["nodeSelector"] == {"app": "web"}


def test_a_failed_run_gives_the_resource_list_back_byte_for_byte_with_its_results() -> None:
    text = LIST_HEAD + as_item(FLOW_END, "between") + as_item(CHANGED.replace("./web", "./missing"))
    outcome = run(text)
    assert outcome.exit_code == 1
    assert outcome.output.startswith(text) and "# between" in outcome.output
    assert yaml.safe_load(outcome.output)["results"] == outcome.results.encode()


def test_the_round_trip_on_its_own_keeps_untouched_items_when_libyaml_reads_the_data_otherwise() -> None:
    """``on:`` is ``True`` to libyaml: the splice falls back; the round trip still keeps the other items."""
    text = LIST_HEAD + as_item(TABBED, "kept") + as_item(CHANGED.replace("  # the pod", "  # the pod\n  on: 1"))
    outcome = Processor().process(text, RoundTripPath)
    assert outcome.exit_code == 0, outcome.messages
    assert outcome.output.startswith(LIST_HEAD + as_item(TABBED, "kept"))


SHAPES = {
    "anchored": ANCHORED,
    "tabbed": TABBED,
    "flow": FLOW_END,
    "plain": PLAIN,
    "anchored-crlf": crlf(ANCHORED),
    "plain-crlf": crlf(PLAIN),
}


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(SHAPES)), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=5),
    st.booleans(),
    st.booleans(),
)
def test_any_mix_of_document_shapes_keeps_every_untouched_one(
    shapes: list[str], at: int, changed_crlf: bool, as_list: bool
) -> None:
    untouched = [SHAPES[s].replace("name: ", f"name: n{i}-", 1) for i, s in enumerate(shapes)]
    at = min(at, len(untouched))
    documents = [*untouched[:at], crlf(CHANGED) if changed_crlf else CHANGED, *untouched[at:]]
    if as_list:
        parts = [as_item(d, f"after {i}") for i, d in enumerate(documents)]
        text, kept = LIST_HEAD + "".join(parts), parts[:at] + parts[at + 1 :]
    else:
        text, kept = stream(documents), untouched
    for output in answers_over_each_path(text):
        for part in kept:
            assert part in output, part
        changed = output[output.index("kind: Pod") : output.index("r2k8s-agent-")]
        assert "# the formula container" in changed
        if changed_crlf:
            assert changed.count("\n") == changed.count("\r\n"), changed[:300]
        else:
            assert "\r" not in changed
