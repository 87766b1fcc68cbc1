"""``r2k8s check [-R] [FILE|DIR|-]…``: refuse manifests whose images still name formulas, before ``kubectl apply``.

stdout lists each image that is still a formula reference, one per line
(file, resource, field, container, image); stderr sums up. Exit 0 when there
is none, 1 when there is any, or when an input cannot be read (each named).
No argument reads stdin. A folder contributes its ``.yaml``, ``.yml`` and
``.json`` files in file-name order; ``-R`` walks its subfolders too, as
``kubectl apply -R -f`` does. The search itself is :mod:`r2k8s.krm.check`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from r2k8s.cli.console import Subparsers, log
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
    p.add_argument(
        "paths",
        nargs="*",
        metavar="FILE|DIR|-",
        help="manifests to check: files, folders (their .yaml, .yml and .json files, in name order) or - for"
        " stdin (the default)",
    )
    p.add_argument("-R", "--recursive", action="store_true", help="check folders' subfolders too, as kubectl -R")
    p.set_defaults(run=cmd_check)


def cmd_check(args: argparse.Namespace) -> None:
    from r2k8s.krm.check import Source, findings

    paths: list[str] = args.paths or ["-"]
    if paths == ["-"] and sys.stdin.isatty():
        raise R2k8sError(Category.USAGE, "nothing to check: name files or folders, or pipe manifests on stdin")
    unreadable = inputs = resources = 0
    found = []
    for source in _sources(paths, args.recursive):
        if isinstance(source, R2k8sError):
            unreadable += 1
            log(f"error: {source.message}")
            continue
        try:
            count, here = findings(Source(*source))
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


def _sources(paths: list[str], recursive: bool) -> Iterator[tuple[str, str] | R2k8sError]:
    """(name, text) of every input in order, one at a time, or the error that stops one being read, in its
    place. stdin is read once, however often ``-`` is named."""
    from r2k8s.krm.check import manifest_files

    stdin_read = False
    for given in paths:
        if given == "-":
            if not stdin_read:
                stdin_read = True
                yield _decoded(sys.stdin.buffer.read(), "stdin")
            continue
        path = Path(given)
        if not path.is_dir():
            yield _read(path)
            continue
        try:
            files = manifest_files(path, recursive)
        except R2k8sError as exc:
            yield exc
            continue
        if not files:
            nested = not recursive and any(p.is_dir() for p in path.iterdir())
            yield R2k8sError(
                Category.USAGE,
                f"{given}: no .yaml, .yml or .json files in it{' (-R checks its subfolders)' if nested else ''}",
            )
        for file in files:
            yield _read(file)


def _read(path: Path) -> tuple[str, str] | R2k8sError:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return R2k8sError(Category.USAGE, f"{path}: {exc.strerror or exc}")
    return _decoded(data, str(path))


def _decoded(data: bytes, name: str) -> tuple[str, str] | R2k8sError:
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return R2k8sError(
            Category.USAGE, f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
