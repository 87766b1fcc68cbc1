"""Issue 13, defects 4, 5 and 6: the rewrite puts every addition where the owning API reads it and writes
nothing that API refuses — Knative Serving (its default feature flags), KServe (component annotations,
ServingRuntime's pod spec, serverless or raw mode), pod specs under ``template``, cluster-scoped kinds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from knative_rules import knative_refusals
from krm_inputs import resource_list, write_formula
from realworld import REALWORLD, needs_corpus

from r2k8s.krm.function import run
from r2k8s.krm.rewrite import FORMULAS_ANNOTATION


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "app.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "fn.r2k8s.io/v1alpha1", "kind": "R2k8sFunction", "metadata": {"name": "r2k8s"}, "spec": spec}


def expand(items: list[dict[str, Any]], function_config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    outcome = run(resource_list(items, function_config))
    assert outcome.exit_code == 0, outcome.messages
    return list(yaml.safe_load(outcome.output)["items"])


def refused(items: list[dict[str, Any]], function_config: dict[str, Any] | None = None) -> str:
    outcome = run(resource_list(items, function_config))
    assert outcome.exit_code == 1
    assert yaml.safe_load(outcome.output)["items"] == items, "a refused input comes back unchanged"
    return "\n".join(outcome.messages)


def knative_service(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "web"},
        "spec": {"template": {"spec": {"containers": list(containers)}}},
    }


def test_a_knative_service_gets_a_shape_knative_admits_with_its_default_flags(package: Path) -> None:
    given = knative_service({"image": "./app.formula", "ports": [{"containerPort": 8080}]})
    [service, configmap] = expand([given])
    template = service["spec"]["template"]
    pod = template["spec"]
    assert knative_refusals(pod) == []
    assert "initContainers" not in pod
    [container] = pod["containers"]
    assert container["command"][-1] == "run", "without an init container the container fetches its own wares"
    assert "capabilities" not in container["securityContext"]
    assert "name" not in container, "an unnamed Knative container stays unnamed (Knative names it)"
    assert template["metadata"]["annotations"][FORMULAS_ANNOTATION].startswith("container-0=")
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["namespace"] == "web"


def test_without_the_rewrite_rules_knative_would_refuse_the_usual_shape(package: Path) -> None:
    """The checker is not vacuous: the shape every other workload gets breaks two Knative rules."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "./app.formula"}]}}},
    }
    [expanded, _] = expand([deployment])
    refusals = knative_refusals(expanded["spec"]["template"]["spec"])
    assert any("init-containers is off" in r for r in refusals)
    assert any("capabilities.add" in r for r in refusals)
    assert any("allowPrivilegeEscalation" in r for r in refusals)


def test_with_both_flags_enabled_a_knative_service_gets_the_fetch_init_container(package: Path) -> None:
    flags = {
        "kubernetes.podspec-init-containers": "Enabled",
        "kubernetes.containerspec-addcapabilities": "enabled",
    }
    given = knative_service({"name": "app", "image": "./app.formula"})
    [service, _] = expand([given], config(knative={"features": flags}))
    pod = service["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["r2k8s-fetch-app"]
    assert pod["containers"][0]["command"][-1] == "serve"
    assert pod["containers"][0]["securityContext"]["capabilities"]["add"]
    assert knative_refusals(pod, flags) == []


def test_a_drop_all_is_lifted_for_knative_without_adding_capabilities(package: Path) -> None:
    given = knative_service(
        {"image": "./app.formula", "securityContext": {"capabilities": {"drop": ["ALL", "NET_RAW"]}}}
    )
    [service, _] = expand([given])
    capabilities = service["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
    assert capabilities == {"drop": ["NET_RAW"]}


def test_a_pvc_cache_knative_refuses_is_an_error_naming_its_flags(package: Path) -> None:
    given = knative_service({"image": "./app.formula"})
    cache = {"type": "persistentVolumeClaim", "claimName": "wares"}
    message = refused([given], config(cache=cache))
    flags = ["kubernetes.podspec-persistent-volume-claim", "kubernetes.podspec-persistent-volume-write"]
    assert all(flag in message for flag in flags) and "spec.knative.features" in message
    enabled = {flag: "Enabled" for flag in flags}
    [service, _] = expand([given], config(cache=cache, knative={"features": enabled}))
    assert knative_refusals(service["spec"]["template"]["spec"], enabled) == []


def test_a_host_path_cache_is_refused_for_knative_whatever_the_flags(package: Path) -> None:
    given = knative_service({"image": "./app.formula"})
    cache = {"type": "hostPath", "path": "/var/cache/r2k8s"}
    flags = {"kubernetes.podspec-volumes-hostpath": "Enabled"}
    message = refused([given], config(cache=cache, knative={"features": flags}))
    assert "read-only" in message and "emptyDir" in message


def inference_service(mode: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "sklearn", "namespace": "models"}
    if mode:
        metadata["annotations"] = {"serving.kserve.io/deploymentMode": mode}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {
            "predictor": {"minReplicas": 1, "containers": [{"name": "kserve-container", "image": "./app.formula"}]},
            "transformer": {"containers": [{"name": "transformer", "image": "./app.formula"}]},
        },
    }


def test_an_inference_service_carries_the_annotation_in_each_components_annotations(package: Path) -> None:
    [isvc, _] = expand([inference_service()])
    spec = isvc["spec"]
    assert set(spec) == {"predictor", "transformer"}, "nothing is written to spec.metadata, which is no field"
    for component, container in (("predictor", "kserve-container"), ("transformer", "transformer")):
        assert spec[component]["annotations"][FORMULAS_ANNOTATION].startswith(f"{container}=")
        assert knative_refusals(spec[component]) == [], "serverless mode: the pod becomes a Knative revision"
        assert {v["name"] for v in spec[component]["volumes"]} == {"r2k8s-agent", "r2k8s-cache"}
    assert set(isvc["metadata"]["annotations"]) == {"r2k8s.io/source"}, "the pods' annotations are not here"


@pytest.mark.parametrize("mode", ["RawDeployment", "Standard"])
def test_a_raw_deployment_inference_service_gets_the_fetch_init_container(package: Path, mode: str) -> None:
    [isvc, _] = expand([inference_service(mode)])
    predictor = isvc["spec"]["predictor"]
    assert [c["name"] for c in predictor["initContainers"]] == ["r2k8s-fetch-kserve-container"]
    assert predictor["annotations"][FORMULAS_ANNOTATION].startswith("kserve-container=")


def test_a_pod_spec_under_template_gets_its_volumes_there_and_the_annotation_on_the_resource(package: Path) -> None:
    llm = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "LLMInferenceService",
        "metadata": {"name": "llm"},
        "spec": {
            "template": {"containers": [{"name": "main", "image": "./app.formula"}]},
            "worker": {"containers": [{"name": "main", "image": "./app.formula"}]},
        },
    }
    [expanded, _] = expand([llm])
    for part in ("template", "worker"):
        pod = expanded["spec"][part]
        assert {v["name"] for v in pod["volumes"]} == {"r2k8s-agent", "r2k8s-cache"}
        assert [c["name"] for c in pod["initContainers"]] == ["r2k8s-fetch-main"]
    assert "volumes" not in expanded["spec"] and "metadata" not in expanded["spec"]
    assert expanded["metadata"]["annotations"][FORMULAS_ANNOTATION].startswith("main=")


