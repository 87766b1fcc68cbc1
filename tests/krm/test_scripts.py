"""Tekton ``script:`` steps and sidecars and Argo ``script`` templates with a formula image (issue 13, defect 2).

What each controller would accept and do with the function's output, checked against the controllers' own
rules (read from their source, cited beside each rule), on made-up manifests and on the real ones of
``../shared/realworld/corpus`` (Tekton catalog and pipeline examples, Argo Workflows examples; skipped with a
reason when ``../shared`` is absent). The scripts running in a formula's filesystem on the real cluster:
``test_scripts_e2e.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import resource_list, write_formula
from repo import SHARED

from r2k8s.core.agent.contract import SERVICE_SPEC_ENV
from r2k8s.core.agent.script import SCRIPT_HEADER
from r2k8s.core.agent.service_spec import ServiceSpec
from r2k8s.krm.function import run

CORPUS = SHARED / "realworld" / "corpus"
TEKTON_FILES = sorted(CORPUS.glob("tekton-*/*.yaml")) if CORPUS.is_dir() else []
ARGO_FILES = sorted(CORPUS.glob("argo-workflows/*.yaml")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(
    not TEKTON_FILES or not ARGO_FILES, reason=f"no real-world corpus at {CORPUS} (a fresh clone without ../shared)"
)
AGENT_IMAGE = "docker.io/library/python:3.11-slim"
CLUSTER_SCOPED = {"ClusterWorkflowTemplate"}
"""Left out: no namespace to hold the agent ConfigMap, so the function asks which ones (not this test's matter)."""
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "app.formula", exec_=["/bin/sh", "-c", "echo formula"], env={"GREETING": "hi"})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def expand(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    outcome = run(resource_list(items))
    assert outcome.exit_code == 0, outcome.messages
    found: list[dict[str, Any]] = yaml.safe_load(outcome.output)["items"]
    return [i for i in found if i["kind"] != "ConfigMap"]  # the agent's


def spec_of(container: dict[str, Any]) -> ServiceSpec:
    return ServiceSpec.from_json(next(e["value"] for e in container["env"] if e["name"] == SERVICE_SPEC_ENV))


# -- the controllers' rules -----------------------------------------------------------------------------


def tekton_problems(task_spec: dict[str, Any]) -> list[str]:
    """What Tekton's webhook refuses in a TaskSpec, for the rules a rewrite can break (tektoncd/pipeline,
    ``pkg/apis/pipeline/v1/container_validation.go`` ``Step.Validate``/``Sidecar.Validate`` and
    ``task_validation.go`` ``ValidateVolumes``/``validateStepVariables``)."""
    problems = []
    for kind in ("steps", "sidecars"):
        for index, step in enumerate(task_spec.get(kind) or ()):
            where = f"{kind}[{index}]"
            if not step.get("image"):
                problems.append(f"{where}: missing field(s): image")
            if step.get("script") and step.get("command"):
                problems.append(f"{where}.script: script cannot be used with command")
            if kind == "steps" and step.get("name") and not _DNS_LABEL.match(step["name"]):
                problems.append(f"{where}.name: invalid value")
            for mount in step.get("volumeMounts") or ():
                path = mount["mountPath"].rstrip("/")
                if path.startswith("/tekton/") and not path.startswith("/tekton/home"):
                    problems.append(f"{where}: volumeMount cannot be mounted under /tekton/")
                if mount["name"].startswith("tekton-internal-"):
                    problems.append(f'{where}: volumeMount name cannot start with "tekton-internal-"')
            # a $(...) Tekton does not know is refused ("non-existent variable"): the prologue must hold none
            if SCRIPT_HEADER in (step.get("script") or "") and "$(" in SCRIPT_HEADER:
                problems.append(f"{where}.script: the r2k8s prologue holds a $(...) reference")
    names = [v["name"] for v in task_spec.get("volumes") or ()]
    problems += [f"multiple volumes with same name {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
    return problems


def argo_problems(spec: dict[str, Any]) -> list[str]:
    """What would break an Argo workflow's pod: a main container without ``command`` (the emissary then looks
    the entrypoint up in a registry, argo-workflows ``workflow/controller/workflowpod.go``), a mount of a
    volume the workflow does not define (the API server refuses the pod), a mount path used twice
    (``workflow/validate/validate.go`` ``validateLeaf``)."""
    problems = []
    volumes = {v["name"] for v in spec.get("volumes") or ()} | {
        c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or ()
    }
    for template in spec.get("templates") or ():
        for key in ("container", "script"):
            container = template.get(key)
            if not container:
                continue
            where = f"templates.{template['name']}.{key}"
            if not container.get("command"):
                problems.append(f"{where}: no command")
            paths = [m["mountPath"] for m in container.get("volumeMounts") or ()]
            problems += [f"{where}: mountPath {p} already mounted" for p in sorted(set(paths)) if paths.count(p) > 1]
            for mount in container.get("volumeMounts") or ():
                if mount["name"] not in volumes:
                    problems.append(f"{where}: volume {mount['name']!r} not found in the workflow's volumes")
    return problems


def the_script(step: dict[str, Any], original: str) -> None:
    """The step runs the agent from its script's prologue, with the user's script unchanged below it."""
    assert step["script"] == SCRIPT_HEADER + original
    assert "command" not in step and step["image"] == AGENT_IMAGE
    assert spec_of(step).argv is None  # the action is the script, not the formula's exec


# -- Tekton ---------------------------------------------------------------------------------------------


def tekton_task(step: dict[str, Any], sidecar: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"params": [{"name": "who"}], "steps": [step]}
    if sidecar is not None:
        spec["sidecars"] = [sidecar]
    return {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "t"}, "spec": spec}


def test_a_tekton_script_step_gets_no_command_and_keeps_its_script_and_args(package: Path) -> None:
    script = '#!/bin/bash\necho "hello $(params.who)" "$@"\n'
    step = {"name": "say", "image": "./app.formula", "args": ["a b", "$(params.who)"], "workingDir": "/src"}
    sidecar = {"name": "side", "image": "./app.formula", "script": "echo side"}
    (task,) = expand([tekton_task({**step, "script": script}, sidecar)])
    spec = task["spec"]
    assert tekton_problems(spec) == []
    the_script(spec["steps"][0], script)
    assert spec["steps"][0]["args"] == ["a b", "$(params.who)"]  # Tekton passes them to the script
    assert spec_of(spec["steps"][0]).cwd == "/src" and "workingDir" not in spec["steps"][0]
    the_script(spec["sidecars"][0], "echo side")
    assert {v["name"] for v in spec["volumes"]} == {"r2k8s-agent", "r2k8s-cache"}


def test_a_tekton_step_without_a_script_still_runs_the_agent_as_its_command(package: Path) -> None:
    (task,) = expand([tekton_task({"name": "plain", "image": "./app.formula", "script": ""})])
    step = task["spec"]["steps"][0]
    assert step["command"][-1] == "run" and step["script"] == ""  # Tekton ignores an empty script
    assert tekton_problems(task["spec"]) == []


def test_the_prologue_hands_the_script_file_and_args_to_the_agent() -> None:
    lines = SCRIPT_HEADER.splitlines()
    assert lines[0] == "#!/bin/sh" and lines[-1] == 'exec python3 /r2k8s/agent/r2k8s-agent.pyz script "$0" "$@"'
    assert "$(" not in SCRIPT_HEADER  # Tekton would try to substitute it


def test_the_output_of_a_tekton_script_is_stable_under_a_second_run(package: Path) -> None:
    first = run(resource_list([tekton_task({"name": "s", "image": "./app.formula", "script": "echo hi"})]))
    assert first.exit_code == 0, first.messages
    second = run(first.output)
    assert second.exit_code == 0 and second.output == first.output


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"command": ["bash"]}, "Tekton refuses ('script cannot be used with command')"),
        ({"script": "#!win pwsh.exe\nWrite-Host hi"}, "a Windows script (#!win)"),
        ({"script": 5}, "expected a string, got the number 5"),
    ],
    ids=["with-command", "windows", "not-a-string"],
)
def test_a_tekton_script_that_cannot_run_in_a_formula_is_refused_naming_the_field(
    package: Path, extra: dict[str, Any], reason: str
) -> None:
    step = {"name": "s", "image": "./app.formula", "script": "echo hi", **extra}
    text = resource_list([tekton_task(step)])
    outcome = run(text)
    assert outcome.exit_code == 1
    (message,) = outcome.messages
    assert reason in message and "spec.steps[0].script" in message and "Task" in message and "'s'" in message
    assert yaml.safe_load(outcome.output)["items"] == yaml.safe_load(text)["items"]  # nothing changed


