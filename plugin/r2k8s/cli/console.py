"""How every ``r2k8s`` command talks: the result alone on stdout, everything else on stderr, usage errors exit 1.

Shared by the command groups of :mod:`r2k8s.cli`; it imports nothing heavy, so
the KRM function's start-up does not pay for the other commands.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from r2k8s.core.errors import Category, R2k8sError, redact_credentials

__all__ = ["Parser", "Subparsers", "add_manifest_paths", "log", "manifest_paths"]

# What ``add_subparsers`` returns; argparse exposes no public name for it, and typeshed's is generic in
# the parser class while the class itself is not subscriptable at run time.
if TYPE_CHECKING:
    Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
else:
    Subparsers = argparse._SubParsersAction


def log(line: str) -> None:
    """One diagnostic line on stderr, prefixed ``r2k8s:`` (a URL's password shows as ``xxxxx``)."""
    print(f"r2k8s: {redact_credentials(line)}", file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments; 2 means a crash here, so use 1 (usage)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {redact_credentials(message)}", file=sys.stderr)
        raise SystemExit(Category.USAGE.exit_code)


def add_manifest_paths(p: argparse.ArgumentParser, what: str) -> None:
    """The ``FILE|DIR|URL|-`` words and ``-R`` of a command that reads manifests as positionals (``check``,
    ``inspect``): read by :mod:`r2k8s.krm.manifests`, so each takes the same inputs."""
    p.add_argument(
        "paths",
        nargs="*",
        metavar="FILE|DIR|URL|-",
        help=f"{what}: files, folders (their .yaml, .yml and .json files, in name order), http(s) URLs or - for"
        " stdin (the default)",
    )
    p.add_argument("-R", "--recursive", action="store_true", help="read folders' subfolders too, as kubectl -R")


def manifest_paths(args: argparse.Namespace, verb: str) -> list[str]:
    """The paths :func:`add_manifest_paths` took, stdin when none; a terminal on stdin is a usage error (no
    command waits for typing)."""
    paths: list[str] = args.paths or ["-"]
    if paths == ["-"] and sys.stdin.isatty():
        raise R2k8sError(Category.USAGE, f"nothing to {verb}: name files or folders, or pipe manifests on stdin")
    return paths
