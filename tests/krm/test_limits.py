"""Input the function must refuse rather than read: YAML nested too deeply, alias bombs, aliases inside what they
name (issue 12). Up to the limit everything works, through every path; past it, exit 1, a message naming the
document or item, the resource and the field, and no output; never a crash, a hang or a silent change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from krm_inputs import WEB_EXAMPLE, deployment, resource_list, write_formula
from krm_shapes import alias_bomb, as_list, as_stream, deep_deployment, deployment_text, document_depth, run_fn

from r2k8s.krm.function import REFUSED, Outcome, Processor, run
from r2k8s.krm.io_paths import Fallback, IOPathFactory, RoundTripPath, SplicePath
from r2k8s.krm.limits import MAX_DEPTH, might_be_hostile, shape_problem
from r2k8s.krm.quick import unchanged
from r2k8s.krm.results import ResourceRef

FORMULA, PLAIN = "./web.formula", "nginx:1.27"
STYLES = ("flow", "block", "compact")
WEB = ResourceRef("apps/v1", "Deployment", "web")


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def wrapped(depth: int, style: str, image: str, shape: str) -> str:
    """A Deployment whose YAML document nests exactly ``depth`` levels, as a plain stream or a ResourceList."""
    if shape == "list":
        return as_list([deep_deployment(depth, style, image, in_list=True)])
    return as_stream([deep_deployment(depth, style, image)])


def over(path: IOPathFactory, text: str) -> Outcome | None:
    try:
        return Processor().process(text, path)
    except Fallback:
        return None


def documents(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


# -- up to the limit: every path works ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["stream", "list"])
@pytest.mark.parametrize("style", STYLES)
def test_a_formula_in_a_document_nesting_100_levels_is_expanded_on_both_paths(
    package: Path, style: str, shape: str
) -> None:
    text = wrapped(MAX_DEPTH, style, FORMULA, shape)
    assert document_depth(text) == MAX_DEPTH and shape_problem(text) is None
    assert not unchanged(text)
    fast, full = over(SplicePath, text), over(RoundTripPath, text)
    assert fast is not None and full is not None
    assert (fast.exit_code, full.exit_code) == (0, 0), fast.messages + full.messages
    assert documents(fast.output) == documents(full.output)  # locate, rewrite, ruamel's round trip: all at depth 100
    assert document_depth(full.output) == MAX_DEPTH
    assert run(text).output == fast.output


@pytest.mark.parametrize("shape", ["stream", "list"])
@pytest.mark.parametrize("style", STYLES)
def test_a_document_nesting_100_levels_without_a_formula_comes_back_byte_for_byte(
    package: Path, style: str, shape: str
) -> None:
    text = wrapped(MAX_DEPTH, style, PLAIN, shape)
    outcome = run(text)
    assert (outcome.exit_code, outcome.output) == (0, text)
    full = over(RoundTripPath, text)
    assert full is not None and full.exit_code == 0 and documents(full.output) == documents(text)


def test_the_quick_path_reads_the_deepest_input_the_cheap_check_lets_through(package: Path) -> None:
    text = two_levels_a_column(31, 31)  # about the deepest document the cheap check lets through
    assert not might_be_hostile(text)
    assert document_depth(text) == 94  # the bound of might_be_hostile's docstring (96), nearly reached
    assert unchanged(text)  # libyaml's composer read it all
    assert run(text).output == text


# -- one level more, or 50,000: refused --------------------------------------------------------------------------


@pytest.mark.parametrize("image", [FORMULA, PLAIN], ids=["formula", "no formula"])
@pytest.mark.parametrize("shape", ["stream", "list"])
@pytest.mark.parametrize("style", STYLES)
def test_101_levels_are_refused_naming_the_resource_and_the_field(
    package: Path, style: str, shape: str, image: str
) -> None:
    text = wrapped(MAX_DEPTH + 1, style, image, shape)
    outcome = run(text)
    assert (outcome.exit_code, outcome.output, outcome.path) == (1, "", REFUSED)
    (result,) = outcome.results
    assert result.resource_ref == WEB
    assert result.field is not None and result.field.startswith("spec.x")
    where = "items[0]" if shape == "list" else "document 1"
    assert f"{where} nests deeper than {MAX_DEPTH} levels" in result.message
    assert over(RoundTripPath, text) == over(SplicePath, text) == outcome  # refused before either path reads


@pytest.mark.parametrize("image", [FORMULA, PLAIN], ids=["formula", "no formula"])
@pytest.mark.parametrize("shape", ["stream", "list"])
@pytest.mark.parametrize("style", ["flow", "compact"])
def test_50000_levels_are_refused_without_a_crash(package: Path, style: str, shape: str, image: str) -> None:
    """libyaml's composer segfaulted here (quick path included), ruamel.yaml's recursion ended in exit 2."""
    text = wrapped(50_000, style, image, shape)
    ran = run_fn(text, cwd=package, entry="piped" if shape == "stream" else "fn")
    assert ran.code == 1 and ran.stdout == b"", ran
    assert "Deployment/web: spec.x[0]" in ran.err and f"nests deeper than {MAX_DEPTH} levels" in ran.err


@pytest.mark.parametrize("with_formula", [True, False], ids=["formula", "no formula"])
@pytest.mark.parametrize("shape", ["stream", "list"])
def test_an_alias_bomb_is_refused_at_once(package: Path, shape: str, with_formula: bool) -> None:
    """Ten lines naming 9**10 strings: the function hung, its memory growing, until killed."""
    docs = [alias_bomb(), *([deployment_text()] if with_formula else [])]
    text = as_list(docs) if shape == "list" else as_stream(docs)
    ran = run_fn(text, cwd=package, timeout=60)
    assert ran.code == 1 and ran.stdout == b"", ran
    where = "items[0]" if shape == "list" else "document 1"
    assert f"ConfigMap/bomb: data.a6[0]: {where} expands to more than 1,000,000 nodes through YAML aliases" in ran.err


def test_anchor_names_only_ruamel_yaml_reads_are_checked_too(package: Path) -> None:
    """``&.a0`` is no anchor to libyaml (it fails), so the cheap check is right to ignore it; the round trip,
    which ruamel.yaml reads, walks ruamel.yaml's events instead."""
    text = as_stream([alias_bomb(anchor=".a"), deployment_text()])
    assert not might_be_hostile(text)
    ran = run_fn(text, cwd=package, timeout=60)
    assert ran.code == 1 and "ConfigMap/bomb: data.a6[0]" in ran.err and "through YAML aliases" in ran.err, ran