def cluster_workflow_template() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterWorkflowTemplate",
        "metadata": {"name": "build"},
        "spec": {"templates": [{"name": "main", "container": {"image": "./app.formula"}}]},
    }


def test_a_cluster_scoped_kind_without_namespaces_is_an_error_naming_the_setting(package: Path) -> None:
    message = refused([cluster_workflow_template()])
    assert "cluster-scoped" in message and "spec.agent.namespaces" in message


def test_a_cluster_scoped_kind_gets_the_agent_in_every_named_namespace(package: Path) -> None:
    out = expand([cluster_workflow_template()], config(agent={"namespaces": ["argo", "team-a"]}))
    configmaps = [i for i in out if i["kind"] == "ConfigMap"]
    assert sorted(c["metadata"].get("namespace") for c in configmaps) == ["argo", "team-a"]
    assert len({c["metadata"]["name"] for c in configmaps}) == 1


def corpus_documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((REALWORLD / "corpus" / name).read_text()) if d]


def pointed_at_formula(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every container image under ``spec`` replaced by the formula."""
    copied = copy.deepcopy(document)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("image"), str):
                node["image"] = "./app.formula"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(copied["spec"])
    return copied


@needs_corpus
def test_the_real_kserve_cluster_resources_expand_where_kserve_reads_them(package: Path) -> None:
    documents = corpus_documents("kserve/kserve-cluster-resources-v0.16.0.yaml")
    runtimes = [pointed_at_formula(d) for d in documents if d["kind"] == "ClusterServingRuntime"]
    llm_configs = [pointed_at_formula(d) for d in documents if d["kind"] == "LLMInferenceServiceConfig"]
    assert runtimes and llm_configs
    assert "cluster-scoped" in refused(runtimes[:1])
    out = expand([*runtimes, *llm_configs], config(agent={"namespaces": ["kserve-test"]}))
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in out}
    for runtime in runtimes:
        spec = by_name["ClusterServingRuntime", runtime["metadata"]["name"]]["spec"]
        assert "initContainers" not in spec, "ServingRuntimePodSpec has no initContainers field"
        assert "metadata" not in spec
        assert spec["annotations"][FORMULAS_ANNOTATION]
        written = set(knative_refusals(runtime["spec"]))  # KServe's own securityContext fields are its own
        assert set(knative_refusals(spec)) <= written, "the rewrite adds nothing Knative refuses"
    for llm in llm_configs:
        expanded = by_name["LLMInferenceServiceConfig", llm["metadata"]["name"]]
        for key, pod in _pod_specs_under(expanded["spec"]):
            assert "volumes" in pod and "initContainers" in pod, key
        assert "volumes" not in expanded["spec"]
    configmaps = [d for d in out if d["kind"] == "ConfigMap"]
    namespaced = {llm["metadata"]["namespace"] for llm in llm_configs}  # namespaced: the agent goes beside them
    assert sorted(c["metadata"]["namespace"] for c in configmaps) == sorted({"kserve-test"} | namespaced)


def _pod_specs_under(node: Any, path: str = "spec") -> list[tuple[str, dict[str, Any]]]:
    """Every mapping under ``node`` whose containers name the formula, with its dotted path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        containers = node.get("containers")
        if isinstance(containers, list) and any(
            isinstance(c, dict) and "R2K8S_FORMULA" in str(c.get("env")) for c in containers
        ):
            found.append((path, node))
        for key, value in node.items():
            found += _pod_specs_under(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _pod_specs_under(value, f"{path}[{index}]")
    return found


@needs_corpus
def test_the_real_cluster_workflow_templates_need_the_agent_namespaces(package: Path) -> None:
    templates = [pointed_at_formula(d) for d in corpus_documents("argo-workflows/clustertemplates.yaml")]
    assert "spec.agent.namespaces" in refused(templates)
    out = expand(templates, config(agent={"namespaces": ["argo"]}))
    assert [d["metadata"]["namespace"] for d in out if d["kind"] == "ConfigMap"] == ["argo"]
