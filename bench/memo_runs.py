#!/usr/bin/env python3
"""Benchmark memoized runs: ``r2k8s run`` and ``r2k8s emerge`` with the memo against the same runs forced.

    sudo python bench/memo_runs.py [--runs N] [--work-seconds S] [--kubeconfig FILE -n NS --image IMAGE]

Each row is the median of ``--runs`` fresh processes, on a busybox root
filesystem (``/bin/busybox``), ware cache warm:

* ``run --local``: a formula whose action works ``--work-seconds`` (a busy
  loop) and packs a 4 MiB output into a ``ca+file://`` warehouse; baseline
  ``--no-memo`` (it runs, and refreshes the memo), against the memoized run;
* ``emerge --local``: a diamond module (two such steps, then one joining
  them); baseline ``--no-memo``, against the memoized emerge;
* with ``--kubeconfig``: the same ``run`` and ``emerge`` on that cluster
  (``-n`` namespace, ``--image`` the build pod's image).

Printed: each row's seconds, the ratio memoized / forced, the commit measured
(``+dirty`` if the tree has changes), and *other load*: CPUs kept busy by
anything but these runs meanwhile (``/proc/stat`` minus the runs' own CPU
time). Exit status 0: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_load import busy_cpu_seconds
from run_local import PLUGIN_DIR, busybox_rootfs

R2K8S = [sys.executable, "-m", "r2k8s"]


def commit() -> str:
    root = PLUGIN_DIR.parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=root)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=root).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def script(name: str, seconds: float) -> str:
    return (
        f"mkdir out; end=$(( $(date +%s) + {max(1, round(seconds))} ));"
        " while [ $(date +%s) -lt $end ]; do :; done;"
        f" head -c 4194304 /dev/urandom > out/{name}; echo {name} done"
    )


def write_inputs(work: Path, rootfs_id: str, seconds: float) -> tuple[Path, Path]:
    formula = {
        "formula": {
            "inputs": {"/": rootfs_id},
            "action": {"exec": ["/bin/sh", "-c", script("one", seconds)]},
            "outputs": {"/task/out": {"packtype": "tar"}},
        },
        "context": {"fetchUrls": {"/": ["file://./rootfs.tgz"]}, "saveUrls": {"/task/out": "ca+file://./wares"}},
    }
    (work / "wares").mkdir(exist_ok=True)
    (work / "job.formula").write_text(json.dumps(formula, indent="\t"))

    def op(action: str, inputs: dict[str, str], outputs: dict[str, str]) -> dict[str, object]:
        return {
            "operation": {
                "inputs": {"/": "base", **inputs},
                "action": {"exec": ["/bin/sh", "-c", action]},
                "outputs": outputs,
            }
        }

    module = {
        "imports": {"base": f"ingest:literal:{rootfs_id}"},
        "steps": {
            "left": op(script("left", seconds), {}, {"out": "/task/out"}),
            "right": op(script("right", seconds), {}, {"out": "/task/out"}),
            "join": op(
                "mkdir out; cat /l/* /r/* | wc -c > out/n", {"/l": "left.out", "/r": "right.out"}, {"n": "/task/out"}
            ),
        },
        "exports": {"n": "join.n"},
    }
    (work / "mod").mkdir(exist_ok=True)
    (work / "mod" / "module.tl").write_text(json.dumps(module, indent="\t"))
    return work / "job.formula", work / "mod"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-3000:]}")
    return took


def measure(label: str, argv: list[str], cwd: Path, env: dict[str, str], runs: int) -> dict[str, object]:
    timed([*argv, "--no-memo"], cwd, env)  # warm-up: cache filled, memo written
    forced, memoized = [], []
    for _ in range(runs):  # interleaved, so drifting load hits both alike
        forced.append(timed([*argv, "--no-memo"], cwd, env))
        memoized.append(timed(argv, cwd, env))
    forced_s, memoized_s = statistics.median(forced), statistics.median(memoized)
    return {
        "row": label,
        "forced_s": forced_s,
        "memoized_s": memoized_s,
        "ratio": memoized_s / forced_s,
        "forced_runs": forced,
        "memoized_runs": memoized,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-seconds", type=float, default=3.0, help="how long each action works (default 3)")
    parser.add_argument("--kubeconfig", help="also measure cluster runs on this cluster")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--image", help="the build pod's image (default: r2k8s's)")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("local runs need root: run with sudo")

    with tempfile.TemporaryDirectory(prefix="r2k8s-bench-memo-") as temp:
        work = Path(temp)
        busybox_rootfs(work / "rootfs.tgz")
        env = dict(os.environ, R2K8S_CACHE=str(work / "cache"), R2K8S_JOBS=str(work / "jobs"))
        env.pop("REPEATR_MEMODIR", None)
        rootfs_id = subprocess.run(
            [*R2K8S, "scan", str(work / "rootfs.tgz")], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        formula, module = write_inputs(work, rootfs_id, args.work_seconds)
        memo = ["--memo-dir", str(work / "memo")]
        emerge_base = [*R2K8S, "emerge", "--warehouse", f"file://{work / 'rootfs.tgz'}"]
        cases = [
            ("run --local", [*R2K8S, "run", "--local", *memo, str(formula)], work),
            ("emerge --local", [*emerge_base, "--local", "--cache", str(work / "cache")], module),
        ]
        if args.kubeconfig:
            cluster = [
                "--kubeconfig",
                args.kubeconfig,
                "-n",
                args.namespace,
                *(["--image", args.image] * bool(args.image)),
            ]
            cases += [
                ("run (cluster)", [*R2K8S, "run", *cluster, *memo, str(formula)], work),
                ("emerge (cluster)", [*emerge_base, *cluster, "--memo-dir", str(work / "memo-c")], module),
            ]
        busy_before, own_before, wall_before = busy_cpu_seconds(), children_cpu(), time.monotonic()
        rows = [measure(label, argv, cwd, env, args.runs) for label, argv, cwd in cases]
        wall = time.monotonic() - wall_before
        other = max(0.0, (busy_cpu_seconds() - busy_before) - (children_cpu() - own_before)) / wall

    print(f"r2k8s memoized runs, commit {commit()}, {args.runs} runs each, actions working {args.work_seconds:g} s")
    print(f"{'row':<18} {'forced (s)':>11} {'memoized (s)':>13} {'memo/forced':>12}")
    for row in rows:
        print(f"{row['row']:<18} {row['forced_s']:>11.2f} {row['memoized_s']:>13.3f} {row['ratio']:>12.3f}")
    print(f"other load: {other:.2f} CPUs busy with something else on average (of {os.cpu_count()})")
    if other > 0.25:
        print("warning: the machine was busy with other work; figures are noisy")
    if args.json:
        Path(args.json).write_text(json.dumps({"commit": commit(), "other_load": other, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
