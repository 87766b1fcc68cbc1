"""``r2k8s resolve`` and the seed's ``r2k8s FILE > ready.yaml``, as a user runs them: real files and folders,
stdin, a loopback URL, the exit codes and messages; ``r2k8s fn FILE`` refused; stdin-piped ``r2k8s`` still the
function; and the stream accepted by the real test cluster's API server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_runs import r2k8s
from krm_inputs import write_formula
from loopback_http import serve
from resolve_packages import SERVICE, dump, formula_id, package, write

ORIGINS = "r2k8s.io/formula-origins"


def kinds(text: str) -> list[str]:
    return [d["kind"] for d in yaml.safe_load_all(text) if d is not None]


def test_the_seeds_one_line_usage_writes_a_stream_ready_to_apply(tmp_path: Path) -> None:
    formulas = package(tmp_path)
    with (tmp_path / "ready.yaml").open("w") as out:
        done = r2k8s("web/deploy.yaml", cwd=tmp_path, stdout=out)
    assert done.returncode == 0, done.stderr
    ready = (tmp_path / "ready.yaml").read_text()
    assert kinds(ready) == ["Deployment", "ConfigMap"]
    assert f"r2k8s.io/formulas: web={formula_id(formulas['web'])}" in ready
    assert ORIGINS in ready and "image: ./web.formula" not in ready
    agent = [d for d in yaml.safe_load_all(ready) if d is not None][1]["metadata"]["name"]
    assert done.stderr == (
        "r2k8s: resolved 1 resource from 1 source: expanded 1 container in 1 resource; added 1 agent ConfigMap"
        f" ({agent})\n"
    )


def test_resolve_takes_files_folders_recursively_and_stdin_in_order(tmp_path: Path) -> None:
    package(tmp_path)
    extra = dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    done = r2k8s("resolve", "-f", "-", "-f", "web", "-f", "jobs", "-R", cwd=tmp_path, stdin=extra)
    assert done.returncode == 0, done.stderr
    assert kinds(done.stdout) == ["Namespace", "Deployment", "Service", "Deployment", "ConfigMap"]
    assert SERVICE in done.stdout
    positional = r2k8s("resolve", "web", "jobs", "--recursive", cwd=tmp_path)
    bare = r2k8s("web", "jobs", "-R", cwd=tmp_path)
    assert positional.stdout == bare.stdout == done.stdout.split("---\n", 2)[2]


def test_a_folder_without_R_and_a_missing_file_fail_naming_them(tmp_path: Path) -> None:
    package(tmp_path)
    nested = r2k8s("resolve", "-f", "jobs", cwd=tmp_path)
    assert (nested.returncode, nested.stdout) == (1, "")
    assert nested.stderr.endswith("jobs: no .yaml, .yml or .json files in it (-R reads its subfolders)\n")
    missing = r2k8s("web/deploy.yml", cwd=tmp_path)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "r2k8s: error: repeatr-usage-error: web/deploy.yml: no such file or folder\n"


def test_bad_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    package(tmp_path)
    write(tmp_path / "web" / "broken.yaml", "kind: Service\nmetadata:\n  name: [x\n")
    done = r2k8s("resolve", "-f", "web", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert "web/broken.yaml: line 4 column 1: not valid YAML" in done.stderr


def test_a_missing_formula_names_the_file_the_resource_and_the_container(tmp_path: Path) -> None:
    formulas = package(tmp_path)
    formulas["web"].unlink()
    done = r2k8s("web", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(
        "r2k8s: error: web/deploy.yaml: Deployment/apps/web: spec.template.spec.containers[0].image:"
        " container 'web': image './web.formula': formula file web/web.formula not found"
    )


def test_a_url_is_resolved_and_a_404_is_an_error_naming_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "service.yaml", SERVICE)
    with serve(site) as server:
        served = r2k8s("resolve", "-f", server.url("/service.yaml"), cwd=tmp_path)
        bare = r2k8s(server.url("/service.yaml"), cwd=tmp_path)
        missing = r2k8s("resolve", "-f", server.url("/gone.yaml"), cwd=tmp_path)
    assert (served.returncode, served.stdout) == (0, SERVICE)
    assert bare.stdout == SERVICE
    assert (missing.returncode, missing.stdout) == (1, "")
    assert f"{server.url('/gone.yaml')}: the server answered HTTP 404 Not Found" in missing.stderr


def test_fn_given_a_file_says_it_reads_stdin_and_how_to_resolve_files(tmp_path: Path) -> None:
    package(tmp_path)
    done = r2k8s("fn", "web/deploy.yaml", cwd=tmp_path)  # stdin is /dev/null: it must not wait for it either
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith(
        "'r2k8s fn' is the KRM function: it reads manifests on stdin and takes no files (given web/deploy.yaml); to"
        " expand files run 'r2k8s resolve -f FILE' or 'r2k8s FILE', or pipe them: 'r2k8s fn < FILE'\n"
    )
    assert "unrecognized arguments: web/deploy.yaml" in done.stderr


def test_stdin_piped_r2k8s_is_still_the_function_and_never_records(tmp_path: Path) -> None:
    package(tmp_path)
    text = (tmp_path / "web" / "deploy.yaml").read_text()
    piped = r2k8s(cwd=tmp_path / "web", stdin=text)
    function = r2k8s("fn", cwd=tmp_path / "web", stdin=text)
    assert piped.returncode == 0 and piped.stdout == function.stdout
    assert ORIGINS not in piped.stdout and kinds(piped.stdout) == ["Deployment", "ConfigMap"]


def test_help_lists_resolve(tmp_path: Path) -> None:
    assert "resolve" in r2k8s("--help", cwd=tmp_path).stdout


@pytest.mark.e2e
def test_the_stream_passes_the_api_servers_server_side_dry_run(tmp_path: Path, cluster_kubeconfig: Path) -> None:
    binary = shutil.which("kubectl")
    if binary is None:
        from testcluster import build

        binary = str(build.ensure_binaries().kubectl)

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [binary, "--kubeconfig", str(cluster_kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    namespace = f"r2k8s-resolve-{os.getpid()}"
    formulas = package(tmp_path)
    for path in (
        tmp_path / "web" / "deploy.yaml",
        tmp_path / "web" / "service.yaml",
        tmp_path / "jobs" / "batch" / "worker.yaml",
    ):
        path.write_text(path.read_text().replace("namespace: apps", f"namespace: {namespace}"))
    done = r2k8s("web", "jobs", "-R", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    documents = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    kubectl("create", "namespace", namespace)
    try:
        applied = kubectl("apply", "--dry-run=server", "-o", "name", "-f", "-", stdin=done.stdout)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    agent = next(d["metadata"]["name"] for d in documents if d["kind"] == "ConfigMap")
    assert sorted(applied.split()) == [
        f"configmap/{agent}",
        "deployment.apps/web",
        "deployment.apps/worker",
        "service/web",
    ]
    assert formula_id(formulas["worker"]) in done.stdout


def test_a_file_named_like_a_command_runs_the_command_and_resolve_needs_a_source(tmp_path: Path) -> None:
    write(tmp_path / "formula-id", "not a manifest\n")
    command = r2k8s("formula-id", cwd=tmp_path)
    assert command.returncode == 1 and "resolve" not in command.stderr
    nothing = r2k8s("resolve", cwd=tmp_path)
    assert (nothing.returncode, nothing.stdout) == (1, "")
    assert nothing.stderr.endswith("nothing to resolve: name files, folders or URLs with -f (- for stdin)\n")


def test_root_and_config_options_read_in_any_order_among_the_sources(tmp_path: Path) -> None:
    formulas = package(tmp_path)
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"agent": {"image": "registry.example/python:3.12"}},
    }
    write(tmp_path / "config" / "r2k8s.yaml", dump(config))
    web = tmp_path / "web"
    refused = r2k8s("../jobs/batch/worker.yaml", cwd=web)
    assert refused.returncode == 1 and "use --root to widen it" in refused.stderr
    options = ("--root", "..", "../jobs/batch/worker.yaml", "--config", "../config/r2k8s.yaml", "deploy.yaml")
    done = r2k8s("resolve", *options, cwd=web)
    assert done.returncode == 0, done.stderr
    bare = r2k8s(*options[2:3], *options[:2], *options[3:], cwd=web)  # the bare form starts with a file
    assert bare.stdout == done.stdout
    worker, deploy, _ = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    assert worker["spec"]["template"]["spec"]["initContainers"][0]["image"] == "registry.example/python:3.12"
    records = [d["spec"]["template"]["metadata"]["annotations"][ORIGINS] for d in (worker, deploy)]
    assert records == [
        f'{{"worker":{{"formulaID":"{formula_id(formulas["worker"])}","path":"jobs/shared/worker.formula"}}}}',
        f'{{"web":{{"formulaID":"{formula_id(formulas["web"])}","path":"web/web.formula"}}}}',
    ]


def test_a_lock_written_by_one_resolve_holds_a_later_one_to_the_same_formulas(tmp_path: Path) -> None:
    """Hermetic CI: ``--lock-output`` records what ran; ``--lock`` passes while it still holds, and once a formula
    changes fails with nothing on stdout, naming the resource, the container and both formula IDs."""
    formulas = package(tmp_path)
    first = r2k8s("resolve", "-R", "-f", ".", "--lock-output", "formulas.lock.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lock = yaml.safe_load((tmp_path / "formulas.lock.yaml").read_text())
    assert (lock["apiVersion"], lock["kind"]) == ("fn.r2k8s.io/v1alpha1", "FormulaLock")
    locked = {entry["resource"]["name"]: entry for entry in lock["spec"]["containers"]}
    assert locked["web"]["formulaID"] == formula_id(formulas["web"])
    assert locked["web"]["origin"]["path"] == "web/web.formula"
    assert locked["worker"]["origin"]["path"] == "jobs/shared/worker.formula"
    assert locked["web"]["inputs"][0]["warehouses"] == ["ca+https://warehouse.example/wares"]
    inspected = r2k8s("inspect", "-", "--lock", "formulas.lock.yaml", cwd=tmp_path, stdin=first.stdout)
    assert inspected.returncode == 0, inspected.stderr  # inspect reads back what resolve locked

    held = r2k8s("resolve", "-R", "-f", ".", "--lock", "formulas.lock.yaml", cwd=tmp_path)
    assert held.returncode == 0, held.stderr
    assert [d for d in yaml.safe_load_all(held.stdout) if d] == [d for d in yaml.safe_load_all(first.stdout) if d]
    assert "FormulaLock" not in held.stdout  # read among the sources (-R .), and left out: it is local config

    before = formula_id(formulas["web"])
    write_formula(formulas["web"], exec_=["/bin/sh", "-c", "echo changed"])
    after = formula_id(formulas["web"])
    changed = r2k8s("web", "jobs", "-R", "--lock", "formulas.lock.yaml", cwd=tmp_path)  # the bare form, too
    assert changed.returncode == 1 and changed.stdout == ""
    differs = [line for line in changed.stderr.splitlines() if line.startswith("r2k8s: differs: ")]
    assert len(differs) == 1 and "web" in differs[0] and "worker" not in differs[0]
    assert before in differs[0] and after in differs[0]
