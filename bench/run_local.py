#!/usr/bin/env python3
"""Benchmark ``r2k8s run --local`` against what a shell script would do by hand.

    sudo python bench/run_local.py [--runs N] [--rootfs TARBALL] [--workdir DIR]

The formula runs ``/bin/echo hi`` on a root filesystem ware: by default
Debian's static busybox with its applet links (needs ``/bin/busybox``), or
any tarball given with ``--rootfs`` (e.g. ``../shared/fixtures/repeatr/
fixtures/busybash.tgz``). Rows, each the median of ``--runs`` fresh processes:

* ``r2k8s cold``: empty ware cache: fetch from ``file://``, verify, unpack,
  overlay, run, tear down;
* ``r2k8s warm`` for each executor x placer: the ware is cached, so a run is
  assembly + sandbox + exec + teardown + Python start-up;
* baseline ``tar+chroot``: ``mkdir R && tar -xzf TARBALL -C R && chroot R
  /bin/echo hi && rm -rf R`` — no verification, no isolation, no record;
* baseline ``unshare+chroot``: the same under ``unshare -m -p -f --mount-proc``
  (roughly the namespaces of the ``namespaced`` executor).

Ratios are r2k8s over the ``tar+chroot`` baseline of the same process
start-up class. Peak RSS comes from GNU time (``%M``). Exit status 0: it is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugin"
sys.path.insert(0, str(PLUGIN_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))


def busybox_rootfs(path: Path) -> None:
    """``/bin/busybox`` plus its applet links, ``/dev``, ``/proc``, ``/tmp``: a minimal runnable root."""
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(path, "w:gz") as tar:
        for name, mode in ((".", 0o755), ("bin", 0o755), ("dev", 0o755), ("proc", 0o555), ("tmp", 0o1777)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 1262304000
            tar.addfile(info)
        tar.add("/bin/busybox", "bin/busybox")
        for applet in applets:
            if applet != "busybox" and "/" not in applet:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname, info.mtime = tarfile.SYMTYPE, "busybox", 1262304000
                tar.addfile(info)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one fresh process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr}")
    return elapsed, int(done.stderr.strip().splitlines()[-1])


def median_of(runs: int, argv: list[str], env: dict[str, str] | None = None, before=None) -> tuple[float, int]:
    times, peaks = [], []
    for _ in range(runs):
        if before is not None:
            before()
        seconds, peak = timed(argv, env)
        times.append(seconds)
        peaks.append(peak)
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rootfs", type=Path, help="a root filesystem tarball (default: busybox built here)")
    parser.add_argument("--workdir", type=Path, help="where the temporary files go (default: the system temp dir)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: r2k8s run --local and chroot need it")

    from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
    from r2k8s.core.ware.ingest import ingest_tar

    work = Path(tempfile.mkdtemp(prefix="r2k8s-bench-run.", dir=args.workdir))
    try:
        tarball = work / "rootfs.tgz"
        if args.rootfs:
            shutil.copyfile(args.rootfs, tarball)
        else:
            busybox_rootfs(tarball)
        with tarball.open("rb") as f:
            ware = str(ingest_tar(f, UNPACK_CONSERVATIVE).prefilter_id)
        formula = work / "bench.formula"
        formula.write_text(
            json.dumps(
                {
                    "formula": {"inputs": {"/": ware}, "action": {"exec": ["/bin/echo", "hi"]}},
                    "context": {"fetchUrls": {"/": ["file://./rootfs.tgz"]}},
                }
            )
        )
        cache, jobs = work / "cache", work / "jobs"
        env = dict(os.environ, R2K8S_CACHE=str(cache), R2K8S_JOBS=str(jobs))
        r2k8s = [sys.executable, "-m", "r2k8s", "run", "--local"]
        rows: list[tuple[str, float, int]] = []

        rows.append(
            (
                "r2k8s cold (fetch+verify+unpack, namespaced, overlay)",
                *median_of(args.runs, r2k8s + [str(formula)], env, before=lambda: shutil.rmtree(cache, True)),
            )
        )
        for executor in ("namespaced", "chroot"):
            for placer in ("overlay", "copy"):
                rows.append(
                    (
                        f"r2k8s warm ({executor}, {placer})",
                        *median_of(args.runs, r2k8s + ["--executor", executor, "--placer", placer, str(formula)], env),
                    )
                )
        root = work / "root"
        by_hand = f"mkdir {root} && tar -xzf {tarball} -C {root} && chroot {root} /bin/echo hi && rm -rf {root}"
        rows.append(("baseline tar+chroot", *median_of(args.runs, ["sh", "-c", by_hand])))
        rows.append(
            (
                "baseline unshare+tar+chroot",
                *median_of(args.runs, ["unshare", "-m", "-p", "-f", "--mount-proc", "sh", "-c", by_hand]),
            )
        )
        python_start = median_of(args.runs, [sys.executable, "-c", "import r2k8s.cli"])
        baseline = rows[-2][1]
        size = tarball.stat().st_size
        rootfs = tarball.name if not args.rootfs else args.rootfs
        print(f"rootfs: {rootfs} ({size / 1024:.0f} KiB gzip), ware {ware[:16]}…")
        print(f"{'what':58} {'median s':>9} {'peak RSS':>10} {'ratio':>6}")
        for name, seconds, peak in rows:
            print(f"{name:58} {seconds:9.3f} {peak / 1024:8.1f} MiB {seconds / baseline:6.2f}")
        print(
            f"(python start-up + import r2k8s.cli alone: {python_start[0]:.3f} s;"
            " ratios are against 'baseline tar+chroot')"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
