"""kustomize's ``container:`` function form runs the image, with standalone kustomize and with ``kubectl kustomize``.

``kubectl kustomize`` cannot run exec functions (it has no ``--enable-exec`` and skips them without a
word); the container form is the one it runs. Both exec ``docker``: podman under that name, and the
docker client against podman's API service (see tests/support/image_under_test.py for why failures are
shown with the first). The formula file reaches the container through the function's ``mounts``:
kustomize joins a relative ``src`` to the root of the kustomization that declares the transformer
(not to the current directory) and mounts it read-only. The output is the exec form's, byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tools
from image_under_test import FunctionImage
from krm_inputs import WEB_EXAMPLE, copy_web_example
from orchestrators import package_with_a_formula_resource
from program_runs import run

CONTAINER_FORM = """apiVersion: fn.r2k8s.io/v1alpha1
kind: R2k8sFunction
metadata:
  name: r2k8s
  annotations:
    config.kubernetes.io/function: |
      container:
        image: {image}
{mounts}spec:
  agent:
    image: docker.io/library/python:3.11-slim
"""
MOUNT_SOURCE = """        mounts:
        - type: bind
          src: .
          dst: /source
"""


def container_example(path: Path, image: str) -> Path:
    """The web example with its transformer in the container form, the kustomization mounted on /source."""
    example = copy_web_example(path)
    (example / "r2k8s.yaml").write_text(CONTAINER_FORM.format(image=image, mounts=MOUNT_SOURCE))
    return example


def kubectl() -> Path:
    """kubectl from PATH, else the one the test cluster builds (as the cluster tests find it)."""
    found = shutil.which("kubectl")
    if found is not None:
        return Path(found)
    from testcluster import build

    return build.ensure_binaries().kubectl


@pytest.fixture(scope="module")
def exec_output(env: dict[str, str]) -> bytes:
    """What the shipped example's exec form builds."""
    return run([tools.kustomize(), "build", "--enable-alpha-plugins", "--enable-exec", WEB_EXAMPLE], env).stdout


def test_kustomize_build_runs_the_container_form_with_the_formula_mounted(
    function_image: FunctionImage, env: dict[str, str], exec_output: bytes, tmp_path: Path
) -> None:
    example = container_example(tmp_path / "web", function_image.name)
    elsewhere = tmp_path / "elsewhere"  # the mount's relative src is the kustomization's folder, not the cwd
    elsewhere.mkdir()
    result = run([tools.kustomize(), "build", "--enable-alpha-plugins", example], env, cwd=elsewhere)
    assert result.stdout == exec_output
    assert b"image: docker.io/library/python:3.11-slim" in result.stdout


def test_kubectl_kustomize_runs_the_container_form(
    function_image: FunctionImage, env: dict[str, str], exec_output: bytes, tmp_path: Path
) -> None:
    example = container_example(tmp_path / "web", function_image.name)
    result = run([kubectl(), "kustomize", "--enable-alpha-plugins", example], env, cwd=tmp_path)
    assert result.stdout == exec_output


def test_kubectl_kustomize_shows_the_functions_error_when_the_formula_is_missing(
    function_image: FunctionImage, env: dict[str, str], tmp_path: Path
) -> None:
    example = container_example(tmp_path / "web", function_image.name)
    (example / "web.formula").unlink()
    result = run([kubectl(), "kustomize", "--enable-alpha-plugins", example], env, check=False)
    assert result.returncode != 0 and result.stdout == b""
    assert b"Deployment/web" in result.stderr and b"web.formula not found" in result.stderr


def test_the_docker_client_through_podmans_api_service_runs_it_too(
    function_image: FunctionImage, exec_output: bytes, tmp_path: Path
) -> None:
    """How a docker user runs it: ``DOCKER_HOST`` names the API service, both programs exec the docker client."""
    example = container_example(tmp_path / "web", function_image.name)
    for program in ([tools.kustomize(), "build"], [kubectl(), "kustomize"]):
        result = run([*program, "--enable-alpha-plugins", example], function_image.api_env, cwd=tmp_path)
        assert result.stdout == exec_output, program


def test_kubectl_kustomize_runs_the_container_form_on_a_formula_resource_without_mounts(
    function_image: FunctionImage, env: dict[str, str], tmp_path: Path
) -> None:
    """The formula travels in the build as a Formula resource; the output is the exec form's and holds no Formula."""
    package = package_with_a_formula_resource(env, tmp_path)
    (package / "kustomization.yaml").write_text(
        "resources:\n- deployment.yaml\n- service.yaml\n- web.formula.yaml\ntransformers:\n- r2k8s.yaml\n"
    )
    shutil.copy(WEB_EXAMPLE / "r2k8s.yaml", package / "r2k8s.yaml")
    exec_output = run([tools.kustomize(), "build", "--enable-alpha-plugins", "--enable-exec", package], env).stdout
    (package / "r2k8s.yaml").write_text(CONTAINER_FORM.format(image=function_image.name, mounts=""))
    result = run([kubectl(), "kustomize", "--enable-alpha-plugins", package], env, cwd=tmp_path)
    assert result.stdout == exec_output
    assert b"kind: Formula" not in result.stdout and b"r2k8s-fetch-web" in result.stdout
