"""Formula resources under the real orchestrators: a package that carries its formula as a Formula resource
(written by ``r2k8s formula-resource``) instead of a file the function would read.

kpt (``fn eval --exec``, ``fn render --allow-exec``) gets the Formula back and keeps its file byte for byte — kpt
deletes the file of any resource a function leaves out; kustomize and helm expand the workload and apply no
Formula: kustomize leaves local-config resources out of its output, and the function leaves them out of helm's
plain stream.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import tools
import yaml
from krm_inputs import HELM_CHART, WEB_EXAMPLE
from orchestrators import (
    AGENT_IMAGE,
    assert_expanded,
    by_kind,
    formula_resource,
    helm_env,
    kustomize_exec_build,
    package_with_a_formula_resource,
    run,
)


def test_kpt_fn_eval_expands_from_the_formula_resource_and_keeps_its_file(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    package = package_with_a_formula_resource(r2k8s_on_path, tmp_path)
    formula = (package / "web.formula.yaml").read_text()
    run([tools.kpt(), "fn", "eval", ".", "--exec", "r2k8s"], r2k8s_on_path, cwd=package)
    assert_expanded(yaml.safe_load((package / "deployment.yaml").read_text())["spec"]["template"]["spec"])
    assert (package / "web.formula.yaml").read_text() == formula


def test_kpt_fn_render_expands_from_the_formula_resource_and_keeps_its_file(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    package = package_with_a_formula_resource(r2k8s_on_path, tmp_path)
    (package / "Kptfile").write_text(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n  annotations:\n"
        '    config.kubernetes.io/local-config: "true"\npipeline:\n  mutators:\n  - exec: r2k8s\n'
        "    configMap:\n      image: " + AGENT_IMAGE + "\n"
    )
    formula = (package / "web.formula.yaml").read_text()
    run([tools.kpt(), "fn", "render", ".", "--allow-exec"], r2k8s_on_path, cwd=package)
    assert_expanded(yaml.safe_load((package / "deployment.yaml").read_text())["spec"]["template"]["spec"])
    assert (package / "web.formula.yaml").read_text() == formula
    snapshot = {p.name: p.read_text() for p in package.iterdir()}
    run([tools.kpt(), "fn", "render", ".", "--allow-exec"], r2k8s_on_path, cwd=package)
    assert {p.name: p.read_text() for p in package.iterdir()} == snapshot  # a second render changes nothing


def test_kpt_reports_an_invalid_formula_resource_at_its_file_and_field(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    package = package_with_a_formula_resource(r2k8s_on_path, tmp_path)
    resource = package / "web.formula.yaml"
    resource.write_text(resource.read_text().replace("      - /bin/sh\n", "      - 5\n"))
    before = {p.name: p.read_text() for p in package.iterdir()}
    result = run([tools.kpt(), "fn", "eval", ".", "--exec", "r2k8s"], r2k8s_on_path, cwd=package, check=False)
    assert result.returncode != 0
    assert "web.formula.yaml" in result.stderr and "spec.formula.action.exec[0]" in result.stderr
    assert "expected a string, got integer 5" in result.stderr
    assert {p.name: p.read_text() for p in package.iterdir()} == before


def test_kustomize_exec_expands_from_the_formula_resource_and_outputs_no_formula(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    package = package_with_a_formula_resource(r2k8s_on_path, tmp_path)
    shutil.copy(WEB_EXAMPLE / "r2k8s.yaml", package / "r2k8s.yaml")
    (package / "kustomization.yaml").write_text(
        "resources:\n- deployment.yaml\n- service.yaml\n- web.formula.yaml\ntransformers:\n- r2k8s.yaml\n"
    )
    found = by_kind(kustomize_exec_build(package, r2k8s_on_path))
    assert sorted(found) == ["ConfigMap", "Deployment", "Service"]  # the Formula is local-config: never output
    assert_expanded(found["Deployment"][0]["spec"]["template"]["spec"])


def test_helm_post_renderer_expands_from_a_formula_template_and_outputs_no_formula(
    r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    """A chart that carries its formula as a template: helm's plain stream goes to the cluster, without it."""
    chart = tmp_path / "chart"
    shutil.copytree(HELM_CHART, chart)
    (chart / "web.formula").unlink()
    formula_resource(r2k8s_on_path, chart / "templates" / "formula.yaml")
    result = run(
        [tools.helm3(), "template", "rel", ".", "--post-renderer", "r2k8s", "--set", "image=formula:web"],
        helm_env(r2k8s_on_path, tmp_path),
        cwd=chart,
    )
    found = by_kind(result.stdout)
    assert "Formula" not in found
    assert_expanded(found["Deployment"][0]["spec"]["template"]["spec"])


def test_a_plain_stream_through_r2k8s_fn_leaves_the_formula_out(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    """What a user pipes to ``kubectl apply``: every resource but the Formula, expanded."""
    package = package_with_a_formula_resource(r2k8s_on_path, tmp_path)
    stream = "---\n".join((package / name).read_text() for name in ("web.formula.yaml", "deployment.yaml"))
    done = subprocess.run(
        ["r2k8s", "fn"], input=stream, env=r2k8s_on_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = by_kind(done.stdout)
    assert sorted(found) == ["ConfigMap", "Deployment"]
    assert_expanded(found["Deployment"][0]["spec"]["template"]["spec"])
