#!/usr/bin/env python3
"""How fast wares move between ``r2k8s run`` and its build agent, framing included, beside the bare channel.

    python bench/stream_wares.py [--mib N] [--runs N]                      # through a local pipe
    python bench/stream_wares.py --cluster [--kubeconfig PATH] [--image IMAGE] [--mib N] [--runs N]

Local mode: what ``r2k8s run`` does to send a client-local ware into the pod
(and an output back), minus the network: :func:`r2k8s.core.agent.transfer.send_ware`
reads the file in chunks, SHA-256s them and writes ``ware`` frames
(:mod:`r2k8s.core.agent.frames`) to a pipe; the other end -- a separate Python
process, as the agent is -- feeds them to a :class:`~r2k8s.core.agent.frames.FrameDecoder`
and a :class:`~r2k8s.core.agent.transfer.WareInbox`, which decodes, hashes and
writes the bytes to a file. Baseline ``cat | cat > file``.

Cluster mode (``--cluster``): the same frames through the real API server's
attach stream (:func:`r2k8s.cluster.attach.attach`, the websocket ``r2k8s run``
uses) into a pod on the cluster, whose receiver is the same decoder and inbox
from the agent zipapp (mounted from its ConfigMap, as in a build pod); it
discards the bytes after hashing them, so the pod's disk is not measured.
Baseline: the same number of raw bytes through the same attach stream, hashed
by the receiver with no framing -- the channel's own speed. Where the time
goes is printed too: the client's encoding, the client's writes into the
websocket, the receiver's decoding (what it reports), and the rest (API
server, kubelet, container runtime, network). The bench makes its own
namespace (``r2k8s-bench-stream-…``) and deletes it at the end.

Rows are medians of ``--runs``; the ratio is framed over the baseline. Each
run also prints the machine's other load (CPUs busy with anything else), and
the commit measured. Exit status 0: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_load import busy_cpu_seconds

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugin"
sys.path.insert(0, str(PLUGIN_DIR))

#: The receiving end, local and in the pod: rounds of ``framed\n`` + ware frames, or ``raw N\n`` + N bytes.
RECEIVER = r"""
import hashlib, json, os, sys, time
from r2k8s.core.agent.frames import FrameDecoder
from r2k8s.core.agent.transfer import WareInbox

class Null:
    def write(self, data):
        pass

out = open(sys.argv[1], "wb") if len(sys.argv) > 1 else Null()
pending = bytearray()

def more():
    chunk = os.read(0, 1 << 20)
    if not chunk:
        sys.exit(0)
    return chunk

def report(**fields):
    os.write(1, (json.dumps(fields) + "\n").encode())

while True:
    while b"\n" not in pending:
        pending += more()
    line, _, rest = bytes(pending).partition(b"\n")
    pending = bytearray(rest)
    began = time.perf_counter()
    if line.startswith(b"raw "):
        left, digest, busy = int(line[4:]), hashlib.sha256(), 0.0
        while left:
            if pending:
                data, pending = bytes(pending[:left]), pending[left:]
            else:
                data = os.read(0, min(left, 1 << 20))
                if not data:
                    sys.exit(1)
            started = time.perf_counter()
            digest.update(data)
            out.write(data)
            busy += time.perf_counter() - started
            left -= len(data)
        report(sha256=digest.hexdigest(), seconds=time.perf_counter() - began, busy=busy)
        continue
    decoder, done, busy = FrameDecoder(), None, 0.0
    inbox = WareInbox("id", "ware", lambda key, frame: out)
    data = bytes(pending)
    pending = bytearray()
    while done is None:
        started = time.perf_counter()
        for frame in decoder.feed(data):
            ended = inbox.handle(frame)
            if ended is not None:
                done = ended
        busy += time.perf_counter() - started
        if done is None:
            data = more()
    assert done.intact, "the ware did not arrive intact"
    report(sha256=done.sha256, seconds=time.perf_counter() - began, busy=busy)
"""


FRAMED = "r2k8s frames, raw chunks"
BASE64 = "r2k8s frames, base64 (before)"


def _pipe_writer(stdin: Any) -> Any:
    def write(data: bytes) -> None:
        stdin.write(data)
        stdin.flush()

    return write


def commit() -> str:
    """The commit measured (``+dirty`` when the package has uncommitted changes)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PLUGIN_DIR), *args], capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", ".")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


