"""One processor, two I/O paths: which path answers which input, and that both run the same flow."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import deployment, formula_document, resource_list, write_formula

from r2k8s.krm.function import NO_RESOURCES, ONLY_FORMULAS, Outcome, Processor, run
from r2k8s.krm.io_paths import Fallback, IOPathFactory, Patches, RoundTripPath, SplicePath
from r2k8s.krm.resource_list import FunctionInput
from r2k8s.krm.results import Results

LIST_HEAD = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
NO_FORMULA = LIST_HEAD + "- # head comment\n  kind: ConfigMap # c\n  metadata: {name: cm}\n  data: {a: yes, b: 0644}\n"
ANCHORS = (
    LIST_HEAD + "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web, labels: &l {app: web}}\n"
    "  spec:\n    template:\n      metadata: {labels: *l}\n"
    "      spec:\n        containers:\n        - {name: web, image: ./web.formula}\n"
)
FLOW_ITEM = (
    LIST_HEAD
    + "- {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: ./web.formula}]}}\n"
)
INVALID_CONFIG = {
    "apiVersion": "fn.r2k8s.io/v1alpha1",
    "kind": "R2k8sFunction",
    "metadata": {"name": "c"},
    "spec": {"cache": {"type": "hostPath"}},
}


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def over(path: IOPathFactory, text: str, **options: Any) -> Outcome | None:
    """The processor's answer over one path alone, or ``None`` when that path falls back."""
    try:
        return Processor(**options).process(text, path)
    except Fallback:
        return None


def test_an_input_without_formula_references_is_its_own_answer_on_the_splice_path(package: Path) -> None:
    outcome = run(NO_FORMULA)
    assert (outcome.path, outcome.exit_code, outcome.output) == ("splice", 0, NO_FORMULA)
    full = over(RoundTripPath, NO_FORMULA)  # the other path changes nothing either (issue 13, defect 7)
    assert full is not None and full.output == NO_FORMULA


def test_formula_references_in_plain_block_yaml_are_spliced(package: Path) -> None:
    plain = yaml.safe_dump(deployment(name="plain", image="nginx"), sort_keys=False)
    text = resource_list([deployment(), deployment(name="plain", image="nginx")])
    outcome = run(text)
    assert (outcome.path, outcome.exit_code) == ("splice", 0)
    assert "- " + plain.replace("\n", "\n  ").rstrip() + "\n" in outcome.output  # the untouched item, byte for byte
    assert [i["kind"] for i in yaml.safe_load(outcome.output)["items"]] == ["Deployment", "Deployment", "ConfigMap"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param(FLOW_ITEM, 0, id="a flow-style item"),
        pytest.param(resource_list([deployment()]).replace("  ", "\t", 1), 1, id="a tab"),
        pytest.param(resource_list([deployment(image="./missing.formula")]), 1, id="a missing formula"),
        pytest.param(resource_list([deployment()], INVALID_CONFIG), 1, id="an invalid function config"),
        pytest.param("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n", 1, id="no items"),
        pytest.param("", 1, id="no input"),
        pytest.param("# only a comment\n", 1, id="no resources"),
    ],
)
def test_what_the_splice_path_does_not_take_the_round_trip_answers(package: Path, text: str, code: int) -> None:
    assert over(SplicePath, text) is None
    outcome = run(text)
    assert (outcome.path, outcome.exit_code) == ("round-trip", code), outcome.messages
    assert outcome == over(RoundTripPath, text)


def test_problems_are_reported_by_the_round_trip_in_the_list_and_as_typed_results(package: Path) -> None:
    outcome = run(resource_list([deployment(image="./missing.formula")]))
    (result,) = outcome.results
    assert result.severity == "error" and result.field == "spec.template.spec.containers[0].image"
    assert yaml.safe_load(outcome.output)["results"] == outcome.results.encode()
    assert outcome.messages == [result.text()]
    streamed = run(yaml.safe_dump(deployment(image="./missing.formula")))
    assert (streamed.path, streamed.output, streamed.exit_code) == ("round-trip", "", 1)


def test_nothing_to_print_is_an_error(package: Path) -> None:
    outcome = run("# only a comment\n")
    assert (outcome.output, outcome.messages) == ("", [NO_RESOURCES])


