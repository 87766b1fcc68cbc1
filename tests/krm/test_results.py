"""The function's typed results: each field's ResourceList encoding, the stderr lines, and the exit code rules."""

from __future__ import annotations

import argparse
import dataclasses
import io

import pytest
import yaml
from krm_inputs import deployment, resource_list

from r2k8s.cli.fn import cmd_fn
from r2k8s.krm import function
from r2k8s.krm.function import Outcome
from r2k8s.krm.io_paths import Fallback, RoundTripPath, SplicePath
from r2k8s.krm.results import ResourceRef, Result, Results, Severity

REF = ResourceRef("apps/v1", "Deployment", "web")


def test_a_bare_result_encodes_message_and_severity_only() -> None:
    assert Result("it broke").encode() == {"message": "it broke", "severity": "error"}
    assert Result("fyi", Severity.INFO).encode() == {"message": "fyi", "severity": "info"}


def test_each_field_has_its_krm_encoding_in_the_spec_order() -> None:
    result = Result(
        "no formula",
        Severity.WARNING,
        ResourceRef("apps/v1", "Deployment", "web", "team"),
        "spec.template.spec.containers[0].image",
        "apps/deploy.yaml",
        3,
    )
    encoded = result.encode()
    assert encoded == {
        "message": "no formula",
        "severity": "warning",
        "resourceRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "team"},
        "field": {"path": "spec.template.spec.containers[0].image"},
        "file": {"path": "apps/deploy.yaml", "index": 3},
    }
    assert list(encoded) == ["message", "severity", "resourceRef", "field", "file"]
    assert list(encoded["resourceRef"]) == ["apiVersion", "kind", "name", "namespace"]
    assert type(encoded["severity"]) is str  # plain data: YAML writers need no enum support


def test_optional_parts_are_left_out_and_file_index_zero_is_kept() -> None:
    assert "namespace" not in Result("m", resource_ref=REF).encode()["resourceRef"]
    assert Result("m", file="x.yaml").encode()["file"] == {"path": "x.yaml", "index": 0}
    assert set(Result("m", resource_ref=REF).encode()) == {"message", "severity", "resourceRef"}
    assert set(Result("m", field="spec").encode()) == {"message", "severity", "field"}


def test_a_result_about_an_item_takes_its_reference_and_the_orchestrators_file_index() -> None:
    item = deployment()
    item["metadata"].update(
        namespace="team",
        annotations={"internal.config.kubernetes.io/path": "deploy.yaml", "internal.config.kubernetes.io/index": "2"},
    )
    result = Result.about(item, "bad", field="spec.x", file="deploy.yaml")
    assert result == Result(
        "bad", Severity.ERROR, ResourceRef("apps/v1", "Deployment", "web", "team"), "spec.x", "deploy.yaml", 2
    )
    assert Result.about({"kind": "Thing"}, "m").resource_ref == ResourceRef("", "Thing", "")


def test_the_text_names_file_resource_and_field_where_known() -> None:
    assert Result("m").text() == "m"
    assert Result("m", resource_ref=REF, field="spec.a", file="f.yaml").text() == "f.yaml: Deployment/web: spec.a: m"
    assert Result("m", resource_ref=ResourceRef("v1", "Pod", "p", "ns")).text() == "Pod/ns/p: m"
    assert Result("m", resource_ref=ResourceRef("", "", "")).text() == "?/?: m"  # as kubectl-style names go


