"""``r2k8s run``: run a formula like ``repeatr run`` and print its run record.

stdout carries exactly the run record (repeatr's bytes); stderr carries
repeatr's event lines (:mod:`r2k8s.core.run.monitor`). Exit codes are repeatr's:
0 when the formula ran, *whatever the action's own exit code* (that is in
``exitCode``); otherwise the code of the failure's category, after
repeatr's two error lines on stderr and no run record.

Without ``--local`` the formula runs in a one-shot Job on the cluster of the
current kubeconfig context (:mod:`r2k8s.cluster.run`), with the same stdout,
stderr events and exit codes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from r2k8s.cli.console import Subparsers
from r2k8s.core.errors import R2k8sError

if TYPE_CHECKING:
    from r2k8s.core.run.monitor import AnsiMonitor

__all__ = ["add_parsers", "cmd_run"]


EXECUTOR_CHOICES = ("namespaced", "chroot", "runc")
"""``core.executor.EXECUTORS`` plus repeatr's alias; spelled out so building the parser imports nothing heavy."""
PLACER_CHOICES = ("auto", "overlay", "copy")
"""``core.assembly.PLACERS``, spelled out for the same reason (a test keeps them equal)."""


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "run",
        help="run a formula like 'repeatr run'; print its run record on stdout",
        description="Run a formula the way 'repeatr run' does: fetch and verify its inputs into the ware cache, "
        "assemble them, run the action, pack and save the outputs, and print the run record on stdout. "
        "Logs and the action's output go to stderr. By default it runs in a one-shot Job on the cluster of the "
        "current kubeconfig context (file:// and ca+file:// wares are streamed between this machine and the pod); "
        "--local runs it on this machine (needs root).",
    )
    p.add_argument("formula", help="formula file: modern JSON/YAML, or legacy repeatr v0.13-v0.15")
    p.add_argument("--local", action="store_true", help="run on this machine instead of on the cluster")
    p.add_argument(
        "--memo-dir",
        metavar="DIR",
        help="memoize by the formula's setup hash in DIR (default $REPEATR_MEMODIR; neither: no memo): a formula "
        "that ran there before, exited 0 and whose outputs are still saved prints its stored record and runs nothing",
    )
    p.add_argument("--no-memo", action="store_true", help="run even if memoized (a success still refreshes the memo)")
    cluster = p.add_argument_group("on a cluster (without --local)")
    cluster.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default $KUBECONFIG, ~/.kube/config, else the in-cluster service account)",
    )
    cluster.add_argument("--context", help="kubeconfig context (default: the current one)")
    cluster.add_argument(
        "-n", "--namespace", help="namespace of the build Job (default: the context's, else 'default')"
    )
    cluster.add_argument(
        "--image",
        default=None,
        metavar="IMAGE",
        help="image of the build pod: any image with python3 >= 3.11 (default python:3.11-slim)",
    )
    cluster.add_argument(
        "--timeout",
        type=_positive_int,
        default=3600,
        metavar="SECONDS",
        help="stop the run after this long; also the Job's activeDeadlineSeconds (default 3600)",
    )
    cluster.add_argument(
        "--ttl",
        type=_positive_int,
        default=60,
        metavar="SECONDS",
        help="ttlSecondsAfterFinished of the Job, for when this client is killed (default 60)",
    )
    local = p.add_argument_group("on this machine (with --local)")
    local.add_argument(
        "--executor",
        default="namespaced",
        choices=EXECUTOR_CHOICES,
        help="namespaced (default; pid/mount/uts/ipc namespaces, /proc, /dev, pivot_root, like repeatr's "
        "runc executor; 'runc' is an alias) or chroot (chroot and uid/gid only)",
    )
    local.add_argument(
        "--placer",
        default="auto",
        choices=PLACER_CHOICES,
        help="how cached inputs are placed: overlay mounts, full copies, or auto (overlay, else copy)",
    )
    local.add_argument(
        "--cache", metavar="DIR", help="ware cache directory (default $R2K8S_CACHE or ~/.cache/r2k8s/wares)"
    )
    local.add_argument(
        "--jobs-dir", metavar="DIR", help="where job trees are built (default $R2K8S_JOBS or /var/tmp/r2k8s/jobs)"
    )
    p.set_defaults(run=cmd_run)


def cmd_run(args: argparse.Namespace) -> None:
    """Run the formula; exit through ``SystemExit`` with repeatr's code after printing the outcome."""
    from r2k8s.cli.memo import Memo
    from r2k8s.core.run.monitor import AnsiMonitor

    monitor = AnsiMonitor(sys.stderr)
    try:
        memo = Memo.from_arguments(args.memo_dir, Path(args.formula), monitor.log)
        record_json = None if memo is None or args.no_memo else memo.recall()
        if record_json is None:
            record_json = _run_local(args, monitor) if args.local else _run_on_cluster(args, monitor)
            if memo is not None:
                memo.save(record_json)
    except R2k8sError as exc:
        monitor.failed(exc.message)
        raise SystemExit(exc.category.exit_code) from None
    monitor.record_follows()
    sys.stdout.write(record_json)
    sys.stdout.flush()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1 second: {text!r}")
    return value


def _run_on_cluster(args: argparse.Namespace, monitor: AnsiMonitor) -> str:
    from r2k8s.cluster.run import ClusterOptions, run_on_cluster
    from r2k8s.core.agent.contract import DEFAULT_IMAGE

    options = ClusterOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        image=args.image or DEFAULT_IMAGE,
        timeout=args.timeout,
        ttl=args.ttl,
    )
    return run_on_cluster(Path(args.formula), options, monitor)


def _run_local(args: argparse.Namespace, monitor: AnsiMonitor) -> str:
    from r2k8s.core.run import host

    host.require_root()
    from r2k8s.core.run.job import Job, JobOptions
    from r2k8s.core.run.record import to_json
    from r2k8s.core.warehouse.cache import WareCache
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(Path(args.formula), strict=False)  # what cannot run fails as in repeatr, in the job
    for note in loaded.notes:
        monitor.log(f"warn: {note}")
    ident = loaded.formula_id
    options = JobOptions(executor=args.executor, placer=args.placer, cache=WareCache(args.cache))
    if args.jobs_dir:
        options.jobs_dir = Path(args.jobs_dir).absolute()
    host.enter_private_mount_namespace()  # first: it needs this process to have a single thread
    job = Job(
        loaded.formula,
        loaded.context,
        ident,
        monitor,
        options,
        base_dir=loaded.path.absolute().parent,
        legacy_inputs=frozenset(loaded.legacy_inputs),
    )
    previous = host.install_stop_signals(job)
    try:
        record = job.run()
    finally:
        host.restore_signals(previous)
    return to_json(record)
