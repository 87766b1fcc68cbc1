"""``r2k8s run --dry-run`` with no cluster at all: complete manifests on stdout, the same checks as a run.

That the API server accepts the output, and that a dry run creates nothing, is shown on the real cluster in
``test_run_knobs_e2e.py``.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import yaml
from formula_runs import Outcome, write_formula
from tarbuild import D, F, make_tar

from r2k8s.agent_bundle import agent_zipapp, configmap_name
from r2k8s.core.agent.contract import BUILD_SPEC_ENV
from r2k8s.core.agent.run_spec import RunSpec
from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.ingest import ingest_tar


def dry_run(formula: Path, *args: str, kubeconfig: Path | None = None) -> Outcome:
    environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    environment["HOME"] = str(formula.parent)  # no ~/.kube/config
    if kubeconfig is not None:
        environment["KUBECONFIG"] = str(kubeconfig)
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "run", "--dry-run", *args, str(formula)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=formula.parent,
        timeout=120,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def formula(directory: Path) -> Path:
    data = make_tar([D("."), F("hello", b"hi\n")], compression="gzip")
    (directory / "in.tgz").write_bytes(data)
    ware = str(ingest_tar(io.BytesIO(data), UNPACK_CONSERVATIVE).prefilter_id)
    return write_formula(directory, {"/": ware}, {"exec": ["/bin/true"]}, fetch={"/": ["file://./in.tgz"]})


def test_the_output_is_complete_and_needs_no_cluster(tmp_path: Path) -> None:
    outcome = dry_run(formula(tmp_path), "-n", "builds", "--label", "team=a", "--cache-volume", "pvc:wares")
    assert outcome.code == 0, outcome.stderr
    configmap, job = yaml.safe_load_all(outcome.stdout)
    zipapp = agent_zipapp()
    assert configmap["metadata"]["name"] == configmap_name(zipapp)
    assert base64.b64decode(configmap["binaryData"]["r2k8s-agent.pyz"]) == zipapp  # all of it: kubectl can apply it
    assert configmap["metadata"]["namespace"] == job["metadata"]["namespace"] == "builds"
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == configmap["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    spec = RunSpec.from_json(env[BUILD_SPEC_ENV])
    assert list(spec.streamed) == [str(next(iter(spec.formula.inputs.values())))]  # the client-local input
    assert job["metadata"]["labels"]["team"] == "a"
    assert {"name": "cache", "persistentVolumeClaim": {"claimName": "wares"}} in pod["volumes"]


def test_the_namespace_is_the_contexts_else_default(tmp_path: Path) -> None:
    job_formula = formula(tmp_path)
    outcome = dry_run(job_formula)
    assert outcome.code == 0, outcome.stderr
    assert [d["metadata"]["namespace"] for d in yaml.safe_load_all(outcome.stdout)] == ["default", "default"]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://192.0.2.1:6443"}}],  # unreachable
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team-ns"}}],
                "current-context": "x",
            }
        )
    )
    outcome = dry_run(job_formula, kubeconfig=kubeconfig)
    assert outcome.code == 0, outcome.stderr
    assert [d["metadata"]["namespace"] for d in yaml.safe_load_all(outcome.stdout)] == ["team-ns", "team-ns"]


def test_a_missing_local_ware_fails_as_a_run_would_with_nothing_printed(tmp_path: Path) -> None:
    job_formula = formula(tmp_path)
    (tmp_path / "in.tgz").unlink()
    outcome = dry_run(job_formula, "-n", "x")
    assert outcome.code == 5, outcome.stderr  # ware not found, as r2k8s run and run --local say
    assert outcome.stdout == ""


def test_bad_settings_fail_before_anything_is_printed(tmp_path: Path) -> None:
    outcome = dry_run(formula(tmp_path), "-n", "x", "--limits", "memory=lots")
    assert outcome.code == 1
    assert "--limits" in outcome.stderr and outcome.stdout == ""
