"""Tekton and Argo scripts with a formula image, run on the real test cluster (issue 13, defect 2; marker ``e2e``).

No Tekton or Argo controller runs on the test cluster, so each test builds, from the function's output, the
pod the controller would create, the way its source does it:

* **Tekton** (tektoncd/pipeline ``pkg/pod/script.go``): an init container writes each step's and sidecar's
  ``script`` into a file in an emptyDir mounted at ``/tekton/scripts`` (read-only in the step), and the
  step's ``command`` is that file, its ``args`` kept. (Tekton's entrypoint binary, which would wrap the
  command to order the steps, only executes it: left out.)
* **Argo** (argo-workflows ``workflow/controller/operator.go`` ``executeScript`` and
  ``workflow/executor/executor.go`` ``StageFiles``): an init container writes ``source`` to
  ``/argo/staging/script`` (mode 0755) in an emptyDir, and the path is appended to the main container's
  ``args``. (The emissary, which would wrap the command, left out likewise.)

Each script prints what only the formula's filesystem has (busybash's musl loader; no ``python3`` of the
agent image), its uid, its arguments, its environment and cwd: it ran as the formula, not in the image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import resource_list, write_formula
from loopback_http import LoopbackWarehouse
from repo import needs_shared
from service_cluster import cluster_function_config, cluster_settings

from r2k8s.krm.function import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_shared]

PROBE = (
    'echo "uid=$(id -u) gid=$(id -g)"\n'
    "test -e /lib/ld-musl-x86_64.so.1 && echo formula-root\n"
    "test -e /usr/local/bin/python3 || echo no-agent-python\n"
    'echo "greeting=$GREETING cwd=$(pwd)"\n'
)
"""Shell lines proving where the script runs: busybash's files, not the agent image's; the formula's env."""


def expand(resource: dict[str, Any], warehouse: LoopbackWarehouse, tmp_path: Path, monkeypatch: Any) -> list[Any]:
    """The function's output for ``resource`` (its image ``./app.formula``: busybash, env GREETING)."""
    write_formula(tmp_path / "app.formula", exec_=["/bin/sh", "-c", "echo the formula exec"], env={"GREETING": "hi"})
    monkeypatch.chdir(tmp_path)
    config = cluster_function_config({"mirrors": [warehouse.ca_url()]})
    outcome = run(resource_list([resource], config))
    assert outcome.exit_code == 0, outcome.messages
    items: list[Any] = yaml.safe_load(outcome.output)["items"]
    return items


def writer(files: dict[str, str], mount: str) -> dict[str, Any]:
    """An init container writing ``files`` (path → text, mode 0755), as the controllers' own do."""
    image, _ = cluster_settings()
    code = (
        "import json, os\n"
        "for path, text in json.loads(os.environ['FILES']).items():\n"
        "    with open(path, 'w') as f: f.write(text)\n"
        "    os.chmod(path, 0o755)\n"
    )
    return {
        "name": "place-scripts",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", code],
        "env": [{"name": "FILES", "value": json.dumps(files)}],
        "volumeMounts": [{"name": "scripts", "mountPath": mount}],
    }


def finished(kubectl: Any, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        live = json.loads(kubectl("get", "pod", "-n", namespace, pod["metadata"]["name"], "-o", "json").stdout)
        if live["status"].get("phase") in ("Succeeded", "Failed"):
            return dict(live)
        time.sleep(2)
    describe = kubectl("describe", "pod", "-n", namespace, pod["metadata"]["name"], check=False).stdout
    pytest.fail(f"the pod did not finish in time:\n{describe[-3000:]}")


def logs(kubectl: Any, namespace: str, pod: str, container: str) -> str:
    return str(kubectl("logs", "-n", namespace, pod, "-c", container).stdout)


def exit_code(pod: dict[str, Any], container: str) -> int:
    status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == container)
    return int(status["state"]["terminated"]["exitCode"])