class Channel:
    """One end of a receiver: ``send`` bytes to it, ``result`` reads its next report line."""

    def __init__(self, send: Any, receive: Any) -> None:
        self.send_bytes, self.receive, self.pending = send, receive, b""
        self.send_seconds = 0.0

    def send(self, data: bytes) -> None:
        started = time.perf_counter()
        self.send_bytes(data)
        self.send_seconds += time.perf_counter() - started

    def result(self) -> dict[str, Any]:
        while b"\n" not in self.pending:
            data = self.receive()
            if not data:
                raise RuntimeError(f"the receiver ended without a report ({self.pending[-500:]!r})")
            self.pending += data
        line, _, self.pending = self.pending.partition(b"\n")
        return dict(json.loads(line))


def send_framed(channel: Channel, source: Path, raw: bool = True) -> dict[str, float]:
    """One ware through ``send_ware`` and the frames, as ``r2k8s run`` sends an input; times of each part.

    ``raw=False`` sends base64 chunks in the lines, as every ``r2k8s run`` did before raw chunks.
    """
    from r2k8s.core.agent import frames
    from r2k8s.core.agent.transfer import send_ware

    encoding = 0.0

    def send(kind: str, body: dict[str, Any]) -> None:
        send_raw(kind, body, None)

    def send_raw(kind: str, body: dict[str, Any], data: bytes | None) -> None:
        nonlocal encoding
        started = time.perf_counter()
        line = frames.encode(kind, body) if data is None else frames.encode_raw(kind, body, data)
        encoding += time.perf_counter() - started
        channel.send(line)

    channel.send_seconds = 0.0
    busy_before, began = busy_cpu_seconds(), time.perf_counter()
    channel.send(b"framed\n")
    with open(source, "rb") as reader:
        send_ware(send, {"id": "tar:x"}, reader, source.stat().st_size, send_raw=send_raw if raw else None)
    report = channel.result()
    seconds = time.perf_counter() - began
    with open(source, "rb") as reader:
        assert report["sha256"] == hashlib.sha256(reader.read()).hexdigest(), "the bytes did not arrive intact"
    return _parts(seconds, encoding, channel.send_seconds, report, busy_before)


def send_raw(channel: Channel, source: Path) -> dict[str, float]:
    """The same bytes with no framing: the channel's own speed."""
    data = source.read_bytes()
    channel.send_seconds = 0.0
    busy_before, began = busy_cpu_seconds(), time.perf_counter()
    channel.send(b"raw %d\n" % len(data))
    for start in range(0, len(data), 1 << 20):
        channel.send(data[start : start + (1 << 20)])
    report = channel.result()
    seconds = time.perf_counter() - began
    assert report["sha256"] == hashlib.sha256(data).hexdigest(), "the bytes did not arrive intact"
    return _parts(seconds, 0.0, channel.send_seconds, report, busy_before)


def _parts(
    seconds: float, encoding: float, sending: float, report: dict[str, Any], busy_before: float
) -> dict[str, float]:
    return {
        "seconds": seconds,
        "client encode": encoding,
        "client send": sending,
        "receiver decode": float(report["busy"]),
        "busy cpus": (busy_cpu_seconds() - busy_before) / seconds,
    }


def print_rows(title: str, mib: int, rows: dict[str, list[dict[str, float]]], baseline: str) -> None:
    print(title)
    print(f"  (other engineers' load before the run: {idle_load():.2f} CPUs busy)")
    base = statistics.median(r["seconds"] for r in rows[baseline])
    for name, samples in rows.items():
        seconds = statistics.median(s["seconds"] for s in samples)
        parts = "  ".join(
            f"{key} {statistics.median(s[key] for s in samples):.3f} s"
            for key in ("client encode", "client send", "receiver decode")
            if any(s.get(key) for s in samples)
        )
        load = statistics.mean(s["busy cpus"] for s in samples)
        print(
            f"  {name:24} {seconds:7.3f} s  {mib / seconds:8.1f} MiB/s  ratio {seconds / base:5.2f}x"
            f"  (CPUs busy, everything: {load:.2f})  {parts}"
        )


def idle_load(seconds: float = 1.0) -> float:
    """CPUs busy with anything else while this bench sleeps: the noise other work adds."""
    before = busy_cpu_seconds()
    time.sleep(seconds)
    return (busy_cpu_seconds() - before) / seconds


