"""The function's report of success: one ``info`` result saying what it expanded, as kpt's own functions report
(kpt prints it as ``[info]``). Nothing when nothing changed (the input comes back byte for byte, as the quick path
answers it unread), nothing in a plain stream (helm's has no ``results``), nothing on stderr (kustomize passes an
exec function's stderr on: it would print it on every build)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from krm_inputs import WEB_EXAMPLE, deployment, resource_list, write_formula

from r2k8s.agent_bundle import configmap_name
from r2k8s.krm.function import run
from r2k8s.krm.results import Result, Results, Severity


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with two formulas, the function's working directory."""
    write_formula(tmp_path / "web.formula")
    write_formula(tmp_path / "job.formula", exec_=["/bin/sh", "-c", "echo job"])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def workloads() -> list[dict[str, Any]]:
    """Three formula containers in two resources in two namespaces, and a neighbour with an ordinary image."""
    web = deployment("web")
    web["metadata"]["namespace"] = "shop"
    web["spec"]["template"]["spec"]["initContainers"] = [{"name": "migrate", "image": "./job.formula"}]
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "batch"},
        "spec": {
            "schedule": "@daily",
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"name": "job", "image": "./job.formula"}]}}}
            },
        },
    }
    return [web, cronjob, deployment("plain", image="docker.io/library/nginx:1.27")]


def info(message: str) -> Results:
    return Results((Result(message, Severity.INFO),))


def test_a_resource_list_gets_one_info_counting_what_was_expanded_and_added(package: Path) -> None:
    outcome = run(resource_list(workloads()))
    summary = f"expanded 3 containers in 2 resources; added 2 agent ConfigMaps ({configmap_name()})"
    assert (outcome.exit_code, outcome.results) == (0, info(summary))
    assert yaml.safe_load(outcome.output)["results"] == [{"message": summary, "severity": "info"}]
    again = run(outcome.output)
    assert (again.output, again.results) == (outcome.output, Results())  # its own output: nothing changes


def test_nothing_to_expand_gives_no_result_and_the_list_back_byte_for_byte(package: Path) -> None:
    text = resource_list([deployment("plain", image="docker.io/library/nginx:1.27")])
    outcome = run(text)
    assert (outcome.output, outcome.results) == (text, Results())


def test_explain_gives_the_plan_and_no_summary(package: Path) -> None:
    outcome = run(resource_list(workloads()), explain=True)
    assert outcome.results == Results() and "operations" in outcome.output


def test_a_re_render_says_which_resources_it_expanded_again(package: Path) -> None:
    first = run(resource_list(workloads()))
    write_formula(package / "job.formula", exec_=["/bin/sh", "-c", "echo a new job"])
    again = run(first.output)
    assert again.results == info(
        "expanded 2 resources again (a formula, the agent or the config changed)"
    )  # both use job.formula; the agent ConfigMaps are there already


def test_a_plain_stream_gets_nothing_added_and_stderr_stays_quiet(package: Path) -> None:
    """helm's post-renderer protocol: resources in, resources out; only warnings and errors go to stderr."""
    stream = yaml.safe_dump_all(workloads())
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn"], input=stream, capture_output=True, text=True, cwd=package, timeout=120
    )
    assert (done.returncode, done.stderr) == (0, "")
    documents = list(yaml.safe_load_all(done.stdout))
    assert [d["kind"] for d in documents] == ["Deployment", "CronJob", "Deployment", "ConfigMap", "ConfigMap"]
    assert "results" not in done.stdout.replace("r2k8s.io", "")  # no results section, nor any stray key
    listed = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn"],
        input=resource_list(workloads()),
        capture_output=True,
        text=True,
        cwd=package,
        timeout=120,
    )
    assert (listed.returncode, listed.stderr) == (0, "")  # the info is in the list's results, not on stderr


def test_kpt_shows_the_summary_as_info(r2k8s_on_path: dict[str, str], tmp_path: Path) -> None:
    kpt = tools.kpt()
    package = tmp_path / "pkg"
    package.mkdir()
    for name in ("deployment.yaml", "service.yaml", "web.formula"):
        shutil.copy(WEB_EXAMPLE / name, package / name)
    done = subprocess.run(
        [str(kpt), "fn", "eval", ".", "--exec", "r2k8s"],
        env=r2k8s_on_path,
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout + done.stderr
    assert f"[info]: expanded 1 container in 1 resource; added 1 agent ConfigMap ({configmap_name()})" in shown
    assert json.dumps(shown).count("[info]") == 1
