"""``r2k8s formula-resource`` as a user runs it: formula files in, Formula resources out, which the function
reads back as the very formulas the files are (the same formula ID) and the published schema accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from krm_inputs import WEB_EXAMPLE, deployment, resource_list
from referencing import Registry, Resource
from repo import REPO_ROOT
from upstream_formulas import DOCS_EXAMPLE1, RELEASE_V014, UPSTREAM

from r2k8s.krm.config import FunctionConfig
from r2k8s.krm.formula_items import FormulaItems
from r2k8s.krm.function import run
from r2k8s.krm.rewrite import FORMULAS_ANNOTATION
from r2k8s.krm.yamlio import load_documents, to_plain

FILES = {**UPSTREAM, "docs-example1.formula": DOCS_EXAMPLE1, "release-v014.frm": RELEASE_V014}


def r2k8s(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "r2k8s", *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )


def resources(*args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    done = r2k8s("formula-resource", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def formula_id(path: Path) -> str:
    done = r2k8s("formula-id", str(path))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def schema_validator() -> jsonschema.Draft202012Validator:
    def load(name: str) -> dict[str, Any]:
        return dict(json.loads((REPO_ROOT / "schemas" / name).read_text()))

    registry: Registry[Any] = Registry().with_resources(
        (load(name)["$id"], Resource.from_contents(load(name)))
        for name in ("formula.schema.json", "formula-legacy.schema.json")
    )
    return jsonschema.Draft202012Validator(load("formula-resource.schema.json"), registry=registry)


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_resource_round_trips_to_the_files_formula_id(tmp_path: Path, name: str) -> None:
    path = tmp_path / name.replace("/", "-")
    path.write_text(FILES[name])
    done = r2k8s("formula-resource", str(path))
    assert done.returncode == 0, done.stderr
    (resource,) = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert not list(schema_validator().iter_errors(resource))
    expected = formula_id(path)
    for read in (resource, to_plain(load_documents(done.stdout)[0])):  # both readers the function uses
        items = FormulaItems([read], [], FunctionConfig())
        found = items.find(resource["metadata"]["name"])
        assert items.results == [] and found is not None and found.loaded is not None
        assert found.loaded.formula_id == expected


def test_the_function_runs_the_generated_resource_as_it_runs_the_file(tmp_path: Path) -> None:
    (resource,) = resources(str(WEB_EXAMPLE / "web.formula"))
    assert resource["metadata"] == {"name": "web", "annotations": {"config.kubernetes.io/local-config": "true"}}
    outcome = run(resource_list([resource, deployment(image="formula:web")]))
    assert outcome.exit_code == 0, outcome.messages
    expanded = yaml.safe_load(outcome.output)["items"][1]
    annotations = expanded["spec"]["template"]["metadata"]["annotations"]
    assert annotations[FORMULAS_ANNOTATION] == f"web={formula_id(WEB_EXAMPLE / 'web.formula')}"


def test_names_come_from_the_file_names_or_name(tmp_path: Path) -> None:
    for file in ("web.formula", "api.formula.json", "build.frm"):
        (tmp_path / file).write_text(FILES["example_01_hello.formula"])
    several = resources("web.formula", "api.formula.json", "build.frm", cwd=tmp_path)
    assert [r["metadata"]["name"] for r in several] == ["web", "api", "build"]
    done = r2k8s("formula-resource", "web.formula", "build.frm", cwd=tmp_path)
    assert done.stdout.startswith("---\n") and done.stdout.count("\n---\n") == 1  # a multi-document stream
    assert [r["metadata"]["name"] for r in resources("web.formula", "--name", "front", cwd=tmp_path)] == ["front"]


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        (["web.formula", "b/web.formula"], [], "would both be Formula 'web'"),
        (["web.formula", "api.formula"], ["--name", "x"], "--name names one resource"),
        (["_web.formula"], [], "'_web' cannot be a formula's name (from the file name; choose one with --name)"),
        (["web.formula"], ["--name", "a b"], "'a b' cannot be a formula's name"),
    ],
)
def test_names_that_cannot_work_are_refused(tmp_path: Path, files: list[str], args: list[str], message: str) -> None:
    for file in files:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(FILES["example_01_hello.formula"])
    done = r2k8s("formula-resource", *files, *args, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == "" and message in done.stderr


def test_an_invalid_formula_file_is_refused_where_it_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "bad.formula").write_text('{"formula": {"action": {"exec": "/bin/true"}}}')
    done = r2k8s("formula-resource", "bad.formula", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert "bad.formula:1:" in done.stderr and "$.formula.action.exec" in done.stderr