def test_an_alias_inside_the_node_it_names_is_refused(package: Path) -> None:
    """``&a [*a]`` is recursive data: ruamel.yaml wrote it back as ``[null]`` (a silent change), walks looped."""
    text = deployment_text(spec="  x: &a [*a]\n")
    outcome = run(text)
    assert (outcome.exit_code, outcome.output) == (1, "")
    (result,) = outcome.results
    assert (result.resource_ref, result.field) == (WEB, "spec.x[0]")
    assert "holds the YAML alias *a inside the node it names" in result.message


def test_aliases_are_followed_when_measuring_depth(package: Path) -> None:
    """60 levels under an anchor, used 60 levels down: 120 levels once expanded, though no line shows it."""
    deep = "[" * 60 + "x" + "]" * 60
    text = deployment_text(spec=f"  x: &deep {deep}\n  y: {'[' * 60}*deep{']' * 60}\n")
    outcome = run(text)
    assert outcome.exit_code == 1 and "through the YAML alias *deep" in outcome.results[0].message


def test_an_item_is_named_in_a_resource_list_of_many(package: Path) -> None:
    items = [deployment_text(PLAIN, name=f"w{i}") for i in range(3)]
    items[2] = deployment_text(PLAIN, name="w2", spec="  x: " + "{a: " * 200 + "1" + "}" * 200 + "\n")
    outcome = run(as_list(items))
    (result,) = outcome.results
    assert result.resource_ref == ResourceRef("apps/v1", "Deployment", "w2")
    assert result.message.startswith("items[2] nests deeper") and result.field == "spec.x.a.a.a.a.a.a.a.a.a.a…"


def test_the_cli_prints_the_refusal_on_stderr_and_nothing_on_stdout(package: Path) -> None:
    ran = run_fn(wrapped(MAX_DEPTH + 1, "flow", FORMULA, "list"), cwd=package)
    assert ran.code == 1 and ran.stdout == b""
    assert ran.err.startswith("r2k8s: error: Deployment/web: spec.x[0][0]") and "items[0] nests deeper" in ran.err


# -- the cheap check ------------------------------------------------------------------------------------------------


def cronjob() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "annotations": {"probe": "http://x/?a=1&b=2", "glob": "*.example.com"}},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    }


