"""Expanded manifests for the tests of ``r2k8s.expanded``, ``inspect`` and ``mirror``: made by the real function.

Nothing here writes an expansion by hand: a formula file and a manifest go
through the function itself (in this process, in the folder holding them),
so the tests read exactly what users' pipelines produce.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from krm_inputs import resource_list, write_formula

from r2k8s.krm.function import Processor


def expand(folder: Path, items: list[dict[str, Any]], config: dict[str, Any] | None = None) -> str:
    """The function's plain-stream output for ``items`` (and its ResourceList ``config``), run in ``folder``."""
    text = resource_list(items, config)
    here = Path.cwd()
    os.chdir(folder)
    try:
        outcome = Processor().execute(text)
    finally:
        os.chdir(here)
    assert outcome.exit_code == 0, outcome.results.stderr_lines()
    listed = yaml.safe_load(outcome.output)
    return yaml.safe_dump_all(listed["items"], sort_keys=False)


def expanded_web(folder: Path, **formula: Any) -> Path:
    """``folder/web.formula`` and ``folder/expanded.yaml``: the web Deployment expanded; returns the latter."""
    from krm_inputs import deployment

    write_formula(folder / "web.formula", **formula)
    target = folder / "expanded.yaml"
    target.write_text(expand(folder, [deployment()]))
    return target


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def write_documents(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path
