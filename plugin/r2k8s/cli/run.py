"""``r2k8s run``: run a formula like ``repeatr run`` and print its run record.

stdout carries exactly the run record (repeatr's bytes); stderr carries
repeatr's event lines (:mod:`r2k8s.core.run.monitor`). Exit codes are repeatr's:
0 when the formula ran, *whatever the action's own exit code* (that is in
``exitCode``); otherwise the code of the failure's category, after
repeatr's two error lines on stderr and no run record.

Without ``--local`` the formula runs in a one-shot Job on the cluster of the
current kubeconfig context (:mod:`r2k8s.cluster.run`), with the same stdout,
stderr events and exit codes; the pod settings flags become a
:class:`r2k8s.cluster.pod_settings.PodSettings`, and ``--dry-run`` prints the
ConfigMap and Job instead (:mod:`r2k8s.cluster.dry_run`).

``--format json`` is repeatr's ``--format=json``: every event on stdout
(:mod:`r2k8s.core.run.events`), the run record inside the final ``result``
event, and for a failed run that had started, that event with the error (the
message also on stderr, as repeatr's ``main`` prints it). A formula that
cannot even be loaded gets no result event: repeatr fails before its
executor there too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from r2k8s.cli.console import Subparsers
from r2k8s.core.errors import Category, R2k8sError

if TYPE_CHECKING:
    from r2k8s.cluster.pod_settings import PodSettings
    from r2k8s.cluster.run import ClusterOptions
    from r2k8s.core.run.events import JsonMonitor
    from r2k8s.core.run.job import Job
    from r2k8s.core.run.monitor import AnsiMonitor

__all__ = ["POD_SETTING_FLAGS", "add_parsers", "add_pod_settings", "cmd_run", "pod_settings", "pod_settings_arguments"]


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
        "--format",
        choices=("ansi", "json"),
        default="ansi",
        help="ansi (default): the run record on stdout, events on stderr; json: repeatr's JSON event stream on"
        " stdout, the run record in its final result event",
    )
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
    cluster.add_argument(
        "--dry-run",
        action="store_true",
        help="print the agent ConfigMap and the Job as YAML (for kubectl apply -f) instead of creating them;"
        " asks no API server",
    )
    add_pod_settings(p.add_argument_group("the build pod (without --local; each may be repeated)"))
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


POD_SETTING_FLAGS = (
    ("requests", "--requests"),
    ("limits", "--limits"),
    ("node_selector", "--node-selector"),
    ("toleration", "--toleration"),
    ("service_account", "--service-account"),
    ("priority_class", "--priority-class"),
    ("label", "--label"),
    ("annotation", "--annotation"),
    ("cache_volume", "--cache-volume"),
)
"""The pod settings flags by their argparse names: what :func:`pod_settings_arguments` passes on."""


def add_pod_settings(group: argparse._ArgumentGroup) -> None:
    """The build pod's settings flags (``run``, and ``emerge`` for each step)."""
    group.add_argument(
        "--requests", action="append", default=[], metavar="NAME=QTY,…", help="resource requests, e.g. cpu=1,memory=2Gi"
    )
    group.add_argument("--limits", action="append", default=[], metavar="NAME=QTY,…", help="resource limits")
    group.add_argument(
        "--node-selector", action="append", default=[], metavar="KEY=VALUE,…", help="node labels the pod needs"
    )
    group.add_argument(
        "--toleration",
        action="append",
        default=[],
        metavar="KEY[=VALUE][:EFFECT]",
        help="a taint the pod tolerates: key=value:NoSchedule, key:NoExecute (any value), key (any value, any effect)",
    )
    group.add_argument(
        "--service-account", metavar="NAME", help="the pod's service account (its token is never mounted)"
    )
    group.add_argument("--priority-class", metavar="NAME", help="the pod's PriorityClass")
    group.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE,…", help="a label on the Job and its pod"
    )
    group.add_argument(
        "--annotation",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an annotation on the Job and its pod (one per flag: the value may hold commas)",
    )
    group.add_argument(
        "--cache-volume",
        metavar="pvc:CLAIM|hostPath:/DIR",
        help="keep the ware cache on this volume, shared by build pods, instead of in each pod (hostPath needs a"
        " namespace that allows it; Pod Security baseline does not)",
    )


