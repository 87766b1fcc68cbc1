#!/usr/bin/env python3
"""How fast wares move between ``r2k8s run`` and its build agent, framing included, beside a bare pipe.

    python bench/stream_wares.py [--mib N] [--runs N]

What ``r2k8s run`` does to send a client-local ware into the pod (and an
output back), minus the network: read the file in 192 KiB chunks, SHA-256 it,
base64 it into ``ware`` frames (:mod:`r2k8s.core.agent.frames`) and write them to a
pipe; the other end -- a separate Python process, as the agent is -- splits
lines, parses the JSON, decodes the base64, SHA-256s and writes the bytes to
a file. Baseline ``cat | cat > file``: the same bytes through a pipe with no
framing at all. Rows are medians of ``--runs``; the ratio is r2k8s over the
baseline. On a cluster the API server, the kubelet and the network come on
top of both. Exit status 0: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugin"
sys.path.insert(0, str(PLUGIN_DIR))

RECEIVER = r"""
import hashlib, os, sys
from r2k8s.core.agent.frames import FrameDecoder, decode_bytes
decoder, digest = FrameDecoder(), hashlib.sha256()
with open(sys.argv[1], "wb") as out:
    while chunk := os.read(0, 1 << 20):
        for frame in decoder.feed(chunk):
            if frame.kind == "ware":
                data = decode_bytes(frame.body["data"])
                digest.update(data)
                out.write(data)
decoder.finish()
print(digest.hexdigest())
"""


def framed(source: Path, target: Path) -> float:
    import hashlib

    from r2k8s.core.agent.frames import DATA_CHUNK_BYTES, encode, encode_bytes

    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    began = time.perf_counter()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert receiver.stdin is not None
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(DATA_CHUNK_BYTES):
            digest.update(chunk)
            receiver.stdin.write(encode("ware", {"id": "tar:x", "data": encode_bytes(chunk)}))
    receiver.stdin.close()
    assert receiver.stdout is not None
    out = receiver.stdout.read().decode().strip()
    receiver.wait()
    elapsed = time.perf_counter() - began
    assert out == digest.hexdigest(), "the bytes did not arrive intact"
    return elapsed


def bare(source: Path, target: Path) -> float:
    began = time.perf_counter()
    subprocess.run(f"cat {source} | cat > {target}", shell=True, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2k8s-bench-") as scratch:
        source, target = Path(scratch) / "ware", Path(scratch) / "received"
        source.write_bytes(os.urandom(args.mib << 20))  # incompressible, like a gzipped ware
        rows = {"r2k8s frames": framed, "baseline cat|cat": bare}
        medians = {}
        for name, fn in rows.items():
            medians[name] = statistics.median(fn(source, target) for _ in range(args.runs))
        base = medians["baseline cat|cat"]
        print(f"{args.mib} MiB, median of {args.runs} runs")
        for name, seconds in medians.items():
            print(f"{name:18} {seconds:7.3f} s  {args.mib / seconds:8.1f} MiB/s  ratio {seconds / base:5.1f}x")


if __name__ == "__main__":
    main()
