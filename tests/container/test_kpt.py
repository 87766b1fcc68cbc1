"""kpt runs the function's image (with podman, ``KPT_FN_RUNTIME=podman``) as it runs the exec form, to the same bytes.

A container sees no host files: ``kpt fn eval --mount`` puts the package on ``/source`` (the image's
working directory), where ``./web.formula`` resolves as it does beside the exec form; a Kptfile
pipeline, which cannot mount, names a formula inlined in its function config (``formula:web``), and
``kpt fn render`` runs it without ``--allow-exec``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import tools
import yaml
from image_under_test import FunctionImage
from krm_inputs import WEB_EXAMPLE
from orchestrators import AGENT_IMAGE, assert_expanded, package_with_a_formula_resource
from program_runs import run, snapshot

KPTFILE = """apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: pkg
  annotations:
    config.kubernetes.io/local-config: "true"
pipeline:
  mutators:
  - {runner}
    configPath: r2k8s.yaml
"""


def web_package(path: Path) -> Path:
    path.mkdir(parents=True)
    for name in ("deployment.yaml", "service.yaml", "web.formula"):
        shutil.copy(WEB_EXAMPLE / name, path / name)
    return path


def rendered_package(path: Path, runner: str) -> Path:
    """The web package whose Kptfile runs ``runner`` on ``image: formula:web``, the formula inlined in r2k8s.yaml."""
    package = web_package(path)
    (package / "web.formula").unlink()
    deployment = (package / "deployment.yaml").read_text()
    (package / "deployment.yaml").write_text(deployment.replace("image: ./web.formula", "image: formula:web"))
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s", "annotations": {"config.kubernetes.io/local-config": "true"}},
        "spec": {"formulas": {"web": json.loads((WEB_EXAMPLE / "web.formula").read_text())}},
    }
    (package / "r2k8s.yaml").write_text(yaml.safe_dump(config))
    (package / "Kptfile").write_text(KPTFILE.format(runner=runner))
    return package


def test_kpt_fn_eval_runs_the_image_on_a_package_mounted_on_source(
    function_image: FunctionImage, env: dict[str, str], tmp_path: Path
) -> None:
    kpt = tools.kpt()
    container = web_package(tmp_path / "container")
    exec_form = web_package(tmp_path / "exec")
    mount = f"type=bind,src={container},dst=/source"
    result = run([kpt, "fn", "eval", ".", "--image", function_image.name, "--mount", mount], env, cwd=container)
    run([kpt, "fn", "eval", ".", "--exec", "r2k8s"], env, cwd=exec_form)
    assert snapshot(container) == snapshot(exec_form)
    assert "image: docker.io/library/python:3.11-slim" in (container / "deployment.yaml").read_text()
    assert b"[PASS]" in result.stderr


def test_kpt_fn_eval_without_the_mount_says_the_formula_file_is_not_in_source(
    function_image: FunctionImage, env: dict[str, str], tmp_path: Path
) -> None:
    package = web_package(tmp_path / "pkg")
    before = snapshot(package)
    result = run([tools.kpt(), "fn", "eval", ".", "--image", function_image.name], env, cwd=package, check=False)
    assert result.returncode != 0
    assert b"web.formula not found (looked for /source/web.formula)" in result.stderr
    assert snapshot(package) == before


def test_kpt_fn_render_runs_a_kptfile_image_without_allow_exec(
    function_image: FunctionImage, env: dict[str, str], tmp_path: Path
) -> None:
    kpt = tools.kpt()
    container = rendered_package(tmp_path / "container", f"image: {function_image.name}")
    exec_form = rendered_package(tmp_path / "exec", "exec: r2k8s")
    run([kpt, "fn", "render", "."], env, cwd=container)
    run([kpt, "fn", "render", ".", "--allow-exec"], env, cwd=exec_form)
    rendered, expected = snapshot(container), snapshot(exec_form)
    assert rendered.pop("Kptfile") == KPTFILE.format(runner=f"image: {function_image.name}").encode()
    expected.pop("Kptfile")
    assert rendered == expected
    assert "image: docker.io/library/python:3.11-slim" in (container / "deployment.yaml").read_text()


def test_kpt_fn_render_runs_the_image_on_a_package_carrying_its_formula_as_a_resource(
    function_image: FunctionImage, env: dict[str, str], tmp_path: Path
) -> None:
    """No mount, no inlined formula: the Formula resource ``r2k8s formula-resource`` wrote is in the ResourceList."""
    kpt = tools.kpt()
    packages = {}
    for form, runner in (("container", f"image: {function_image.name}"), ("exec", "exec: r2k8s")):
        package = package_with_a_formula_resource(env, tmp_path / form)
        (package / "Kptfile").write_text(
            KPTFILE.replace("    configPath: r2k8s.yaml\n", f"    configMap:\n      image: {AGENT_IMAGE}\n").format(
                runner=runner
            )
        )
        packages[form] = package
    formula = (packages["container"] / "web.formula.yaml").read_bytes()
    run([kpt, "fn", "render", "."], env, cwd=packages["container"])
    run([kpt, "fn", "render", ".", "--allow-exec"], env, cwd=packages["exec"])
    rendered, expected = snapshot(packages["container"]), snapshot(packages["exec"])
    rendered.pop("Kptfile"), expected.pop("Kptfile")
    assert rendered == expected
    assert rendered["web.formula.yaml"] == formula  # kpt would delete the file of a resource left out
    assert_expanded(yaml.safe_load(rendered["deployment.yaml"])["spec"]["template"]["spec"])
