"""Bring the one-node cluster up (or reuse it) and take it down again.

``up`` is idempotent: a healthy cluster started from the same build and images is reused as it
is; anything else (a stopped, half-started or outdated cluster) is taken down and started afresh.
A healthy cluster started from another build cache (``$R2K8S_CI_CACHE``) is reused without
building anything when it runs what this checkout would build (the same recipe: Kubernetes
version, Go sources and link flags, Python image). A healthy cluster that is not what ``up``
would run is replaced only when no other session holds its lease (``lease``); while one does,
``up`` refuses and names the holders. ``up`` also refuses to start a cluster while another state
directory's cluster runs (they would share ports, the bridge and the cgroups).
``down`` leaves no process, mount, network interface or cgroup of the cluster behind, and removes
its state directory; the build cache stays.

Start order: etcd, the API server and containerd start together (the images are imported while
the API server comes up), then the controller-manager, the scheduler and finally the kubelet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import api, build, cgroups, configs, images, lease, mounts, network, pki, processes, settings
from .progress import say
from .settings import PORTS, StateLayout

#: Daemon names in start order; ``down`` stops them in reverse.
DAEMONS = ("etcd", "containerd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
#: Programs from Debian packages the cluster runs, and the package that has each.
REQUIRED_COMMANDS = {
    "etcd": "etcd-server",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "mmdebstrap": "mmdebstrap",
    "openssl": "openssl",
    "ip": "iproute2",
}
REQUIRED_CNI_PLUGINS = ("bridge", "host-local", "loopback")


def up() -> Path:
    """Start the cluster, or reuse a healthy one; return the admin kubeconfig's path."""
    layout = settings.layout()
    if os.geteuid() != 0:
        raise SystemExit("the test cluster runs as root (it mounts, makes a bridge and runs containers)")
    with _locked(layout):
        running = _running(layout)
        if running is None:
            _refuse_beside_another_cluster(layout)
        elif not _same_cache(running):
            # Decided before any build step: another cache may hold nothing yet (a cold build
            # takes 20 minutes), and the running cluster does not need it.
            differences = _recipe_differences(running)
            if not differences:
                say(
                    f"reusing the running cluster, built in {_cache_of(running)} "
                    f"(this up's build cache {settings.cache_dir()} is not used)"
                )
                return layout.admin_kubeconfig
            _refuse_if_in_use(layout, running, differences)
        _check_prerequisites()
        binaries, archives = _ensure_build()
        expected = _record(binaries, archives)
        if running is not None:
            differences = _build_differences(running, expected)
            if not differences:
                say("reusing the running cluster")
                if running.get("recipe") != expected["recipe"]:
                    # Recorded by an older up: add the recipe, so other caches can tell it too.
                    _write_record(layout, {**running, "recipe": expected["recipe"]})
                return layout.admin_kubeconfig
            _refuse_if_in_use(layout, running, differences)
        if layout.root.exists():
            say("taking down what is left of an earlier cluster")
            _stop(layout, binaries.directory)
            _remove_state(layout)
        try:
            _start(layout, binaries, archives)
        except BaseException:
            say(f"start failed; stopping what did start (logs stay in {layout.logs})")
            _stop(layout, binaries.directory)
            raise
        _write_record(layout, expected)
        say("cluster ready")
        return layout.admin_kubeconfig


def prepare() -> None:
    """Make everything ``up`` needs that is slow to make (Go, the build, the images), without starting anything."""
    if os.geteuid() != 0:
        raise SystemExit("the test cluster's images are made as root (mmdebstrap --mode=root)")
    build.ensure_go()
    missing = missing_prerequisites()
    if missing:
        raise SystemExit(f"the test cluster needs {'; '.join(missing)}")
    _ensure_build()


def down() -> None:
    """Stop every part of the cluster and remove its state directory."""
    layout = settings.layout()
    with _locked(layout):
        binaries_directory = _recorded_binaries_directory(layout)
        _stop(layout, binaries_directory)
        _remove_state(layout)


def status() -> dict:
    """What ``up`` would find: per daemon whether it runs, and whether the API and node are ready."""
    layout = settings.layout()
    daemons = {d.name: d.alive() for d in processes.recorded(layout)}
    return {
        "state_dir": str(layout.root),
        "daemons": daemons,
        "api_ready": bool(daemons) and api.ready(layout),
        "node_ready": bool(daemons) and api.node_ready(layout),
    }


