"""An air-gapped cluster on the real test cluster (marker ``e2e``): ``r2k8s mirror`` copies the example's wares
from an HTTP warehouse into ``ca+file://DIR``, that warehouse stops, DIR is served on the cluster bridge, the
function expands with ``warehouses.rewrite`` pointing at it, and the pod runs and serves its formula's page.

It lives beside the other e2e tests of the service path, whose fixtures (kubectl, a baseline namespace,
``r2k8s`` on PATH) it shares; the mirror itself is :mod:`r2k8s.expanded.mirror`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runs import r2k8s
from krm_inputs import BUSYBASH, copy_web_example
from loopback_http import serve
from orchestrators import kustomize_exec_build
from repo import needs_shared
from service_cluster import BUSYBASH_TGZ, cluster_function_config, cluster_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_shared]


def succeeded(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = r2k8s(*args, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_a_mirrored_warehouse_served_in_the_cluster_is_all_a_pod_needs(
    kubectl: Any, namespace: str, r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    _, host = cluster_settings()
    example = copy_web_example(tmp_path / "web")
    digest = BUSYBASH.split(":", 1)[1]
    with serve(tmp_path / "origin") as origin:
        stored = origin.root / digest[:3] / digest[3:6] / digest
        stored.parent.mkdir(parents=True)
        shutil.copy(BUSYBASH_TGZ, stored)
        formula = json.loads((example / "web.formula").read_text())
        formula["context"]["fetchUrls"]["/"] = [origin.ca_url()]
        (example / "web.formula").write_text(json.dumps(formula))
        mirrored = succeeded(
            "mirror", "-f", "deployment.yaml", "--to", f"ca+file://{tmp_path / 'offline'}", cwd=example
        )
        assert mirrored.stdout.startswith(f"copied {BUSYBASH} from {origin.url('/')}")
        assert origin.requests == [f"/{digest[:3]}/{digest[3:6]}/{digest}"]
    # the original warehouse is gone; only the mirror, served on the cluster bridge, remains
    with serve(tmp_path / "offline", host=host) as offline:
        config = yaml.safe_load((example / "r2k8s.yaml").read_text())  # the exec transformer's annotation kept
        config["spec"] = cluster_function_config({"rewrite": [{"from": origin.ca_url(), "to": offline.ca_url()}]})[
            "spec"
        ]
        (example / "r2k8s.yaml").write_text(yaml.safe_dump(config))
        rendered = kustomize_exec_build(example, r2k8s_on_path)
        (tmp_path / "rendered.yaml").write_text(rendered)
        listed = json.loads(succeeded("inspect", "-o", "json", tmp_path / "rendered.yaml", cwd=tmp_path).stdout)
        (container,) = listed["containers"]
        assert container["inputs"] == [{"path": "/", "ware": BUSYBASH, "warehouses": [offline.ca_url()]}]

        kubectl("apply", "-n", namespace, "-f", "-", input=rendered)
        kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=240s", timeout=260)
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json").stdout)["items"]
        (pod,) = [p for p in pods if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")]
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/", timeout=10) as response:
            assert response.read().decode().strip() == "hello from a formula"
        assert f"/{digest[:3]}/{digest[3:6]}/{digest}" in offline.requests  # the pod fetched from the mirror
