"""The function on helm's streams with hooks: which agent ConfigMap each resource mounts, and what is added.

The real helm binaries and the cluster are in test_helm.py and test_helm_e2e.py; here the function
alone, on the streams helm hands it: hooks and manifests together (helm 4's CLI), each alone (the SDK's
``separate`` strategy), and odd hook annotations, read as helm reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import deployment, write_formula

from r2k8s.agent_bundle import configmap_name
from r2k8s.krm.function import run

AGENT = configmap_name()
HOOKS_AGENT = f"{AGENT}-hooks"


def hook_pod(name: str, events: str, weight: str | None = None, namespace: str | None = None) -> dict[str, Any]:
    annotations = {"helm.sh/hook": events}
    if weight is not None:
        annotations["helm.sh/hook-weight"] = weight
    metadata: dict[str, Any] = {"name": name, "annotations": annotations}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "./web.formula"}]},
    }


def render(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    outcome = run(yaml.safe_dump_all(documents, sort_keys=False))
    assert outcome.exit_code == 0, outcome.messages
    return [d for d in yaml.safe_load_all(outcome.output) if d]


def configmaps(documents: list[dict[str, Any]]) -> dict[tuple[str | None, str], dict[str, str]]:
    """(namespace, name) → the annotations of every ConfigMap the function added."""
    return {
        (d["metadata"].get("namespace"), d["metadata"]["name"]): d["metadata"].get("annotations", {})
        for d in documents
        if d["kind"] == "ConfigMap"
    }


def mounted(resource: dict[str, Any]) -> str:
    spec = resource["spec"]["template"]["spec"] if resource["kind"] == "Deployment" else resource["spec"]
    return str(next(v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v))


@pytest.fixture(autouse=True)
def in_a_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)


def test_hooks_and_manifests_in_one_stream_get_one_configmap_each() -> None:
    out = render([deployment(), hook_pod("pre", "pre-install, Pre-Upgrade", "5"), hook_pod("t", "test")])
    assert configmaps(out) == {
        (None, AGENT): {},
        (
            None,
            HOOKS_AGENT,
        ): {
            "helm.sh/hook": "pre-install,pre-upgrade,test",  # as helm reads them: trimmed, lower-cased
            "helm.sh/hook-weight": "-1",  # the test hook weighs 0
            "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
        },
    }
    assert [mounted(d) for d in out if d["kind"] != "ConfigMap"] == [AGENT, HOOKS_AGENT, HOOKS_AGENT]


def test_the_separate_strategys_two_runs_add_each_configmap_once() -> None:
    manifests = render([deployment()])
    hooks = render([hook_pod("pre", "pre-install", "-7")])
    assert configmaps(manifests) == {(None, AGENT): {}}
    assert list(configmaps(hooks)) == [(None, HOOKS_AGENT)]
    assert configmaps(hooks)[(None, HOOKS_AGENT)]["helm.sh/hook-weight"] == "-8"


def test_a_weight_that_is_no_integer_counts_as_zero_as_in_helm() -> None:
    out = render([hook_pod("a", "pre-install", "early"), hook_pod("b", "pre-install", " 3")])
    assert configmaps(out)[(None, HOOKS_AGENT)]["helm.sh/hook-weight"] == "-1"


def test_hooks_in_two_namespaces_get_one_each() -> None:
    out = render([hook_pod("a", "post-install", namespace="x"), hook_pod("b", "post-install", namespace="y")])
    assert sorted(configmaps(out)) == [("x", HOOKS_AGENT), ("y", HOOKS_AGENT)]


def test_a_hook_helm_drops_mounts_the_ordinary_configmap() -> None:
    """An unknown event makes helm skip the resource; anything else applying it gets a ConfigMap that exists."""
    out = render([hook_pod("old", "crd-install")])
    assert list(configmaps(out)) == [(None, AGENT)]
    assert mounted(next(d for d in out if d["kind"] == "Pod")) == AGENT


def test_the_function_on_its_own_output_changes_nothing() -> None:
    first = run(yaml.safe_dump_all([deployment(), hook_pod("pre", "pre-install")], sort_keys=False))
    assert first.exit_code == 0
    again = run(first.output)
    assert again.exit_code == 0 and again.output == first.output
