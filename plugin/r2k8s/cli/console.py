"""How every ``r2k8s`` command talks: the result alone on stdout, everything else on stderr, usage errors exit 1.

Shared by the command groups of :mod:`r2k8s.cli`; it imports nothing heavy, so
the KRM function's start-up does not pay for the other commands.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from r2k8s.core.errors import Category

__all__ = ["Parser", "StopRequested", "Subparsers", "log", "stop_on_signals"]

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


class StopRequested(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the command is, so it unwinds exactly as Ctrl-C does.

    Every command already cleans up on ``KeyboardInterrupt`` (staging
    directories, half-saved wares) and exits 8 (``rio-cancelled``); a service
    manager's SIGTERM or a closed terminal's SIGHUP deserve the same, not a
    death that leaves the staging directory behind.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    for other in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(other, signal.SIG_IGN)  # once stopping, a second signal must not cut the clean-up short
    raise StopRequested(signum)


def stop_on_signals() -> None:
    """From now on, SIGTERM and SIGHUP raise :class:`StopRequested` in the main thread."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
