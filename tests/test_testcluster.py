"""The test cluster itself (tests/support/testcluster): what the other e2e tests rely on, checked on the real thing.

The node is Ready; a pod from the suite's Python image runs; ``logs``, ``exec`` and ``attach``
(with stdin) go through the API server to the kubelet and containerd; the TTL controller removes a
finished Job and its pod; Pod Security admission enforces ``baseline``; ``up`` started with another
build cache or state directory never replaces the cluster in use (it reuses it, or refuses naming
who holds it); and ``down`` leaves no process, mount, network interface or cgroup behind (that test
runs last and starts the cluster again, so that the next session reuses it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_fixture import UP, external_kubeconfig, only_user, shared_again
from testcluster import cgroups, lease, mounts, network, node, processes, settings

pytestmark = pytest.mark.e2e

IMAGE = os.environ.get("R2K8S_E2E_IMAGE") or settings.PYTHON_IMAGE


@pytest.fixture(scope="module")
def api(cluster_kubeconfig: Path) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(cluster_kubeconfig))


@pytest.fixture(scope="module")
def core(api: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api)


@pytest.fixture
def namespace(core: Any) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"r2k8s-node-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    _wait(
        lambda: _exists(lambda: core.read_namespaced_service_account("default", name)),
        60,
        "the default service account",
    )
    yield name
    core.delete_namespace(name)


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def _exists(read: Callable[[], Any]) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        read()
        return True
    except ApiException as error:
        if error.status == 404:
            return False
        raise


def _pod(name: str, command: list[str], **container: Any) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": IMAGE, "command": command, **container}],
        },
    }


def _phase(core: Any, name: str, namespace: str) -> str:
    return core.read_namespaced_pod(name, namespace).status.phase


def _wait_phase(core: Any, name: str, namespace: str, phases: set[str], timeout: float = 120) -> str:
    def reached() -> str | None:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase in phases:
            return pod.status.phase
        return None

    try:
        return _wait(reached, timeout, f"pod {namespace}/{name} to be {' or '.join(sorted(phases))}")
    except AssertionError as error:
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        raise AssertionError(f"{error}; its events: {[(e.reason, e.message) for e in events]}") from None


def test_the_node_is_ready(core: Any) -> None:
    nodes = core.list_node().items
    ready = [
        n.metadata.name for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
    ]
    assert ready, [(n.metadata.name, [(c.type, c.status, c.message) for c in n.status.conditions]) for n in nodes]
    if external_kubeconfig() is None:
        assert ready == [settings.NODE_NAME]
        assert nodes[0].status.node_info.kubelet_version == settings.KUBERNETES_VERSION


def test_a_pod_from_the_python_image_runs_a_command_and_its_logs_come_back(core: Any, namespace: str) -> None:
    script = (
        "import sys, platform; print('hello from', platform.python_implementation(), sys.version_info[0]); sys.exit(3)"
    )
    core.create_namespaced_pod(namespace, _pod("hello", ["python3", "-c", script]))
    assert _wait_phase(core, "hello", namespace, {"Succeeded", "Failed"}) == "Failed"
    terminated = core.read_namespaced_pod("hello", namespace).status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert core.read_namespaced_pod_log("hello", namespace) == "hello from CPython 3\n"


def test_exec_runs_in_a_running_pod(core: Any, namespace: str) -> None:
    from kubernetes.stream import stream

    core.create_namespaced_pod(namespace, _pod("sleeper", ["sleep", "600"]))
    _wait_phase(core, "sleeper", namespace, {"Running"})
    output = stream(
        core.connect_get_namespaced_pod_exec, "sleeper", namespace,
        command=["python3", "-c", "import os; print(6 * 7, os.getpid() != 1)"],
        stdout=True, stderr=True, stdin=False, tty=False,
    )  # fmt: skip
    assert output == "42 True\n"


def test_attach_passes_stdin_to_the_container_and_its_output_back(core: Any, namespace: str) -> None:
    from kubernetes.stream import stream

    script = "import sys; data = sys.stdin.read(); print('got', data.upper(), len(data))"
    core.create_namespaced_pod(namespace, _pod("reader", ["python3", "-c", script], stdin=True, stdinOnce=True))
    _wait_phase(core, "reader", namespace, {"Running"})
    connection = stream(
        core.connect_get_namespaced_pod_attach, "reader", namespace,
        stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False,
    )  # fmt: skip
    try:
        connection.write_stdin("hello through attach")
        # Closing stdin (protocol v5) is what ends the container's read.
        connection.close_channel(0)
        output = ""
        deadline = time.monotonic() + 60
        while connection.is_open() and time.monotonic() < deadline:
            connection.update(timeout=1)
            output += connection.read_stdout()
    finally:
        connection.close()
    assert output == "got HELLO THROUGH ATTACH 20\n"
    assert _wait_phase(core, "reader", namespace, {"Succeeded", "Failed"}) == "Succeeded"


def test_the_ttl_controller_deletes_a_finished_job_and_its_pod(api: Any, core: Any, namespace: str) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(api)
    job = {
        "metadata": {"name": "short"},
        "spec": {
            "ttlSecondsAfterFinished": 3,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": IMAGE, "command": ["true"]}],
                }
            },
        },
    }
    batch.create_namespaced_job(namespace, job)

    def completed() -> bool:
        status = batch.read_namespaced_job_status("short", namespace).status
        return any(c.type == "Complete" and c.status == "True" for c in status.conditions or [])

    # The Job may be gone already if it finished and expired between two polls.
    _wait(
        lambda: not _exists(lambda: batch.read_namespaced_job("short", namespace)) or completed(),
        120,
        "the Job to complete",
    )
    assert core.list_namespaced_pod(namespace, label_selector="job-name=short").items, (
        "the Job's pod went before the Job"
    )
    _wait(
        lambda: not _exists(lambda: batch.read_namespaced_job("short", namespace)),
        60,
        "the TTL controller to delete the Job",
    )
    _wait(
        lambda: not core.list_namespaced_pod(namespace, label_selector="job-name=short").items,
        60,
        "the Job's pod to be deleted",
    )


def test_pod_security_baseline_refuses_a_privileged_pod_and_admits_an_ordinary_one(core: Any, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    privileged = _pod("privileged", ["true"], securityContext={"privileged": True})
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, privileged)
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "baseline:latest": privileged' in message, message
    core.create_namespaced_pod(namespace, _pod("ordinary", ["true"]))
    assert _wait_phase(core, "ordinary", namespace, {"Succeeded", "Failed"}) == "Succeeded"


own_cluster_only = pytest.mark.skipif(
    external_kubeconfig() is not None, reason="checks this suite's own cluster, not $R2K8S_E2E_KUBECONFIG's"
)


def _daemons(layout: settings.StateLayout) -> dict[str, processes.Daemon]:
    """The cluster's daemons as their pid files name them (pid and executable: what identifies them)."""
    found = {d.name: d for d in processes.recorded(layout) if d.alive()}
    assert set(found) == set(node.DAEMONS), found
    return found


