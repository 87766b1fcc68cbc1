"""``r2k8s run``: run a formula like ``repeatr run`` and print its run record.

stdout carries exactly the run record (repeatr's bytes); stderr carries
repeatr's event lines (:mod:`r2k8s.core.monitor`). Exit codes are repeatr's:
0 when the formula ran, *whatever the action's own exit code* (that is in
``exitCode``); otherwise the code of the failure's category, after
repeatr's two error lines on stderr and no run record.

Only ``--local`` exists so far; running on a cluster is the build path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from r2k8s.core.errors import Category, R2k8sError

__all__ = ["add_parser", "cmd_run"]


EXECUTOR_CHOICES = ("namespaced", "chroot", "runc")
"""``core.executor.EXECUTORS`` plus repeatr's alias; spelled out so building the parser imports nothing heavy."""
PLACER_CHOICES = ("auto", "overlay", "copy")
"""``core.assembly.PLACERS``, spelled out for the same reason (a test keeps them equal)."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="run a formula like 'repeatr run'; print its run record on stdout",
        description="Run a formula the way 'repeatr run' does: fetch and verify its inputs into the ware cache, "
        "assemble them, run the action, pack and save the outputs, and print the run record on stdout. "
        "Logs and the action's output go to stderr. Needs root.",
    )
    p.add_argument("formula", help="formula file: modern JSON/YAML, or legacy repeatr v0.13-v0.15")
    p.add_argument("--local", action="store_true", help="run on this machine (required for now)")
    p.add_argument("--executor", default="namespaced", choices=EXECUTOR_CHOICES,
                   help="namespaced (default; pid/mount/uts/ipc namespaces, /proc, /dev, pivot_root, like repeatr's "
                   "runc executor; 'runc' is an alias) or chroot (chroot and uid/gid only)")
    p.add_argument("--placer", default="auto", choices=PLACER_CHOICES,
                   help="how cached inputs are placed: overlay mounts, full copies, or auto (overlay, else copy)")
    p.add_argument("--cache", metavar="DIR", help="ware cache directory (default $R2K8S_CACHE or ~/.cache/r2k8s/wares)")
    p.add_argument("--jobs-dir", metavar="DIR",
                   help="where job trees are built (default $R2K8S_JOBS or /var/tmp/r2k8s/jobs)")
    p.set_defaults(run=cmd_run)


def cmd_run(args: argparse.Namespace) -> None:
    """Run the formula; exit through ``SystemExit`` with repeatr's code after printing the outcome."""
    if not args.local:
        raise R2k8sError(Category.USAGE, "running on a cluster is not available yet: add --local to run on this machine")
    from r2k8s.core.monitor import AnsiMonitor

    monitor = AnsiMonitor(sys.stderr)
    try:
        record_json = _run_local(args, monitor)
    except R2k8sError as exc:
        monitor.failed(exc.message)
        raise SystemExit(exc.category.exit_code) from None
    monitor.record_follows()
    sys.stdout.write(record_json)
    sys.stdout.flush()


def _run_local(args: argparse.Namespace, monitor: object) -> str:
    from r2k8s.core import job as jobs

    jobs.require_root()
    from r2k8s.core.formula_id import formula_id, legacy_setup_hash
    from r2k8s.core.runrecord import to_json
    from r2k8s.core.warecache import WareCache
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(Path(args.formula))
    for note in loaded.notes:
        monitor.log(f"warn: {note}")  # type: ignore[attr-defined]
    ident = legacy_setup_hash(loaded.legacy) if loaded.kind == "legacy" else formula_id(loaded.formula)
    options = jobs.JobOptions(executor=args.executor, placer=args.placer, cache=WareCache(args.cache))
    if args.jobs_dir:
        options.jobs_dir = Path(args.jobs_dir).absolute()
    jobs.enter_private_mount_namespace()  # first: it needs this process to have a single thread
    job = jobs.Job(
        loaded.formula,
        loaded.context,
        ident,
        monitor,  # type: ignore[arg-type]
        options,
        base_dir=loaded.path.absolute().parent,
        legacy_inputs=frozenset(loaded.legacy_inputs),
    )
    previous = jobs.install_stop_signals(job)
    try:
        record = job.run()
    finally:
        jobs.restore_signals(previous)
    return to_json(record)