def many_deployments() -> list[dict[str, Any]]:
    many = [deployment(name=f"w{i}", image=PLAIN) for i in range(300)]
    for item in many:
        item["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    return many


ORDINARY = {
    "the empty list": lambda: resource_list([]),
    "the kustomize example and a cron job": lambda: resource_list(
        [*(yaml.safe_load((WEB_EXAMPLE / name).read_text()) for name in ("deployment.yaml", "service.yaml")), cronjob()]
    ),
    "300 documents with flow mappings": lambda: "".join(
        "---\n" + yaml.safe_dump(d, default_flow_style=None) for d in many_deployments()
    ),
    "a list of 300 items": lambda: resource_list(many_deployments()),
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_inputs_pay_only_the_regular_expressions(name: str) -> None:
    assert not might_be_hostile(ORDINARY[name]())


def test_the_cheap_check_sees_anchors_deep_lines_and_many_flow_openers() -> None:
    assert might_be_hostile("a: &x 1\nb: *x\n") and might_be_hostile("a: [1,&x 2]\n")
    assert might_be_hostile("a:\n" + " " * 32 + "b: 1\n") and might_be_hostile("a:\n" + "- " * 16 + "b\n")
    assert might_be_hostile("a: " + "[" * 33 + "]" * 33 + "\n") and not might_be_hostile("a: " + "[" * 32 + "]" * 32)
    assert not might_be_hostile("a: " + "[]" * 200 + "\n")  # empty collections hold nothing
    per_document = "".join("---\na: " + "[" * 20 + "]" * 20 + "\n" for _ in range(5))
    assert not might_be_hostile(per_document) and might_be_hostile(per_document.replace("---\n", ""))
    assert might_be_hostile(("a:\n" + "- " * 16 + "b\n").replace("\n", "\r"))  # libyaml breaks lines at CR too


def flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).splitlines()[0]


def block(value: Any, indent: int, style: str, flow_from: int, level: int = 1) -> list[str]:
    """``value`` as block YAML lines at ``indent`` down to level ``flow_from``, flow style below it.

    Styles: ``indentless`` (a mapping's sequence in its key's column, entries on the next line one column right:
    the fewest columns per level), ``compact`` (``- - x``, ``- k: x``), ``explicit`` (``? k`` then ``: - x``)."""
    pad = " " * indent
    out: list[str] = []
    nested = level + 1 >= flow_from
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(item, (dict, list)) or not item or nested:
                out.append(f"{pad}{key}: {flow(item)}")
            elif style == "explicit":
                inner = block(item, indent + 2, style, flow_from, level + 1)
                out += [f"{pad}? {key}", f"{pad}: {inner[0][indent + 2 :]}", *inner[1:]]
            else:
                step = 0 if isinstance(item, list) else (1 if style == "indentless" else 2)
                out += [f"{pad}{key}:", *block(item, indent + step, style, flow_from, level + 1)]
        return out
    for item in value:
        if not isinstance(item, (dict, list)) or not item or nested:
            out.append(f"{pad}- {flow(item)}")
        elif style == "indentless":
            out += [f"{pad}-", *block(item, indent + 1, style, flow_from, level + 1)]
        else:
            inner = block(item, indent + 2, style, flow_from, level + 1)
            out += [f"{pad}- {inner[0][indent + 2 :]}", *inner[1:]]
    return out


trees = st.recursive(
    st.sampled_from([1, "x", None]),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=2),
        st.dictionaries(st.sampled_from("abc"), children, min_size=1, max_size=2),
    ),
    max_leaves=200,
)


def chain(depth: int, kinds: list[bool]) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = {"k": value} if kinds[level % len(kinds)] else [value]
    return value


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(trees, st.builds(chain, st.integers(1, 160), st.lists(st.booleans(), min_size=1, max_size=5))),
    st.sampled_from(["indentless", "compact", "explicit", "dump-block", "dump-flow", "dump-mixed"]),
    st.integers(1, 160),
)
def test_property_when_the_cheap_check_lets_a_text_through_it_nests_at_most_100_levels(
    tree: Any, writer: str, flow_from: int
) -> None:
    if writer.startswith("dump-"):
        style = {"dump-block": False, "dump-flow": True, "dump-mixed": None}[writer]
        text = yaml.safe_dump({"root": tree}, default_flow_style=style, indent=2 + flow_from % 5, width=60)
    else:
        text = "\n".join(block({"root": tree}, 0, writer, flow_from)) + "\n"
    depth = document_depth(text)
    assert might_be_hostile(text) or depth <= MAX_DEPTH, (depth, text[:300])
    problem = shape_problem(text)
    assert (problem is not None) == (depth > MAX_DEPTH)


def two_levels_a_column(columns: int, flow: int, line_break: str = "\n") -> str:
    """The cheapest block nesting the bound allows, two levels per column (``k:``, then ``-`` in its column, then
    the next ``k:`` one column right) for ``columns`` columns, then a mapping and ``flow`` nested flow sequences."""
    lines = [line for column in range(columns) for line in (" " * column + "k:", " " * column + "-")]
    lines.append(" " * columns + "k: " + "[" * flow + "x" + "]" * flow)
    return line_break.join(lines) + line_break


WORST_SHAPES = {
    # each one level past the limit, and caught by one rule of the cheap check alone
    "block to column 31, then flow": lambda: two_levels_a_column(31, MAX_DEPTH - 62),
    "block only": lambda: two_levels_a_column(50, 0),
    "block only, CR line breaks": lambda: two_levels_a_column(50, 0, "\r"),
    "compact sequences": lambda: "- " * (MAX_DEPTH + 1) + "x\n",
    "explicit key, compact sequences": lambda: "? k\n: " + "- " * MAX_DEPTH + "x\n",
    "flow": lambda: "[" * (MAX_DEPTH + 1) + "x" + "]" * (MAX_DEPTH + 1) + "\n",
}


@pytest.mark.parametrize("shape", sorted(WORST_SHAPES))
def test_the_cheapest_shapes_one_level_past_the_limit_are_flagged(shape: str) -> None:
    """What random trees rarely draw: the shapes that spend the fewest columns and brackets per level."""
    text = WORST_SHAPES[shape]()
    assert document_depth(text) == MAX_DEPTH + 1
    assert might_be_hostile(text)
    problem = shape_problem(text)
    assert problem is not None and "nests deeper than 100 levels" in problem.message
