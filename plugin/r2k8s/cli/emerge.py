"""``r2k8s emerge MODULE``: evaluate a timeless module as a graph of formulas; print its exports.

Reads and checks the module (:mod:`r2k8s.modules.parse`), decides where its
outputs go and where its memo lives (the workspace's ``.timeless/warehouse``
and ``.timeless/memo``, as ``reach emerge`` does, unless flags say
otherwise), then runs it (:mod:`r2k8s.modules.evaluate`): each step as
``r2k8s run`` on the cluster, or with ``--local`` on this machine, with the
cluster or local options given here. stdout gets the exports, a JSON map of
ware IDs (tab-indented, sorted, as reach prints them), and nothing else.

``--format json`` makes stdout an event stream instead, repeatr's
(:mod:`r2k8s.core.run.events`; the steps' own events tagged with their names,
:mod:`r2k8s.modules.report`), ending with emerge's own ``result`` event: the
exports, or the error that stopped it, whatever stopped it once the command
line was read. The exit code is the same in both forms.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from r2k8s.cli.console import Subparsers
from r2k8s.cli.run import (
    EXECUTOR_CHOICES,
    PLACER_CHOICES,
    _positive_int,
    add_pod_settings,
    pod_settings,
    pod_settings_arguments,
)
from r2k8s.core.errors import Category, R2k8sError

if TYPE_CHECKING:
    from r2k8s.modules.report import Report

__all__ = ["add_parsers", "cmd_emerge"]

PASSED_TO_RUN = (
    ("kubeconfig", "--kubeconfig"),
    ("context", "--context"),
    ("namespace", "--namespace"),
    ("image", "--image"),
    ("timeout", "--timeout"),
    ("ttl", "--ttl"),
    ("executor", "--executor"),
    ("placer", "--placer"),
    ("cache", "--cache"),
    ("jobs_dir", "--jobs-dir"),
)
"""The options each step's ``r2k8s run`` gets, when given here."""


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "emerge",
        help="evaluate a timeless module (module.tl); print its exports as a JSON map of ware IDs",
        description="Evaluate a timeless module as 'reach emerge' does: every step whose inputs are ready runs at "
        "once, each as 'r2k8s run' (a build Job on the cluster, or --local on this machine), memoized by setup hash; "
        "outputs are saved to the staging warehouse, where the steps naming them fetch them. Imports: "
        "ingest:literal:<ware ID>, a ware ID, or catalog:MODULE:RELEASE:ITEM (the workspace's .timeless/catalog).",
    )
    p.add_argument("module", nargs="?", default=".", help="module.tl, or the folder holding it (default: .)")
    p.add_argument("--local", action="store_true", help="run the steps on this machine instead of on the cluster")
    p.add_argument(
        "--warehouse",
        action="append",
        default=[],
        metavar="URL",
        help="fetch imports from this warehouse too (repeatable; relative file URLs from the current folder)",
    )
    p.add_argument(
        "--save-to",
        metavar="URL",
        help="the staging warehouse, ca+file://DIR, where outputs are saved and later steps fetch them "
        "(default: the workspace's .timeless/warehouse)",
    )
    p.add_argument(
        "--memo-dir",
        metavar="DIR",
        help="memo directory (default $REPEATR_MEMODIR, else the workspace's .timeless/memo)",
    )
    p.add_argument("--no-memo", action="store_true", help="run every step even if memoized (successes still refresh)")
    p.add_argument(
        "--format",
        choices=("ansi", "json"),
        default="ansi",
        help="ansi (default): the exports on stdout, events on stderr; json: repeatr's JSON event stream on stdout, "
        "each step's events tagged with its name, ending with a result event holding the exports or the error",
    )
    cluster = p.add_argument_group("on a cluster (without --local): as for 'r2k8s run', for every step")
    cluster.add_argument("--kubeconfig", metavar="FILE")
    cluster.add_argument("--context")
    cluster.add_argument("-n", "--namespace")
    cluster.add_argument("--image", metavar="IMAGE")
    cluster.add_argument("--timeout", type=_positive_int, metavar="SECONDS", help="per step (default 3600)")
    cluster.add_argument("--ttl", type=_positive_int, metavar="SECONDS")
    add_pod_settings(p.add_argument_group("every step's build pod (without --local): as for 'r2k8s run'"))
    local = p.add_argument_group("on this machine (with --local): as for 'r2k8s run --local', for every step")
    local.add_argument("--executor", choices=EXECUTOR_CHOICES)
    local.add_argument("--placer", choices=PLACER_CHOICES)
    local.add_argument("--cache", metavar="DIR")
    local.add_argument("--jobs-dir", metavar="DIR")
    p.set_defaults(run=cmd_emerge)


