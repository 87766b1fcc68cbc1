"""``r2k8s check`` as CI runs it before ``kubectl apply``: every image still naming a formula listed on stdout with
its file, resource, field and container, exit 1; clean manifests exit 0 with one line on stderr; an input that
cannot be read is named, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from krm_inputs import as_list, deployment, write_formula
from loopback_http import serve

HOW_TO = "kustomize build --enable-alpha-plugins --enable-exec"


def check(
    *args: str | Path, stdin: str | bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "check", *map(str, args)],
        input=data if data is not None else b"",
        capture_output=True,
        cwd=cwd,
        timeout=60,
    )
    assert "Traceback" not in done.stderr.decode(), done.stderr.decode()
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def workloads() -> list[dict[str, object]]:
    """One formula image in each place the function looks: a Deployment's containers, a Pod's init and
    ephemeral containers, a CronJob, an Argo template's container, a Tekton step; and ordinary images beside."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": "ops"},
        "spec": {
            "initContainers": [{"name": "fetch", "image": "../fetch.formula"}],
            "containers": [{"name": "main", "image": "docker.io/library/busybox:1.36"}],
            "ephemeralContainers": [{"name": "probe", "image": "formula:probe"}],
        },
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "@daily",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "formula:job"}]}}}},
        },
    }
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "build"},
        "spec": {"templates": [{"name": "main", "container": {"image": "./build.formula", "command": ["make"]}}]},
    }
    task = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": "test"},
        "spec": {"steps": [{"name": "unit", "image": "./test.formula"}, {"name": "lint", "image": "golang:1.22"}]},
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    return [deployment(), pod, cronjob, workflow, task, service]


def test_each_formula_image_is_listed_with_its_file_resource_and_container(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(workloads(), sort_keys=False))
    done = check("all.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "all.yaml: Deployment/web: spec.template.spec.containers[0].image: container 'web' has image"
        " './web.formula': a formula, not expanded",
        "all.yaml: Pod/ops/debug: spec.initContainers[0].image: init container 'fetch' has image '../fetch.formula':"
        " a formula, not expanded",
        "all.yaml: Pod/ops/debug: spec.ephemeralContainers[0].image: ephemeral container 'probe' has image"
        " 'formula:probe': a formula, not expanded",
        "all.yaml: CronJob/nightly: spec.jobTemplate.spec.template.spec.containers[0].image: container 'job' has"
        " image 'formula:job': a formula, not expanded",
        "all.yaml: Workflow/build: spec.templates[0].container.image: an unnamed container has image"
        " './build.formula': a formula, not expanded",
        "all.yaml: Task/test: spec.steps[0].image: step 'unit' has image './test.formula': a formula, not expanded",
    ]
    assert "6 images in 5 resources still name a formula (of 6 resources in 1 input checked)" in done.stderr
    assert "the r2k8s function did not run on these manifests" in done.stderr and HOW_TO in done.stderr


def test_clean_manifests_pass_with_one_line_on_stderr(tmp_path: Path) -> None:
    clean = [r for r in workloads() if "formula" not in json.dumps(r)]
    (tmp_path / "clean.yaml").write_text(yaml.safe_dump_all(clean))
    done = check(tmp_path / "clean.yaml")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == "r2k8s: no formula references: checked 1 resource in 1 input\n"


def test_the_functions_own_output_passes(tmp_path: Path) -> None:
    """What ``r2k8s fn`` wrote is what ``check`` must let through: the expansion names the agent image."""
    write_formula(tmp_path / "web.formula")
    manifest = yaml.safe_dump(deployment())
    expanded = subprocess.run(
        [sys.executable, "-m", "r2k8s", "fn"], input=manifest, capture_output=True, text=True, cwd=tmp_path
    )
    assert expanded.returncode == 0, expanded.stderr
    assert check(stdin=manifest).returncode == 1
    done = check(stdin=expanded.stdout)
    assert (done.returncode, done.stdout) == (0, "")
    assert "checked 2 resources" in done.stderr  # the Deployment and the agent ConfigMap


def test_stdin_takes_resource_lists_with_kpt_paths_and_kubectl_lists() -> None:
    """A ResourceList's items name their own files (kpt's path annotation); ``kind: List`` is read item by item;
    ``-`` and no argument both mean stdin."""
    item = deployment("api")
    item["metadata"]["annotations"] = {"internal.config.kubernetes.io/path": "apps/api.yaml"}
    listed = check("-", stdin=as_list(yaml.safe_dump(item)))
    assert listed.returncode == 1
    assert listed.stdout.startswith("stdin (apps/api.yaml): Deployment/api: spec.template.spec.containers[0].image:")
    kubectl_list = {"apiVersion": "v1", "kind": "List", "items": [deployment("a", image="nginx"), deployment("b")]}
    done = check(stdin=yaml.safe_dump(kubectl_list))
    assert done.returncode == 1 and [line.split(": ")[1] for line in done.stdout.splitlines()] == ["Deployment/b"]


