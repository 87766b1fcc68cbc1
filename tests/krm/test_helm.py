"""helm 3 and helm 4 with the real binaries: ``--post-renderer-args``, the plugin tarball, hooks.

What a helm user sees: the options given with ``--post-renderer-args`` change the output (helm 3 runs
``r2k8s ARGS``, helm 4's plugin ``r2k8s fn ARGS``), an argument the function does not know fails the
render; ``helm/plugin/package`` builds the same tarball twice and helm 4 installs it; a release gets one
agent ConfigMap for its resources and, where hooks run formulas, one more that helm creates as a hook
before them — with the CLI (hooks and manifests post-rendered together) and with the SDK's ``separate``
strategy, which runs the post-renderer twice.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from helm_setup import (
    PACKAGE_SCRIPT,
    hooked_chart,
    install_helm4_plugin,
    plugin_tarball,
    recording_r2k8s,
    split_release,
)
from krm_inputs import HELM_CHART
from orchestrators import by_kind, helm_env, run
from repo import REPO_ROOT

import r2k8s

HELMS = ("helm3", "helm4")
AGENT = "r2k8s-agent-"


def a_helm(which: str, r2k8s_on_path: dict[str, str], home: Path) -> tuple[Path, dict[str, str]]:
    """The real helm 3 or 4 and its environment; helm 4 with the plugin installed from its tarball."""
    env = helm_env(r2k8s_on_path, home)
    if which == "helm3":
        return tools.helm3(), env
    helm = tools.helm4()
    install_helm4_plugin(helm, env, home / "dist")
    return helm, env


def agents(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(AGENT)]


def volume_configmap(pod_spec: dict[str, Any]) -> str:
    return str(next(v["configMap"]["name"] for v in pod_spec["volumes"] if "configMap" in v))


# -- --post-renderer-args ------------------------------------------------------------------


@pytest.mark.parametrize("which", HELMS)
def test_post_renderer_args_give_the_function_its_config(
    which: str, r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    helm, env = a_helm(which, r2k8s_on_path, tmp_path)
    config = tmp_path / "r2k8s.yaml"
    config.write_text(
        "apiVersion: fn.r2k8s.io/v1alpha1\nkind: R2k8sFunction\nmetadata: {name: r2k8s}\n"
        "spec: {agent: {image: registry.example/python:3.12}}\n"
    )
    result = run(
        [
            helm,
            "template",
            "rel",
            ".",
            "--post-renderer",
            "r2k8s",
            "--post-renderer-args",
            "--config",
            "--post-renderer-args",
            config,
        ],
        env,
        cwd=HELM_CHART,
    )
    deployment = by_kind(result.stdout)["Deployment"][0]["spec"]["template"]["spec"]
    assert deployment["initContainers"][0]["image"] == "registry.example/python:3.12"
    one_word = run(
        [helm, "template", "rel", ".", "--post-renderer", "r2k8s", f"--post-renderer-args=--config={config}"],
        env,
        cwd=HELM_CHART,
    )
    assert one_word.stdout == result.stdout


@pytest.mark.parametrize("which", HELMS)
def test_post_renderer_args_explain(which: str, r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    helm, env = a_helm(which, r2k8s_on_path, tmp_path)
    result = run(
        [helm, "template", "rel", ".", "--post-renderer", "r2k8s", "--post-renderer-args", "--explain"],
        env,
        cwd=HELM_CHART,
    )
    entries = [d for d in yaml.safe_load_all(result.stdout) if d and "resource" in d]  # helm 3 adds its hooks
    explained = {entry["resource"]["kind"] for entry in entries}
    assert "Deployment" in explained and all("operations" in entry for entry in entries)


def test_helm3_refuses_an_argument_the_function_does_not_know(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    helm, env = a_helm("helm3", r2k8s_on_path, tmp_path)
    result = run(
        [helm, "template", "rel", ".", "--post-renderer", "r2k8s", "--post-renderer-args", "--confg=x.yaml"],
        env,
        cwd=HELM_CHART,
        check=False,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "unrecognized arguments: --confg=x.yaml" in result.stderr
    assert "--config FILE and --explain" in result.stderr


def test_helm4_fails_on_an_argument_the_function_does_not_know(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    """helm 4.3.1 discards a plugin's stderr: the render fails, and ``r2k8s fn ARGS`` says why."""
    helm, env = a_helm("helm4", r2k8s_on_path, tmp_path)
    log = tmp_path / "runs.log"
    env = recording_r2k8s(tmp_path / "bin", log, env)
    result = run(
        [helm, "template", "rel", ".", "--post-renderer", "r2k8s", "--post-renderer-args", "values.yaml"],
        env,
        cwd=HELM_CHART,
        check=False,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert log.read_text().splitlines() == ["r2k8s fn values.yaml"]
    by_hand = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn", "values.yaml"], input="", capture_output=True, text=True, env=env
    )
    assert by_hand.returncode == 1 and "unrecognized arguments: values.yaml" in by_hand.stderr


# -- the plugin tarball --------------------------------------------------------------------


def test_the_plugin_tarball_is_named_by_the_version_and_reproducible(tmp_path: Path) -> None:
    first = plugin_tarball(tmp_path / "one")
    second = plugin_tarball(tmp_path / "two")
    assert first.name == second.name == f"r2k8s-{r2k8s.__version__}.tgz"
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # no time in the gzip header
    with tarfile.open(first) as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == ["r2k8s", "r2k8s/plugin.yaml"]
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
        plugin = archive.extractfile("r2k8s/plugin.yaml")
        assert plugin is not None
        metadata = yaml.safe_load(plugin.read())
    assert metadata["version"] == r2k8s.__version__ and metadata["type"] == "postrenderer/v1"
    assert gzip.decompress(first.read_bytes())  # a complete gzip stream


