"""``r2k8s check [-R] [FILE|DIR|-]…``: refuse manifests whose images still name formulas, before ``kubectl apply``.

stdout lists each image that is still a formula reference, one per line
(file, resource, field, container, image); stderr sums up. Exit 0 when there
is none, 1 when there is any, or when an input cannot be read (each named).
No argument reads stdin. A folder contributes its ``.yaml``, ``.yml`` and
``.json`` files in file-name order; ``-R`` walks its subfolders too, as
``kubectl apply -R -f`` does (:mod:`r2k8s.krm.manifests`). The search itself is :mod:`r2k8s.krm.check`.
"""

from __future__ import annotations

import argparse

from r2k8s.cli.console import Subparsers, add_manifest_paths, log, manifest_paths
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["HOW_TO_EXPAND", "add_parsers", "cmd_check"]

HOW_TO_EXPAND = (
    "run it first: kustomize build --enable-alpha-plugins --enable-exec, kpt fn render, helm --post-renderer"
    " r2k8s, or r2k8s fn < FILE (kubectl kustomize and kubectl apply -k skip exec functions: use the function's"
    " container form there)"
)
"""What the summary of a failed check says to do."""


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "check",
        help="fail when a container image is still a formula reference (the function did not run); for CI",
        description="Find every container whose image is still a formula reference (./x.formula, ../x.formula, "
        "formula:NAME), which would reach the cluster as an image name nothing can pull: run it in CI before "
        "'kubectl apply'. Reads ResourceLists, plain multi-document streams and 'kind: List', YAML or JSON. "
        "Lists each such image on stdout (file, resource, field, container, image). "
        "Exit 0: none; 1: some, or an input that cannot be read.",
    )
    add_manifest_paths(p, "manifests to check")
    p.set_defaults(run=cmd_check)


def cmd_check(args: argparse.Namespace) -> None:
    from r2k8s.krm.check import findings
    from r2k8s.krm.manifests import read_sources

    paths = manifest_paths(args, "check")
    unreadable = inputs = resources = 0
    found = []
    for source in read_sources(paths, args.recursive):
        if isinstance(source, R2k8sError):
            unreadable += 1
            log(f"error: {source.message}")
            continue
        try:
            count, here = findings(source)
        except R2k8sError as exc:
            unreadable += 1
            log(f"error: {exc.message}")
            continue
        inputs += 1
        resources += count
        for finding in here:
            print(finding.text(), flush=True)
        found += here
    checked = f"{_count(resources, 'resource')} in {_count(inputs, 'input')}"
    if found:
        holders = len({(finding.file, finding.resource) for finding in found})
        raise R2k8sError(
            Category.USAGE,
            f"{_count(len(found), 'image')} in {_count(holders, 'resource')} still name a formula (of {checked}"
            f" checked): the r2k8s function did not run on these manifests; {HOW_TO_EXPAND}"
            + (f"; and {_count(unreadable, 'input')} could not be read" if unreadable else ""),
        )
    if unreadable:
        raise R2k8sError(
            Category.USAGE,
            f"{_count(unreadable, 'input')} could not be read (above); no formula references in {checked}",
        )
    log(f"no formula references: checked {checked}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