def test_results_are_frozen_values_and_severity_is_checked() -> None:
    result = Result("m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.message = "other"  # type: ignore[misc]  # the point: frozen dataclasses refuse assignment
    assert Result("m", "warning").severity is Severity.WARNING  # type: ignore[arg-type]  # a plain string is coerced
    with pytest.raises(ValueError, match="fatal"):
        Result("m", "fatal")  # type: ignore[arg-type]  # not a KRM severity
    assert hash(Result("m", resource_ref=REF)) == hash(Result("m", resource_ref=REF))


@pytest.mark.parametrize(
    ("severities", "code"),
    [
        ((), 0),
        ((Severity.INFO,), 0),
        ((Severity.WARNING,), 0),
        ((Severity.WARNING, Severity.INFO), 0),
        ((Severity.ERROR,), 1),
        ((Severity.INFO, Severity.WARNING, Severity.ERROR), 1),
        ((Severity.ERROR, Severity.ERROR), 1),
    ],
)
def test_the_exit_code_is_one_exactly_when_a_result_is_an_error(severities: tuple[Severity, ...], code: int) -> None:
    results = Results(Result(f"m{i}", severity) for i, severity in enumerate(severities))
    assert results.exit_code == code
    assert len(results.errors) == severities.count(Severity.ERROR)
    assert Outcome("output", results).exit_code == code


def test_results_keep_their_order_in_every_encoding() -> None:
    results = Results((Result("first", Severity.WARNING, REF), Result("second"), Result("third", Severity.INFO)))
    assert [r.message for r in results] == ["first", "second", "third"] and len(results) == 3
    assert [entry["message"] for entry in results.encode()] == ["first", "second", "third"]
    assert results.messages() == ["Deployment/web: first", "second", "third"]
    assert results.stderr_lines() == ["warning: Deployment/web: first", "error: second", "info: third"]
    assert Outcome("", results).messages == results.messages()
    assert not Results() and Results().encode() == [] and Outcome("x").exit_code == 0
    assert Results([Result("second")]) == Results((Result("second"),)) and repr(Results()) == "Results(())"
    with pytest.raises(AttributeError):
        results.extra = 1  # type: ignore[attr-defined]  # the point: an immutable sequence takes no attributes


def test_the_round_trip_writes_warnings_into_the_list_after_results_already_there() -> None:
    text = (
        resource_list([deployment(image="nginx")]) + "results:\n- message: from an earlier function\n  severity: info\n"
    )
    path = RoundTripPath(text, "stdin")
    given = path.read()
    out = yaml.safe_load(
        path.write(given, [], [], Results((Result.about(given.items[0], "careful", severity=Severity.WARNING),)))
    )
    assert out["results"] == [
        {"message": "from an earlier function", "severity": "info"},
        {
            "message": "careful",
            "severity": "warning",
            "resourceRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        },
    ]
    empty = RoundTripPath(resource_list([]), "stdin")
    assert "results" not in yaml.safe_load(empty.write(empty.read(), [], [], Results()))  # none: no key at all


def test_the_splice_path_appends_results_to_the_text_and_leaves_failures_to_the_round_trip() -> None:
    text = resource_list([deployment()])
    path = SplicePath(text, "stdin")
    given = path.read()
    assert path.write(given, [], [], Results()) == text
    warned = Results((Result("careful", Severity.WARNING),))
    written = path.write(given, [], [], warned)
    assert written.startswith(text) and yaml.safe_load(written)["results"] == warned.encode()  # issue 13, defect 7
    with pytest.raises(Fallback):
        path.failed(given, Results((Result("broken"),)))


def test_the_command_prints_each_result_with_its_severity_and_exits_by_the_rule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warned = Outcome(
        "kind: Service\n", Results((Result("careful", Severity.WARNING, REF), Result("fyi", Severity.INFO)))
    )
    monkeypatch.setattr(function, "run", lambda text, **_: warned)
    monkeypatch.setattr("sys.stdin", io.StringIO("image: ./web.formula\n"))  # not answered by the quick check
    args = argparse.Namespace(explain=False, config=None)
    cmd_fn(args)  # warnings and infos alone: exit 0 (no SystemExit)
    captured = capsys.readouterr()
    assert captured.out == "kind: Service\n"
    # infos go to the ResourceList's results alone (kpt shows them): kustomize would print them every build
    assert captured.err.splitlines() == ["r2k8s: warning: Deployment/web: careful"]

    failed = Outcome("", Results((Result("careful", Severity.WARNING), Result("broken", resource_ref=REF))))
    monkeypatch.setattr(function, "run", lambda text, **_: failed)
    monkeypatch.setattr("sys.stdin", io.StringIO("image: ./web.formula\n"))
    with pytest.raises(SystemExit) as exited:
        cmd_fn(args)
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == ["r2k8s: warning: careful", "r2k8s: error: Deployment/web: broken"]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_command_runs_the_function_without_the_cyclic_collector_and_leaves_it_as_it_was(
    enabled: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The function runs with the collector off (its objects hold no cycles: scanning them cost 40 ms of a
    0.7 s run), and a program calling it in process, as the tests do, gets its collector back as it was."""
    import gc

    seen: list[bool] = []

    def run(text: str, **_: object) -> Outcome:
        seen.append(gc.isenabled())
        raise RuntimeError("the function failed")

    monkeypatch.setattr(function, "run", run)
    monkeypatch.setattr("sys.stdin", io.StringIO("image: ./web.formula\n"))
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError):
            cmd_fn(argparse.Namespace(explain=False, config=None))
        assert seen == [False] and gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert capsys.readouterr().out == ""
