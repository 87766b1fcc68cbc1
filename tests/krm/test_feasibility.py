"""Issue 13, defect 11: what a formula pod cannot do is refused (or warned about) at render time, naming the
container, instead of being expanded into a pod that fails later in its fetch init container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import BUSYBASH, deployment, formula_document, resource_list

from r2k8s.krm.function import run

GIT_COMMIT = "git:3a8ce2f0d7e7d0c1b5b8f7e0f1c2d3e4f5a6b7c8"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(package: Path, document: dict[str, Any]) -> None:
    (package / "web.formula").write_text(json.dumps(document))


def with_inputs(inputs: dict[str, str], urls: dict[str, list[str]] | None = None) -> dict[str, Any]:
    document = formula_document()
    document["formula"]["inputs"] = inputs
    document["context"]["fetchUrls"] = (
        urls if urls is not None else {path: ["ca+https://warehouse.example/wares"] for path in inputs}
    )
    return document


def results_of(output: str) -> list[dict[str, Any]]:
    """The findings in the output's results: every result but the ``info`` summing up what was expanded (its own
    tests are in ``test_summary.py``)."""
    return [r for r in yaml.safe_load(output).get("results") or [] if r["severity"] != "info"]


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"/": BUSYBASH, "/data": "rar:8PLv1ZbTfyBtPmJFV3Z2GLZJwRXa3AhxoBs1fX6cj3TrYPygN3bu7pLYkMaU6vA1pF"}, "'rar'"),
        ({"/": BUSYBASH, "/host": "mount:ro:/srv/data"}, "host mount"),
    ],
    ids=["unknown-packtype", "mount"],
)
def test_an_input_the_agent_cannot_place_is_an_error_naming_the_container_and_input(
    package: Path, inputs: dict[str, str], says: str
) -> None:
    write(package, with_inputs(inputs))
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 1
    [error] = [r for r in results_of(outcome.output) if r["severity"] == "error"]
    assert says in error["message"] and "container 'web'" in error["message"]
    assert error["field"] == {"path": "spec.template.spec.containers[0].image"}
    assert error["resourceRef"]["name"] == "web"
    assert yaml.safe_load(outcome.output)["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "./web.formula"
    ), "nothing is expanded when a container cannot run"


def test_a_zip_input_is_placed_by_the_agent(package: Path) -> None:
    """The agent's ware cache unpacks ``zip:`` wares as rio's zip transmat does."""
    write(
        package,
        with_inputs({"/": BUSYBASH, "/data": "zip:8PLv1ZbTfyBtPmJFV3Z2GLZJwRXa3AhxoBs1fX6cj3TrYPygN3bu7pLYkMaU6vA1pF"}),
    )
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 0, outcome.messages
    assert results_of(outcome.output) == []


def test_a_git_input_is_placed_by_the_agent(package: Path) -> None:
    """The agent's ware cache fetches ``git:`` commits (smart HTTP, no git binary in the image)."""
    write(package, with_inputs({"/": BUSYBASH, "/src": GIT_COMMIT}, urls={
        "/": ["ca+https://warehouse.example/wares"], "/src": ["https://git.example/src.git"]}))  # fmt: skip
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 0, outcome.messages
    assert not [r for r in results_of(outcome.output) if r["severity"] == "error"]


@pytest.mark.parametrize(
    ("ware", "url", "says"),
    [
        ("git:main", "https://git.example/src.git", "only commit hashes are ware IDs"),
        (GIT_COMMIT, "ssh://git.example/src.git", "not supported by r2k8s"),
        (GIT_COMMIT, "ca+https://warehouse.example/wares", "doesn't support"),
    ],
    ids=["branch-name", "ssh", "ca-warehouse"],
)
def test_a_git_input_the_agent_would_refuse_is_an_error(package: Path, ware: str, url: str, says: str) -> None:
    write(
        package,
        with_inputs({"/": BUSYBASH, "/src": ware}, urls={"/": ["ca+https://warehouse.example/wares"], "/src": [url]}),
    )
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 1
    [error] = [r for r in results_of(outcome.output) if r["severity"] == "error"]
    assert says in error["message"] and "'/src'" in error["message"]


