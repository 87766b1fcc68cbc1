"""The function under the real orchestrators: standalone kustomize, kpt, helm 3 and helm 4.

Each test runs the shipped example with the real binary and checks what the
user would get: rewritten workloads, untouched neighbours, comments kept in
kpt packages, hooks post-rendered by helm 4 only, clear failures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import tools
import yaml
from helm_setup import install_helm4_plugin
from krm_inputs import HELM_CHART, WEB_EXAMPLE, copy_web_example
from orchestrators import AGENT_IMAGE, assert_expanded, by_kind, helm_env, run

# -- kustomize -----------------------------------------------------------------------------


def test_kustomize_build_runs_the_function_as_an_exec_transformer(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    kustomize = tools.kustomize()
    first = run([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", WEB_EXAMPLE], r2k8s_on_path)
    found = by_kind(first.stdout)
    assert sorted(found) == ["ConfigMap", "Deployment", "Service"]
    deployment = found["Deployment"][0]
    assert_expanded(deployment["spec"]["template"]["spec"])
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "name": "http"}]
    assert found["Service"][0]["spec"]["ports"][0]["targetPort"] == "http"
    again = run([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", WEB_EXAMPLE], r2k8s_on_path)
    assert again.stdout == first.stdout


def test_kustomize_without_enable_exec_refuses_rather_than_skipping(r2k8s_on_path: dict[str, str]) -> None:
    result = run([tools.kustomize(), "build", WEB_EXAMPLE], r2k8s_on_path, check=False)
    assert result.returncode != 0 and "external plugins disabled" in result.stderr


def test_kustomize_shows_the_functions_error_and_builds_nothing(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    example = copy_web_example(tmp_path / "web")
    (example / "web.formula").unlink()
    result = run(
        [tools.kustomize(), "build", "--enable-alpha-plugins", "--enable-exec", example], r2k8s_on_path, check=False
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "Deployment/web" in result.stderr and "web.formula not found" in result.stderr


# -- kpt -----------------------------------------------------------------------------------


def kpt_package(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    for name in ("deployment.yaml", "service.yaml", "web.formula"):
        shutil.copy(WEB_EXAMPLE / name, package / name)
    return package


def test_kpt_fn_eval_in_place_keeps_comments_and_a_second_run_changes_nothing(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    kpt = tools.kpt()
    package = kpt_package(tmp_path)
    original = (package / "deployment.yaml").read_text()
    run([kpt, "fn", "eval", ".", "--exec", "r2k8s"], r2k8s_on_path, cwd=package)
    rewritten = (package / "deployment.yaml").read_text()
    assert rewritten.count("# A web server whose whole root filesystem is a formula's input ware.") == 1
    assert "# the formula replaces the image" in rewritten
    assert_expanded(yaml.safe_load(rewritten)["spec"]["template"]["spec"])
    assert (package / "service.yaml").read_text() == (WEB_EXAMPLE / "service.yaml").read_text()
    configmaps = sorted(p.name for p in package.glob("configmap_r2k8s-agent-*.yaml"))
    assert len(configmaps) == 1
    snapshot = {p.name: p.read_text() for p in package.iterdir()}
    run([kpt, "fn", "eval", ".", "--exec", "r2k8s"], r2k8s_on_path, cwd=package)
    assert {p.name: p.read_text() for p in package.iterdir()} == snapshot
    assert original != rewritten


def test_kpt_fn_render_runs_a_kptfile_pipeline(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    kpt = tools.kpt()
    package = kpt_package(tmp_path)
    (package / "Kptfile").write_text(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n  annotations:\n"
        '    config.kubernetes.io/local-config: "true"\npipeline:\n  mutators:\n  - exec: r2k8s\n'
        "    configMap:\n      image: " + AGENT_IMAGE + "\n"
    )
    kptfile = (package / "Kptfile").read_text()
    run([kpt, "fn", "render", ".", "--allow-exec"], r2k8s_on_path, cwd=package)
    assert_expanded(yaml.safe_load((package / "deployment.yaml").read_text())["spec"]["template"]["spec"])
    assert (package / "Kptfile").read_text() == kptfile


def test_kpt_reports_the_error_result_and_writes_nothing(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    kpt = tools.kpt()
    package = kpt_package(tmp_path)
    (package / "web.formula").write_text("{not json")
    before = {p.name: p.read_text() for p in package.iterdir()}
    result = run([kpt, "fn", "eval", ".", "--exec", "r2k8s"], r2k8s_on_path, cwd=package, check=False)
    assert result.returncode != 0
    assert "apps/v1/Deployment/web" in result.stderr and "spec.template.spec.containers[0].image" in result.stderr
    assert {p.name: p.read_text() for p in package.iterdir()} == before


# -- helm ----------------------------------------------------------------------------------


def test_helm3_post_renderer_expands_templates_but_never_hooks(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    helm = tools.helm3()
    env = helm_env(r2k8s_on_path, tmp_path)
    result = run([helm, "template", "rel", ".", "--post-renderer", "r2k8s"], env, cwd=HELM_CHART)
    found = by_kind(result.stdout)
    assert_expanded(found["Deployment"][0]["spec"]["template"]["spec"])
    assert found["ConfigMap"][0]["metadata"]["name"].startswith("r2k8s-agent-")
    hook = found["Pod"][0]
    assert hook["spec"]["containers"][0]["image"] == "./web.formula"  # helm 3 does not post-render hooks
    assert "# Source: web/templates/deployment.yaml" in result.stdout


def test_helm4_plugin_post_renders_hooks_and_keeps_file_names(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    helm = tools.helm4()
    env = helm_env(r2k8s_on_path, tmp_path)
    install_helm4_plugin(helm, env, tmp_path / "dist")
    result = run([helm, "template", "rel", ".", "--post-renderer", "r2k8s"], env, cwd=HELM_CHART)
    found = by_kind(result.stdout)
    assert_expanded(found["Deployment"][0]["spec"]["template"]["spec"])
    hook = found["Pod"][0]["spec"]
    assert_expanded(hook, container="get")
    spec_env = next(e["value"] for e in hook["containers"][0]["env"] if e["name"] == "R2K8S_FORMULA")
    assert '"argv":["/bin/busybox","wget"' in spec_env
    for name in ("deployment.yaml", "service.yaml", "test-get.yaml"):
        assert f"# Source: web/templates/{name}" in result.stdout
    assert "postrenderer.helm.sh/postrender-filename" not in result.stdout


def test_helm3_shows_the_post_renderers_error(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    result = run(
        [tools.helm3(), "template", "rel", HELM_CHART, "--post-renderer", "r2k8s", "--set", "image=./nope.formula"],
        helm_env(r2k8s_on_path, tmp_path),
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "nope.formula not found" in result.stderr and "Deployment/rel-web" in result.stderr


def test_helm4_fails_on_the_post_renderers_error(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    """helm 4 (v4.3.1) discards a post-renderer plugin's stderr (``--debug`` logs ``stderr=""``).

    Only the failure shows.
    """
    helm = tools.helm4()
    env = helm_env(r2k8s_on_path, tmp_path)
    install_helm4_plugin(helm, env, tmp_path / "dist")
    result = run(
        [helm, "template", "rel", HELM_CHART, "--post-renderer", "r2k8s", "--set", "image=./nope.formula"],
        env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert 'post-renderer plugin "r2k8s"' in result.stderr
