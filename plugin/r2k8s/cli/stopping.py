"""SIGTERM and SIGHUP unwind a command as Ctrl-C does: :class:`StopRequested`, raised where the command is.

Its own module, importing nothing but :mod:`signal`, because the console script
installs it before anything else — before the KRM function's start-up shortcut
reads stdin, where kustomize, kpt or a service manager may stop it — and that
path must stay as light as it is.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["StopRequested", "stop_on_signals"]


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
