"""How every ``r2k8s`` command talks: the result alone on stdout, everything else on stderr, usage errors exit 1.

Shared by the command groups of :mod:`r2k8s.cli`; it imports nothing heavy, so
the KRM function's start-up does not pay for the other commands.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from r2k8s.core.errors import Category

__all__ = ["Parser", "Subparsers", "log"]

# What ``add_subparsers`` returns; argparse exposes no public name for it, and typeshed's is generic in
# the parser class while the class itself is not subscriptable at run time.
if TYPE_CHECKING:
    Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
else:
    Subparsers = argparse._SubParsersAction


def log(line: str) -> None:
    """One diagnostic line on stderr, prefixed ``r2k8s:``."""
    print(f"r2k8s: {line}", file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments; 2 means a crash here, so use 1 (usage)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(Category.USAGE.exit_code)
