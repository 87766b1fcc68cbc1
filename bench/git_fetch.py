#!/usr/bin/env python3
"""How fast a ``git:`` ware is fetched and placed, beside ``git clone`` + ``git archive`` on the same data.

    python bench/git_fetch.py [--quick] [--source DIR] [--runs N] [--workdir DIR]

The repository is real-sized data: the running Python's standard library
source (``--source``; some 2,400 files and 100 MiB here, no ``__pycache__``, no
``site-packages``) committed in three commits (half the files, all of them,
then an edit to a hundred), packed by ``git gc``, and served over HTTP by the
real ``git http-backend`` (protocol v2) on loopback. ``--quick`` takes a tenth
of the files.

Rows, each a fresh process, median of ``--runs``, wall time and peak RSS
(``/usr/bin/time -f %M``):

* **r2k8s, cold**: ``fetch_git_tree`` into an empty ware cache: the smart HTTP
  exchange, the pack streamed to disk and indexed (every object hashed, deltas
  resolved), the commit's tree placed with rio's metadata. r2k8s fetches the
  commit with its history, as rio does (a later commit then needs only what is new);
* **r2k8s, objects cached**: the same commit into a new target, the remote's
  objects already cached (the checkout alone, every object verified again);
* **r2k8s, next commit**: the cache holds the second commit, the third is fetched
  (``have`` lines: only the new objects travel);
* baseline **git, shallow**: ``git clone --depth 1 --bare`` + ``git archive HEAD | tar -x``;
* baseline **git, full**: ``git clone --bare`` + ``git archive HEAD | tar -x`` (the same
  history r2k8s fetches).

The ratio is r2k8s over the baseline named beside it. Exit status 0: a measurement.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "plugin"
sys.path.insert(0, str(PLUGIN_DIR))
sys.path.insert(0, str(ROOT / "tests" / "support"))

FETCH = r"""
import sys, time
from pathlib import Path
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.git.wares import fetch_git_tree
began = time.perf_counter()
fetch_git_tree(WareID("git", sys.argv[1]), [sys.argv[2]], Path(sys.argv[3]), UNPACK_LOSSLESS, Path(sys.argv[4]))
print(f"{time.perf_counter() - began:.3f}", file=sys.stderr)
"""


@dataclass
class Row:
    name: str
    baseline: str | None
    seconds: list[float] = field(default_factory=list)
    rss_kib: int = 0
    transferred: int = 0
    """Bytes the git server sent for the last measured run."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process tree run under GNU time."""
    with tempfile.NamedTemporaryFile("r") as rss:
        began = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-o", rss.name, "-f", "%M", *argv], env=env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - began
        if done.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
        return elapsed, int(rss.read().split()[-1])


def dataset(source: Path, quick: bool) -> list[Path]:
    files = sorted(
        p.relative_to(source)
        for p in source.rglob("*")
        if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts and "site-packages" not in p.parts
    )
    return files[::10] if quick else files


def build_repository(source: Path, files: list[Path], repo: Path) -> list[str]:
    """Three commits of ``files`` in ``repo``; their IDs, oldest first."""
    from git_http import commit, git, make_repo

    make_repo(repo)
    ids = []
    for step, chosen in enumerate((files[::2], files)):
        for rel in chosen:
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target)
        ids.append(commit(repo, {}, f"step {step}"))
    edits = {str(rel): (source / rel).read_bytes() + b"\n# edited\n" for rel in files[:: max(1, len(files) // 100)]}
    ids.append(commit(repo, edits, "edits"))
    git("-C", repo, "gc", "-q")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    from git_http import git, serve_git

    commit_id = git("-C", ROOT, "rev-parse", "--short", "HEAD")
    dirty = " (uncommitted changes)" if git("-C", ROOT, "status", "--porcelain", "--", "plugin") else ""
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        work = Path(scratch)
        files = dataset(args.source, args.quick)
        size = sum((args.source / f).stat().st_size for f in files)
        ids = build_repository(args.source, files, work / "repos" / "data")
        head, previous = ids[-1], ids[-2]
        print(f"r2k8s {commit_id}{dirty}; {len(files)} files, {size / 2**20:.1f} MiB, from {args.source}")
        rows = {
            "cold": Row("r2k8s, cold (fetch + index + place)", "git, full"),
            "cached": Row("r2k8s, objects cached (place only)", "git, shallow"),
            "next": Row("r2k8s, next commit (fetch what is new + place)", "git, shallow"),
            "shallow": Row("git clone --depth 1 + git archive | tar -x", None),
            "full": Row("git clone + git archive | tar -x", None),
        }
        with serve_git(work / "repos") as server:
            url = server.url("data")

            def r2k8s(name: str, commit: str, cache: Path) -> None:
                target = work / f"out-{name}-{time.monotonic_ns()}"
                before = len(server.sent)
                seconds, rss = timed([sys.executable, "-c", FETCH, commit, url, str(target), str(cache)], env)
                rows[name].transferred = sum(server.sent[before:])
                rows[name].seconds.append(seconds)
                rows[name].rss_kib = max(rows[name].rss_kib, rss)
                shutil.rmtree(target)

            def baseline(name: str, depth: list[str]) -> None:
                bare, out = work / f"clone-{name}.git", work / f"out-{name}"
                out.mkdir()
                before = len(server.sent)
                script = (
                    f"git clone -q --bare {' '.join(depth)} {url} {bare} && "
                    f"git --git-dir={bare} archive HEAD | tar -x -C {out}"
                )
                seconds, rss = timed(["bash", "-c", script])
                rows[name].transferred = sum(server.sent[before:])
                rows[name].seconds.append(seconds)
                rows[name].rss_kib = max(rows[name].rss_kib, rss)
                shutil.rmtree(bare)
                shutil.rmtree(out)

            for run in range(runs + 1):  # the first round warms the page cache and is not counted
                for row in rows.values():
                    if run == 1:
                        row.seconds.clear()
                        row.rss_kib = 0
                cache = work / f"cache-{run}"
                r2k8s("cold", head, cache)
                r2k8s("cached", head, cache)
                incremental = work / f"cache-next-{run}"
                r2k8s("next", previous, incremental)
                rows["next"].seconds.pop()  # that was the setup: only the next commit is measured
                r2k8s("next", head, incremental)
                baseline("shallow", ["--depth", "1"])
                baseline("full", [])
                shutil.rmtree(cache)
                shutil.rmtree(incremental)
        print(f"\n{'row':52} {'seconds':>8} {'peak RSS':>10} {'over HTTP':>10}  ratio")
        for key in ("cold", "cached", "next", "shallow", "full"):
            row = rows[key]
            ratio = ""
            if row.baseline is not None:
                base = rows["full" if row.baseline == "git, full" else "shallow"]
                ratio = f"{row.median / base.median:.2f}x {row.baseline}"
            print(
                f"{row.name:52} {row.median:8.2f} {row.rss_kib / 1024:6.1f} MiB"
                f" {row.transferred / 2**20:6.1f} MiB  {ratio}"
            )
        print(f"\nmedian of {runs} run(s) after one warm-up round")


if __name__ == "__main__":
    main()
