"""``r2k8s mirror [-f FILE|DIR|-]… [-R] [--lock FILE] --to ca+file://DIR``: the wares manifests need, in one
warehouse, for offline and air-gapped clusters.

stdout has one line per ware: ``copied WARE from URL``, ``present WARE
(already there, verified)`` or ``failed WARE: why (tried: URLs); needed by
…``. stderr sums up. Exit 0 when every ware is there; otherwise the exit code
of the first failure (3 no warehouse reachable, 5 not found, 7 hash mismatch,
…), or 1 for input that cannot be read. The logic is
:mod:`r2k8s.expanded.mirror`.
"""

from __future__ import annotations

import argparse
import sys

from r2k8s.cli.console import Subparsers, log
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["add_parsers", "cmd_mirror"]


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "mirror",
        help="copy every ware some manifests (or a formula lock) need into one warehouse, for offline clusters",
        description="Copy every input ware of the formulas the manifests run (expanded manifests: the warehouses "
        "their pods would try; unexpanded ones: the formula files they name, relative to the manifest) or a "
        "formula lock lists, from the first of their warehouses that serves it, into one content-addressed file "
        "warehouse: verified by hash, atomically, skipping what is already there (verified). Serve that folder "
        "in the cluster and point the function config's warehouses.mirrors or rewrite at it.",
    )
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="FILE|DIR|URL|-",
        help="manifests (expanded or not): files, folders, http(s) URLs or - for stdin; repeat for more"
        " (default: stdin, unless --lock is given)",
    )
    p.add_argument("-R", "--recursive", action="store_true", help="read folders' subfolders too, as kubectl -R")
    p.add_argument("--lock", metavar="FILE", help="a formula lock (r2k8s inspect --lock-output): mirror its wares too")
    p.add_argument("--to", required=True, metavar="URL", help="the warehouse to fill: ca+file://DIR (made if missing)")
    p.set_defaults(run=cmd_mirror)


def cmd_mirror(args: argparse.Namespace) -> None:
    from r2k8s.expanded.lock import read_lock
    from r2k8s.expanded.mirror import COPIED, FAILED, PRESENT, MirrorResult, mirror_wares, needs_of, target_warehouse
    from r2k8s.expanded.reader import Expanded, read_expanded

    paths: list[str] = args.filename or ([] if args.lock else ["-"])
    if paths == ["-"] and sys.stdin.isatty():
        raise R2k8sError(Category.USAGE, "nothing to mirror: give manifests with -f, a lock with --lock, or pipe them")
    lock = read_lock(args.lock) if args.lock else None
    warehouse = target_warehouse(args.to, log)
    found = read_expanded(paths, args.recursive) if paths else Expanded()
    for message in found.errors:
        log(f"error: {message}")
    containers = [*(lock.containers if lock is not None else ()), *found.containers]
    needs, unloadable = needs_of(containers, found.references, found)
    for message in unloadable:
        log(f"error: {message}")
    found.errors += unloadable
    references = len(found.references) - len(unloadable)

    def report(result: MirrorResult) -> None:
        print(result.line(), flush=True)

    results = mirror_wares(needs, warehouse, log, report)
    failed = [result for result in results if result.status == FAILED]
    counts = {status: sum(1 for r in results if r.status == status) for status in (COPIED, PRESENT)}
    log(
        f"{counts[COPIED]} copied, {counts[PRESENT]} already there, {len(failed)} failed, of"
        f" {_count(len(results), 'ware')} ({_count(len(containers), 'expanded container')},"
        f" {_count(references, 'formula reference')}) into {args.to}"
    )
    if failed:
        first = failed[0]
        raise R2k8sError(
            first.category or Category.USAGE,
            f"{_count(len(failed), 'ware')} not mirrored: "
            + "; ".join(result.need.ware for result in failed)
            + (f"; and {_count(len(found.errors), 'problem')} in the input (above)" if found.errors else ""),
        )
    if found.errors:
        raise R2k8sError(Category.USAGE, f"{_count(len(found.errors), 'problem')} in the input (above)")
    if not results:
        raise R2k8sError(
            Category.USAGE,
            f"nothing to mirror: no expanded container or formula reference in {_count(found.resources, 'resource')}"
            f" of {_count(found.inputs, 'input')}" + (" and the lock lists no container" if lock is not None else ""),
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
