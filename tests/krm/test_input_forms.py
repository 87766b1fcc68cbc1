"""Input forms people feed the function (issue 13, defect 8): JSON documents, and quoted strings in the
function's config.

A JSON document that the function changed came back as ``--- {…}`` on one line; kubectl's document splitter
refuses any text after ``---`` but a comment ("invalid Yaml document separator"), so the answer could not be
applied. Quoted scalars in the config (``image: "…"``) must read as the strings they are.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from krm_inputs import answers_over_each_path, deployment, write_formula

MARKER_WITH_TEXT = re.compile(r"^---[ \t]*[^ \t#\n]", re.MULTILINE)
"""What kubectl's YAML reader refuses: a document marker followed by anything but a comment."""


@pytest.fixture(autouse=True)
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def json_stream() -> str:
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}}
    return json.dumps(deployment()) + "\n---\n" + json.dumps(other) + "\n"


@pytest.mark.parametrize("text", [json_stream(), "---\n" + json_stream()], ids=["bare", "marked"])
def test_json_documents_come_back_as_documents_kubectl_can_split(text: str) -> None:
    for output in answers_over_each_path(text):
        assert not MARKER_WITH_TEXT.search(output), output[:300]
        documents = [d for d in yaml.safe_load_all(output) if d]
        kinds = [d["kind"] for d in documents]
        assert kinds.count("Deployment") == 1 and kinds.count("ConfigMap") == 2  # the agent's ConfigMap added
        web = next(d for d in documents if d["kind"] == "Deployment")
        assert web["spec"]["template"]["spec"]["containers"][0]["image"] != "./web.formula"
        assert next(d for d in documents if d.get("metadata", {}).get("name") == "x")["data"] == {"a": "1"}


@pytest.mark.parametrize("quoted", ['"registry.example/python:3.12-slim"', "'registry.example/python:3.12-slim'"])
def test_a_quoted_agent_image_in_the_config_file_is_used_as_written(package: Path, quoted: str) -> None:
    (package / "config.yaml").write_text(
        "apiVersion: fn.r2k8s.io/v1alpha1\nkind: R2k8sFunction\nmetadata:\n  name: c\n"
        f"spec:\n  agent:\n    image: {quoted}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn", "--config", "config.yaml"],
        input=yaml.safe_dump(deployment()),
        capture_output=True,
        text=True,
        cwd=package,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    web = next(d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment")
    assert web["spec"]["template"]["spec"]["initContainers"][0]["image"] == "registry.example/python:3.12-slim"


def test_a_kubectl_list_gets_the_agent_configmap_in_each_of_its_items_namespaces() -> None:
    """``kubectl get -o yaml`` gives a ``kind: List``: kubectl applies its items, in their own namespaces, so the
    agent ConfigMap their pods mount must be there, not in the List's (which has none)."""
    apps, jobs = deployment("web"), deployment("worker")
    apps["metadata"]["namespace"], jobs["metadata"]["namespace"] = "apps", "jobs"
    nested = {"apiVersion": "v1", "kind": "List", "items": [jobs]}
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [apps, nested]})
    for output in answers_over_each_path(text):
        documents = [d for d in yaml.safe_load_all(output) if d]
        agents = [d["metadata"].get("namespace") for d in documents if d["kind"] == "ConfigMap"]
        assert sorted(agents) == ["apps", "jobs"]
        (listed,) = [d for d in documents if d["kind"] == "List"]
        web = listed["items"][0]["spec"]["template"]["spec"]
        assert web["initContainers"][0]["name"] == "r2k8s-fetch-web"