def test_helm4_installs_the_tarball_and_runs_it(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    """helm 4 loads plugin.yaml with its strict reader (unknown fields refused) when it installs and lists it."""
    helm = tools.helm4()
    env = helm_env(r2k8s_on_path, tmp_path)
    tarball = plugin_tarball(tmp_path / "dist")
    unsigned = run([helm, "plugin", "install", tarball], env, check=False)
    assert unsigned.returncode != 0 and "no provenance file (.prov)" in unsigned.stderr  # hence --verify=false
    run([helm, "plugin", "install", tarball, "--verify=false"], env)
    listing = run([helm, "plugin", "list"], env)
    assert listing.stderr == ""
    assert listing.stdout.splitlines()[1].split()[:3] == ["r2k8s", r2k8s.__version__, "postrenderer/v1"]
    result = run([helm, "template", "rel", ".", "--post-renderer", "r2k8s"], env, cwd=HELM_CHART)
    assert len(agents([d for d in yaml.safe_load_all(result.stdout) if d])) == 2  # the release's and the hooks'


def test_helm4_refuses_a_plugin_yaml_with_an_unknown_field(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    """The strictness the test above relies on: one field helm 4 does not know, and the plugin does not load."""
    helm = tools.helm4()
    env = helm_env(r2k8s_on_path, tmp_path)
    plugin = tmp_path / "r2k8s"
    shutil.copytree(REPO_ROOT / "helm" / "plugin" / "r2k8s", plugin)
    (plugin / "plugin.yaml").write_text((plugin / "plugin.yaml").read_text() + "usage: render\n")
    result = run([helm, "plugin", "install", plugin], env, check=False)
    assert result.returncode != 0 and "field usage not found" in result.stderr


def test_the_package_refuses_a_plugin_version_that_is_not_r2k8s_s(tmp_path: Path) -> None:
    for relative in ("helm/plugin/package", "helm/plugin/r2k8s/plugin.yaml", "plugin/r2k8s/__init__.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / relative, tmp_path / relative)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    plugin_yaml = tmp_path / "helm/plugin/r2k8s/plugin.yaml"
    plugin_yaml.write_text(plugin_yaml.read_text().replace(f"version: {r2k8s.__version__}", "version: 9.9.9"))
    result = subprocess.run(
        [sys.executable, tmp_path / "helm/plugin/package"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and result.stdout == ""
    assert f"{plugin_yaml}: version is 9.9.9, but r2k8s is {r2k8s.__version__}" in result.stderr
    assert not (tmp_path / "dist").exists()
    assert PACKAGE_SCRIPT.stat().st_mode & 0o111  # the README's command runs as written


# -- hooks -----------------------------------------------------------------------------------


def check_release(hooks: list[dict[str, Any]], manifest: list[dict[str, Any]]) -> None:
    """One agent ConfigMap among the release's resources, mounted by its Deployment; one among the hooks,
    mounted by every formula hook and ordered before them, deleted when they are done."""
    (release_agent,) = agents(manifest)
    assert "annotations" not in release_agent["metadata"]
    deployment = next(d for d in manifest if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert volume_configmap(deployment) == release_agent["metadata"]["name"]
    (hook_agent,) = agents(hooks)
    assert hook_agent["metadata"]["name"] == release_agent["metadata"]["name"] + "-hooks"
    assert hook_agent["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade,test",
        "helm.sh/hook-weight": "-1",  # the test hook has weight 0, the pre-install one 5
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    pods = [d for d in hooks if d["kind"] == "Pod"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["rel-pre", "rel-test-get"]
    for pod in pods:
        assert volume_configmap(pod["spec"]) == hook_agent["metadata"]["name"]
    assert release_agent["binaryData"] == hook_agent["binaryData"]


def test_helm4_orders_the_hooks_agent_before_the_hooks(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    helm, env = a_helm("helm4", r2k8s_on_path, tmp_path)
    chart = hooked_chart(tmp_path / "chart")
    result = run([helm, "install", "rel", ".", "--dry-run=client", "--post-renderer", "r2k8s"], env, cwd=chart)
    check_release(*split_release(result.stdout))


def test_helm3_never_post_renders_hooks_so_the_release_has_one_agent(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    helm, env = a_helm("helm3", r2k8s_on_path, tmp_path)
    chart = hooked_chart(tmp_path / "chart")
    result = run([helm, "template", "rel", ".", "--post-renderer", "r2k8s"], env, cwd=chart)
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    hooks = [d for d in documents if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    manifest = [d for d in documents if d not in hooks]
    assert len(agents(manifest)) == 1 and agents(hooks) == []
    assert {p["spec"]["containers"][0]["image"] for p in hooks} == {"./web.formula"}


@pytest.mark.slow
def test_the_sdk_separate_strategy_runs_twice_and_gives_each_agent_once(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    """helm-controller's ``separate``: the hooks in one run, the rest in another. Each run adds only the
    ConfigMap its resources mount, so the release does not get the agent twice."""
    sdk = tools.helm4_sdk()
    _, env = a_helm("helm4", r2k8s_on_path, tmp_path)
    log = tmp_path / "runs.log"
    env = recording_r2k8s(tmp_path / "bin", log, env)
    chart = hooked_chart(tmp_path / "chart")
    result = run([sdk, "template", "rel", ".", "--post-renderer", "r2k8s"], env, cwd=chart)
    assert log.read_text().splitlines() == ["r2k8s fn", "r2k8s fn"]
    check_release(*split_release(result.stdout))