def cmd_run(args: argparse.Namespace) -> None:
    """Run the formula; exit through ``SystemExit`` with repeatr's code after printing the outcome."""
    from r2k8s.cli.memo import Memo
    from r2k8s.core.run.monitor import AnsiMonitor

    if args.dry_run:
        _dry_run(args, AnsiMonitor(sys.stderr))
        return
    options = None if args.local else _cluster_options(args)  # bad flags: a usage error before anything runs
    if args.format == "json":
        _run_json(args, options)
        return
    monitor = AnsiMonitor(sys.stderr)
    try:
        memo = Memo.from_arguments(args.memo_dir, Path(args.formula), monitor.log)
        record_json = None if memo is None or args.no_memo else memo.recall()
        if record_json is None:
            record_json = _run_local(args, monitor, []) if options is None else _run_on_cluster(args, options, monitor)
            if memo is not None:
                memo.save(record_json)
    except R2k8sError as exc:
        monitor.failed(exc.message)
        raise SystemExit(exc.category.exit_code) from None
    monitor.record_follows()
    sys.stdout.write(record_json)
    sys.stdout.flush()


def _run_json(args: argparse.Namespace, options: ClusterOptions | None) -> None:
    """``--format json``: events on stdout, the record (or the error of a run that started) in the last one."""
    from r2k8s.cli.memo import Memo
    from r2k8s.core.run.events import JsonMonitor
    from r2k8s.core.run.record import from_json

    monitor = JsonMonitor(sys.stdout.buffer)
    jobs: list[Job] = []
    started = False  # a local run has started once its Job exists, a cluster run once its formula loaded
    try:
        memo = Memo.from_arguments(args.memo_dir, Path(args.formula), monitor.log)
        record_json = None if memo is None or args.no_memo else memo.recall()
        if record_json is None:
            if options is None:
                record_json = _run_local(args, monitor, jobs)
            else:
                from r2k8s.formula_files import load_formula_file

                load_formula_file(Path(args.formula))  # repeatr: a formula it cannot load ends before the executor
                started = True
                record_json = _run_on_cluster(args, options, monitor)
            if memo is not None:
                memo.save(record_json)
    except R2k8sError as exc:
        if started or jobs:
            from r2k8s.cluster.conversation import AgentError

            record = jobs[0].record if jobs else exc.record if isinstance(exc, AgentError) else None
            monitor.result(record, (exc.category.wire_name, exc.message))
        sys.stderr.write(f"{exc.message}\n")
        sys.stderr.flush()
        raise SystemExit(exc.category.exit_code) from None
    monitor.result(from_json(record_json))


def _dry_run(args: argparse.Namespace, monitor: AnsiMonitor) -> None:
    from r2k8s.cluster.dry_run import dry_run_yaml

    if args.local:
        raise R2k8sError(Category.USAGE, "--dry-run shows what a cluster run would create; it has no --local form")
    if args.format != "ansi":
        raise R2k8sError(Category.USAGE, "--dry-run prints YAML manifests; --format does not apply")
    text = dry_run_yaml(Path(args.formula), _cluster_options(args), monitor)
    sys.stdout.write(text)
    sys.stdout.flush()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1 second: {text!r}")
    return value


def pod_settings(args: argparse.Namespace) -> PodSettings:
    """The flags :func:`add_pod_settings` took, checked (a usage error names the flag)."""
    from r2k8s.cluster.pod_settings import PodSettings

    return PodSettings.from_flags(
        requests=args.requests,
        limits=args.limits,
        node_selector=args.node_selector,
        tolerations=args.toleration,
        service_account=args.service_account,
        priority_class=args.priority_class,
        labels=args.label,
        annotations=args.annotation,
        cache_volume=args.cache_volume,
    )


def pod_settings_arguments(args: argparse.Namespace) -> list[str]:
    """The pod settings flags as given, for a child ``r2k8s run`` (each step of ``emerge``)."""
    argv: list[str] = []
    for attribute, flag in POD_SETTING_FLAGS:
        value = getattr(args, attribute)
        for item in value if isinstance(value, list) else [] if value is None else [value]:
            argv += [flag, str(item)]
    return argv


def _cluster_options(args: argparse.Namespace) -> ClusterOptions:
    from r2k8s.cluster.run import ClusterOptions
    from r2k8s.core.agent.contract import DEFAULT_IMAGE

    pod = pod_settings(args)
    return ClusterOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        image=args.image or DEFAULT_IMAGE,
        timeout=args.timeout,
        ttl=args.ttl,
        pod=pod,
    )


def _run_on_cluster(args: argparse.Namespace, options: ClusterOptions, monitor: AnsiMonitor | JsonMonitor) -> str:
    from r2k8s.cluster.run import run_on_cluster

    return run_on_cluster(Path(args.formula), options, monitor)


def _run_local(args: argparse.Namespace, monitor: AnsiMonitor | JsonMonitor, jobs: list[Job]) -> str:
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
    jobs.append(job)  # its record is what a failed run got to (--format json prints it)
    previous = host.install_stop_signals(job)
    try:
        record = job.run()
    finally:
        host.restore_signals(previous)
    return to_json(record)
