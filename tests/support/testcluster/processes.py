"""Start the cluster's daemons detached from ``up``, find them again later, and stop them.

Each daemon runs in its own session with its output in ``logs/NAME.log`` and its pid and
executable in ``pids/NAME.pid``. A pid alone is not proof (pids are reused), so a process counts
as ours only while ``/proc/PID/exe`` is still the recorded executable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .settings import StateLayout


class DaemonFailed(RuntimeError):
    """A daemon exited or never became ready; the message carries the end of its log."""


@dataclass(frozen=True)
class Daemon:
    """One started daemon: its name, pid and executable."""

    name: str
    pid: int
    executable: str

    def alive(self) -> bool:
        return process_alive(self.pid, self.executable)


def start(layout: StateLayout, name: str, argv: Sequence[str | os.PathLike[str]]) -> Daemon:
    """Start ``argv`` in a new session, appending its output to its log, and record its pid."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    with open(log_path(layout, name), "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        log.flush()
        process = subprocess.Popen(
            [os.fspath(part) for part in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=layout.root,
        )
    executable = _executable(process.pid) or os.path.realpath(os.fspath(argv[0]))
    daemon = Daemon(name, process.pid, executable)
    (layout.pids / f"{name}.pid").write_text(f"{daemon.pid}\n{daemon.executable}\n")
    return daemon


def recorded(layout: StateLayout) -> Iterator[Daemon]:
    """Every daemon with a pid file, alive or not."""
    if not layout.pids.is_dir():
        return
    for pid_file in sorted(layout.pids.glob("*.pid")):
        try:
            pid_text, executable = pid_file.read_text().split("\n")[:2]
            yield Daemon(pid_file.stem, int(pid_text), executable)
        except ValueError:
            continue


def find(layout: StateLayout, name: str) -> Daemon | None:
    for daemon in recorded(layout):
        if daemon.name == name:
            return daemon
    return None


def log_path(layout: StateLayout, name: str) -> Path:
    return layout.logs / f"{name}.log"


def log_tail(layout: StateLayout, name: str, lines: int = 40) -> str:
    try:
        text = log_path(layout, name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    ready: Callable[[], object],
    what: str,
    timeout: float,
    daemon: Daemon | None = None,
    layout: StateLayout | None = None,
) -> None:
    """Poll ``ready()`` until it is true; fail early, with the log's tail, if ``daemon`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if daemon is not None and not daemon.alive():
            _reap(daemon.pid)
            tail = log_tail(layout, daemon.name) if layout else ""
            raise DaemonFailed(f"{daemon.name} exited before {what}; the end of its log:\n{tail}")
        if time.monotonic() > deadline:
            tail = log_tail(layout, daemon.name) if (layout and daemon) else ""
            raise DaemonFailed(
                f"timed out after {timeout:.0f}s waiting for {what}"
                + (f"; the end of {daemon.name}'s log:\n{tail}" if tail else "")
            )
        time.sleep(0.25)


def stop(daemon: Daemon, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; returns once the process is gone."""
    terminate([daemon.pid], timeout, lambda pid: process_alive(pid, daemon.executable))


def terminate(pids: Sequence[int], timeout: float, alive: Callable[[int], bool] | None = None) -> None:
    """Send SIGTERM to each pid, wait up to ``timeout`` seconds, then SIGKILL the rest and wait."""
    is_alive = alive or (lambda pid: process_alive(pid))
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        remaining = [pid for pid in pids if is_alive(pid)]
        for pid in remaining:
            # Gone since the check: nothing left to signal.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while remaining and time.monotonic() < deadline:
            for pid in remaining:
                _reap(pid)
            remaining = [pid for pid in remaining if is_alive(pid)]
            if remaining:
                time.sleep(0.1)
        if not remaining:
            return
    raise RuntimeError(f"processes {remaining} survived SIGKILL")


def process_alive(pid: int, executable: str | None = None) -> bool:
    """True while ``pid`` runs (a zombie does not count) and, if given, runs ``executable``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain parentheses.
    if stat[stat.rindex(")") + 2] in "ZX":
        return False
    return executable is None or _executable(pid) == executable


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def all_pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def _executable(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return None


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child, so that it does not linger as a zombie."""
    # Not our child (or already collected): its own parent reaps it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
