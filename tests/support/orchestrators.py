"""Running the real orchestrators (kpt, kustomize, helm) in tests, and checking what they give a user.

Shared by the integration tests of the exec form (tests/krm/) and of formula resources (test modules cannot
import each other under ``--import-mode=importlib``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import program_runs
import tools
import yaml
from krm_inputs import WEB_EXAMPLE

__all__ = [
    "AGENT_IMAGE",
    "assert_expanded",
    "by_kind",
    "formula_resource",
    "helm_env",
    "kustomize_exec_build",
    "package_with_a_formula_resource",
    "run",
]

AGENT_IMAGE = "docker.io/library/python:3.11-slim"
EMPTY_IMAGE = "registry.k8s.io/pause:3.10"


def run(
    argv: list[Any], env: dict[str, str], cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """:func:`program_runs.run`, its output as text: the orchestrators' output is YAML to read, not bytes to compare."""
    result = program_runs.run(argv, env, cwd=cwd, check=check)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


def kustomize_exec_build(directory: Path, env: dict[str, str]) -> str:
    """The output of ``kustomize build --enable-alpha-plugins --enable-exec DIRECTORY`` (the README's way)."""
    return run([tools.kustomize(), "build", "--enable-alpha-plugins", "--enable-exec", directory], env).stdout


def by_kind(text: str) -> dict[str, list[dict[str, Any]]]:
    """The documents of a YAML stream by kind."""
    found: dict[str, list[dict[str, Any]]] = {}
    for document in yaml.safe_load_all(text):
        if document:
            found.setdefault(document["kind"], []).append(document)
    return found


def assert_expanded(pod_spec: dict[str, Any], container: str = "web") -> None:
    """The container runs the agent's ``serve`` from the empty (pause) image, after one fetch init container in the
    stock image."""
    main = next(c for c in pod_spec["containers"] if c["name"] == container)
    assert main["image"] == EMPTY_IMAGE and main["command"][-1] == "serve"
    assert [(c["name"], c["image"]) for c in pod_spec["initContainers"]] == [(f"r2k8s-fetch-{container}", AGENT_IMAGE)]


def helm_env(base: dict[str, str], home: Path) -> dict[str, str]:
    """``base`` with helm's data, config and cache homes under ``home`` and no plugins from the user's."""
    env = dict(base)
    for name in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        env[name] = str(home / name.lower())
    env.pop("HELM_PLUGINS", None)
    return env


def formula_resource(r2k8s_on_path: dict[str, str], target: Path) -> str:
    """``r2k8s formula-resource web.formula`` as a user runs it, written to ``target``."""
    result = run(["r2k8s", "formula-resource", WEB_EXAMPLE / "web.formula"], r2k8s_on_path)
    target.write_text(result.stdout)
    return result.stdout


def package_with_a_formula_resource(r2k8s_on_path: dict[str, str], directory: Path) -> Path:
    """``directory/pkg``: the web example with ``image: formula:web`` and the formula as ``web.formula.yaml``;
    no formula file."""
    package = directory / "pkg"
    package.mkdir(parents=True)
    for name in ("deployment.yaml", "service.yaml"):
        shutil.copy(WEB_EXAMPLE / name, package / name)
    deployment = package / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("image: ./web.formula", "image: formula:web"))
    formula_resource(r2k8s_on_path, package / "web.formula.yaml")
    return package
