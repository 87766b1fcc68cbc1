"""``r2k8s inspect`` as a user runs it on expanded manifests: a table or JSON of what runs, a lock written and
held to, and every problem named with exit 1; nothing expanded is said, not hidden."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from cli_runs import r2k8s
from expansions import documents, expand, expanded_web, write_documents
from krm_inputs import BUSYBASH, deployment, write_formula

from r2k8s.formula_files import load_formula_file


def test_the_table_has_a_row_per_container_and_input_ware(tmp_path: Path) -> None:
    write_formula(tmp_path / "web.formula", urls=["ca+https://a.example/w", "ca+https://b.example/w"])
    item = deployment()
    item["spec"]["template"]["spec"]["containers"].append({"name": "plain", "image": "nginx"})
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [item]))
    done = inspect(tmp_path / "out.yaml")
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == ["RESOURCE", "CONTAINER", "FORMULA", "ID", "INPUT", "WARE", "WAREHOUSE", "ORIGIN"]
    formula_id = load_formula_file(tmp_path / "web.formula").formula_id
    assert row.split() == ["Deployment/web", "web", formula_id, "/", BUSYBASH, "ca+https://a.example/w", "(+1)", "-"]
    assert done.stderr == "r2k8s: 1 expanded container in 1 resource (of 2 resources in 1 input)\n"


def test_json_has_the_documented_shape_and_reads_stdin(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    done = inspect("-o", "json", stdin=path.read_text())
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document == {
        "containers": [
            {
                "resource": {"kind": "Deployment", "name": "web"},
                "container": "web",
                "file": "stdin",
                "field": "spec.template.spec.containers[0]",
                "formulaID": load_formula_file(tmp_path / "web.formula").formula_id,
                "origin": None,
                "inputs": [{"path": "/", "ware": BUSYBASH, "warehouses": ["ca+https://warehouse.example/wares"]}],
            }
        ],
        "unexpanded": [],
    }


def test_nothing_expanded_is_said_and_is_no_error_but_unexpanded_formulas_are_warned_about(tmp_path: Path) -> None:
    plain = write_documents(tmp_path / "plain.yaml", [deployment(image="nginx:1.27")])
    done = inspect(plain)
    assert done.returncode == 0
    assert done.stdout.split() == ["RESOURCE", "CONTAINER", "FORMULA", "ID", "INPUT", "WARE", "WAREHOUSE", "ORIGIN"]
    assert "nothing expanded: no container of 1 resource in 1 input runs a formula through r2k8s" in done.stderr

    raw = write_documents(tmp_path / "raw.yaml", [deployment()])
    done = inspect(raw, "-o", "json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["unexpanded"] == [
        {
            "resource": {"kind": "Deployment", "name": "web"},
            "container": "web",
            "file": str(raw),
            "image": "./web.formula",
        }
    ]
    assert "warn: 1 image still name a formula: the r2k8s function did not run on them" in done.stderr


def test_an_edited_expansion_and_an_unreadable_input_are_named_and_the_rest_still_listed(tmp_path: Path) -> None:
    good = expanded_web(tmp_path / "good")
    edited = expanded_web(tmp_path / "edited")
    docs = documents(edited)
    docs[0]["spec"]["template"]["metadata"]["annotations"]["r2k8s.io/formulas"] = "web=Stale"
    write_documents(edited, docs)
    done = inspect(good, edited, tmp_path / "missing.yaml")
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 2  # the header and the good one
    assert f"r2k8s: error: {edited}: Deployment/web: container 'web': spec.template.metadata.annotations" in done.stderr
    assert f"r2k8s: error: {tmp_path / 'missing.yaml'}: no such file or folder" in done.stderr
    assert done.stderr.splitlines()[-1] == "r2k8s: error: repeatr-usage-error: 2 problems in the input (above)"


def test_a_lock_is_written_deterministically_and_holds_the_manifests_to_it(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    lock = tmp_path / "formulas.lock.yaml"
    assert inspect(path, "--lock-output", lock).returncode == 0
    first = lock.read_bytes()
    assert inspect("--lock-output", lock, stdin=path.read_text()).returncode == 0
    assert lock.read_bytes() == first  # the same manifests, read another way: the same bytes
    written = yaml.safe_load(first)
    assert written["kind"] == "FormulaLock"
    assert written["metadata"]["annotations"] == {"config.kubernetes.io/local-config": "true"}

    same = inspect(path, "--lock", lock)
    assert same.returncode == 0 and "the manifests run what the lock" in same.stderr

    old_id = load_formula_file(tmp_path / "web.formula").formula_id
    write_formula(tmp_path / "web.formula", exec_=["/bin/sh", "-c", "echo changed"])
    new_id = load_formula_file(tmp_path / "web.formula").formula_id
    extra = deployment(name="api")
    path.write_text(expand(tmp_path, [deployment(), extra]))
    changed = inspect(path, "--lock", lock)
    assert changed.returncode == 1
    assert (
        f"r2k8s: differs: {path}: Deployment/web: container 'web': formula changed: the lock {lock} has {old_id},"
        f" the manifests run {new_id}"
    ) in changed.stderr
    assert f"r2k8s: differs: {path}: Deployment/api: container 'api': runs formula {new_id}, which the lock" in (
        changed.stderr
    )
    assert (
        changed.stderr.splitlines()[-1]
        == f"r2k8s: error: repeatr-usage-error: 2 containers differ from the lock {lock} (above)"
    )


def test_no_lock_is_written_for_manifests_that_still_name_formulas(tmp_path: Path) -> None:
    raw = write_documents(tmp_path / "raw.yaml", [deployment()])
    lock = tmp_path / "formulas.lock.yaml"
    done = inspect(raw, "--lock-output", lock)
    assert done.returncode == 1 and not lock.exists()
    assert "did not write the lock" in done.stderr and "1 image still name a formula" in done.stderr


def test_a_bad_lock_is_named_with_its_field_before_any_output(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    lock = tmp_path / "formulas.lock.yaml"
    assert inspect(path, "--lock-output", lock).returncode == 0
    written = yaml.safe_load(lock.read_text())
    written["spec"]["containers"][0]["formulaID"] = 7
    lock.write_text(yaml.safe_dump(written))
    done = inspect(path, "--lock", lock)
    assert done.returncode == 1 and done.stdout == ""
    assert (
        f"{lock}: not a valid FormulaLock: spec.containers[0].formulaID: expected a string, got integer 7"
        in done.stderr
    )


def test_control_characters_in_names_are_escaped_in_the_table(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    hostile = "web\x1b[31m\nfake row"
    docs[0]["spec"]["template"]["spec"]["containers"][0]["name"] = hostile
    annotations = docs[0]["spec"]["template"]["metadata"]["annotations"]
    annotations["r2k8s.io/formulas"] = annotations["r2k8s.io/formulas"].replace("web=", f"{hostile}=")
    write_documents(path, docs)
    done = inspect(path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2
    assert "web\\x1b[31m\\x0afake row" in done.stdout and "\x1b" not in done.stdout
    assert json.loads(inspect(path, "-o", "json").stdout)["containers"][0]["container"] == hostile


def inspect(*args: str | Path, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return r2k8s("inspect", *args, stdin=stdin, cwd=cwd)
