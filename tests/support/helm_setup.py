"""helm in tests: the plugin tarball as a user builds and installs it, and a chart whose hooks run formulas.

Shared by the helm tests of the function (tests/krm/test_helm.py) and their cluster half
(tests/krm/test_helm_e2e.py): test modules cannot import each other under ``--import-mode=importlib``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from krm_inputs import HELM_CHART
from repo import REPO_ROOT

__all__ = [
    "PACKAGE_SCRIPT",
    "hooked_chart",
    "install_helm4_plugin",
    "plugin_tarball",
    "recording_r2k8s",
    "split_release",
]

PACKAGE_SCRIPT = REPO_ROOT / "helm" / "plugin" / "package"

PRE_INSTALL_HOOK = """\
# A pre-install/pre-upgrade hook whose image is a formula: it runs before helm creates the release's
# own resources, the agent ConfigMap among them.
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-pre
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "5"
spec:
  restartPolicy: Never
  containers:
  - name: pre
    image: {{ .Values.image | quote }}
    command: ["/bin/sh", "-c", "echo pre-hook ran"]
"""


def plugin_tarball(directory: Path) -> Path:
    """``helm/plugin/package --output directory`` as a user runs it; the tarball's path (its stdout)."""
    result = subprocess.run(
        [sys.executable, PACKAGE_SCRIPT, "--output", directory], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def install_helm4_plugin(helm: Path, env: dict[str, str], directory: Path) -> Path:
    """Build the plugin tarball into ``directory`` and install it into ``env``'s helm home, as the README says."""
    tarball = plugin_tarball(directory)
    result = subprocess.run(
        [helm, "plugin", "install", tarball, "--verify=false"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return tarball


def hooked_chart(target: Path) -> Path:
    """The example chart (a Deployment, a Service, a ``test`` hook) plus a ``pre-install,pre-upgrade`` hook Pod,
    all with ``image: ./web.formula``."""
    shutil.copytree(HELM_CHART, target)
    (target / "templates" / "pre-install.yaml").write_text(PRE_INSTALL_HOOK)
    return target


def recording_r2k8s(directory: Path, log: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with an ``r2k8s`` first on PATH that runs this checkout after appending a line to ``log`` per run:
    how a test counts how often helm ran the post-renderer."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "r2k8s"
    script.write_text(f'#!/bin/sh\necho "r2k8s $*" >> "{log}"\nexec "{sys.executable}" -m r2k8s "$@"\n')
    script.chmod(0o755)
    return dict(env, PATH=f"{directory}:{env['PATH']}")


def split_release(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hooks and the manifest of what ``helm install --dry-run`` (or the SDK program) prints."""
    head, _, manifest = text.partition("\nMANIFEST:\n")
    hooks = head.partition("HOOKS:\n")[2]
    return (
        [d for d in yaml.safe_load_all(hooks) if d],
        [d for d in yaml.safe_load_all(manifest) if d],
    )