def _ensure_build() -> tuple[build.Binaries, list[images.ImageArchive]]:
    """The cached build and image archives; on a cold cache the Python image is made while Go builds."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        python_image = pool.submit(images.ensure_python_archive)
        binaries = build.ensure_binaries()
        pause_image = images.ensure_pause_archive(binaries)
        return binaries, [pause_image, python_image.result()]


def _record(binaries: build.Binaries, archives: list[images.ImageArchive]) -> dict:
    """What a cluster runs (``cluster.json``): the build (whose directory names the cache it is in),
    the images' digests, and the recipe they were made from."""
    return {
        "kubernetes": settings.KUBERNETES_VERSION,
        # Resolved: the cache may be reached through a symlink, and /proc/PID/exe never is.
        "binaries": str(binaries.directory.resolve()),
        "images": {archive.name: archive.digest for archive in archives},
        "recipe": _recipe(),
    }


def _recipe() -> dict[str, str]:
    """What this checkout would run, computed without building anything."""
    return {
        "kubernetes": settings.KUBERNETES_VERSION,
        "go_sources": build.recipe_digest(),
        "python_image": images.python_archive_name(),
    }


def _write_record(layout: StateLayout, record: dict) -> None:
    layout.record.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def _running(layout: StateLayout) -> dict | None:
    """The record of the cluster running in ``layout``, if every daemon runs and the node is Ready."""
    try:
        record = json.loads(layout.record.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("binaries"), str):
        return None
    running = {d.name for d in processes.recorded(layout) if d.alive()}
    if running == set(DAEMONS) and api.ready(layout) and api.node_ready(layout):
        return record
    return None


def _cache_of(record: dict) -> Path:
    """The build cache a cluster was started from: its binaries are in ``<cache>/bin/<key>``."""
    return Path(record["binaries"]).parents[1]


def _same_cache(record: dict) -> bool:
    return _cache_of(record).resolve() == settings.cache_dir().resolve()


def _build_differences(running: dict, expected: dict) -> list[str]:
    """How the running cluster differs from the build and images in this cache (empty: not at all)."""
    differences = []
    if running.get("kubernetes") != expected["kubernetes"]:
        differences.append(f"it runs Kubernetes {running.get('kubernetes')}, this checkout {expected['kubernetes']}")
    ours, theirs = Path(expected["binaries"]).name, Path(running["binaries"]).name
    if theirs != ours:
        differences.append(f"it runs the build {theirs}, this checkout's is {ours}")
    if running.get("images") != expected["images"]:
        differences.append(f"it runs the images {running.get('images')}, this cache has {expected['images']}")
    return differences


def _recipe_differences(running: dict) -> list[str]:
    """How the running cluster's recipe differs from this checkout's (empty: not at all)."""
    theirs = running.get("recipe")
    if not isinstance(theirs, dict):
        return ["its record has no recipe to compare (an older up started it)"]
    return [
        f"{name}: it runs {theirs.get(name)}, this checkout needs {ours}"
        for name, ours in _recipe().items()
        if theirs.get(name) != ours
    ]


def _refuse_if_in_use(layout: StateLayout, running: dict, differences: list[str]) -> None:
    """Return when the running cluster may be replaced (no other session holds its lease); else
    exit, saying who holds it."""
    holders = lease.holders(layout)
    if not holders:
        say(f"replacing the running cluster, which no session uses ({'; '.join(differences)})")
        return
    raise SystemExit(
        f"up: the test cluster in {layout.root} is running and in use, and it is not what this up would run, "
        f"so it is left alone.\n"
        f"  It was started from the build cache {_cache_of(running)}; this up's is {settings.cache_dir()} "
        f"(under $R2K8S_CI_CACHE).\n"
        f"  It differs: {'; '.join(differences)}.\n"
        f"  Its session lease {lease.path(layout)} is held by {', '.join(map(str, holders))}.\n"
        "  Run up again once they have finished, or with the build cache the cluster was started from; "
        "tests/support/testcluster/down takes it down (breaking those sessions)."
    )


