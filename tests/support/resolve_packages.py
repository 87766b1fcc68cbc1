"""Packages on disk for the resolver's tests: manifests in nested folders naming formulas beside them, real git
work trees around them, and what a formula file's ID is."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from krm_inputs import deployment, write_formula

from r2k8s.formula_files import load_formula_file

GIT_ENV = {
    "GIT_AUTHOR_NAME": "r2k8s tests",
    "GIT_AUTHOR_EMAIL": "tests@r2k8s.invalid",
    "GIT_COMMITTER_NAME": "r2k8s tests",
    "GIT_COMMITTER_EMAIL": "tests@r2k8s.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def formula_id(path: Path) -> str:
    return load_formula_file(path).formula_id


def dump(*documents: dict[str, Any]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def package(root: Path) -> dict[str, Path]:
    """``root/web/deploy.yaml`` naming ``./web.formula`` (beside it) and ``root/jobs/batch/worker.yaml`` naming
    ``../shared/worker.formula`` (in ``root/jobs/shared``), both in namespace ``apps``; a Service with comments
    and odd layout in ``root/web/service.yaml``, and a README that is no manifest."""
    write_formula(root / "web" / "web.formula", exec_=["/bin/sh", "-c", "echo web"])
    write_formula(root / "jobs" / "shared" / "worker.formula", exec_=["/bin/sh", "-c", "echo worker"])
    web = deployment("web", "./web.formula")
    web["metadata"]["namespace"] = "apps"
    worker = deployment("worker", "../shared/worker.formula")
    worker["metadata"]["namespace"] = "apps"
    write(root / "web" / "deploy.yaml", "# the web server\n" + dump(web))
    write(root / "web" / "service.yaml", SERVICE)
    write(root / "web" / "README.md", "not a manifest: image: ./web.formula\n")
    write(root / "jobs" / "batch" / "worker.yaml", dump(worker))
    return {
        "web": root / "web" / "web.formula",
        "worker": root / "jobs" / "shared" / "worker.formula",
    }


SERVICE = """\
# kept as written, byte for byte
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}   # flow style
spec:
  ports:
  - port: 80     # aligned comment
    targetPort: 8080
  selector:
    app: "web"     # quoted
"""
"""A document the resolver must copy as it is."""


def git(work_tree: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(work_tree), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return done.stdout.strip()


def committed(work_tree: Path) -> str:
    """Make ``work_tree`` a git repository with everything in it committed; its commit."""
    git(work_tree, "init", "-q", "-b", "main")
    git(work_tree, "add", "-A")
    git(work_tree, "commit", "-q", "-m", "package")
    return git(work_tree, "rev-parse", "HEAD")
