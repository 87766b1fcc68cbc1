"""``r2k8s inspect [FILE|DIR|-]… [-R] [-o table|json] [--lock-output FILE] [--lock FILE]``: what expanded
manifests run.

stdout: a table (one row per container and input ware) or a JSON document
(``{"containers": [...], "unexpanded": [...]}``, README "inspect"); stderr: a
summary. Inputs are read as ``r2k8s check`` reads them. Manifests with nothing
expanded are no error (kbld's ``inspect`` lists no images and succeeds; ko
leaves such manifests alone): the table is its header, the JSON has no
containers, and stderr says so — and, when images still name formulas, that
the function did not run on them.

``--lock-output FILE`` writes the formula lock (:mod:`r2k8s.expanded.lock`);
``--lock FILE`` compares with one and exits 1 listing every formula that
changed, appeared or went: the CI gate for already-expanded manifests
(``kustomize build``, ``helm template``). Either refuses manifests that could
not all be read, or that still name formulas: a lock must say everything.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from r2k8s.cli.console import Subparsers, add_manifest_paths, log, manifest_paths
from r2k8s.core.errors import Category, R2k8sError

if TYPE_CHECKING:
    from r2k8s.expanded.reader import Expanded

__all__ = ["add_parsers", "cmd_inspect"]


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "inspect",
        help="list what expanded manifests run (resource, container, formula ID, wares); write or check a lock",
        description="List every container the r2k8s function expanded, in any kind: its resource, formula ID, "
        "input wares and the warehouses its pod tries, from the r2k8s.io/formulas annotation and the embedded "
        "formula spec, which must agree (an edited expansion is an error). Reads ResourceLists, plain streams and "
        "'kind: List', YAML or JSON. Exit 0; 1 if an input cannot be read, an expansion was edited, or the "
        "manifests differ from --lock.",
    )
    add_manifest_paths(p, "expanded manifests")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table", help="table (default) or json")
    p.add_argument(
        "--lock-output", metavar="FILE", help="write the formula lock (a FormulaLock document) for these manifests"
    )
    p.add_argument(
        "--lock", metavar="FILE", help="fail (exit 1) listing every formula that differs from this formula lock"
    )
    p.set_defaults(run=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> str | None:
    from r2k8s.expanded.lock import lock_differences, read_lock, write_lock
    from r2k8s.expanded.reader import read_expanded
    from r2k8s.expanded.report import inspect_document, table

    paths = manifest_paths(args, "inspect")
    lock = read_lock(args.lock) if args.lock else None  # a bad lock is named before any output
    found = read_expanded(paths, args.recursive)
    if args.output == "json":
        print(json.dumps(inspect_document(found.containers, found.references), indent=2), flush=True)
    else:
        print(table(found.containers), flush=True)
    for message in found.errors:
        log(f"error: {message}")
    read = f"{_count(found.resources, 'resource')} in {_count(found.inputs, 'input')}"
    holders = len({entry.resource for entry in found.containers})
    if found.containers:
        log(f"{_count(len(found.containers), 'expanded container')} in {_count(holders, 'resource')} (of {read})")
    else:
        log(f"nothing expanded: no container of {read} runs a formula through r2k8s (not an error)")
    if found.references:
        log(
            f"warn: {_count(len(found.references), 'image')} still name a formula: the r2k8s function did not run on"
            " them (r2k8s check lists them)"
        )
    complete = not found.errors and not found.references
    problems = []
    if args.lock_output:
        if complete:
            write_lock(args.lock_output, found.containers)
            log(f"wrote the formula lock {args.lock_output} ({_count(len(found.containers), 'container')})")
        else:
            problems.append(f"did not write the lock {args.lock_output}: {_why_incomplete(found)}")
    if lock is not None:
        differences = lock_differences(lock, found.containers)
        for difference in differences:
            log(f"differs: {difference}")
        if differences:
            problems.append(f"{_count(len(differences), 'container')} differ from the lock {lock.source} (above)")
        elif not complete:
            problems.append(f"cannot hold the manifests to the lock {lock.source}: {_why_incomplete(found)}")
        else:
            log(f"the manifests run what the lock {lock.source} says")
    if found.errors:
        problems.insert(0, f"{_count(len(found.errors), 'problem')} in the input (above)")
    if problems:
        raise R2k8sError(Category.USAGE, "; ".join(problems))
    return None


def _why_incomplete(found: Expanded) -> str:
    if found.errors:
        return "not every input could be read (above)"
    return f"{_count(len(found.references), 'image')} still name a formula (expand the manifests first)"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
