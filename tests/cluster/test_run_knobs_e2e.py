"""What a cluster needs from ``r2k8s run``, on the real test cluster (marker ``e2e``): pod settings, ``--dry-run``,
drains that do not fail the build, a ware cache shared by build pods, and ``--format json``.

Everything runs in a namespace of this module's own (Pod Security **baseline** enforced), removed at the end with
the cluster-scoped objects the tests made (a PriorityClass, PersistentVolumes backed by host directories: the test
cluster has no dynamic provisioner, so the tests provision statically).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import Outcome, write_formula
from service_cluster import cluster_settings

from r2k8s.core.run.record import from_json

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_root, needs_busybox]


@dataclass
class Cluster:
    kubeconfig: Path
    namespace: str
    api: Any
    suffix: str

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    def argv(self, formula: Path, *args: str) -> list[str]:
        image, _ = cluster_settings()
        return [
            sys.executable,
            "-m",
            "r2k8s",
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "-n",
            self.namespace,
            "--image",
            image,
            *args,
            str(formula),
        ]

    def run(self, formula: Path, *args: str) -> Outcome:
        done = subprocess.run(
            self.argv(formula, *args), capture_output=True, text=True, timeout=600, cwd=formula.parent
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def start(self, formula: Path, *args: str, until: str = "started") -> tuple[subprocess.Popen[str], str]:
        """Start a run; return it once its stderr shows ``until`` (with the stderr so far)."""
        process = subprocess.Popen(
            self.argv(formula, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=formula.parent
        )
        assert process.stderr is not None
        seen = ""
        deadline = time.monotonic() + 300
        while until not in seen:
            assert time.monotonic() < deadline, seen
            line = process.stderr.readline()
            assert line, f"the client exited early:\n{seen}"
            seen += line
        return process, seen

    def pod_of_job(self, job: str) -> dict[str, Any]:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={job}").items
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        assert len(live) == 1, [p.metadata.name for p in pods]
        return self.api.sanitize_for_serialization(live[0])


def job_name(stderr: str, namespace: str) -> str:
    match = re.search(rf"created job {namespace}/(\S+)", stderr)
    assert match, stderr
    return match.group(1)


@pytest.fixture(scope="module")
def cluster(cluster_kubeconfig: Path) -> Iterator[Cluster]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(cluster_kubeconfig))
    suffix = secrets.token_hex(3)
    namespace = f"r2k8s-knobs-{suffix}"
    core = client.CoreV1Api(api)
    core.create_namespace(
        {"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    )
    try:
        yield Cluster(cluster_kubeconfig, namespace, api, suffix)
    finally:
        core.delete_namespace(namespace, propagation_policy="Background")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    directory = tmp_path / "pkg"
    directory.mkdir()
    (directory / "rootfs.tgz").write_bytes(rootfs_tgz())
    return directory


def formula(directory: Path, script: str, name: str = "job.formula", **kw: Any) -> Path:
    kw.setdefault("fetch", {"/": ["file://./rootfs.tgz"]})
    return write_formula(directory, {"/": rootfs_ware_id()}, {"exec": ["/bin/sh", "-c", script]}, name=name, **kw)


# -- pod settings ---------------------------------------------------------------------------------------------------


def test_the_build_pod_carries_the_settings(cluster: Cluster, work: Path) -> None:
    from kubernetes import client

    scheduling = client.SchedulingV1Api(cluster.api)
    priority = f"r2k8s-knobs-{cluster.suffix}"
    scheduling.create_priority_class({"metadata": {"name": priority}, "value": 1000})
    cluster.core.create_namespaced_service_account(cluster.namespace, {"metadata": {"name": "builder"}})
    node = cluster.core.list_node().items[0].metadata.name
    try:
        process, seen = cluster.start(
            formula(work, "echo started; sleep 3; echo done"),
            *("--requests", "cpu=50m,memory=64Mi", "--limits", "memory=512Mi"),
            *("--node-selector", f"kubernetes.io/hostname={node}", "--toleration", "dedicated=builds:NoSchedule"),
            *("--service-account", "builder", "--priority-class", priority),
            *("--label", "team=infra", "--annotation", "note=a, b"),
        )
        pod = cluster.pod_of_job(job_name(seen, cluster.namespace))
        stdout, stderr = process.communicate(timeout=300)
    finally:
        scheduling.delete_priority_class(priority)
    assert process.returncode == 0, seen + stderr
    assert from_json(stdout).exit_code == 0
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": node}
    assert {"key": "dedicated", "operator": "Equal", "value": "builds", "effect": "NoSchedule"} in spec["tolerations"]
    assert (spec["serviceAccountName"], spec["priorityClassName"], spec["priority"]) == ("builder", priority, 1000)
    assert spec["automountServiceAccountToken"] is False
    assert not any("serviceaccount" in m["mountPath"] for m in container["volumeMounts"])
    assert pod["metadata"]["labels"]["team"] == "infra"
    assert pod["metadata"]["labels"]["r2k8s.io/run-id"]  # r2k8s's own selector label is still there
    assert pod["metadata"]["annotations"]["note"] == "a, b"


def test_a_missing_priority_class_is_the_clusters_clear_refusal(cluster: Cluster, work: Path) -> None:
    outcome = cluster.run(formula(work, "true"), "--priority-class", "no-such-class")
    assert outcome.code == 42, outcome.stderr
    assert "refused to create the build pod" in outcome.stderr
    assert "no PriorityClass with name no-such-class" in outcome.stderr


def test_bad_settings_are_usage_errors_naming_the_flag(cluster: Cluster, work: Path) -> None:
    for args, flag in [
        (("--requests", "cpu=lots"), "--requests"),
        (("--limits", "memory=1Gb"), "--limits"),
        (("--requests", "cpu=2", "--limits", "cpu=1"), "--requests"),
        (("--label", "r2k8s.io/run-id=x"), "--label"),
        (("--label", "-bad=x"), "--label"),
        (("--toleration", "key=value:Sometimes"), "--toleration"),
        (("--cache-volume", "nfs:/x"), "--cache-volume"),
    ]:
        outcome = cluster.run(formula(work, "true"), *args)
        assert outcome.code == 1, (args, outcome.stderr)
        assert flag in outcome.stderr and "created job" not in outcome.stderr, (args, outcome.stderr)
    assert not cluster.batch.list_namespaced_job(cluster.namespace).items


# -- dry run --------------------------------------------------------------------------------------------------------


def test_dry_run_prints_what_the_api_server_accepts_and_creates_nothing(cluster: Cluster, work: Path) -> None:
    before = {c.metadata.name for c in cluster.core.list_namespaced_config_map(cluster.namespace).items}
    outcome = cluster.run(formula(work, "true"), "--dry-run", "--label", "team=infra", "--requests", "cpu=100m")
    assert outcome.code == 0, outcome.stderr
    documents = list(yaml.safe_load_all(outcome.stdout))
    assert [(d["kind"], d["metadata"]["namespace"]) for d in documents] == [
        ("ConfigMap", cluster.namespace),
        ("Job", cluster.namespace),
    ]
    assert documents[1]["spec"]["template"]["metadata"]["labels"]["team"] == "infra"
    assert not cluster.batch.list_namespaced_job(cluster.namespace).items
    assert {c.metadata.name for c in cluster.core.list_namespaced_config_map(cluster.namespace).items} == before
    checked = subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "--dry-run=server", "-o", "name", "-f", "-"],
        input=outcome.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.split() == [
        f"configmap/{documents[0]['metadata']['name']}",
        f"job.batch/{documents[1]['metadata']['name']}",
    ]
    assert not cluster.batch.list_namespaced_job(cluster.namespace).items


# -- drains ---------------------------------------------------------------------------------------------------------


def test_an_evicted_build_pod_is_replaced_and_the_run_finishes_in_the_new_one(cluster: Cluster, work: Path) -> None:
    """The rootfs is a client-local ware: the new pod gets it streamed again."""
    process, seen = cluster.start(formula(work, "echo started; sleep 6; echo done"))
    job = job_name(seen, cluster.namespace)
    first = cluster.pod_of_job(job)["metadata"]["name"]
    evicted_at = int(time.time())
    cluster.core.create_namespaced_pod_eviction(
        first, cluster.namespace, {"metadata": {"name": first, "namespace": cluster.namespace}}
    )
    stdout, stderr = process.communicate(timeout=300)
    stderr = seen + stderr
    assert process.returncode == 0, stderr
    record = from_json(stdout)  # exactly one record: from_json refuses anything after it
    assert record.exit_code == 0
    assert record.time >= evicted_at  # the second pod's run started after the eviction
    assert f"took the build pod {first} away (EvictionByEvictionAPI" in stderr
    assert [line.split("\t", 1)[1] for line in stderr.splitlines() if " ≡⟩ \t" in line] == [
        "started",
        "started",
        "done",
    ]


def test_a_plain_pod_delete_is_no_disruption_and_fails_the_run(cluster: Cluster, work: Path) -> None:
    process, seen = cluster.start(formula(work, "echo started; sleep 60"))
    pod = cluster.pod_of_job(job_name(seen, cluster.namespace))
    assert not [c for c in pod["status"].get("conditions") or [] if c["type"] == "DisruptionTarget"]
    cluster.core.delete_namespaced_pod(pod["metadata"]["name"], cluster.namespace)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 8, seen + stderr
    assert "took the build pod" not in stderr


# -- the shared ware cache ------------------------------------------------------------------------------------------


@pytest.fixture
def claim(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A PVC bound to a static hostPath PersistentVolume on this machine (the node)."""
    name = f"wares-{secrets.token_hex(3)}"
    volume = f"r2k8s-knobs-{cluster.suffix}-{name}"
    directory = Path("/var/tmp") / volume
    directory.mkdir()
    cluster.core.create_persistent_volume(
        {
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {"namespace": cluster.namespace, "name": name},
            },
        }
    )
    cluster.core.create_namespaced_persistent_volume_claim(
        cluster.namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    try:
        yield name
    finally:
        cluster.core.delete_namespaced_persistent_volume_claim(name, cluster.namespace)
        cluster.core.delete_persistent_volume(volume)
        shutil.rmtree(directory)


def _http_rootfs(work: Path, served: Path, host: str, port: int) -> None:
    ware = rootfs_ware_id().split(":", 1)[1]
    target = served / ware[:3] / ware[3:6] / ware
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(rootfs_tgz())


def test_a_second_run_on_the_cache_volume_fetches_nothing(
    cluster: Cluster, work: Path, tmp_path: Path, claim: str
) -> None:
    from loopback_http import serve

    host = cluster_settings()[1]
    served = tmp_path / "served"
    with serve(served, host=host) as warehouse:
        _http_rootfs(work, served, host, warehouse.port)
        job = formula(work, "echo hello", fetch={"/": [warehouse.ca_url()]})
        first = cluster.run(job, "--cache-volume", f"pvc:{claim}")
        assert first.code == 0, first.stderr
        fetched = len(warehouse.requests)
        second = cluster.run(job, "--cache-volume", f"pvc:{claim}")
        assert second.code == 0, second.stderr
    assert fetched == 1
    assert len(warehouse.requests) == 1, warehouse.requests  # the second run fetched nothing
    assert "cache already has ware" in second.stderr


def test_concurrent_runs_share_the_cache_volume_and_fetch_each_ware_once(
    cluster: Cluster, work: Path, tmp_path: Path, claim: str
) -> None:
    from loopback_http import serve

    host = cluster_settings()[1]
    served = tmp_path / "served"
    with serve(served, host=host) as warehouse:
        _http_rootfs(work, served, host, warehouse.port)
        warehouse.body_delay = 0.5  # a slow transfer (16 pauses: 8 s), so the runs start while it is under way
        jobs = [
            formula(work, f"echo run {i}", name=f"run{i}.formula", fetch={"/": [warehouse.ca_url()]}) for i in (1, 2, 3)
        ]
        processes = [
            subprocess.Popen(
                cluster.argv(job, "--cache-volume", f"pvc:{claim}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=work,
            )
            for job in jobs
        ]
        outcomes = [p.communicate(timeout=600) for p in processes]
    starts = []
    for process, (stdout, stderr) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, stderr
        assert from_json(stdout).exit_code == 0
        starts.append(from_json(stdout).time)
    fetch_takes = len(rootfs_tgz()) // (64 * 1024) * warehouse.body_delay
    assert max(starts) - min(starts) < fetch_takes - 1, starts  # every run began while the one fetch went on
    assert len(warehouse.requests) == 1, warehouse.requests


def test_a_host_path_cache_in_a_baseline_namespace_is_refused_clearly(cluster: Cluster, work: Path) -> None:
    outcome = cluster.run(formula(work, "true"), "--cache-volume", "hostPath:/var/cache/r2k8s")
    assert outcome.code == 42, outcome.stderr
    assert "refused to create the build pod" in outcome.stderr
    assert "hostPath" in outcome.stderr and "baseline" in outcome.stderr
    assert "pvc:CLAIM works under baseline" in outcome.stderr


# -- json events ----------------------------------------------------------------------------------------------------


def test_json_format_on_the_cluster_is_repeatrs_event_stream(cluster: Cluster, work: Path) -> None:
    outcome = cluster.run(formula(work, "echo hello; echo there"), "--format", "json")
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.endswith("}\n\n")
    head, result = outcome.stdout.split("\n{\n", 1)
    events = [json.loads(line) for line in head.splitlines()]
    assert {next(iter(e)) for e in events} == {"log", "txt"}
    assert [e["txt"]["msg"] for e in events if "txt" in e] == ["hello\n", "there\n"]
    assert all(isinstance(e["log"]["t"], int) and e["log"]["lvl"] in (1, 2, 3, 4) for e in events if "log" in e)
    record = json.loads("{\n" + result)["result"]["runRecord"]
    assert record["exitCode"] == 0 and "error" not in json.loads("{\n" + result)["result"]


def test_json_format_for_a_failed_cluster_run_has_the_pods_record_and_the_error(cluster: Cluster, work: Path) -> None:
    outcome = cluster.run(formula(work, "true", fetch={"/": ["http://127.0.0.1:9/rootfs.tgz"]}), "--format", "json")
    assert outcome.code == 3, outcome.stderr
    assert outcome.stdout.endswith("}\n\n")
    result = json.loads(outcome.stdout[outcome.stdout.index("\n{\n") :])["result"]
    assert result["error"]["category"] == "rio-warehouse-unavailable"
    assert outcome.stderr == result["error"]["message"] + "\n"
    record = result["runRecord"]  # as far as the pod's run got, as repeatr prints it
    assert (record["exitCode"], record["results"]) == (-1, None)
    assert record["hostname"] == cluster.core.list_node().items[0].metadata.name