def _refuse_beside_another_cluster(layout: StateLayout) -> None:
    """Exit when a cluster of another state directory runs: a second one would fight it for the
    ports, the bridge and the cgroups, and stopping a failed start would take both down."""
    for pid, state in _other_clusters(layout):
        other = StateLayout(state)
        holders = lease.holders(other)
        held = f"held by {', '.join(map(str, holders))}" if holders else "held by no session"
        raise SystemExit(
            f"up: another test cluster is running, from the state directory {state} (its kube-apiserver is "
            f"pid {pid}); this up's state directory is {layout.root} ($R2K8S_CLUSTER_DIR). Only one runs at "
            f"a time (fixed ports, the bridge {settings.BRIDGE}). Its session lease {lease.path(other)} is {held}.\n"
            f"  Use R2K8S_CLUSTER_DIR={state}, or take it down first: "
            f"R2K8S_CLUSTER_DIR={state} tests/support/testcluster/down"
        )


def _other_clusters(layout: StateLayout) -> list[tuple[int, Path]]:
    """(pid, state directory) of each running kube-apiserver of a test cluster not in ``layout``."""
    found = []
    for pid in processes.all_pids():
        argv = processes.cmdline(pid)
        if not argv or Path(argv[0]).name != "kube-apiserver" or f"--secure-port={PORTS.apiserver}" not in argv:
            continue
        for argument in argv:
            if argument.startswith("--tls-cert-file="):
                state = Path(argument.partition("=")[2]).parent.parent  # <state>/pki/apiserver.crt
                if state != layout.root and processes.process_alive(pid):
                    found.append((pid, state))
    return found


def _start(layout: StateLayout, binaries: build.Binaries, archives: list[images.ImageArchive]) -> None:
    for directory in (layout.root, layout.logs, layout.pids, layout.config):
        directory.mkdir(parents=True, exist_ok=True)
    layout.root.chmod(0o755)
    say(f"writing certificates and configuration into {layout.root}")
    pki.write_pki(layout.pki)
    server = f"https://127.0.0.1:{PORTS.apiserver}"
    pki.write_kubeconfig(layout.admin_kubeconfig, layout.pki, pki.ADMIN, server)
    for identity in (pki.CONTROLLER_MANAGER, pki.SCHEDULER, pki.KUBELET):
        pki.write_kubeconfig(layout.kubeconfig(identity.stem), layout.pki, identity, server)
    containerd_config = configs.write_containerd_config(layout)
    configs.write_cni_config(layout)
    kubelet_config = configs.write_kubelet_config(layout)
    network.ensure_bridge()
    cgroups.ensure_root()

    say("starting etcd, kube-apiserver and containerd")
    etcd = processes.start(layout, "etcd", _etcd_command(layout))
    apiserver = processes.start(layout, "kube-apiserver", _apiserver_command(layout, binaries))
    containerd = processes.start(layout, "containerd", ["containerd", "--config", containerd_config])
    processes.wait_until(lambda: layout.containerd_socket.is_socket(), "containerd's socket", 30, containerd, layout)
    for archive in archives:
        say(f"importing {archive.name} into containerd")
        images.import_archive(layout.containerd_socket, archive)
    processes.wait_until(lambda: api.get(layout, "/livez")[0] != 0 or not etcd.alive(), "etcd", 60, etcd, layout)
    processes.wait_until(lambda: api.ready(layout), "the API server to be ready", 120, apiserver, layout)

    say("starting kube-controller-manager, kube-scheduler and the kubelet")
    controller_manager = processes.start(
        layout, "kube-controller-manager", _controller_manager_command(layout, binaries)
    )
    scheduler = processes.start(layout, "kube-scheduler", _scheduler_command(layout, binaries))
    kubelet = processes.start(layout, "kubelet", _kubelet_command(layout, binaries, kubelet_config))
    processes.wait_until(lambda: api.node_ready(layout), "the node to be Ready", 120, kubelet, layout)
    for daemon in (controller_manager, scheduler):
        if not daemon.alive():
            raise processes.DaemonFailed(
                f"{daemon.name} exited; the end of its log:\n{processes.log_tail(layout, daemon.name)}"
            )
    processes.wait_until(
        lambda: api.default_service_account_exists(layout),
        "the default service account",
        60,
        controller_manager,
        layout,
    )