def test_mirrors_are_tried_for_tar_wares_but_never_for_a_git_input(package: Path) -> None:
    """A mirror is a folder of wares by ID; as a git remote it would be refused (and then the pod would fail)."""
    from r2k8s.core.agent.contract import SERVICE_SPEC_ENV
    from r2k8s.core.agent.service_spec import ServiceSpec

    remote = "https://git.example/src.git"
    write(package, with_inputs({"/": BUSYBASH, "/src": GIT_COMMIT}, urls={"/": [], "/src": [remote]}))
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"warehouses": {"mirrors": ["ca+https://mirror.example/wares"]}},
    }
    outcome = run(resource_list([deployment()], config))
    assert outcome.exit_code == 0, outcome.messages
    fetch = yaml.safe_load(outcome.output)["items"][0]["spec"]["template"]["spec"]["initContainers"][0]
    spec = ServiceSpec.from_json(next(e["value"] for e in fetch["env"] if e["name"] == SERVICE_SPEC_ENV))
    assert spec.context.fetch_urls["/src"] == (remote,)
    assert spec.context.fetch_urls["/"] == ("ca+https://mirror.example/wares",)


def test_an_input_without_any_warehouse_is_an_error(package: Path) -> None:
    write(package, with_inputs({"/": BUSYBASH}, urls={}))
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 1
    assert any("has no warehouse URL" in m for m in outcome.messages)


def test_a_mirror_in_the_function_config_is_a_warehouse(package: Path) -> None:
    write(package, with_inputs({"/": BUSYBASH}, urls={}))
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"warehouses": {"mirrors": ["ca+https://mirror.example/wares"]}},
    }
    outcome = run(resource_list([deployment()], config))
    assert outcome.exit_code == 0, outcome.messages
    assert results_of(outcome.output) == []


def test_file_only_warehouses_warn_and_a_rewrite_silences_the_warning(package: Path) -> None:
    write(package, with_inputs({"/": BUSYBASH}, urls={"/": ["ca+file://./wares"]}))
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 0
    [warning] = results_of(outcome.output)
    assert warning["severity"] == "warning" and "warehouses.rewrite" in warning["message"]
    assert "initContainers" in yaml.safe_load(outcome.output)["items"][0]["spec"]["template"]["spec"]
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"warehouses": {"rewrite": [{"from": "ca+file://", "to": "ca+http://warehouse.svc/"}]}},
    }
    rewritten = run(resource_list([deployment()], config))
    assert rewritten.exit_code == 0 and results_of(rewritten.output) == []


def test_outputs_and_a_hostname_are_warnings_and_the_pod_is_still_expanded(package: Path) -> None:
    document = formula_document()
    document["formula"]["outputs"] = {"/out": {"packtype": "tar"}}
    document["formula"]["action"]["hostname"] = "builder"
    write(package, document)
    outcome = run(resource_list([deployment()]))
    assert outcome.exit_code == 0
    messages = sorted(r["message"] for r in results_of(outcome.output))
    assert all(r["severity"] == "warning" for r in results_of(outcome.output))
    assert len(messages) == 2
    assert "never packs or saves" in messages[1] and "/out" in messages[1]
    assert "hostname 'builder'" in messages[0]
    assert yaml.safe_load(outcome.output)["items"][0]["spec"]["template"]["spec"]["containers"][0]["command"]


def test_a_plain_stream_says_the_warning_on_stderr_and_keeps_the_output_a_stream(package: Path) -> None:
    document = formula_document()
    document["formula"]["outputs"] = {"/out": {"packtype": "tar"}}
    write(package, document)
    outcome = run(yaml.safe_dump(deployment()))
    assert outcome.exit_code == 0
    assert any(m.startswith("warning") or "never packs" in m for m in outcome.messages)
    assert "ResourceList" not in outcome.output