def test_a_tekton_step_and_sidecar_script_run_inside_the_formula(
    kubectl: Any, namespace: str, warehouse: LoopbackWarehouse, tmp_path: Path, monkeypatch: Any
) -> None:
    step_script = '#!/bin/bash\necho "bash=${BASH_VERSION%%.*} args=$#:$1|$2 script=$0"\n' + PROBE
    sidecar_script = "echo sidecar\n" + PROBE + "false\necho not-reached\n"  # no #!: Tekton's sh with set -e
    task = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": "scripts"},
        "spec": {
            "steps": [
                {
                    "name": "step",
                    "image": "./app.formula",
                    "script": step_script,
                    "args": ["a b", "c"],
                    "workingDir": "/tmp",
                }
            ],
            "sidecars": [{"name": "side", "image": "./app.formula", "script": sidecar_script}],
        },
    }
    items = expand(task, warehouse, tmp_path, monkeypatch)
    spec = next(i for i in items if i["kind"] == "Task")["spec"]
    for configmap in (i for i in items if i["kind"] == "ConfigMap"):
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(configmap))
    files = {"/tekton/scripts/script-0-abcde": spec["steps"][0]["script"]}
    files["/tekton/scripts/sidecar-script-0-fghij"] = spec["sidecars"][0]["script"]
    containers = []
    for container, path in ((spec["steps"][0], "script-0-abcde"), (spec["sidecars"][0], "sidecar-script-0-fghij")):
        assert "command" not in container  # Tekton's webhook would refuse one beside the script
        shaped = {k: v for k, v in container.items() if k != "script"}
        shaped["command"] = [f"/tekton/scripts/{path}"]
        shaped["volumeMounts"] = [
            *container["volumeMounts"],
            {"name": "scripts", "mountPath": "/tekton/scripts", "readOnly": True},
        ]
        containers.append(shaped)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "tekton-shaped"},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [writer(files, "/tekton/scripts")],
            "containers": containers,
            "volumes": [*spec["volumes"], {"name": "scripts", "emptyDir": {}}],
        },
    }
    done = finished(kubectl, namespace, pod)
    step = logs(kubectl, namespace, "tekton-shaped", "step")
    assert "bash=4 args=2:a b|c script=/proc/self/fd/" in step, step  # busybash's bash 4 (the image has 5)
    assert "uid=1000 gid=1000" in step and "formula-root" in step and "no-agent-python" in step, step
    assert "greeting=hi cwd=/tmp" in step, step
    assert exit_code(done, "step") == 0
    side = logs(kubectl, namespace, "tekton-shaped", "side")
    assert "sidecar" in side and "formula-root" in side and "uid=1000" in side, side
    assert "not-reached" not in side and exit_code(done, "side") == 1  # Tekton's preamble: set -e


def test_an_argo_script_template_runs_its_source_inside_the_formula(
    kubectl: Any, namespace: str, warehouse: LoopbackWarehouse, tmp_path: Path, monkeypatch: Any
) -> None:
    source = 'echo "script=$0 args=$*"\n' + PROBE
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "scripts"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "script": {"image": "./app.formula", "command": ["sh", "-e"], "source": source}}
            ],
        },
    }
    items = expand(workflow, warehouse, tmp_path, monkeypatch)
    spec = next(i for i in items if i["kind"] == "Workflow")["spec"]
    for configmap in (i for i in items if i["kind"] == "ConfigMap"):
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(configmap))
    template = spec["templates"][0]["script"]
    main = {k: v for k, v in template.items() if k != "source"}
    main["name"] = "main"
    main["args"] = [*template.get("args", []), "/argo/staging/script"]  # what Argo's controller appends
    main["volumeMounts"] = [*template["volumeMounts"], {"name": "scripts", "mountPath": "/argo/staging"}]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "argo-shaped"},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [writer({"/argo/staging/script": template["source"]}, "/argo/staging")],
            "containers": [main],
            "volumes": [*spec["volumes"], {"name": "scripts", "emptyDir": {}}],
        },
    }
    done = finished(kubectl, namespace, pod)
    out = logs(kubectl, namespace, "argo-shaped", "main")
    assert "script=/argo/staging/script args=" in out, out  # run by the template's interpreter, from its file
    assert "uid=1000 gid=1000" in out and "formula-root" in out and "no-agent-python" in out, out
    assert "greeting=hi cwd=/task\n" in out and exit_code(done, "main") == 0, out  # the formula's default cwd