# -- Argo -----------------------------------------------------------------------------------------------


def argo_workflow(script: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "script": script}]},
    }


def test_an_argo_script_template_keeps_its_source_and_its_interpreter_goes_to_the_agent(package: Path) -> None:
    source = 'import os\nprint("{{inputs.parameters.x}}", os.getuid())\n'
    script = {"image": "./app.formula", "command": ["python3", "-u"], "args": ["-B"], "source": source}
    (workflow,) = expand([argo_workflow(script)])
    main = workflow["spec"]["templates"][0]["script"]
    assert argo_problems(workflow["spec"]) == []
    assert main["source"] == source and main["command"] == ["python3", "/r2k8s/agent/r2k8s-agent.pyz", "run"]
    assert "args" not in main  # Argo appends the source file's path: the agent's only argument
    assert spec_of(main).argv == ("python3", "-u", "-B")  # the agent runs argv + [that path]


def test_an_argo_source_that_is_not_a_string_is_refused(package: Path) -> None:
    outcome = run(resource_list([argo_workflow({"image": "./app.formula", "command": ["sh"], "source": ["x"]})]))
    assert outcome.exit_code == 1
    (message,) = outcome.messages
    assert "spec.templates[0].script.source" in message and "expected a string, got a list" in message


# -- the real corpus ------------------------------------------------------------------------------------


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def _task_specs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every TaskSpec in a Task, TaskRun or PipelineRun (``spec``, ``taskSpec``)."""
    found = []
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("steps"), list):
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document.get("apiVersion", "").startswith("tekton.dev"):
        return [c for spec in _task_specs(document) for c in spec["steps"] + spec.get("sidecars", [])]
    spec = document.get("spec", {})
    spec = spec.get("workflowSpec", spec)
    return [t[key] for t in spec.get("templates") or () for key in ("container", "script") if t.get(key)]


def corpus_cases(files: list[Path]) -> list[Any]:
    cases = []
    for path in files:
        for number, document in enumerate(_documents(path)):
            if document.get("kind") in CLUSTER_SCOPED:
                continue
            count = len(_containers(document))
            for index in range(count):
                cases.append(pytest.param(path, number, index, id=f"{path.parent.name}/{path.name}#{number}.{index}"))
    return cases


def _one_formula(tmp_path: Path, source: Path, number: int, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The corpus document with its ``index``-th container's image pointed at a formula, before and after."""
    shutil.copyfile(SHARED / "realworld" / "app.formula", tmp_path / "app.formula")
    before = _documents(source)[number]
    changed = yaml.safe_load(yaml.safe_dump(before))
    _containers(changed)[index]["image"] = "./app.formula"
    outcome = run(resource_list([changed]))
    assert outcome.exit_code == 0, outcome.messages
    after = next(i for i in yaml.safe_load(outcome.output)["items"] if i.get("kind") == before["kind"])
    return before, after


@needs_corpus
@pytest.mark.parametrize(("source", "number", "index"), corpus_cases(TEKTON_FILES))
def test_a_real_tekton_step_with_a_formula_passes_tektons_rules(
    source: Path, number: int, index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before, after = _one_formula(tmp_path, source, number, index)
    for task_spec in _task_specs(after):
        assert tekton_problems(task_spec) == [], source
    original, expanded = _containers(before)[index], _containers(after)[index]
    if original.get("script"):
        the_script(expanded, original["script"])
        assert expanded.get("args") == original.get("args")
    else:
        assert expanded["command"][-1] == "run"


@needs_corpus
@pytest.mark.parametrize(("source", "number", "index"), corpus_cases(ARGO_FILES))
def test_a_real_argo_template_with_a_formula_passes_argos_rules(
    source: Path, number: int, index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before, after = _one_formula(tmp_path, source, number, index)
    spec = after["spec"].get("workflowSpec", after["spec"])
    assert argo_problems(spec) == [], source
    original, expanded = _containers(before)[index], _containers(after)[index]
    assert expanded["command"][-1] == "run" and expanded.get("source") == original.get("source")
