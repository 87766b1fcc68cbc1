"""The guard on the real test cluster (marker ``e2e``): the shipped ValidatingAdmissionPolicy refuses workloads whose
image is still a formula reference, with a message saying the function did not run and how to run it, and admits
the function's expansion and ordinary images.

The policy and binding are cluster-scoped and the cluster is shared with the rest of the suite: this module applies
the shipped manifests under a name of its own, bound only to namespaces carrying a label with that name (which only
its own namespaces get), and deletes both when it ends, so a policy left behind by a killed run binds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from krm_inputs import deployment, write_formula
from repo import REPO_ROOT
from service_cluster import cluster_function_config, cluster_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GUARD = REPO_ROOT / "kustomize" / "guard"
LABEL = "r2k8s.io/guard-test"
DID_NOT_RUN = "names a Repeatr formula, not an image: the r2k8s KRM function did not run on this"
HOW_TO = (
    "Render it first: kustomize build --enable-alpha-plugins --enable-exec, kpt fn render, helm --post-renderer r2k8s,"
    " or r2k8s fn < FILE (kubectl kustomize and kubectl apply -k skip exec functions: use the function container"
    " form there); r2k8s check finds these before kubectl apply"
)


@pytest.fixture(scope="module")
def policy(kubectl: Any) -> Iterator[str]:
    """The shipped policy and binding, renamed for this run and bound to namespaces labelled with the name."""
    name = f"r2k8s-guard-{os.getpid()}-{int(time.time() * 1000) % 10000000}"
    built = subprocess.run([str(tools.kustomize()), "build", str(GUARD)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    documents = [d for d in yaml.safe_load_all(built.stdout) if d]
    for document in documents:
        document["metadata"]["name"] = name
        if document["kind"] == "ValidatingAdmissionPolicyBinding":
            document["spec"]["policyName"] = name
            document["spec"]["matchResources"] = {"namespaceSelector": {"matchLabels": {LABEL: name}}}
    try:
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
        yield name
    finally:
        kubectl("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found", check=False)
        kubectl("delete", "validatingadmissionpolicy", name, "--ignore-not-found", check=False)


def formula_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug"},
        "spec": {
            "initContainers": [{"name": "fetch", "image": "../fetch.formula"}],
            "containers": [{"name": "main", "image": cluster_settings()[0]}],
        },
    }


def formula_cronjob() -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "formula:nightly"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}},
    }


def label(kubectl: Any, namespace: str, policy: str) -> None:
    """Put ``namespace`` under ``policy`` and wait until the API server enforces it there (its policy and namespace
    caches catch up within seconds)."""
    kubectl("label", "namespace", namespace, f"{LABEL}={policy}")
    probe = yaml.safe_dump(formula_pod())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tried = kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=probe, check=False)
        if tried.returncode != 0 and f"ValidatingAdmissionPolicy '{policy}'" in tried.stderr:
            return
        time.sleep(0.5)
    pytest.fail(f"the policy {policy} was not enforced in {namespace} within 60 s")


@pytest.fixture
def guarded(kubectl: Any, namespace: str, policy: str) -> str:
    """A fresh namespace (Pod Security baseline) under the guard."""
    label(kubectl, namespace, policy)
    return namespace


@pytest.mark.parametrize(
    ("resource", "refused"),
    [
        (deployment(), 'container "web" (image "./web.formula")'),
        (formula_cronjob(), 'container "job" (image "formula:nightly")'),
        (formula_pod(), 'init container "fetch" (image "../fetch.formula")'),
    ],
    ids=["Deployment", "CronJob", "Pod-initContainer"],
)
def test_a_workload_naming_a_formula_is_refused_with_how_to_run_the_function(
    kubectl: Any, guarded: str, policy: str, resource: dict[str, Any], refused: str
) -> None:
    done = kubectl("apply", "-n", guarded, "-f", "-", input=yaml.safe_dump(resource), check=False)
    assert done.returncode != 0
    assert f"ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request: " in done.stderr
    assert f"{refused} {DID_NOT_RUN} {resource['kind']}. {HOW_TO}" in done.stderr
    kind, name = resource["kind"].lower(), resource["metadata"]["name"]
    assert kubectl("get", kind, name, "-n", guarded, "--ignore-not-found", "-o", "name").stdout == ""


def test_the_functions_expansion_and_ordinary_images_are_admitted(kubectl: Any, guarded: str, tmp_path: Path) -> None:
    """The real function's output applies, and the pods its Deployment's ReplicaSet makes pass the guard too."""
    image, _ = cluster_settings()
    write_formula(tmp_path / "web.formula")
    (tmp_path / "r2k8s.yaml").write_text(yaml.safe_dump(cluster_function_config()))
    expanded = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn", "--config", "r2k8s.yaml"],
        input=yaml.safe_dump(deployment()),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert expanded.returncode == 0, expanded.stderr
    applied = kubectl("apply", "-n", guarded, "-f", "-", input=expanded.stdout, check=False)
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/web created" in applied.stdout
    kubectl("apply", "-n", guarded, "-f", "-", input=yaml.safe_dump(deployment("plain", image=image)))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pods = json.loads(kubectl("get", "pods", "-n", guarded, "-o", "json").stdout)["items"]
        if {p["metadata"]["labels"].get("app") for p in pods} >= {"web", "plain"}:
            break
        time.sleep(1)
    else:
        events = kubectl("get", "events", "-n", guarded).stdout
        pytest.fail(f"the ReplicaSets made no pods for web and plain within 90 s; events:\n{events}")


def test_an_update_that_adds_no_formula_passes_and_one_that_adds_one_is_refused(
    kubectl: Any, namespace: str, policy: str
) -> None:
    """Installing the guard must not wedge what is already there (a controller scaling an old ReplicaSet down, a
    finalizer removed): only a reference a request adds is refused."""
    kubectl("create", "deployment", "old", "-n", namespace, "--image=./old.formula")
    label(kubectl, namespace, policy)
    kubectl("label", "deployment", "old", "-n", namespace, "touched=yes")  # an UPDATE keeping the reference: admitted
    container = json.loads(kubectl("get", "deployment", "old", "-n", namespace, "-o", "json").stdout)["spec"]
    name = container["template"]["spec"]["containers"][0]["name"]
    changed = kubectl("set", "image", "deployment/old", f"{name}=./new.formula", "-n", namespace, check=False)
    assert changed.returncode != 0
    assert f'container "{name}" (image "./new.formula") {DID_NOT_RUN} Deployment.' in changed.stderr


def test_an_ephemeral_container_naming_a_formula_is_refused(kubectl: Any, guarded: str) -> None:
    """``kubectl debug`` adds ephemeral containers through the pod's ``ephemeralcontainers`` subresource."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"}}
    pod["spec"] = {"containers": [{"name": "main", "image": cluster_settings()[0], "imagePullPolicy": "Never"}]}
    kubectl("apply", "-n", guarded, "-f", "-", input=yaml.safe_dump(pod))
    debug = {"spec": {"ephemeralContainers": [{"name": "debug", "image": "formula:debug"}]}}
    patch = ["patch", "pod", "plain", "-n", guarded, "--subresource=ephemeralcontainers", "--type=strategic"]
    done = kubectl(*patch, "-p", json.dumps(debug), check=False)
    assert done.returncode != 0
    assert f'ephemeral container "debug" (image "formula:debug") {DID_NOT_RUN} Pod.' in done.stderr