def test_a_plain_stream_of_formula_resources_alone_says_why_nothing_would_be_printed(package: Path) -> None:
    formula = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "Formula",
        "metadata": {"name": "web", "annotations": {"config.kubernetes.io/local-config": "true"}},
        "spec": formula_document(),
    }
    outcome = run(yaml.safe_dump(formula))
    assert (outcome.output, outcome.messages, outcome.exit_code) == ("", [ONLY_FORMULAS], 1)


@pytest.mark.parametrize(("text", "path"), [(NO_FORMULA, "splice"), (ANCHORS, "splice"), (FLOW_ITEM, "round-trip")])
def test_explain_runs_on_whichever_path_reads_the_input(package: Path, text: str, path: str) -> None:
    outcome = run(text, explain=True)
    assert (outcome.path, outcome.exit_code) == (path, 0)
    assert outcome.output.startswith("---\n")


def test_both_paths_explain_the_same_plan(package: Path) -> None:
    text = resource_list([deployment()])
    fast, full = over(SplicePath, text, explain=True), over(RoundTripPath, text, explain=True)
    assert fast is not None and full is not None
    assert list(yaml.safe_load_all(fast.output)) == list(yaml.safe_load_all(full.output))


class Recording(RoundTripPath):
    """The round trip, noting what the processor asks of it (the latest one is ``RECORDED[-1]``)."""

    def __init__(self, text: str, origin: str) -> None:
        super().__init__(text, origin)
        self.calls: list[tuple[str, Any]] = []
        RECORDED.append(self)

    def read(self) -> FunctionInput:
        self.calls.append(("read", None))
        return super().read()

    def plain(self, config: Any) -> Any:
        self.calls.append(("plain", None))
        return super().plain(config)

    def as_given(self, explaining: bool) -> bool:
        self.calls.append(("as_given", explaining))
        return super().as_given(explaining)

    def write(
        self, given: FunctionInput, patches: Patches, added: Any, results: Results, removed: Collection[int] = ()
    ) -> str:
        self.calls.append(("write", ([index for index, _ in patches], [a["kind"] for a in added], len(results))))
        return super().write(given, patches, added, results, removed)

    def failed(self, given: FunctionInput | None, results: Results) -> str:
        self.calls.append(("failed", [r.message for r in results]))
        return super().failed(given, results)


RECORDED: list[Recording] = []


def test_the_processor_runs_one_flow_over_the_path_it_is_given(package: Path) -> None:
    other = {**deployment(name="other", image="nginx"), "metadata": {"name": "other", "namespace": "x"}}
    team = {**deployment(name="team"), "metadata": {"name": "team", "namespace": "team"}}
    outcome = Processor().process(resource_list([deployment(), other, team]), Recording)
    assert outcome.path == "round-trip" and outcome.exit_code == 0
    assert RECORDED[-1].calls == [
        ("read", None),
        ("as_given", False),
        # patched items; one agent ConfigMap per namespace; one result, the info saying so
        ("write", ([0, 2], ["ConfigMap", "ConfigMap"], 1)),
    ]

    Processor().process(resource_list([deployment()], INVALID_CONFIG), Recording)
    assert [name for name, _ in RECORDED[-1].calls] == ["read", "plain", "failed"]

    Processor().process(resource_list([deployment(image="./missing.formula")]), Recording)
    name, messages = RECORDED[-1].calls[-1]
    assert name == "failed" and "not found" in messages[0]

    Processor(explain=True).process(resource_list([deployment()]), Recording)
    assert RECORDED[-1].calls[-1] == ("as_given", True)  # explained, not written


class FallsBack(SplicePath):
    def read(self) -> FunctionInput:
        raise Fallback("always")


def test_each_path_falls_back_to_the_next_and_the_last_one_answers(package: Path) -> None:
    text = resource_list([deployment()])
    assert Processor(paths=(FallsBack, RoundTripPath)).execute(text).path == "round-trip"
    assert Processor(paths=(RoundTripPath,)).execute(NO_FORMULA).path == "round-trip"
    assert Processor(paths=(SplicePath, RoundTripPath)).execute(text).path == "splice"
    with pytest.raises(Fallback):
        Processor(paths=(FallsBack,)).execute(text)  # nothing after it
    with pytest.raises(ValueError, match="at least one"):
        Processor(paths=())