def _etcd_command(layout: StateLayout) -> list[object]:
    client, peer = f"http://127.0.0.1:{PORTS.etcd_client}", f"http://127.0.0.1:{PORTS.etcd_peer}"
    return [
        "etcd", "--name", "r2k8s", "--data-dir", layout.etcd_data,
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"r2k8s={peer}", "--initial-cluster-state", "new",
        "--logger", "zap", "--log-outputs", "stderr",
    ]  # fmt: skip


def _apiserver_command(layout: StateLayout, binaries: build.Binaries) -> list[object]:
    pki_dir = layout.pki
    return [
        binaries.command("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{PORTS.etcd_client}",
        "--bind-address=127.0.0.1",
        f"--secure-port={PORTS.apiserver}",
        f"--advertise-address={settings.NODE_IP}",
        f"--service-cluster-ip-range={settings.SERVICE_SUBNET}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
        f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--client-ca-file={pki_dir / 'ca.crt'}",
        f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki_dir / 'service-account.pub'}",
        f"--service-account-signing-key-file={pki_dir / 'service-account.key'}",
        "--authorization-mode=Node,RBAC",
        # PodSecurity is on by default; naming it keeps it on if the defaults change.
        "--enable-admission-plugins=NodeRestriction,PodSecurity",
        # Privileged pods are allowed cluster-wide, so that only Pod Security refuses them.
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _controller_manager_command(layout: StateLayout, binaries: build.Binaries) -> list[object]:
    kubeconfig = layout.kubeconfig(pki.CONTROLLER_MANAGER.stem)
    return [
        binaries.command("kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={PORTS.controller_manager}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={layout.pki / 'service-account.key'}",
        f"--root-ca-file={layout.pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={layout.pki / 'ca.crt'}",
        f"--cluster-signing-key-file={layout.pki / 'ca.key'}",
        "--profiling=false",
    ]


def _scheduler_command(layout: StateLayout, binaries: build.Binaries) -> list[object]:
    kubeconfig = layout.kubeconfig(pki.SCHEDULER.stem)
    return [
        binaries.command("kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={PORTS.scheduler}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def _kubelet_command(layout: StateLayout, binaries: build.Binaries, config: Path) -> list[object]:
    return [
        binaries.command("kubelet"),
        f"--config={config}",
        f"--kubeconfig={layout.kubeconfig(pki.KUBELET.stem)}",
        f"--hostname-override={settings.NODE_NAME}",
        f"--node-ip={settings.NODE_IP}",
        f"--root-dir={layout.kubelet_root}",
        "--v=2",
    ]


def _stop(layout: StateLayout, binaries_directory: Path | None) -> None:
    """Stop everything the cluster runs or holds, in an order that leaves nothing behind.

    The kubelet goes first so that it restarts nothing; then the pods' processes are killed
    (found by cgroup, so none is missed), containerd and its shims stop, and the control plane
    after them. Then the mounts below the state directory, the bridge and veths, and the cgroups.
    """
    recorded = {d.name: d for d in processes.recorded(layout)}
    if "kubelet" in recorded:
        processes.stop(recorded["kubelet"])
    processes.terminate(sorted(cgroups.member_pids()), timeout=0)
    for name in ("containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
        if name in recorded:
            processes.stop(recorded[name])
    strays = _stray_processes(layout, binaries_directory)
    if strays:
        processes.terminate(strays, timeout=5)
    mounts.unmount_below(layout.root)
    network.remove_bridge()
    processes.terminate(sorted(cgroups.member_pids()), timeout=0)
    cgroups.remove_subtrees()
    _remove_container_log_links(layout)
    _remove_host_files()


def _stray_processes(layout: StateLayout, binaries_directory: Path | None) -> list[int]:
    """Processes of this cluster that no pid file names: containerd's shims (which outlive
    containerd by design) and anything whose pid file was lost. A process is this cluster's when
    it runs our Kubernetes binary, or names our state directory on its command line and runs one
    of the cluster's programs."""
    programs = {"etcd", "containerd", "containerd-shim-runc-v2", "runc", "pause", "kube"}
    marker = str(layout.root)
    if binaries_directory is not None:
        binaries_directory = binaries_directory.resolve()  # as /proc/PID/exe shows it
    strays = []
    for pid in processes.all_pids():
        if pid == os.getpid():
            continue
        try:
            executable = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        except OSError:
            continue
        if (binaries_directory is not None and Path(executable).parent == binaries_directory) or (
            Path(executable).name in programs and any(marker in part for part in processes.cmdline(pid))
        ):
            strays.append(pid)
    return strays


def _remove_container_log_links(layout: StateLayout) -> None:
    """The kubelet links each container's log into /var/log/containers; remove the links to ours."""
    directory = Path("/var/log/containers")
    if not directory.is_dir():
        return
    prefix = str(layout.root) + "/"
    for link in directory.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(prefix):
            link.unlink()


#: What the kubelet, containerd and the CNI library write outside the state directory, at paths
#: built into them: the device plugin socket, containerd's shim sockets and CNI's result cache.
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
SHIM_SOCKETS = Path("/run/containerd/s")
CNI_RESULTS = Path("/var/lib/cni/results")


def host_leftovers() -> list[Path]:
    """Files of a cluster outside its state directory that ``down`` removes; empty after ``down``."""
    found = [
        path
        for path in (DEVICE_PLUGINS / "kubelet.sock", DEVICE_PLUGINS / "kubelet_internal_checkpoint")
        if path.exists()
    ]
    listening = _listening_unix_sockets()
    if SHIM_SOCKETS.is_dir():
        # A shim that is gone leaves its socket; a live one (of any containerd) is listening on it.
        found += [path for path in SHIM_SOCKETS.iterdir() if path.is_socket() and str(path) not in listening]
    if CNI_RESULTS.is_dir():
        ours = [path for path in CNI_RESULTS.iterdir() if path.name.startswith(f"{configs.NETWORK_NAME}-")]
        found += ours
        # containerd adds a loopback network to every pod; its cache entry names the same sandbox.
        for path in ours:
            sandbox = path.name.removeprefix(f"{configs.NETWORK_NAME}-").rsplit("-", 1)[0]
            loopback = CNI_RESULTS / f"cni-loopback-{sandbox}-lo"
            if loopback.exists():
                found.append(loopback)
    return found


def _remove_host_files() -> None:
    for path in host_leftovers():
        path.unlink(missing_ok=True)
    # The directories too, when nothing else is in them (rmdir refuses otherwise).
    for directory in (
        DEVICE_PLUGINS,
        DEVICE_PLUGINS.parent,
        SHIM_SOCKETS,
        SHIM_SOCKETS.parent,
        CNI_RESULTS,
        CNI_RESULTS.parent,
    ):
        with contextlib.suppress(OSError):
            directory.rmdir()


def _listening_unix_sockets() -> set[str]:
    """Paths of the bound unix sockets of every process (``/proc/net/unix``)."""
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7].startswith("/"):
            paths.add(fields[7])
    return paths


def _remove_state(layout: StateLayout) -> None:
    if layout.root.exists():
        shutil.rmtree(layout.root)


def _recorded_binaries_directory(layout: StateLayout) -> Path | None:
    try:
        return Path(json.loads(layout.record.read_text())["binaries"])
    except (OSError, ValueError, KeyError):
        kube = processes.find(layout, "kube-apiserver")
        return Path(kube.executable).parent if kube else None


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the cluster (root aside), as instructions; empty when nothing."""
    packages = sorted({package for command, package in REQUIRED_COMMANDS.items() if shutil.which(command) is None})
    if not all((configs.CNI_PLUGINS / plugin).exists() for plugin in REQUIRED_CNI_PLUGINS):
        packages.append("containernetworking-plugins")
    missing = [f"the Debian packages {' '.join(packages)} (apt-get install)"] if packages else []
    if build.find_go() is None:
        missing.append(f"Go {'.'.join(map(str, build.MINIMUM_GO))} or newer to build Kubernetes")
    return missing


def _check_prerequisites() -> None:
    missing = missing_prerequisites()
    if missing:
        raise SystemExit(f"the test cluster needs {'; '.join(missing)} (.ci/install-cluster installs them)")


@contextlib.contextmanager
def _locked(layout: StateLayout) -> Iterator[None]:
    """One ``up`` or ``down`` at a time per state directory (say, two pytest sessions at once)."""
    lock_path = layout.root.with_name(layout.root.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started > 1:
                    say(f"waiting for another up or down to finish ({lock_path})")
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    break
                time.sleep(0.1)
        yield
