"""The session lease: who is using the running cluster.

Each pytest session that uses the cluster holds a shared ``flock`` on ``<state dir>.users`` for as
long as it runs (tests/support/cluster_fixture.py); taking the cluster down from a session needs it
exclusively. ``up`` asks ``holders`` before it would replace a running cluster, and refuses while
anyone but itself and the processes that started it (a pytest session runs ``up`` as its child)
holds the lease.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import processes
from .settings import StateLayout


@dataclass(frozen=True)
class Holder:
    """A process that has the lease file open (and so holds its lock): its pid and command line."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


def path(layout: StateLayout) -> Path:
    """``<state dir>.users``, beside the state directory (which ``down`` removes)."""
    return layout.root.with_name(layout.root.name + ".users")


def holders(layout: StateLayout, ignore: set[int] | None = None) -> list[Holder]:
    """The processes holding the lease, except ``ignore`` (default: this process and its ancestors)."""
    lease = path(layout)
    try:
        identity = _identity(os.stat(lease))
    except OSError:
        return []
    skip = ancestors() if ignore is None else ignore
    found = []
    for pid in processes.all_pids():
        if pid in skip:
            continue
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if _identity(os.stat(f"/proc/{pid}/fd/{descriptor}")) == identity:
                    found.append(Holder(pid, " ".join(processes.cmdline(pid)) or "?"))
                    break
            except OSError:
                continue
    return found


def ancestors(pid: int | None = None) -> set[int]:
    """``pid`` (default: this process) and every process above it."""
    chain = set()
    current = os.getpid() if pid is None else pid
    while current > 0 and current not in chain:
        chain.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            break
        # The parent pid is the second field after the parenthesised command name.
        current = int(stat[stat.rindex(")") + 2 :].split()[1])
    return chain


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino
