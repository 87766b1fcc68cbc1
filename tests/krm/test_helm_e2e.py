"""helm 4 releases whose hooks run formulas, on the real test cluster (marker ``e2e``).

A ``pre-install,pre-upgrade`` hook Pod with ``image: ./web.formula`` runs before helm creates the
release's resources: it must find the agent ConfigMap the function made for hooks (created by helm as
a hook ordered before it), and the release must end with one agent ConfigMap, whether helm's CLI
post-rendered hooks and manifests together or the SDK's ``separate`` strategy ran them apart. An
upgrade runs the hook again; ``helm uninstall`` leaves no ConfigMap r2k8s made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from helm_setup import hooked_chart, install_helm4_plugin
from loopback_http import LoopbackWarehouse
from orchestrators import helm_env, run
from repo import needs_shared
from service_cluster import cluster_function_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_shared]

AGENT = "app.kubernetes.io/component=agent"  # helm sets managed-by=Helm on a release's resources


def function_config(path: Path, warehouse: LoopbackWarehouse) -> Path:
    """The function config the cluster needs, written to ``path``: its agent image (no registry), the host's
    warehouse."""
    path.write_text(yaml.safe_dump(cluster_function_config({"mirrors": [warehouse.ca_url()]})))
    return path


def agent_configmaps(kubectl: Any, namespace: str) -> list[str]:
    listing = json.loads(kubectl("get", "configmaps", "-n", namespace, "-l", AGENT, "-o", "json").stdout)
    return sorted(
        item["metadata"]["name"] for item in listing["items"] if item["metadata"]["name"].startswith("r2k8s-")
    )


def hook_ran(kubectl: Any, namespace: str) -> None:
    pod = json.loads(kubectl("get", "pod", "rel-pre", "-n", namespace, "-o", "json").stdout)
    assert pod["status"]["phase"] == "Succeeded"
    assert kubectl("logs", "rel-pre", "-n", namespace).stdout.splitlines()[-1] == "pre-hook ran"  # after the agent's


def a_release(
    tmp_path: Path, r2k8s_on_path: dict[str, str], cluster_kubeconfig: Path, warehouse: LoopbackWarehouse
) -> tuple[Path, Path, dict[str, str]]:
    """The chart, the function config and helm 4's environment with the plugin installed from its tarball."""
    env = {**helm_env(r2k8s_on_path, tmp_path / "home"), "KUBECONFIG": str(cluster_kubeconfig)}
    install_helm4_plugin(tools.helm4(), env, tmp_path / "dist")
    return hooked_chart(tmp_path / "chart"), function_config(tmp_path / "r2k8s.yaml", warehouse), env


def test_a_helm4_pre_install_hook_finds_its_agent_and_uninstall_leaves_none(
    kubectl: Any,
    namespace: str,
    warehouse: LoopbackWarehouse,
    r2k8s_on_path: dict[str, str],
    tmp_path: Path,
    cluster_kubeconfig: Path,
) -> None:
    chart, config, env = a_release(tmp_path, r2k8s_on_path, cluster_kubeconfig, warehouse)
    helm = tools.helm4()
    flags = ["-n", namespace, "--wait", "--timeout", "4m", "--post-renderer", "r2k8s"]
    flags += ["--post-renderer-args", f"--config={config}"]
    run([helm, "install", "rel", ".", *flags], env, cwd=chart)
    hook_ran(kubectl, namespace)
    (agent,) = agent_configmaps(kubectl, namespace)  # the hooks' own was deleted once they succeeded
    assert not agent.endswith("-hooks")
    run([helm, "upgrade", "rel", ".", *flags], env, cwd=chart)
    hook_ran(kubectl, namespace)
    assert agent_configmaps(kubectl, namespace) == [agent]
    run([helm, "uninstall", "rel", "-n", namespace, "--wait", "--timeout", "2m"], env)
    assert agent_configmaps(kubectl, namespace) == []


def test_the_sdk_separate_strategy_installs_one_agent_and_runs_the_hook(
    kubectl: Any,
    namespace: str,
    warehouse: LoopbackWarehouse,
    r2k8s_on_path: dict[str, str],
    tmp_path: Path,
    cluster_kubeconfig: Path,
) -> None:
    sdk = tools.helm4_sdk()
    chart, config, env = a_release(tmp_path, r2k8s_on_path, cluster_kubeconfig, warehouse)
    flags = ["--namespace", namespace, "--post-renderer", "r2k8s", "--post-renderer-arg", f"--config={config}"]
    run([sdk, "install", "rel", ".", *flags], env, cwd=chart)
    hook_ran(kubectl, namespace)
    (agent,) = agent_configmaps(kubectl, namespace)
    manifest = run([tools.helm4(), "get", "manifest", "rel", "-n", namespace], env).stdout
    in_release = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "ConfigMap"]
    assert [d["metadata"]["name"] for d in in_release] == [agent]  # once, though the function ran twice
    run([sdk, "upgrade", "rel", ".", *flags], env, cwd=chart)
    hook_ran(kubectl, namespace)
    assert agent_configmaps(kubectl, namespace) == [agent]
    run([tools.helm4(), "uninstall", "rel", "-n", namespace, "--wait", "--timeout", "2m"], env)
    assert agent_configmaps(kubectl, namespace) == []
