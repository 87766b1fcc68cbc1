"""Builders for the KRM function's tests: formula files, resources, ResourceLists."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from repo import REPO_ROOT

WEB_EXAMPLE = REPO_ROOT / "kustomize" / "examples" / "web"
HELM_CHART = REPO_ROOT / "helm" / "example"
HELM_PLUGIN = REPO_ROOT / "helm" / "plugin" / "r2k8s"
BUSYBASH = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"


def formula_document(
    exec_: list[str] | None = None,
    env: dict[str, str] | None = None,
    urls: list[str] | None = None,
    ware: str = BUSYBASH,
) -> dict[str, Any]:
    action: dict[str, Any] = {"exec": exec_ or ["/bin/sh", "-c", "echo hi"]}
    if env:
        action["env"] = env
    return {
        "formula": {"inputs": {"/": ware}, "action": action},
        "context": {"fetchUrls": {"/": urls or ["ca+https://warehouse.example/wares"]}},
    }


def write_formula(path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(formula_document(**kwargs), indent="\t"))
    return path


def deployment(name: str = "web", image: str = "./web.formula", **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image, **container}]},
            },
        },
    }


def resource_list(items: list[dict[str, Any]], config: dict[str, Any] | None = None) -> str:
    document: dict[str, Any] = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items}
    if config is not None:
        document["functionConfig"] = config
    return yaml.safe_dump(document, sort_keys=False)


def copy_web_example(target: Path) -> Path:
    shutil.copytree(WEB_EXAMPLE, target)
    return target


def as_list(document: str) -> str:
    """``document`` (block YAML text) as the one item of a ResourceList, its text kept as written."""
    indented = "".join(("  " + line if line else line) + "\n" for line in document.splitlines())
    return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n-" + indented[1:]


def answers_over_each_path(text: str) -> list[str]:
    """The function's output on ``text`` over each I/O path that answers (the splice may fall back), each
    checked to be a success; at least one path must answer."""
    from r2k8s.krm.function import IO_PATHS, Processor
    from r2k8s.krm.io_paths import Fallback

    outputs = []
    for path in IO_PATHS:
        try:
            outcome = Processor().process(text, path)
        except Fallback:
            continue
        assert outcome.exit_code == 0, (path.__name__, outcome.results.stderr_lines())
        outputs.append(outcome.output)
    assert outputs, "no I/O path answered"
    return outputs
