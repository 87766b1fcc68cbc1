"""Every shipped example's output is valid Kubernetes (OpenAPI schema, strict) and passes Pod Security baseline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import tools
import yaml
from krm_inputs import HELM_CHART, WEB_EXAMPLE, deployment, resource_list, write_formula
from pss_baseline import baseline_violations

from r2k8s.krm.function import run

KUBERNETES_VERSION = "1.34"
"""The test cluster's minor version (tests/support/testcluster/settings.py pins v1.34.2)."""


def check(documents: list[dict[str, Any]]) -> None:
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        assert baseline_violations(document) == [], f"{document['kind']}/{document['metadata']['name']}"


def kustomize_example_items() -> list[dict[str, Any]]:
    return [yaml.safe_load((WEB_EXAMPLE / name).read_text()) for name in ("deployment.yaml", "service.yaml")]


def test_the_kustomize_example_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(WEB_EXAMPLE)
    outcome = run(resource_list(kustomize_example_items()))
    assert outcome.exit_code == 0, outcome.messages
    items = yaml.safe_load(outcome.output)["items"]
    assert [i["kind"] for i in items] == ["Deployment", "Service", "ConfigMap"]
    check(items)


def test_the_helm_example_output(tmp_path: Path) -> None:
    rendered = subprocess.run(
        [str(tools.helm3()), "template", "rel", "."],
        cwd=HELM_CHART,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HELM_DATA_HOME": str(tmp_path)},
    ).stdout
    cwd = os.getcwd()
    os.chdir(HELM_CHART)
    try:
        outcome = run(rendered)  # as helm 4 does: templates and hooks in one stream
    finally:
        os.chdir(cwd)
    assert outcome.exit_code == 0, outcome.messages
    documents = [d for d in yaml.safe_load_all(outcome.output) if d]
    # the release's agent ConfigMap, and the test hook's own (a hook itself: see r2k8s.krm.helm_hooks)
    assert sorted(d["kind"] for d in documents) == ["ConfigMap", "ConfigMap", "Deployment", "Pod", "Service"]
    check(documents)


def test_every_kind_of_rewrite_the_function_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Init containers that already exist, user security contexts, cronjobs, pods: still valid and baseline."""
    write_formula(tmp_path / "f.formula", env={"A": "yes"})
    monkeypatch.chdir(tmp_path)
    locked = deployment(
        image="./f.formula",
        securityContext={
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "capabilities": {"drop": ["ALL"]},
            "allowPrivilegeEscalation": False,
        },
        env=[{"name": "A", "value": "manifest"}],
        args=["--x"],
    )
    locked["spec"]["template"]["spec"]["initContainers"] = [{"name": "prep", "image": "busybox:1.36"}]
    locked["spec"]["template"]["spec"]["securityContext"] = {"runAsNonRoot": True}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "p", "image": "./f.formula"}]},
    }
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "./f.formula"}]}
                    }
                }
            },
        },
    }
    outcome = run(resource_list([locked, pod, cron]))
    assert outcome.exit_code == 0, outcome.messages
    check(yaml.safe_load(outcome.output)["items"])


def test_the_validator_and_the_baseline_check_can_fail() -> None:
    """Guards against a check that passes everything."""
    bad = deployment(image="nginx", securityContext={"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}})
    assert len(baseline_violations(bad)) == 2
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
    bad["spec"]["unknownField"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_r2k8s_fn_cli_on_the_example_matches_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    text = resource_list(kustomize_example_items())
    child = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn"], input=text, capture_output=True, text=True, cwd=WEB_EXAMPLE, check=True
    )
    monkeypatch.chdir(WEB_EXAMPLE)
    assert child.stdout == run(text).output
