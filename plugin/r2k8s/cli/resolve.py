"""``r2k8s resolve -f FILE|DIR|URL|- … [-R]`` (and the seed's ``r2k8s FILE…``): manifests in, one stream out.

As ``ko resolve -f`` and ``kbld -f``: every source's resources, their formula containers expanded exactly
as the function expands them, written as one multi-document stream on stdout for ``kubectl apply -f -``;
warnings and a one-line summary on stderr. The work is :mod:`r2k8s.resolve`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from r2k8s.cli.console import Subparsers, log
from r2k8s.core.errors import Category, R2k8sError

if TYPE_CHECKING:
    from r2k8s.expanded import Lock

__all__ = ["VALUED_OPTIONS", "add_parsers", "as_filenames", "cmd_resolve", "names_manifests"]

VALUED_OPTIONS = frozenset({"-f", "--filename", "--root", "--config", "--lock-output", "--lock"})
"""The options of ``resolve`` that take a value (the next word)."""


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "resolve",
        help="expand the formula containers of manifest files, folders or URLs into one stream for kubectl apply",
        description="Read manifests (files; folders' .yaml, .yml and .json files in name order; - for stdin;"
        " http(s) URLs), expand every container whose image is ./path.formula (relative to the file naming it)"
        " or formula:NAME as the KRM function does, and print one multi-document YAML stream. Each expanded pod"
        " template records where its formulas came from (r2k8s.io/formula-origins: file, formula ID, git commit)."
        " 'r2k8s FILE…' does the same.",
    )
    p.add_argument(
        "-f",
        "--filename",
        dest="sources",
        action="append",
        default=[],
        metavar="FILE|DIR|URL|-",
        help="a manifest file, a folder of them, an http(s) URL or - (stdin); repeat for more (plain words too)",
    )
    p.add_argument("-R", "--recursive", action="store_true", help="read folders' subfolders too, as kubectl -R")
    p.add_argument(
        "--root",
        metavar="DIR",
        help="formula paths must stay inside it, and the record's paths are relative to it (default: the current"
        " folder when every source is inside it, else the deepest folder holding them all)",
    )
    p.add_argument("--config", metavar="FILE", help="a function config (R2k8sFunction) to expand with")
    p.add_argument(
        "--lock-output",
        metavar="FILE",
        help="also write the formula lock (a FormulaLock: per resource and container, the formula's origin, ID,"
        " input wares and warehouses) for what was resolved",
    )
    p.add_argument(
        "--lock",
        metavar="FILE",
        help="fail, printing nothing, unless what is resolved runs exactly the formulas this lock lists",
    )
    p.set_defaults(run=cmd_resolve)


def names_manifests(word: str) -> bool:
    """Whether ``r2k8s WORD …`` means ``r2k8s resolve -f WORD …``: an existing file or folder, an http(s) URL,
    or a name ending ``.yaml``, ``.yml`` or ``.json`` (missing: resolve says so, rather than "invalid choice")."""
    from r2k8s.krm.manifests import MANIFEST_SUFFIXES, is_url

    if word.startswith("-"):
        return False
    return is_url(word) or word.endswith(MANIFEST_SUFFIXES) or Path(word).exists()


def as_filenames(words: Sequence[str]) -> list[str]:
    """``words`` with each plain word (a source) written as ``-f WORD``, options left as they are: ``r2k8s a.yaml
    b/ --root .`` is ``resolve -f a.yaml -f b/ --root .``, in order."""
    out: list[str] = []
    valued = False
    for word in words:
        if valued:
            out.append(word)
            valued = False
        elif word in VALUED_OPTIONS:
            out.append(word)
            valued = True
        elif word.startswith("-") and word != "-":
            out.append(word)
        else:
            out += ["-f", word]
    return out


def cmd_resolve(args: argparse.Namespace) -> None:
    from r2k8s.cli import write_stdout
    from r2k8s.krm.results import Results, Severity
    from r2k8s.resolve import ResolveFailed, resolve

    config_file = Path(args.config).absolute() if args.config else None
    config = None
    if args.config:
        from r2k8s.cli.fn import _config_document  # the same --config reading as the function's

        config = _config_document(args.config)
    lock = None
    if args.lock:
        from r2k8s.expanded import read_lock

        lock = read_lock(args.lock)  # a bad lock is named before anything is resolved
    root = Path(args.root) if args.root else None
    if root is not None and not root.is_dir():
        raise R2k8sError(Category.USAGE, f"--root {args.root}: not a folder")
    try:
        resolved = resolve(args.sources, recursive=args.recursive, root=root, config=config, config_file=config_file)
    except ResolveFailed as failed:
        for line in failed.results.stderr_lines():
            log(line)
        raise SystemExit(failed.results.exit_code or Category.USAGE.exit_code) from None
    for line in Results(r for r in resolved.results if r.severity is not Severity.INFO).stderr_lines():
        log(line)
    if lock is not None or args.lock_output:
        _hold_to_lock(resolved.text, lock, args.lock_output)
    write_stdout(resolved.text)
    summary = [result.message for result in resolved.results if result.severity is Severity.INFO]
    sources = len(resolved.sources)
    log(
        f"resolved {resolved.read} resource{'' if resolved.read == 1 else 's'} from {sources}"
        f" source{'' if sources == 1 else 's'}" + (f": {summary[0]}" if summary else ": no formula to expand")
    )


def _hold_to_lock(text: str, lock: Lock | None, lock_output: str | None) -> None:
    """Check what was resolved against ``lock`` (every difference logged, then exit 1 before any output), and
    write ``lock_output``: both read the expansion back as ``r2k8s inspect`` does, so a lock says what runs."""
    from r2k8s.expanded import lock_differences, write_lock
    from r2k8s.expanded.reader import Expanded, expanded_in
    from r2k8s.krm.manifests import Source

    found = Expanded()
    expanded_in(Source("the resolved stream", text), found)
    if found.errors:  # the function's own output always holds together: this is a bug
        raise R2k8sError(Category.PANIC, "the resolved stream does not read back: " + "; ".join(found.errors))
    if lock is not None:
        differences = lock_differences(lock, found.containers)
        for difference in differences:
            log(f"differs: {difference}")
        if differences:
            raise R2k8sError(
                Category.USAGE,
                f"{len(differences)} container{'' if len(differences) == 1 else 's'} differ from the lock"
                f" {lock.source} (above): nothing printed; resolve with --lock-output to accept the change",
            )
    if lock_output:
        write_lock(lock_output, found.containers)
        log(f"wrote the formula lock {lock_output}")
