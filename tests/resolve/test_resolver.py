"""``resolve``: real packages on disk, in real git work trees, expanded exactly as the function expands them,
each formula found beside the file naming it, and each expanded pod template recording where its formulas
came from; what the function keeps comes back byte for byte, and what must not reach a cluster stays out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import deployment, formula_document, write_formula
from loopback_http import serve
from resolve_packages import SERVICE, committed, dump, formula_id, package, write

from r2k8s.core.errors import R2k8sError
from r2k8s.krm.function import run
from r2k8s.krm.sourced import ORIGINS_ANNOTATION
from r2k8s.resolve import Resolved, ResolveFailed, resolve

FORMULAS = "r2k8s.io/formulas"


def by_name(resolved: Resolved) -> dict[str, Any]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in resolved.documents}


def origins(document: dict[str, Any], *path: str) -> dict[str, Any]:
    node = document
    for key in path or ("spec", "template", "metadata", "annotations"):
        node = node[key]
    value = node[ORIGINS_ANNOTATION]
    assert value == json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))  # compact, keys sorted
    result: dict[str, Any] = json.loads(value)
    return result


def test_each_formula_is_found_beside_the_file_naming_it_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    formulas = package(tmp_path)
    monkeypatch.chdir(tmp_path)
    resolved = resolve(["web", "jobs"], recursive=True)
    found = by_name(resolved)
    assert list(found) == ["Deployment/web", "Service/web", "Deployment/worker", "ConfigMap/" + agent(resolved)]
    for name in ("web", "worker"):
        template = found[f"Deployment/{name}"]["spec"]["template"]
        assert template["metadata"]["annotations"][FORMULAS] == f"{name}={formula_id(formulas[name])}"
    assert origins(found["Deployment/web"]) == {
        "web": {"formulaID": formula_id(formulas["web"]), "path": "web/web.formula"}
    }
    assert origins(found["Deployment/worker"]) == {
        "worker": {"formulaID": formula_id(formulas["worker"]), "path": "jobs/shared/worker.formula"}
    }
    assert found["ConfigMap/" + agent(resolved)]["metadata"]["namespace"] == "apps"  # one for both files
    assert resolved.root == tmp_path
    assert resolved.sources == ("web/deploy.yaml", "web/service.yaml", "jobs/batch/worker.yaml")


def agent(resolved: Resolved) -> str:
    (name,) = [d["metadata"]["name"] for d in resolved.documents if d["kind"] == "ConfigMap"]
    assert isinstance(name, str) and name.startswith("r2k8s-agent-")
    return name


def test_documents_it_does_not_change_come_back_byte_for_byte_in_source_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package(tmp_path)
    monkeypatch.chdir(tmp_path)
    resolved = resolve(["web/service.yaml", "web/deploy.yaml"])
    assert resolved.text.startswith(SERVICE + "---\n# the web server\n---\napiVersion: apps/v1\nkind: Deployment\n")


def test_one_file_gives_the_functions_own_bytes_plus_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package(tmp_path)
    monkeypatch.chdir(tmp_path / "web")
    text = (tmp_path / "web" / "deploy.yaml").read_text()
    function = run(text)
    assert function.exit_code == 0 and ORIGINS_ANNOTATION not in function.output  # the function never records
    assert resolve(["deploy.yaml"], record=False).text == function.output
    recorded = resolve(["deploy.yaml"]).text

    def without_record(text: str) -> list[str]:  # the record, and the way back that names it among what was added
        return [line for line in text.splitlines() if ORIGINS_ANNOTATION not in line and "r2k8s.io/source" not in line]

    assert recorded != function.output
    assert without_record(recorded) == without_record(function.output)


def test_resolving_its_own_output_again_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package(tmp_path)
    monkeypatch.chdir(tmp_path)
    first = resolve(["web"])
    write(tmp_path / "web" / "resolved.yaml", first.text)  # beside the formulas it names
    assert resolve(["web/resolved.yaml"]).text == first.text


def test_git_commit_and_dirtiness_are_recorded_and_a_formula_outside_any_repository_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "repo"
    formulas = package(repository)
    outside = write_formula(tmp_path / "loose" / "tool.formula", exec_=["/bin/true"])
    tool = deployment("tool", "../../loose/tool.formula")
    write(repository / "web" / "tool.yaml", dump(tool))
    commit = committed(repository)
    monkeypatch.chdir(tmp_path)
    clean = by_name(resolve(["repo/web"]))
    web = formula_id(formulas["web"])
    git = {"commit": commit, "dirty": False}
    assert origins(clean["Deployment/web"]) == {"web": {"formulaID": web, "path": "repo/web/web.formula", "git": git}}
    assert origins(clean["Deployment/tool"]) == {
        "tool": {"formulaID": formula_id(outside), "path": "loose/tool.formula"}
    }
    (repository / "web" / "service.yaml").write_text(SERVICE + "# edited\n")
    dirty = by_name(resolve(["repo/web"]))
    assert origins(dirty["Deployment/web"])["web"]["git"] == {"commit": commit, "dirty": True}


def test_a_formula_resource_in_another_file_is_found_recorded_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "a-app.yaml", dump(deployment("app", "formula:hello")))
    formula = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "Formula",
        "metadata": {"name": "hello", "annotations": {"config.kubernetes.io/local-config": "true"}},
        "spec": formula_document(exec_=["/bin/echo", "hello"]),
    }
    write(tmp_path / "formulas" / "hello.yaml", dump(formula))
    commit = committed(tmp_path)
    monkeypatch.chdir(tmp_path)
    resolved = resolve(["a-app.yaml", "formulas"])
    assert [d["kind"] for d in resolved.documents] == ["Deployment", "ConfigMap"]
    assert "kind: Formula" not in resolved.text
    (record,) = origins(resolved.documents[0]).values()
    assert record == {
        "formula": "hello",
        "formulaID": resolved.documents[0]["spec"]["template"]["metadata"]["annotations"][FORMULAS].split("=")[1],
        "source": "formulas/hello.yaml",
        "git": {"commit": commit, "dirty": False},
    }


def test_the_record_goes_where_the_owner_puts_the_formulas_annotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_formula(tmp_path / "model.formula")
    knative = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{"image": "./model.formula"}]}}},
    }
    kserve = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "model"},
        "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "./model.formula"}]}},
    }
    write(tmp_path / "serving.yaml", dump(knative, kserve))
    monkeypatch.chdir(tmp_path)
    service, inference, _ = resolve(["serving.yaml"]).documents
    expected = {"formulaID": formula_id(tmp_path / "model.formula"), "path": "model.formula"}
    assert origins(service) == {"container-0": expected}
    assert service["spec"]["template"]["metadata"]["annotations"][FORMULAS].startswith("container-0=")
    assert origins(inference, "spec", "predictor", "annotations") == {"kserve-container": expected}


def test_a_function_config_among_the_sources_configures_it_and_local_config_stays_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package(tmp_path)
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"agent": {"image": "registry.example/python:3.12"}},
    }
    kptfile = {"apiVersion": "kpt.dev/v1", "kind": "Kptfile", "metadata": {"name": "web"}}
    write(tmp_path / "web" / "r2k8s.yaml", dump(config))
    write(tmp_path / "web" / "Kptfile.yaml", dump(kptfile))
    monkeypatch.chdir(tmp_path)
    resolved = resolve(["web"])
    assert [d["kind"] for d in resolved.documents] == ["Deployment", "Service", "ConfigMap"]
    template = by_name(resolved)["Deployment/web"]["spec"]["template"]
    assert template["spec"]["initContainers"][0]["image"] == "registry.example/python:3.12"


def test_a_missing_formula_names_the_file_the_resource_and_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package(tmp_path)
    (tmp_path / "jobs" / "shared" / "worker.formula").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ResolveFailed) as caught:
        resolve(["web", "jobs"], recursive=True)
    (message,) = caught.value.results.messages()
    assert message.startswith(
        "jobs/batch/worker.yaml: Deployment/apps/worker: spec.template.spec.containers[0].image: container 'worker':"
        " image '../shared/worker.formula': formula file jobs/shared/worker.formula not found"
    )


def test_a_formula_outside_the_root_is_refused_and_root_widens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    formulas = package(tmp_path)
    monkeypatch.chdir(tmp_path / "web")
    with pytest.raises(ResolveFailed, match=r"outside the root .*use --root to widen it"):
        resolve(["../jobs/batch/worker.yaml"])
    widened = resolve(["../jobs/batch/worker.yaml"], root=tmp_path)
    assert origins(widened.documents[0])["worker"]["path"] == "jobs/shared/worker.formula"
    assert formula_id(formulas["worker"]) in widened.text


def test_a_url_source_refuses_relative_formula_paths_and_takes_formula_resources(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_formula(site / "web.formula")
    write(site / "relative.yaml", dump(deployment("web", "./web.formula")))
    formula = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "Formula",
        "metadata": {"name": "web", "annotations": {"config.kubernetes.io/local-config": "true"}},
        "spec": formula_document(),
    }
    write(site / "named.yaml", dump(deployment("web", "formula:web"), formula))
    with serve(site) as server:
        with pytest.raises(ResolveFailed) as caught:
            resolve([server.url("/relative.yaml")])
        named = resolve([server.url("/named.yaml")])
    (message,) = caught.value.results.messages()
    assert message.startswith(f"{server.url('/relative.yaml')}: Deployment/web: spec.template.spec.containers[0].image")
    assert (
        f"this manifest was read from {server.url('/relative.yaml')}, and a relative formula path is not fetched"
        in message
    )
    (record,) = origins(named.documents[0]).values()
    assert record["url"] == server.url("/named.yaml") and record["formula"] == "web"


def test_sources_holding_nothing_to_apply_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "empty.yaml", "# nothing\n")
    with pytest.raises(R2k8sError, match=r"no resources in .*empty\.yaml: refusing to print nothing"):
        resolve([str(tmp_path / "empty.yaml")])


def test_the_documents_are_the_streams_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package(tmp_path)
    monkeypatch.chdir(tmp_path)
    resolved = resolve(["web"])
    assert list(resolved.documents) == [d for d in yaml.safe_load_all(resolved.text) if d is not None]


def test_a_json_manifest_is_expanded_beside_yaml_ones_left_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    formulas = package(tmp_path)
    write(tmp_path / "web" / "api.json", json.dumps(deployment("api", "./web.formula"), indent="\t"))
    monkeypatch.chdir(tmp_path)
    resolved = resolve(["web"])
    assert [d["metadata"]["name"] for d in resolved.documents[:3]] == ["api", "web", "web"]
    api = resolved.documents[0]
    assert origins(api) == {"api": {"formulaID": formula_id(formulas["web"]), "path": "web/web.formula"}}
    assert SERVICE in resolved.text
    assert sum(1 for d in resolved.documents if d["kind"] == "ConfigMap") == 2  # default namespace and apps
