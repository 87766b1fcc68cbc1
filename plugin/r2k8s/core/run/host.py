"""What running formulas asks of this host: root, a private mount namespace, stop signals.

A local run mounts inputs and switches uid/gid, so it needs root
(:func:`require_root` says so first); its mounts live in a private mount
namespace (:func:`enter_private_mount_namespace`) so they never reach the
host and vanish with the process; SIGINT, SIGTERM and SIGHUP become a
request to stop the job that also cuts the HTTP transfers under way
(:func:`install_stop_signals`). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol, TypeAlias

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.run import linux
from r2k8s.core.warehouse.fetch import interrupt_transfers, resume_transfers

__all__ = [
    "Handler",
    "Stoppable",
    "enter_private_mount_namespace",
    "install_stop_signals",
    "require_root",
    "restore_signals",
]


Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
"""What ``signal.signal`` returns (``None``: a handler not installed from Python)."""


class Stoppable(Protocol):
    """What a stop signal stops: a job, or anything else that can be cancelled with a reason."""

    def cancel(self, reason: str) -> None: ...


def require_root() -> None:
    """Running a formula locally needs root; say so before doing anything else."""
    if os.geteuid() != 0:
        raise R2k8sError(
            Category.EXECUTOR_FAILED,
            "running a formula locally needs root: it mounts the inputs and switches to the formula's uid/gid"
            f" (this process runs as uid {os.geteuid()}; try sudo)",
        )


def enter_private_mount_namespace() -> None:
    """Give this process its own mount namespace, so job mounts never reach the host and die with it."""
    require_root()
    try:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    except OSError as exc:
        hint = {
            1: "CAP_SYS_ADMIN is missing (a container without privileges, or a seccomp filter?)",
            22: "the process has several threads, or the kernel lacks mount namespaces",
        }.get(exc.errno or 0, "")
        raise R2k8sError(
            Category.EXECUTOR_FAILED,
            f"cannot create a private mount namespace: {exc.strerror}" + (f": {hint}" if hint else ""),
        ) from None


def install_stop_signals(job: Stoppable) -> dict[int, Handler]:
    """Route SIGINT, SIGTERM and SIGHUP to ``job.cancel``; return the previous handlers.

    The handler also cuts every HTTP transfer under way (:func:`interrupt_transfers`):
    the job's fetches read on worker threads, where neither the exception that
    ``cancel`` raises on the main thread nor its cancel flag reaches a read
    blocked on a warehouse that has stopped sending, and the main thread waits
    for those workers before it can report the stop. Without the cut, a stop
    during a stalled fetch would hang until the read timed out.
    """
    previous: dict[int, Handler] = {}

    def handler(signum: int, _frame: object) -> None:
        try:
            job.cancel(f"received {signal.Signals(signum).name}")  # raises on the main thread outside the action
        finally:
            interrupt_transfers()  # after cancel: the workers' fetches see its flag as their reads end

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, handler)
    return previous


def restore_signals(previous: dict[int, Handler]) -> None:
    """Put back the handlers :func:`install_stop_signals` replaced, and let HTTP transfers run again.

    Called once the job is over (its fetch workers have all returned), so no
    transfer the stop meant to cut can still be under way.
    """
    resume_transfers()
    for signum, handler in previous.items():
        with contextlib.suppress(TypeError, ValueError):  # TypeError: None, a handler installed outside Python
            signal.signal(signum, handler)