def test_an_image_in_a_field_the_function_does_not_know_is_listed_too(tmp_path: Path) -> None:
    """The function refuses a formula it cannot expand; it must not reach the cluster either."""
    runner = {"apiVersion": "ci.example/v1", "kind": "Runner", "metadata": {"name": "r"}}
    runner["spec"] = {"runner": {"name": "job", "image": "formula:job"}}
    done = check(stdin=yaml.safe_dump(runner))
    assert done.returncode == 1
    assert done.stdout == (
        "stdin: Runner/r: spec.runner.image: 'job', which r2k8s does not know as a container, has image"
        " 'formula:job': a formula, not expanded\n"
    )


def test_a_folder_gives_its_manifests_in_name_order_and_its_subfolders_with_R(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(yaml.safe_dump(deployment("b")))
    (tmp_path / "a.json").write_text(json.dumps(deployment("a"), indent="\t"))
    (tmp_path / "notes.txt").write_text("image: ./ignored.formula\n")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "d.yaml").write_text(yaml.safe_dump(deployment("d")))
    (tmp_path / "c" / "e.yaml").write_text(yaml.safe_dump(deployment("e", image="nginx")))
    flat = check(tmp_path.name, cwd=tmp_path.parent)
    assert [line.split(": ")[0] for line in flat.stdout.splitlines()] == [
        f"{tmp_path.name}/a.json",
        f"{tmp_path.name}/b.yml",
    ]
    deep = check("-R", ".", cwd=tmp_path)
    assert [line.split(": ")[:2] for line in deep.stdout.splitlines()] == [
        ["a.json", "Deployment/a"],
        ["b.yml", "Deployment/b"],
        ["c/d.yaml", "Deployment/d"],
    ]
    assert "3 images in 3 resources still name a formula (of 4 resources in 4 inputs checked)" in deep.stderr


def test_a_folder_without_manifests_is_an_error_that_mentions_R(tmp_path: Path) -> None:
    (tmp_path / "overlays" / "prod").mkdir(parents=True)
    (tmp_path / "overlays" / "prod" / "web.yaml").write_text(yaml.safe_dump(deployment(image="nginx")))
    done = check(tmp_path / "overlays")
    assert done.returncode == 1
    assert f"{tmp_path / 'overlays'}: no .yaml, .yml or .json files in it (-R reads its subfolders)" in done.stderr
    assert check("-R", tmp_path / "overlays").returncode == 0


def test_unreadable_inputs_are_named_and_the_others_still_checked(tmp_path: Path) -> None:
    (tmp_path / "1-broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n")
    (tmp_path / "2-binary.yaml").write_bytes(b"kind: Pod\n\xff\xfe\n")
    (tmp_path / "3-scalar.yaml").write_text("just a string\n")
    (tmp_path / "4-web.yaml").write_text(yaml.safe_dump(deployment()))
    done = check(tmp_path.name, tmp_path / "missing.yaml", cwd=tmp_path.parent)
    assert done.returncode == 1
    name = tmp_path.name
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert (
        errors[0]
        == f"r2k8s: error: {name}/1-broken.yaml: line 4 column 1: not valid YAML: did not find expected ',' or ']'"
    )
    assert errors[1] == f"r2k8s: error: {name}/2-binary.yaml: not UTF-8 text (byte 0xff at offset 10)"
    assert errors[2] == f"r2k8s: error: {name}/3-scalar.yaml: document 1 is not a resource (a mapping), it is str"
    assert errors[3] == f"r2k8s: error: {tmp_path / 'missing.yaml'}: no such file or folder"
    assert done.stdout.startswith(f"{name}/4-web.yaml: Deployment/web:")
    assert errors[4].endswith("; and 4 inputs could not be read")


def test_an_alias_bomb_is_refused_not_expanded() -> None:
    """Ten lines of aliases name 10⁹ nodes: the function's shape check refuses them before anything builds them."""
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    done = check(stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(lines) + "\n")
    assert done.returncode == 1 and "refused before reading it" in done.stderr
    assert done.stderr.startswith("r2k8s: error: stdin: ")


def test_a_url_is_fetched_and_checked_like_a_file_and_an_unserved_one_is_named(tmp_path: Path) -> None:
    """``check``, ``inspect`` and ``mirror`` read inputs as ``resolve`` does (krm/manifests.py): URLs too."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "all.yaml").write_text(yaml.safe_dump_all(workloads()[:1], sort_keys=False))
    with serve(served) as server:
        url, gone = server.url("/all.yaml"), server.url("/gone.yaml")
        done = check(url, gone, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{url}: Deployment/web: spec.template.spec.containers[0].image: container 'web' has image"
        " './web.formula': a formula, not expanded",
    ]
    assert f"{gone}: the server answered HTTP 404" in done.stderr
