"""When each phase of a service agent's work ended, as one log line a benchmark (``bench/pod_start.py``) reads.

A pod's start is spread over two containers and two interpreters; the only clock
they share with the machine applying the pod is the wall clock, so every mark is
``time.time()``. The first mark is the moment the kernel started the agent's
process (its age from ``/proc/self/stat`` and ``/proc/uptime``, 10 ms steps), so the interpreter's own
start-up counts towards the phase it belongs to, not towards none.

The line is ``r2k8s: timings {"command": …, "process": …, "modules": …, "<mark>": …}`` (JSON,
seconds since the epoch), written once when the phase ends: it costs one
``write`` and says nothing a user must act on. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time

import r2k8s

__all__ = ["Timings", "modules_from", "process_started"]

TIMINGS_PREFIX = "r2k8s: timings "


def modules_from() -> str:
    """Where r2k8s's modules were imported from: the zipapp, or the copy compiled in the cache
    (:mod:`r2k8s.core.agent.bootstrap`), whose imports cost a fraction of compiling them again."""
    return os.path.dirname(os.path.dirname(os.path.abspath(r2k8s.__file__)))


def process_started() -> float | None:
    """The wall-clock time the kernel started this process, or ``None`` where ``/proc`` cannot say."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return round(time.time() - (uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")), 3)
    except (OSError, ValueError, IndexError):
        return None


class Timings:
    """The marks of one agent command, logged together by :meth:`log`."""

    def __init__(self, command: str) -> None:
        self.marks: dict[str, object] = {"command": command, "process": process_started(), "modules": modules_from()}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.time(), 4)

    def log(self) -> None:
        print(TIMINGS_PREFIX + json.dumps(self.marks, separators=(",", ":")), file=sys.stderr, flush=True)
