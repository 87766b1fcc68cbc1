"""The run spec carries the formula into the pod unchanged: same formula, same formula ID."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from repo import FIXTURES, needs_shared

from r2k8s.core.agent.run_spec import RunSpec
from r2k8s.core.errors import R2k8sError
from r2k8s.core.formula.document import formula_document
from r2k8s.core.formula.ids import formula_id
from r2k8s.core.formula.model import Action, Formula, FormulaContext, OutputSpec, Userinfo
from r2k8s.core.formula.parse import parse_formula
from r2k8s.core.ware.wareid import WareID
from r2k8s.formula_files import load_formula_file

paths = st.from_regex(r"/[a-z]{1,6}(/[a-z]{1,6}){0,2}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
userinfos = st.none() | st.builds(
    Userinfo,
    uid=st.none() | st.integers(0, 70000),
    gid=st.none() | st.integers(0, 70000),
    username=texts,
    homedir=st.just("") | paths,
)
actions = st.builds(
    Action,
    exec=st.none() | st.lists(texts, max_size=3).map(tuple),
    noop=st.booleans(),
    policy=st.sampled_from(["", "routine", "governor"]),
    cwd=st.just("") | paths,
    env=st.none() | st.dictionaries(st.from_regex(r"[A-Z]{1,5}", fullmatch=True), texts, max_size=3),
    userinfo=userinfos,
    cradle=st.sampled_from(["", "disable"]),
    hostname=texts,
)
outputs = st.builds(
    OutputSpec,
    packtype=st.sampled_from(["", "tar"]),
    filters=st.none() | st.just({}) | st.just({"uid": "keep", "mtime": "@1262304000"}),
)
formulas = st.builds(
    Formula,
    inputs=st.none()
    | st.dictionaries(
        paths, st.builds(WareID, st.just("tar"), st.from_regex(r"[1-9A-Za-z]{8}", fullmatch=True)), max_size=3
    ),
    action=actions,
    outputs=st.none() | st.dictionaries(paths, outputs, max_size=2),
)


@given(formulas)
def test_formulas_round_trip_through_the_spec_with_their_id(formula: Formula) -> None:
    spec = RunSpec(formula=formula, context=FormulaContext(), formula_id="x")
    back = RunSpec.from_json(spec.to_json()).formula
    assert back == formula
    assert formula_id(back) == formula_id(formula)


@needs_shared
@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "repeatr").glob("*.formula")) or ["none"])
def test_repeatrs_example_formulas_keep_their_ids(name: str) -> None:
    loaded = load_formula_file(FIXTURES / "repeatr" / name)
    assert formula_id(parse_formula(formula_document(loaded.formula))) == formula_id(loaded.formula)


def test_spec_round_trips_everything_the_agent_needs() -> None:
    spec = RunSpec(
        formula=Formula(inputs={"/": WareID("tar", "abc")}, action=Action(exec=("/bin/true",))),
        context=FormulaContext(fetch_urls={"/": ("https://example.invalid/x.tgz",)}, save_urls={"/out": "https://h/"}),
        formula_id="FID",
        legacy_inputs=("/",),
        streamed={"tar:abc": ("/", "/b")},
        returned=("/out",),
        heartbeat_timeout=7.0,
        first_contact_timeout=9.0,
    )
    assert RunSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"version": 99}', "protocol version 99"),
        ('{"version": 1, "formula": {"action": {"exec": 3}}, "formulaID": "x"}', "expected an array of strings"),
        ('{"version": 1}', "KeyError"),
    ],
)
def test_bad_specs_are_usage_errors_that_say_why(text: str, problem: str) -> None:
    with pytest.raises(R2k8sError, match=problem) as caught:
        RunSpec.from_json(text)
    assert caught.value.category.exit_code == 1
    assert caught.value.message.startswith("build agent: invalid run spec")
