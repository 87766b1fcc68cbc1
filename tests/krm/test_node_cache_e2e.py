"""The node cache on the real test cluster (marker ``e2e``): a PersistentVolumeClaim bound to a local volume.

What a user sets up once per namespace (README, "The node cache") and then sees: a Pod Security *baseline*
namespace admits the pods (a ``persistentVolumeClaim`` volume, no ``hostPath``); the first pod downloads the
ware, a new pod on the node and a restarted container download nothing (the HTTP warehouse on the node's
address counts the requests); the formula's container starts from the empty image and runs with the
interpreter the first pod staged; the action cannot write to the cache.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import BUSYBASH
from loopback_http import LoopbackWarehouse
from orchestrators import run
from repo import needs_shared
from service_cluster import cluster_empty_image, cluster_function_config, http_get, pod_of

from r2k8s.agent_bundle import agent_digest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_shared]

FORMULA = {
    "formula": {
        "inputs": {"/": BUSYBASH},
        "action": {
            "exec": [
                "/bin/sh",
                "-c",
                "mkdir -p /tmp/www && echo served > /tmp/www/index.html"
                " && exec /bin/busybox httpd -f -p 8080 -h /tmp/www",
            ]
        },
    },
    "context": {"fetchUrls": {"/": ["ca+https://repeatr.s3.amazonaws.com/warehouse/"]}},
}


@pytest.fixture
def node_cache(kubectl: Any, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local PersistentVolume on the node (this machine) and the claim ``r2k8s-wares`` bound to it."""
    from node_cache import node_cache_manifests
    from testcluster.settings import NODE_NAME

    directory = tmp_path_factory.mktemp("node-cache")
    pv, pvc = node_cache_manifests(namespace, directory, NODE_NAME, "1Gi")
    pv_name = pv["metadata"]["name"]
    kubectl("apply", "-f", "-", input=json.dumps(pv))
    try:
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pvc))
        yield directory
    finally:
        kubectl("delete", "pv", pv_name, "--wait=false", check=False)


def ware_requests(warehouse: LoopbackWarehouse) -> int:
    return sum(1 for path in warehouse.requests if path.endswith(BUSYBASH.split(":", 1)[1]))


def ready_pod(kubectl: Any, namespace: str, previous: str | None = None) -> dict[str, Any]:
    """The deployment's Ready pod (another than ``previous``)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        pod = pod_of(kubectl, namespace, "app=cached")
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))
        if ready and pod["metadata"]["name"] != previous:
            return pod
        time.sleep(0.5)
    pytest.fail(kubectl("describe", "pods", "-n", namespace, "-l", "app=cached").stdout[-4000:])


def test_a_new_pod_and_a_restarted_container_fetch_nothing_the_node_cache_holds(
    kubectl: Any,
    namespace: str,
    warehouse: LoopbackWarehouse,
    node_cache: Path,
    r2k8s_on_path: dict[str, str],
    tmp_path: Path,
) -> None:
    (tmp_path / "cached.formula").write_text(json.dumps(FORMULA))
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cached"},
        "spec": {
            "selector": {"matchLabels": {"app": "cached"}},
            "template": {
                "metadata": {"labels": {"app": "cached"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "web", "image": "./cached.formula", "ports": [{"containerPort": 8080}]}],
                },
            },
        },
    }
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(deployment))
    config = cluster_function_config({"mirrors": [warehouse.ca_url()]})
    config["spec"]["cache"] = {"type": "persistentVolumeClaim", "claimName": "r2k8s-wares"}
    (tmp_path / "r2k8s.yaml").write_text(yaml.safe_dump(config))
    expanded = run(["r2k8s", "resolve", "-f", "deploy.yaml", "--config", "r2k8s.yaml"], r2k8s_on_path, cwd=tmp_path)
    before = ware_requests(warehouse)
    kubectl("apply", "-n", namespace, "-f", "-", input=expanded.stdout)  # admitted under baseline

    first = ready_pod(kubectl, namespace)
    assert http_get(first).strip() == "served"
    assert ware_requests(warehouse) == before + 1
    main = first["spec"]["containers"][0]
    assert main["image"] == cluster_empty_image()
    assert {"name": "r2k8s-cache", "mountPath": "/r2k8s/cache", "readOnly": True} in main["volumeMounts"]
    cache = node_cache  # on the node: the ware's entry and the staged interpreter, private to root
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    assert (cache / "runtime" / f"agent-{agent_digest()}" / "bin" / "python3").is_file()
    assert any(cache.glob(f"tar/fileset/*/*/{BUSYBASH.split(':', 1)[1]}"))
    name = first["metadata"]["name"]
    denied = kubectl(
        "exec", "-n", namespace, name, "-c", "web", "--", "/bin/sh", "-c", "touch /r2k8s/cache/x", check=False
    )
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr  # the formula cannot poison it

    # the container restarts (SIGTERM to the agent, which hands it to the action; both exit): the init container
    # does not run again, nothing is fetched
    kubectl("exec", "-n", namespace, name, "-c", "web", "--", "/bin/busybox", "kill", "1")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        restarted = pod_of(kubectl, namespace, "app=cached")
        statuses = restarted["status"].get("containerStatuses", [])
        if statuses and statuses[0]["restartCount"] >= 1 and statuses[0].get("ready"):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the container did not come back after its action was killed")
    assert http_get(restarted).strip() == "served"

    # a new pod on the node: its init container finds the ware and the interpreter in the node cache
    kubectl("delete", "pod", "-n", namespace, name, "--wait=false")
    second = ready_pod(kubectl, namespace, previous=name)
    assert http_get(second).strip() == "served"
    assert ware_requests(warehouse) == before + 1
    fetch_log = kubectl("logs", "-n", namespace, second["metadata"]["name"], "-c", "r2k8s-fetch-web").stdout
    assert "cache already has ware" in fetch_log and "staged the agent's interpreter" not in fetch_log
