#!/usr/bin/env python3
"""Benchmark a formula pod's start beside the image pod running the same tree, on the real test cluster.

    python bench/pod_start.py [--runs 5] [--trees busybash,debian,big] [--cache node|emptyDir]
                              [--kubeconfig FILE] [--workdir DIR] [--json FILE]

Needs root (it imports images into the node's containerd and owns the node cache's directory) and the test
cluster (``tests/support/testcluster/up`` is run, or ``--kubeconfig`` names one whose node is this machine).

Trees, each a tar ware *and* an image already on the node, so both pods run the same files:

* ``busybash`` (~4 MiB): ``../shared/fixtures/repeatr/fixtures/busybash.tgz`` (else the busybox rootfs of
  ``tests/support/busybox_rootfs.py``), a busybox ``httpd``;
* ``debian`` (~119 MiB): the rootfs of the cluster's own ``localhost/r2k8s/python:3-debian`` (the image is
  the one the cluster imported; its layer becomes the ware), ``python3`` serving HTTP;
* ``big`` (~480 MiB): that rootfs plus 360 MiB of random files under ``/srv/blob`` (synthetic), the same
  server.

Cases, each the median of ``--runs`` (interleaved per run, so load hits all alike), seconds from the pod's
creation (API call) to Ready, where Ready is the workload's own signal: after its HTTP server listens, it
fetches ``/ready/POD`` from the bench's server on the node address (the readiness probe the kubelet runs
once a second would round every figure up to its period):

* ``image``: a Pod with the tree's image (``imagePullPolicy: Never``);
* ``image restart``: its container killed (``ctr tasks kill -s SIGKILL``) to Ready again;
* ``image, a volume``: the image Pod with one emptyDir volume, for information: a formula pod needs volumes
  (the agent, the cache), and the kubelet makes every pod with a volume wait for its mounts in 0.3 s polls
  (as every pod that mounts the default service-account token does);
* ``image, a volume, an init container``: that Pod with an init container of the same image that exits at
  once, for information: the kubelet notices an init container's exit only when it next lists the
  containers (once a second), so any pod with an init container waits up to 1 s more -- the formula pod's
  shape, with no r2k8s work in it;
* ``first``: the function's expansion of the same Pod with ``image: ./TREE.formula``, the node cache empty;
* ``warm``: a new formula pod on the node whose cache holds the ware (with ``--cache emptyDir``, the
  default cache before the node cache existed, every new pod is a first start);
* ``restart``: the warm pod's main container killed, to Ready again (init containers do not run again).

The phase breakdown comes from the agent's ``r2k8s: timings`` lines (:mod:`r2k8s.core.agent.timings`):
*to fetch* (scheduling, sandbox, init container start), *fetch* (the agent's start, download, verify,
unpack into the cache, or finding it there), *hand-over* (init container exit to the serving agent's
process start), *clear* (agent start-up and deleting the agent image's files), *place* (copying the tree
onto ``/``), *start* (the action's exec to its ready signal). Ratios are over the image pod's median of
the same run (restarts over the image pod's restart).

Each pod is created after a ``sync``: right after a tree of thousands of files was placed or a node cache
emptied, the disk's pending writes held containerd's own fsyncs for seconds (a first start of the Debian tree
took 4-10 s without it), which measures the previous case, not this one.

Noise: "other load" is how many CPUs were busy on average during the runs, beyond this script's own
process (it includes the cluster's own components, which are part of what is measured, and whatever
else runs on the machine); the figures are only comparable on a calm machine.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.server
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine_load import busy_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "plugin"
SUPPORT_DIR = ROOT / "tests" / "support"
sys.path.insert(0, str(PLUGIN_DIR))
sys.path.insert(1, str(SUPPORT_DIR))

NODE_IP = "10.217.0.1"
SIGNAL_FAILED = "bench: ready signal failed, retrying"
"""What a workload writes to stderr each time its ready signal fails (it retries every 0.1 s): a failed signal
once left the workload waiting forever and the bench with it."""
CTR_SOCKET = "/var/lib/r2k8s-cluster/containerd/containerd.sock"
BUSYBASH_TGZ = ROOT.parent / "shared" / "fixtures" / "repeatr" / "fixtures" / "busybash.tgz"
NODE_CACHE_DIR = Path("/var/lib/r2k8s-bench/node-cache")
BIG_EXTRA_MIB = 360
PY_SERVER_TEMPLATE = (  # socketserver's, not http.server's HTTPServer: that one asks DNS for the host's name first
    "import http.server, os, socketserver, sys, time, urllib.request\n"
    "server = socketserver.ThreadingTCPServer(('', 8080), http.server.SimpleHTTPRequestHandler)\n"
    "while True:\n"
    "    try:\n"
    "        urllib.request.urlopen(os.environ['BENCH_READY_URL'], timeout=5).read()\n"
    "        break\n"
    "    except OSError as exc:\n"
    "        print(f'{SIGNAL_FAILED} {time.time():.3f} {exc}', file=sys.stderr, flush=True)\n"
    "        time.sleep(0.1)\n"
    "server.serve_forever()\n"
)
BUSYBOX_SERVER_TEMPLATE = (
    "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && /bin/busybox httpd -p 8080 -h /tmp/www"
    ' && until /bin/busybox wget -q -T 5 -O /dev/null "$BENCH_READY_URL"; do'
    ' echo "{SIGNAL_FAILED} $(/bin/busybox date +%s)" >&2; /bin/busybox sleep 0.1; done;'
    " exec /bin/busybox sleep 1000000"
)

PY_SERVER = PY_SERVER_TEMPLATE.replace("{SIGNAL_FAILED}", SIGNAL_FAILED)
BUSYBOX_SERVER = BUSYBOX_SERVER_TEMPLATE.replace("{SIGNAL_FAILED}", SIGNAL_FAILED)


@dataclass
class Tree:
    name: str
    layer: Path
    ware: str
    image: str
    argv: list[str]
    mib: float
    transfer: float = 0.0
    """Seconds to download the ware from the bench's warehouse (median of 3): the first start's transfer."""


@dataclass
class Sample:
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    fetches: int = 0
    retries: int = 0
    """Ready signals that failed before one arrived (:data:`SIGNAL_FAILED` lines in the workload's log)."""


@dataclass
class Ready:
    """The bench's HTTP server on the node address: the warehouse (counted) and the workloads' ready signals."""

    root: Path
    times: dict[str, float] = field(default_factory=dict)
    fetches: list[str] = field(default_factory=list)
    event: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def start(self) -> None:
        ready = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/ready/"):
                    with ready.event:
                        ready.times[self.path[len("/ready/") :]] = time.time()
                        ready.event.notify_all()
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                target = ready.root / self.path.lstrip("/")
                if not target.is_file():
                    self.send_error(404)
                    return
                ready.fetches.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(target.stat().st_size))
                self.end_headers()
                with open(target, "rb") as source:
                    shutil.copyfileobj(source, self.wfile, 1 << 20)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer((NODE_IP, 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def wait(self, name: str, timeout: float) -> float:
        deadline = time.time() + timeout
        with self.event:
            while name not in self.times:
                if not self.event.wait(max(0.0, deadline - time.time())):
                    raise TimeoutError(f"{name} never signalled ready")
            return self.times.pop(name)


def sh(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def commit() -> str:
    if os.environ.get("R2K8S_BENCH_COMMIT"):  # a checkout without git (e.g. a git archive of an older commit)
        return os.environ["R2K8S_BENCH_COMMIT"]
    head = sh("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD").stdout.strip()
    dirty = sh("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head + ("+dirty" if dirty else "")


def scan(tar: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    return sh(sys.executable, "-m", "r2k8s", "scan", "--filters", "lossless", str(tar), env=env).stdout.strip()


def import_image(layer: Path, name: str, work: Path) -> None:
    from testcluster.images import import_archive
    from testcluster.oci import write_image_archive

    archive = write_image_archive(work / f"{name.replace('/', '_').replace(':', '_')}.oci.tar", name, layer, {})
    import_archive(Path(CTR_SOCKET), archive)


def python_layer(work: Path) -> Path:
    from testcluster.images import ensure_python_archive

    archive = ensure_python_archive().path
    with tarfile.open(archive) as outer:
        index = json.loads(_member(outer, "index.json"))
        manifest_digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads(_member(outer, f"blobs/sha256/{manifest_digest}"))
        layer_digest = manifest["layers"][0]["digest"].split(":")[1]
        target = work / f"debian-{layer_digest[:16]}.tar"
        if not target.exists():
            source = outer.extractfile(f"blobs/sha256/{layer_digest}")
            assert source is not None
            with (
                tarfile.open(fileobj=source, mode="r|") as layer,
                tarfile.open(f"{target}.part", "w", format=tarfile.PAX_FORMAT) as out,
            ):
                contents: dict[str, bytes] = {}
                for member in layer:  # a tar ware holds no hardlinks: each becomes a copy of its file
                    if member.islnk():
                        data = contents[member.linkname.lstrip("./")]
                        member.type, member.linkname, member.size = tarfile.REGTYPE, "", len(data)
                        out.addfile(member, io.BytesIO(data))
                    elif member.isfile():
                        data = _read(layer, member)
                        contents[member.name.lstrip("./")] = data
                        out.addfile(member, io.BytesIO(data))
                    else:
                        out.addfile(member)
            os.rename(f"{target}.part", target)
    return target


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    assert handle is not None, member.name
    return handle.read()


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile(name)
    assert handle is not None, name
    return handle.read()


def make_trees(work: Path, names: list[str]) -> list[Tree]:
    trees = []
    for name in names:
        layer = work / f"{name}.tar"
        if name == "busybash":
            if not layer.exists():
                if BUSYBASH_TGZ.is_file():
                    data = gzip.decompress(BUSYBASH_TGZ.read_bytes())
                else:
                    from busybox_rootfs import rootfs_tgz

                    data = gzip.decompress(rootfs_tgz())
                layer.write_bytes(data)
            argv = ["/bin/sh", "-c", BUSYBOX_SERVER]
        elif name == "debian":
            layer = python_layer(work)
            argv = ["/usr/bin/python3", "-c", PY_SERVER]
        elif name == "big":
            if not layer.exists():
                rng = random.Random(17)
                with tarfile.open(f"{layer}.part", "w", format=tarfile.PAX_FORMAT) as out:
                    with tarfile.open(python_layer(work)) as base:
                        for member in base:
                            out.addfile(member, base.extractfile(member) if member.isfile() else None)
                    for directory in ("srv", "srv/blob"):
                        info = tarfile.TarInfo(f"./{directory}")
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        out.addfile(info)
                    sizes = [1 << 20] * 40 + [4 << 20] * 30 + [16 << 20] * 12  # 360 MiB in 82 files
                    for index, size in enumerate(sizes):
                        info = tarfile.TarInfo(f"./srv/blob/{index:03d}")
                        info.size, info.mode = size, 0o644
                        out.addfile(info, _Random(rng, size))
                os.rename(f"{layer}.part", layer)
            argv = ["/usr/bin/python3", "-c", PY_SERVER]
        else:
            raise SystemExit(f"unknown tree {name!r} (busybash, debian, big)")
        ware = scan(layer)
        digest = ware.split(":", 1)[1]
        stored = work / "warehouse" / digest[:3] / digest[3:6] / digest
        if not stored.exists():
            stored.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(layer, stored)
        image = f"localhost/r2k8s/bench-{name}:{hashlib.sha256(ware.encode()).hexdigest()[:12]}"
        if name == "debian":
            from testcluster.settings import PYTHON_IMAGE

            image = PYTHON_IMAGE
        else:
            import_image(layer, image, work)
        trees.append(Tree(name, layer, ware, image, argv, layer.stat().st_size / (1 << 20)))
    return trees


class _Random:
    """A file object of ``size`` random bytes (for ``tarfile.addfile``)."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng, self.left = rng, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.rng.randbytes(n)


class Cluster:
    def __init__(self, kubeconfig: str, namespace: str) -> None:
        import kubernetes

        self.client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return sh("kubectl", "--kubeconfig", self.kubeconfig, *args, input=stdin).stdout

    def create(self, pod: dict[str, Any]) -> float:
        started = time.time()
        self.core.create_namespaced_pod(self.namespace, pod)
        return started

    def pod(self, name: str) -> Any:
        return self.core.read_namespaced_pod(name, self.namespace)

    def delete(self, name: str) -> None:
        import kubernetes

        self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                self.core.read_namespaced_pod(name, self.namespace)
            except kubernetes.client.ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.2)

    def logs(self, name: str, container: str, since: float) -> str:
        """The container's log once it holds a timings line of a process started after ``since`` (the kubelet
        writes logs a moment after the container wrote them; a restarted container's are the new ones)."""
        deadline = time.time() + 3
        while True:
            try:
                text = str(self.core.read_namespaced_pod_log(name, self.namespace, container=container))
            except Exception:  # a missing log means no phase figures, never a failed bench
                text = ""
            if timings(text).get("process", 0.0) >= since - 0.5 or time.time() > deadline:
                return text
            time.sleep(0.2)

    def kill_container(self, name: str, container: str) -> float:
        deadline = time.time() + 60
        while True:  # the workload signals before the kubelet's status names its container
            statuses = self.pod(name).status.container_statuses or []
            status = next((s for s in statuses if s.name == container), None)
            if status is not None and status.container_id and status.state.running:
                break
            if time.time() > deadline:
                raise TimeoutError(f"{name}: container {container} never shown running")
            time.sleep(0.1)
        container_id = status.container_id.split("://", 1)[1]
        started = time.time()
        sh("ctr", "--address", CTR_SOCKET, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", container_id)
        return started


def transfer_time(url: str, ware: str) -> float:
    """How long the ware's bytes take to arrive from the bench's warehouse over HTTP (no hashing, no unpacking)."""
    digest = ware.split(":", 1)[1]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/{digest[:3]}/{digest[3:6]}/{digest}") as response:
            while response.read(1 << 20):
                pass
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timings(log: str) -> dict[str, float]:
    for line in reversed(log.splitlines()):
        if line.startswith("r2k8s: timings "):
            return {k: v for k, v in json.loads(line[len("r2k8s: timings ") :]).items() if isinstance(v, float)}
    return {}


def phases(applied: float, ready: float, fetch: dict[str, float], serve: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    if "process" in fetch and "fetched" in fetch:
        out["to fetch"] = fetch["process"] - applied
        out["fetch"] = fetch["fetched"] - fetch["process"]
        done = fetch["fetched"]
        if "staged" in fetch:
            out["stage"] = fetch["staged"] - fetch["fetched"]
            done = fetch["staged"]
        if "process" in serve:
            out["hand-over"] = serve["process"] - done
    if {"process", "cleared", "placed", "exec"} <= serve.keys():
        if not fetch:
            out["to serve"] = serve["process"] - applied
        out["clear"] = serve["cleared"] - serve["process"]
        out["place"] = serve["placed"] - serve["cleared"]
        out["start"] = ready - serve["exec"]
    return out


def pod_manifest(
    name: str, tree: Tree, image: str | None, ready_url: str, volume: bool = False, init: bool = False
) -> dict[str, Any]:
    """The Pod running the tree: from its image, or (``image`` None) from its formula; ``volume`` adds an emptyDir,
    ``init`` an init container of the same image that exits at once (what the kubelet's hand-over costs)."""
    container: dict[str, Any] = {
        "name": "web",
        "image": image or f"./{tree.name}.formula",
        "env": [{"name": "BENCH_READY_URL", "value": f"{ready_url}/ready/{name}"}],
        "ports": [{"containerPort": 8080}],
    }
    if image:
        container |= {"imagePullPolicy": "Never", "command": tree.argv}
    spec: dict[str, Any] = {
        "containers": [container],
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
    }
    if volume:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        container["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    if init:
        exits = [tree.argv[0], "-c", "exit 0"] if tree.argv[0].endswith("sh") else [tree.argv[0], "-c", "pass"]
        spec["initContainers"] = [{"name": "init", "image": image, "imagePullPolicy": "Never", "command": exits}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "r2k8s-bench"}},
        "spec": spec,
    }


def expand(
    tree: Tree, work: Path, warehouse: str, cache: dict[str, Any], empty: bool
) -> tuple[dict[str, Any], list[str]]:
    """The function's expansion of the tree's formula Pod, and the extra documents (the agent ConfigMap)."""
    import yaml
    from testcluster.settings import PAUSE_IMAGE, PYTHON_IMAGE

    folder = work / f"expand-{tree.name}"
    folder.mkdir(exist_ok=True)
    formula = {
        "formula": {"inputs": {"/": tree.ware}, "action": {"exec": tree.argv}},
        "context": {"fetchUrls": {"/": [warehouse]}},
    }
    (folder / f"{tree.name}.formula").write_text(json.dumps(formula))
    (folder / "pod.yaml").write_text(yaml.safe_dump(pod_manifest("NAME", tree, None, "URL")))
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {
            "agent": {"image": PYTHON_IMAGE, "imagePullPolicy": "Never"}
            | ({"emptyImage": PAUSE_IMAGE} if empty else {}),
            "cache": cache,
        },
    }
    (work / "r2k8s-config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    out = sh(
        sys.executable,
        "-m",
        "r2k8s",
        "resolve",
        "-f",
        str(folder / "pod.yaml"),
        "--config",
        str(work / "r2k8s-config.yaml"),
        cwd=folder,
        env=env,
    ).stdout
    docs = list(yaml.safe_load_all(out))
    pod = next(d for d in docs if d["kind"] == "Pod")
    return pod, [yaml.safe_dump(d) for d in docs if d["kind"] != "Pod"]


def named(template: dict[str, Any], name: str, ready_url: str) -> dict[str, Any]:
    pod = json.loads(json.dumps(template).replace("URL/ready/NAME", f"{ready_url}/ready/{name}"))
    pod["metadata"]["name"] = name
    return pod


def node_cache(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """A PVC in the bench namespace bound to a local PV on the node's NODE_CACHE_DIR: the node cache."""
    from node_cache import node_cache_manifests
    from testcluster.settings import NODE_NAME

    NODE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    pv, pvc = node_cache_manifests(namespace, NODE_CACHE_DIR, NODE_NAME, "20Gi")
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pv))
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pvc))
    return {"type": "persistentVolumeClaim", "claimName": "r2k8s-wares"}


def empty_node_cache() -> None:
    for child in NODE_CACHE_DIR.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def _retries(cluster: Cluster, name: str) -> int:
    """How many ready signals the pod's workload retried; the failures are shown as they happen."""
    log = cluster.logs(name, "web", 0)
    failed = [line for line in log.splitlines() if SIGNAL_FAILED in line or "wget:" in line]
    if failed:
        print(f"  {name}: {len(failed)} lines about failed ready signals: " + " | ".join(failed[-6:]), flush=True)
    return log.count(SIGNAL_FAILED)


def _wait(cluster: Cluster, ready: Ready, name: str, timeout: float) -> float:
    """When the pod signalled ready; on a timeout, stop the bench with what the kubelet and the containers say."""
    try:
        return ready.wait(name, timeout)
    except TimeoutError:
        detail = cluster.kubectl("describe", "pod", "-n", cluster.namespace, name)
        logs = {c: cluster.logs(name, c, 0)[-2000:] for c in ("r2k8s-fetch-web", "web")}
        raise SystemExit(f"{name} never became ready within {timeout:.0f} s:\n{detail[-3000:]}\n{logs}") from None


def measure(
    cluster: Cluster, ready: Ready, pod: dict[str, Any], restart: bool, formula: bool
) -> tuple[Sample, Sample | None]:
    name = pod["metadata"]["name"]
    fetched_before = len(ready.fetches)
    os.sync()  # the last pod's files and the emptied cache written out first: containerd's fsyncs wait for them
    applied = cluster.create(pod)
    at = _wait(cluster, ready, name, 180)
    first = Sample(at - applied, fetches=len(ready.fetches) - fetched_before)
    first.retries = _retries(cluster, name)
    if formula:
        fetch_log = cluster.logs(name, "r2k8s-fetch-web", applied)
        first.phases = phases(applied, at, timings(fetch_log), timings(cluster.logs(name, "web", applied)))
    again = None
    if restart:
        fetched_before = len(ready.fetches)
        killed = cluster.kill_container(name, "web")
        at = _wait(cluster, ready, name, 180)
        again = Sample(at - killed, fetches=len(ready.fetches) - fetched_before)
        again.retries = _retries(cluster, name)
        if formula:
            again.phases = phases(killed, at, {}, timings(cluster.logs(name, "web", killed)))
    cluster.delete(name)
    return first, again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trees", default="busybash,debian,big")
    parser.add_argument("--cache", choices=("node", "emptyDir"), default="node")
    parser.add_argument(
        "--agent-image", action="store_true", help="formula containers start from the agent image (emptyImage: null)"
    )
    parser.add_argument("--kubeconfig")
    parser.add_argument("--workdir", default="/var/tmp/r2k8s-bench-podstart")
    parser.add_argument("--json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(8))  # clean up (namespace, volume) when stopped
    if os.geteuid() != 0:
        raise SystemExit("pod_start.py needs root: it imports images into the node's containerd")
    kubeconfig = args.kubeconfig or sh(str(SUPPORT_DIR / "testcluster" / "up")).stdout.strip().splitlines()[-1]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    measured = commit()
    print(f"pod_start: commit {measured}, {args.runs} runs, cache {args.cache}", flush=True)
    trees = make_trees(work, args.trees.split(","))
    ready = Ready(work / "warehouse")
    ready.start()
    url = f"http://{NODE_IP}:{ready.port}"
    for tree in trees:
        tree.transfer = transfer_time(url, tree.ware)
    ready.fetches.clear()
    namespace = f"r2k8s-bench-podstart-{os.getpid()}"
    cluster = Cluster(kubeconfig, namespace)
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline")
    results: dict[str, dict[str, list[Sample]]] = {}
    busy_before, own_before, wall_before = busy_cpu_seconds(), time.process_time(), time.time()
    try:
        cache = node_cache(cluster, namespace) if args.cache == "node" else {"type": "emptyDir"}
        for tree in trees:
            template, extra = expand(tree, work, f"ca+{url}/", cache, not args.agent_image)
            for doc in extra:
                cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=doc)
            cases: dict[str, list[Sample]] = {k: [] for k in CASES}
            for run in range(args.runs):
                image, image_again = measure(
                    cluster, ready, pod_manifest(f"img-{tree.name}-{run}", tree, tree.image, url), True, False
                )
                cases["image"].append(image)
                assert image_again is not None
                cases["image restart"].append(image_again)
                volume_pod = pod_manifest(f"imgvol-{tree.name}-{run}", tree, tree.image, url, volume=True)
                cases["image, a volume"].append(measure(cluster, ready, volume_pod, False, False)[0])
                init_pod = pod_manifest(f"imginit-{tree.name}-{run}", tree, tree.image, url, volume=True, init=True)
                cases["image, a volume, an init container"].append(measure(cluster, ready, init_pod, False, False)[0])
                if args.cache == "node":
                    empty_node_cache()
                first, _ = measure(cluster, ready, named(template, f"first-{tree.name}-{run}", url), False, True)
                cases["first"].append(first)
                warm, again = measure(cluster, ready, named(template, f"warm-{tree.name}-{run}", url), True, True)
                cases["warm"].append(warm)
                assert again is not None
                cases["restart"].append(again)
                print(
                    f"  {tree.name} run {run + 1}: image {image.seconds:.2f} (restart {image_again.seconds:.2f},"
                    f" with a volume {cases['image, a volume'][-1].seconds:.2f},"
                    f" and an init container {cases['image, a volume, an init container'][-1].seconds:.2f}),"
                    f" first {first.seconds:.2f}, warm {warm.seconds:.2f}, restart {again.seconds:.2f}",
                    flush=True,
                )
            results[tree.name] = cases
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        if args.cache == "node":
            cluster.kubectl("delete", "pv", f"{namespace}-wares", "--wait=false")
    wall = time.time() - wall_before
    other = (busy_cpu_seconds() - busy_before - (time.process_time() - own_before)) / wall
    report(trees, results, measured, other, args)
    return 0


CASES = ("image", "image restart", "image, a volume", "image, a volume, an init container", "first", "warm", "restart")


def median(samples: list[Sample], key: str | None = None) -> float:
    values = [s.seconds if key is None else s.phases.get(key, float("nan")) for s in samples]
    return statistics.median(values)


def report(
    trees: list[Tree], results: dict[str, dict[str, list[Sample]]], measured: str, other: float, args: Any
) -> None:
    print(f"\npod start, median of {args.runs} (seconds from pod creation to Ready; ratio to the image pod)")
    start = "agent image" if args.agent_image else "empty image"
    print(f"commit {measured}; cache {args.cache}; formula containers start from the {start};", end=" ")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}\n")
    print(
        "| tree | image pod | image pod, a volume | image pod, a volume, an init container | formula, first start"
        " | formula, restarted | formula, node cache warm |"
    )
    print("|---|---|---|---|---|---|---|")
    for tree in trees:
        cases = results[tree.name]
        image, image_restart = median(cases["image"]), median(cases["image restart"])
        with_volume, with_init = median(cases["image, a volume"]), median(cases["image, a volume, an init container"])
        first, warm, restart = median(cases["first"]), median(cases["warm"]), median(cases["restart"])
        print(
            f"| {tree.name}, {tree.mib:.0f} MiB | {image:.2f} (restart {image_restart:.2f}) | {with_volume:.2f}"
            f" | {with_init:.2f}"
            f" | {first:.2f} ({first / image:.1f}x; goal 2x + transfer = {2 * image + tree.transfer:.2f})"
            f" | {restart:.2f} ({restart / image_restart:.1f}x the image restart)"
            f" | {warm:.2f} ({warm / image:.2f}x; {warm / with_init:.2f}x the image pod of that shape) |"
        )
    print("\nphases (median seconds); fetches = warehouse requests over all runs")
    keys = ("to fetch", "fetch", "stage", "hand-over", "to serve", "clear", "place", "start")
    for tree in trees:
        for case in ("first", "warm", "restart"):
            samples = results[tree.name][case]
            shown = ", ".join(f"{k} {median(samples, k):.2f}" for k in keys if all(k in s.phases for s in samples))
            fetches = sum(s.fetches for s in samples)
            runs = " ".join(f"{s.seconds:.2f}" for s in samples)
            print(
                f"  {tree.name:<9} {case:<8} {shown or 'n/a (agent without timings)'}; fetches {fetches}; runs {runs}"
            )
    retried = {
        f"{tree.name} {case}": sum(s.retries for s in samples)
        for tree in trees
        for case, samples in results[tree.name].items()
        if any(s.retries for s in samples)
    }
    print("failed ready signals (retried): " + (", ".join(f"{k} {v}" for k, v in retried.items()) or "none"))
    print("transfer (s): " + ", ".join(f"{tree.name} {tree.transfer:.2f}" for tree in trees))
    print(f"\nother load: {other:.2f} CPUs busy on average beside this script (cluster components included)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "commit": measured,
                    "cache": args.cache,
                    "other_load": other,
                    "trees": {
                        name: {case: [s.__dict__ for s in samples] for case, samples in cases.items()}
                        for name, cases in results.items()
                    },
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    raise SystemExit(main())
