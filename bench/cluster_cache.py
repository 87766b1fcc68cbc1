#!/usr/bin/env python3
"""``r2k8s run`` on a cluster with and without a ware cache shared by build pods (``--cache-volume``).

    sudo python bench/cluster_cache.py --kubeconfig FILE [--mib N] [--runs N] [--image IMAGE] [--host-ip IP]

A formula whose inputs are a busybox root filesystem and a ware of N MiB of
random data (default 64), both fetched by the build pod from an HTTP
warehouse on this machine (``--host-ip``: the address pods reach it at;
the test cluster's host is 10.217.0.1), and whose action only lists the
data. Rows, each the wall time of whole ``r2k8s run`` processes (Job,
pod, fetch, verify, run, clean-up):

* baseline ``no cache volume``: every run fetches everything into its pod's
  ``emptyDir`` (median of ``--runs``);
* ``cache volume, cold``: the first run on an empty PersistentVolumeClaim
  (a static ``hostPath`` PersistentVolume under ``/var/tmp``, as the tests
  make it: the test cluster has no provisioner);
* ``cache volume, warm``: later runs on the same claim, which fetch nothing
  (median of ``--runs``).

Ratios are over the baseline, measured in the same process. Each row gives
the bytes the warehouse served and the machine's busy CPUs during it (the
cluster runs on this machine, so that includes its own work; the load
before the first run is printed as the noise floor). Needs root (the volume
directory) and a running cluster; the namespace, claim and volume it makes
are removed afterwards. Exit status 0: it is a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "plugin"
sys.path.insert(0, str(PLUGIN_DIR))

from machine_load import busy_cpu_seconds  # noqa: E402 - bench/ is on sys.path when run as a script
from run_local import busybox_rootfs  # noqa: E402 - the same rootfs as the local-run benchmark


def ware_of(tarball: Path) -> str:
    from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
    from r2k8s.core.ware.ingest import ingest_tar

    with tarball.open("rb") as f:
        return str(ingest_tar(f, UNPACK_CONSERVATIVE).prefilter_id)


def data_tarball(path: Path, mib: int) -> None:
    import tarfile

    with tempfile.TemporaryDirectory() as scratch:
        blob = Path(scratch) / "blob"
        blob.write_bytes(os.urandom(mib << 20))
        with tarfile.open(path, "w") as tar:
            tar.add(blob, "blob")


def serve_ca(served: Path, tarballs: list[Path], ip: str) -> tuple[Any, str, list[int]]:
    """A CA warehouse over HTTP on ``ip``; the byte counter grows as bodies go out."""
    import http.server

    for tarball in tarballs:
        h = ware_of(tarball).split(":", 1)[1]
        target = served / h[:3] / h[3:6] / h
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tarball, target)
    sent = [0]

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(served), **kw)

        def copyfile(self, source: Any, outputfile: Any) -> None:
            while chunk := source.read(1 << 20):
                outputfile.write(chunk)
                sent[0] += len(chunk)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((ip, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"ca+http://{ip}:{server.server_address[1]}/", sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), required=not os.environ.get("KUBECONFIG"))
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--image", default="localhost/r2k8s/python:3-debian")
    parser.add_argument("--host-ip", default="10.217.0.1")
    args = parser.parse_args()
    from kubernetes import client, config

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    api = config.new_client_from_config(config_file=args.kubeconfig)
    core = client.CoreV1Api(api)
    suffix = secrets.token_hex(3)
    namespace, volume, claim = f"r2k8s-bench-{suffix}", f"r2k8s-bench-{suffix}", "wares"
    directory = Path("/var/tmp") / volume
    with tempfile.TemporaryDirectory(prefix="r2k8s-bench-") as scratch:
        work = Path(scratch)
        busybox_rootfs(work / "rootfs.tgz")
        data_tarball(work / "data.tar", args.mib)
        server, warehouse, sent = serve_ca(work / "served", [work / "rootfs.tgz", work / "data.tar"], args.host_ip)
        formula = work / "job.formula"
        inputs = {"/": ware_of(work / "rootfs.tgz"), "/data": ware_of(work / "data.tar")}
        document = {
            "formula": {"inputs": inputs, "action": {"exec": ["/bin/ls", "-l", "/data"]}},
            "context": {"fetchUrls": {path: [warehouse] for path in inputs}},
        }
        formula.write_text(json.dumps(document))
        core.create_namespace(
            {"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
        )
        directory.mkdir()
        core.create_persistent_volume(
            {
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "hostPath": {"path": str(directory), "type": "Directory"},
                    "claimRef": {"namespace": namespace, "name": claim},
                },
            }
        )
        core.create_namespaced_persistent_volume_claim(
            namespace,
            {
                "metadata": {"name": claim},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "10Gi"}},
                },
            },
        )
        env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
        argv = [sys.executable, "-m", "r2k8s", "run", "--kubeconfig", args.kubeconfig, "-n", namespace]
        argv += ["--image", args.image]

        def timed(*extra: str) -> tuple[float, int, float]:
            before_bytes, before_busy = sent[0], busy_cpu_seconds()
            started = time.perf_counter()
            done = subprocess.run([*argv, *extra, str(formula)], capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"r2k8s run failed ({done.returncode}):\n{done.stderr[-3000:]}")
            return seconds, sent[0] - before_bytes, (busy_cpu_seconds() - before_busy) / seconds

        try:
            idle_busy = busy_cpu_seconds()
            time.sleep(2.0)
            floor = (busy_cpu_seconds() - idle_busy) / 2.0
            timed()  # warm-up: the agent ConfigMap, the image, the node's page cache
            baseline = [timed() for _ in range(args.runs)]
            cold = timed("--cache-volume", f"pvc:{claim}")
            warm = [timed("--cache-volume", f"pvc:{claim}") for _ in range(args.runs)]
        finally:
            server.shutdown()
            core.delete_namespace(namespace)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # the claim goes with the namespace; then the volume may go
                if not core.list_namespaced_persistent_volume_claim(namespace).items:
                    break
                time.sleep(1)
            core.delete_persistent_volume(volume)
            shutil.rmtree(directory, ignore_errors=True)
    base = statistics.median(s for s, _, _ in baseline)
    print(f"r2k8s {commit.stdout.strip()}; inputs: busybox rootfs + {args.mib} MiB; median of {args.runs} runs")
    print(f"machine busy before the runs (other engineers, the idle cluster): {floor:.2f} CPUs")
    for name, samples in (("no cache volume", baseline), ("cache volume, cold", [cold]), ("cache volume, warm", warm)):
        seconds = statistics.median(s for s, _, _ in samples)
        served = statistics.median(b for _, b, _ in samples) / 2**20
        busy = max(c for _, _, c in samples)
        runs = ", ".join(f"{s:.2f}" for s, _, _ in samples)
        print(
            f"{name:20} {seconds:6.2f} s  ratio {seconds / base:4.2f}x  served {served:7.1f} MiB"
            f"  busy {busy:.2f} CPUs  runs [{runs}]"
        )


if __name__ == "__main__":
    main()