def cmd_emerge(args: argparse.Namespace) -> str | None:
    from r2k8s.core.run.events import JsonMonitor, result_event
    from r2k8s.core.run.monitor import AnsiMonitor
    from r2k8s.modules.report import AnsiReport, JsonReport

    if args.format == "ansi":
        exports = _emerge(args, AnsiReport(AnsiMonitor(sys.stderr)))
        return json.dumps(exports, indent="\t", sort_keys=True)
    monitor = JsonMonitor(sys.stdout.buffer)
    try:
        exports = _emerge(args, JsonReport(monitor))
    except R2k8sError as exc:
        monitor.event(result_event(None, (exc.category.wire_name, exc.message)))
        raise  # and on stderr, with its exit code, as without --format json
    monitor.event(result_event(None, exports=exports))
    return None


def _emerge(args: argparse.Namespace, report: Report) -> dict[str, str]:
    from r2k8s.cli.memo import memo_directory
    from r2k8s.core.run.memo import MemoStore
    from r2k8s.core.warehouse.urls import WarehouseURL
    from r2k8s.modules.catalog import absolute_url
    from r2k8s.modules.evaluate import EmergeOptions, evaluate
    from r2k8s.modules.parse import load_module
    from r2k8s.modules.workspace import Workspace

    settings = [] if args.local else pod_settings_arguments(args)
    if settings:
        pod_settings(args)  # checked here, once, before any step runs
    module = load_module(Path(args.module))
    workspace = Workspace.of_module(module.path.parent)
    cwd = Path.cwd()
    if args.save_to:
        staging = WarehouseURL.parse(args.save_to, cwd)
        if not (staging.is_file and staging.content_addressed and not staging.legacy_flat):
            raise R2k8sError(Category.USAGE, f"--save-to {args.save_to}: the staging warehouse must be ca+file://DIR")
        if staging.path is None or not staging.path.is_dir():  # refused now, not after the first step ran
            raise R2k8sError(
                Category.WAREHOUSE_UNAVAILABLE, f"--save-to {args.save_to}: warehouse {staging.path} does not exist"
            )
    else:
        workspace.warehouse.mkdir(parents=True, exist_ok=True)
        staging = WarehouseURL.parse(f"ca+file://{workspace.warehouse}")
    memo_dir = memo_directory(args.memo_dir) or str(workspace.memo)
    run_arguments = ["--local"] if args.local else list(settings)
    for attribute, flag in PASSED_TO_RUN:
        value = getattr(args, attribute)
        if value is not None:
            run_arguments += [flag, str(Path(value).absolute()) if attribute in ("cache", "jobs_dir") else str(value)]
    options = EmergeOptions(
        run_arguments=run_arguments,
        warehouses=[absolute_url(url, cwd) for url in args.warehouse],
        staging=absolute_url(staging.raw, cwd),
        memo=MemoStore(memo_dir),
        no_memo=args.no_memo,
    )
    exports = evaluate(module, options, report)
    report.log(f"info: module {module.path} evaluated; exports follow")
    return exports
