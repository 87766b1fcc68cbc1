"""The service path on the real test cluster (marker ``e2e``): the shipped examples, built and applied.

A namespace enforcing Pod Security **baseline**; the agent image is the suite's Debian Python image
(no registry); the busybash ware comes from an HTTP warehouse on the host, reached by the pods
through the node's bridge address. What a user would check by hand: the pod becomes Ready and serves
HTTP, ``kubectl exec`` lands in the formula's filesystem, a changed formula rolls the Deployment, a
wrong hash keeps the pod in its init container with the reason in its log and events.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from krm_inputs import BUSYBASH, HELM_CHART, copy_web_example
from loopback_http import LoopbackWarehouse
from orchestrators import kustomize_exec_build
from repo import needs_shared
from service_cluster import BUSYBASH_TGZ, cluster_function_config, http_get, pod_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_shared]


def function_config(warehouse: LoopbackWarehouse) -> dict[str, Any]:
    """The cluster's function config, as a kustomize exec transformer."""
    config = cluster_function_config({"mirrors": [warehouse.ca_url()]})
    config["metadata"]["annotations"] = {"config.kubernetes.io/function": "exec:\n  path: r2k8s\n"}
    return config


def test_the_kustomize_example_serves_http_from_its_formula(
    kubectl: Any, namespace: str, warehouse: LoopbackWarehouse, r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    example = copy_web_example(tmp_path / "web")
    (example / "r2k8s.yaml").write_text(yaml.safe_dump(function_config(warehouse)))
    kubectl("apply", "-n", namespace, "-f", "-", input=kustomize_exec_build(example, r2k8s_on_path))
    kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=240s", timeout=260)
    pod = pod_of(kubectl, namespace, "app=web")
    assert http_get(pod).strip() == "hello from a formula"
    name = pod["metadata"]["name"]
    listing = kubectl(
        "exec",
        "-n",
        namespace,
        name,
        "-c",
        "web",
        "--",
        "/bin/sh",
        "-c",
        "ls /; cat /tmp/www/index.html; test -e /usr/local/bin/python3 && echo PYTHON-LEFT;"
        ' for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = busybox ] && grep -q httpd $p/cmdline'
        " && grep ^Uid: $p/status; done; true",
    ).stdout
    assert "hello from a formula" in listing and "PYTHON-LEFT" not in listing
    assert "r2k8s" in listing.split()  # the agent and cache volumes are mounts, kept
    assert listing.split("Uid:", 1)[1].split()[0] == "1000"  # the action runs as the formula's uid (exec runs as root)
    # (the action's environment cannot be read from an exec session: the kernel hides a process's environ once it
    # has changed uid; tests/test_service_agent.py checks it in a simulated container)

    # a changed formula rolls the Deployment
    formula = json.loads((example / "web.formula").read_text())
    formula["formula"]["action"]["exec"][2] = formula["formula"]["action"]["exec"][2].replace(
        "hello from a formula", "a new formula"
    )
    (example / "web.formula").write_text(json.dumps(formula))
    kubectl("apply", "-n", namespace, "-f", "-", input=kustomize_exec_build(example, r2k8s_on_path))
    kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=240s", timeout=260)
    newer = pod_of(kubectl, namespace, "app=web")
    assert newer["metadata"]["name"] != name
    assert http_get(newer).strip() == "a new formula"


def test_a_wrong_hash_keeps_the_pod_in_its_init_container_with_the_reason(
    kubectl: Any, namespace: str, warehouse: LoopbackWarehouse, r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    example = copy_web_example(tmp_path / "web")
    (example / "r2k8s.yaml").write_text(yaml.safe_dump(function_config(warehouse)))
    wrong = "tar:" + "7" + BUSYBASH.split(":", 1)[1][1:]
    digest = wrong.split(":", 1)[1]
    target = warehouse.root / digest[:3] / digest[3:6] / digest
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(BUSYBASH_TGZ, target)  # the right bytes under the wrong name: a hash mismatch
    text = (example / "web.formula").read_text().replace(BUSYBASH, wrong)
    (example / "web.formula").write_text(text)
    kubectl("apply", "-n", namespace, "-f", "-", input=kustomize_exec_build(example, r2k8s_on_path))
    deadline = time.monotonic() + 180
    message = ""
    while time.monotonic() < deadline:
        pod = pod_of(kubectl, namespace, "app=web")
        statuses = pod.get("status", {}).get("initContainerStatuses") or []
        for status in statuses:
            for state in (status.get("state", {}), status.get("lastState", {})):
                terminated = state.get("terminated")
                if terminated and terminated.get("message"):
                    message = terminated["message"]
        if message:
            break
        time.sleep(2)
    assert "hash mismatch" in message.lower() or "rio-hash-mismatch" in message, message
    assert pod["status"]["phase"] == "Pending" and not pod["status"].get("containerStatuses", [{}])[0].get("ready")
    log = kubectl("logs", "-n", namespace, pod["metadata"]["name"], "-c", "r2k8s-fetch-web", check=False).stdout
    log += kubectl(
        "logs", "-n", namespace, pod["metadata"]["name"], "-c", "r2k8s-fetch-web", "--previous", check=False
    ).stdout
    assert wrong.split(":", 1)[1][:10] in log
    events = kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={pod['metadata']['name']}",
        "-o",
        "json",
    ).stdout
    assert "r2k8s-fetch-web" in events


def test_the_helm_example_installs_with_the_post_renderer(
    kubectl: Any,
    namespace: str,
    warehouse: LoopbackWarehouse,
    r2k8s_on_path: dict[str, str],
    tmp_path: Path,
    cluster_kubeconfig: Path,
) -> None:
    config = tmp_path / "r2k8s.yaml"
    config.write_text(yaml.safe_dump(function_config(warehouse)))
    env = {**r2k8s_on_path, "KUBECONFIG": str(cluster_kubeconfig), "HELM_DATA_HOME": str(tmp_path / "helm")}
    result = subprocess.run(
        [
            str(tools.helm3()),
            "install",
            "web",
            ".",
            "-n",
            namespace,
            "--wait",
            "--timeout",
            "4m",
            "--post-renderer",
            "r2k8s",
            "--post-renderer-args",
            "fn",
            "--post-renderer-args",
            f"--config={config}",
        ],
        cwd=HELM_CHART,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    pod = pod_of(kubectl, namespace, "app.kubernetes.io/instance=web")
    assert http_get(pod).strip() == "hello from a formula"