def _run_up(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run tests/support/testcluster/up; past ``timeout`` (it started building: a bug) kill it and what it started."""
    with subprocess.Popen(
        [sys.executable, str(UP)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            raise AssertionError(f"up ran for more than {timeout:.0f}s (building?); its stderr:\n{stderr}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@own_cluster_only
def test_up_with_another_build_cache_reuses_the_running_cluster(cluster_kubeconfig: Path, tmp_path: Path) -> None:
    """``up`` with an empty build cache, and with a symlink to the real one, finds the running
    cluster compatible and reuses it: same daemons (pids), nothing built, nothing written there."""
    layout = settings.layout()
    before = _daemons(layout)
    real_cache = settings.cache_dir()
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    linked = tmp_path / "linked-cache"
    linked.symlink_to(real_cache.parent)
    for cache in (empty, linked):
        done = _run_up(dict(os.environ, R2K8S_CI_CACHE=str(cache)))
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip().splitlines()[-1]) == cluster_kubeconfig
        assert "reusing the running cluster" in done.stderr, done.stderr
        assert _daemons(layout) == before, done.stderr
    assert f"built in {real_cache.resolve()}" in _run_up(dict(os.environ, R2K8S_CI_CACHE=str(empty))).stderr
    assert list(empty.iterdir()) == []  # nothing was built or cached there
    assert node.status()["node_ready"]


@pytest.fixture
def lease_holder() -> Iterator[int]:
    """Another process holding the session lease (a shared lock), as a second pytest session does."""
    code = (
        "import fcntl, sys\n"
        f"users = open({str(lease.path(settings.layout()))!r}, 'a')\n"
        "fcntl.flock(users, fcntl.LOCK_SH)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder.pid
        assert holder.stdin is not None
        holder.stdin.close()


def _never_build_or_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's ``up`` must not build, start or stop anything: each of those fails it instead."""

    def forbidden(*_: object) -> None:
        raise AssertionError("up went on to build, start or stop a cluster")

    for step in ("_ensure_build", "_start", "_stop", "_remove_state"):
        monkeypatch.setattr(node, step, forbidden)


@own_cluster_only
def test_up_refuses_to_replace_a_cluster_that_another_session_holds(
    cluster_kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lease_holder: int
) -> None:
    """An ``up`` (here in this process) from another build cache whose checkout would build
    something else: the running cluster is in use, so it refuses, naming the lease's holders."""
    layout = settings.layout()
    before = _daemons(layout)
    running_cache = node._cache_of(json.loads(layout.record.read_text()))
    monkeypatch.setenv("R2K8S_CI_CACHE", str(tmp_path / "other-cache"))
    recipe = node._recipe()
    monkeypatch.setattr(node, "_recipe", lambda: {**recipe, "go_sources": "0123456789abcdef"})
    _never_build_or_stop(monkeypatch)

    with pytest.raises(SystemExit) as refused:
        node.up()

    message = str(refused.value)
    assert f"the test cluster in {layout.root} is running and in use" in message
    other_cache = tmp_path / "other-cache" / "cluster"
    assert f"started from the build cache {running_cache}; this up's is {other_cache}" in message
    assert f"go_sources: it runs {recipe['go_sources']}, this checkout needs 0123456789abcdef" in message
    assert f"Its session lease {lease.path(layout)} is held by " in message
    assert f"pid {lease_holder} ({sys.executable} -c " in message
    assert f"pid {os.getpid()} (" not in message  # up's own session (here: itself) is not another one
    assert _daemons(layout) == before


@own_cluster_only
def test_up_with_another_state_directory_refuses_beside_the_running_cluster(
    cluster_kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second state directory would mean a second cluster on the same ports and bridge (and
    stopping its failed start would take both down): ``up`` refuses and names the running one."""
    layout = settings.layout()
    before = _daemons(layout)
    monkeypatch.setenv("R2K8S_CLUSTER_DIR", str(tmp_path / "state"))
    _never_build_or_stop(monkeypatch)

    with pytest.raises(SystemExit) as refused:
        node.up()

    message = str(refused.value)
    assert f"another test cluster is running, from the state directory {layout.root}" in message
    assert f"its kube-apiserver is pid {before['kube-apiserver'].pid}" in message
    assert f"this up's state directory is {tmp_path / 'state'}" in message
    assert not (tmp_path / "state").exists()
    assert _daemons(layout) == before


@pytest.mark.cluster_down
@pytest.mark.skipif(
    external_kubeconfig() is not None, reason="takes down only this suite's own cluster, not $R2K8S_E2E_KUBECONFIG's"
)
def test_the_node_address_keeps_its_mac_while_pods_veths_come_and_go(cluster_kubeconfig: Path) -> None:
    """Pods cache the node address's MAC (their gateway); a bridge that took the lowest MAC among its ports
    changed it whenever a veth with a lower one came or went, and pod-to-node traffic stalled until each
    pod's neighbour entry expired. A port with the lowest possible MAC must not move it."""
    before = _mac(settings.BRIDGE)
    assert before == settings.BRIDGE_MAC
    port, peer = f"r2k8s-t{os.getpid() % 10000}", f"r2k8s-u{os.getpid() % 10000}"
    subprocess.run(["ip", "link", "add", port, "type", "veth", "peer", "name", peer], check=True)
    try:
        subprocess.run(["ip", "link", "set", port, "address", "00:00:00:00:00:01"], check=True)
        subprocess.run(["ip", "link", "set", port, "master", settings.BRIDGE, "up"], check=True)
        assert _mac(settings.BRIDGE) == before
    finally:
        subprocess.run(["ip", "link", "del", port], check=True)
    assert _mac(settings.BRIDGE) == before


def _mac(interface: str) -> str:
    shown = subprocess.run(["ip", "-j", "link", "show", "dev", interface], check=True, capture_output=True, text=True)
    return str(json.loads(shown.stdout)[0]["address"])


def test_down_leaves_no_process_mount_interface_or_cgroup_and_up_comes_back(
    core: Any, pytestconfig: pytest.Config
) -> None:
    """Runs last (marker ``cluster_down``): it takes the cluster down, checks, and starts it again.

    The new cluster has new certificates, so no client made before it works afterwards. Skipped
    while another pytest session on this machine uses the cluster."""
    if not only_user(pytestconfig):
        pytest.skip("another pytest session is using the test cluster; taking it down would break its tests")
    try:
        _down_and_up_again(core)
    finally:
        shared_again(pytestconfig)


def _down_and_up_again(core: Any) -> None:
    namespace = "default"
    core.create_namespaced_pod(namespace, _pod("running", ["sleep", "600"]))
    _wait_phase(core, "running", namespace, {"Running"})
    layout = settings.layout()
    before = _cluster_processes(layout)
    assert {"etcd", "containerd", "kube", "containerd-shim-runc-v2", "pause", "sleep"} <= set(before.values()), before
    veths = network.bridge_ports()
    assert veths, "the pod has no veth on the bridge"
    assert mounts.mounts_below(layout.root)
    leftovers = node.host_leftovers()
    assert node.DEVICE_PLUGINS / "kubelet.sock" in leftovers
    assert any(path.parent == node.CNI_RESULTS for path in leftovers), leftovers

    node.down()

    assert not layout.root.exists()
    assert _cluster_processes(layout) == {}
    assert [p for p in before if processes.process_alive(p)] == []
    assert mounts.mounts_below(layout.root) == []
    assert not {settings.BRIDGE, *veths} & network.interfaces()
    assert cgroups.subtrees() == []
    assert node.host_leftovers() == []
    logs = Path("/var/log/containers")
    assert not [link for link in (logs.iterdir() if logs.is_dir() else []) if str(layout.root) in os.readlink(link)]

    started = time.monotonic()
    node.up()
    assert time.monotonic() - started < 120
    assert node.status()["node_ready"]


#: Programs the cluster runs outside pods (pods' processes are found by their cgroup).
CLUSTER_PROGRAMS = {"etcd", "containerd", "containerd-shim-runc-v2", "runc", "kube", "pause"}


def _cluster_processes(layout: settings.StateLayout) -> dict[int, str]:
    """pid -> program name of every process of the cluster: by its pid files, its cgroup, or
    (containerd's shims) a cluster program whose command line names the state directory."""
    found = {d.pid: Path(d.executable).name for d in processes.recorded(layout) if d.alive()}
    found.update({pid: _program(pid) for pid in cgroups.member_pids()})
    for pid in processes.all_pids():
        program = _program(pid)
        if program in CLUSTER_PROGRAMS and any(str(layout.root) in part for part in processes.cmdline(pid)):
            found[pid] = program
    return {pid: name for pid, name in found.items() if name}


def _program(pid: int) -> str:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""
