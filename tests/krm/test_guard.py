"""The guard's manifests (``kustomize/guard``) build with the real kustomize and ``kubectl kustomize``, as the README
tells users to install them; what they refuse is proven on the real cluster (``test_guard_e2e.py``)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import tools
import yaml
from repo import REPO_ROOT

GUARD = REPO_ROOT / "kustomize" / "guard"


def built(argv: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def test_standalone_kustomize_builds_the_policy_and_its_binding() -> None:
    policy, binding = built([str(tools.kustomize()), "build", str(GUARD)])
    assert (policy["apiVersion"], policy["kind"]) == ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"]  # every namespace
    kinds = {resource for rule in policy["spec"]["matchConstraints"]["resourceRules"] for resource in rule["resources"]}
    assert kinds == {
        "pods",
        "pods/ephemeralcontainers",
        "podtemplates",
        "replicationcontrollers",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
    }
    [validation] = policy["spec"]["validations"]
    for text in (validation["message"], validation["messageExpression"]):
        assert "\n" not in text  # the API server refuses a message with a line break
        assert "the r2k8s KRM function did not run" in text and "kpt fn render" in text


def test_kubectl_kustomize_builds_the_same() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    assert built([kubectl, "kustomize", str(GUARD)]) == built([str(tools.kustomize()), "build", str(GUARD)])