def measure_local(source: Path, target: Path, runs: int, mib: int) -> None:
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    rows: dict[str, list[dict[str, float]]] = {FRAMED: [], BASE64: [], "cat | cat": []}
    for _ in range(runs):
        for name, raw in ((FRAMED, True), (BASE64, False)):
            receiver = subprocess.Popen(
                [sys.executable, "-c", RECEIVER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
            assert receiver.stdin is not None and receiver.stdout is not None
            channel = Channel(_pipe_writer(receiver.stdin), functools.partial(receiver.stdout.read1, 1 << 16))
            rows[name].append(send_framed(channel, source, raw))
            receiver.stdin.close()
            receiver.wait()
        busy, began = busy_cpu_seconds(), time.perf_counter()
        subprocess.run(f"cat {source} | cat > {target}", shell=True, check=True)
        seconds = time.perf_counter() - began
        rows["cat | cat"].append({"seconds": seconds, "busy cpus": (busy_cpu_seconds() - busy) / seconds})
    print_rows(f"local: {mib} MiB, median of {runs} runs", mib, rows, "cat | cat")


def measure_cluster(source: Path, runs: int, mib: int, kubeconfig: str | None, image: str) -> None:
    from r2k8s.agent_bundle import agent_zipapp, configmap_manifest, configmap_name
    from r2k8s.cluster.attach import attach
    from r2k8s.cluster.kube import connect
    from r2k8s.core.agent.contract import AGENT_DIR, AGENT_ZIPAPP

    namespace = f"r2k8s-bench-stream-{secrets.token_hex(4)}"
    kube = connect(kubeconfig, namespace=namespace)
    kube.core.create_namespace({"metadata": {"name": namespace}})
    try:
        data = agent_zipapp()
        configmap = configmap_name(data)
        kube.core.create_namespaced_config_map(namespace, configmap_manifest(configmap, data))
        pod = {
            "metadata": {"name": "receiver"},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "main",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", RECEIVER],
                        "env": [{"name": "PYTHONPATH", "value": f"{AGENT_DIR}/{AGENT_ZIPAPP}"}],
                        "stdin": True,
                        "stdinOnce": True,
                        "volumeMounts": [{"name": "agent", "mountPath": AGENT_DIR, "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "agent", "configMap": {"name": configmap}}],
            },
        }
        kube.core.create_namespaced_pod(namespace, pod)
        deadline = time.monotonic() + 180
        while kube.core.read_namespaced_pod("receiver", namespace).status.phase != "Running":
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver pod did not start within 180 s")
            time.sleep(0.5)
        transport = attach(kube, "receiver")
        channel = Channel(transport.send, lambda: _receive(transport))
        rows: dict[str, list[dict[str, float]]] = {FRAMED: [], BASE64: [], "raw bytes": []}
        send_raw(channel, source)  # warm-up: connections, page cache, the pod's imports
        for _ in range(runs):
            rows[FRAMED].append(send_framed(channel, source, True))
            rows[BASE64].append(send_framed(channel, source, False))
            rows["raw bytes"].append(send_raw(channel, source))
        transport.close()
        print_rows(
            f"cluster ({kube.host}, pod on image {image}): {mib} MiB, median of {runs} runs",
            mib,
            rows,
            "raw bytes",
        )
        for name in (FRAMED, BASE64):
            samples = rows[name]
            seconds = statistics.median(s["seconds"] for s in samples)
            client = statistics.median(s["client encode"] for s in samples)
            decode = statistics.median(s["receiver decode"] for s in samples)
            print(
                f"  {name}, where the time goes: client encode {client:.3f} s, receiver decode {decode:.3f} s,"
                f" the rest {seconds - client - decode:.3f} s (websocket writes, API server, kubelet, runtime)"
            )
    finally:
        kube.core.delete_namespace(namespace)


def _receive(transport: Any) -> bytes:
    while True:
        data = transport.receive(5.0)
        if data is not None:
            return bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cluster", action="store_true", help="through the attach stream of a pod on a cluster")
    parser.add_argument("--kubeconfig", help="the cluster (default: as kubectl finds it)")
    parser.add_argument("--image", default="localhost/r2k8s/python:3-debian", help="the receiver pod's image")
    args = parser.parse_args()
    print(f"r2k8s {commit()}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="r2k8s-bench-") as scratch:
        source, target = Path(scratch) / "ware", Path(scratch) / "received"
        source.write_bytes(os.urandom(args.mib << 20))  # incompressible, like a gzipped ware
        measure_local(source, target, args.runs, args.mib)
        if args.cluster:
            measure_cluster(source, args.runs, args.mib, args.kubeconfig, args.image)


if __name__ == "__main__":
    main()
