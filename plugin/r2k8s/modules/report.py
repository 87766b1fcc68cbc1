"""What ``emerge`` tells its user: repeatr's ANSI lines on stderr, or ``--format json`` events on stdout.

The evaluation (:mod:`.evaluate`) says what happens through a :class:`Report`;
the two forms decide how it looks, so the graph code is the same for both.

* :class:`AnsiReport`: emerge's lines and each step's relayed stderr
  (``left│ …``) on stderr; stdout is left to the exports.
* :class:`JsonReport`: every event on stdout, each written whole. The steps
  run with ``--format json``; each of their ``log`` and ``txt`` events is
  written again with ``"step": NAME`` first in its body, and each step that was
  run or found in the memo ends with one ``result`` event of its own
  (``step``, ``runRecord``, and ``error`` when emerge counts it failed).
  emerge's own lines are ``log`` events; those about one step carry ``step``
  and a ``detail`` whose first pair is ``["status", …]``: ``started``,
  ``memoized``, ``succeeded``, ``failed``, ``skipped`` (with one
  ``["needs", STEP]`` per failed step it needed). The steps' stderr (little
  in this form: an error message) stays on stderr, prefixed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Protocol

from r2k8s.core.errors import quote as _q
from r2k8s.core.errors import redact_credentials
from r2k8s.core.run.events import JsonMonitor, log_event, result_event, tagged
from r2k8s.core.run.monitor import AnsiMonitor
from r2k8s.core.run.record import RunRecord

__all__ = ["STATUSES", "AnsiReport", "JsonReport", "Report"]

STATUSES = ("started", "memoized", "succeeded", "failed", "skipped")
"""The ``status`` values of a step's own events, in the order a step can meet them."""

Detail = Sequence[tuple[str, str]]


class Report(Protocol):
    events: bool
    """Whether the steps run with ``--format json`` (their stdout read as events) or print a bare record."""

    def log(self, line: str) -> None:
        """emerge's own line about no one step (``info: …``)."""

    def step_log(self, name: str, line: str) -> None:
        """A line about one step from the code it calls (the memo's ``info: memoized runRecord found …``)."""

    def status(self, name: str, status: str, line: str, detail: Detail = ()) -> None:
        """A step reached ``status`` (one of :data:`STATUSES`); ``line`` says so in words, naming the step."""

    def relay(self, name: str, line: str) -> None:
        """A line of the step's stderr, without its newline."""

    def event(self, name: str, event: bytes) -> None:
        """A compact ``log``/``txt`` event of the step; ``ValueError`` if it is not a whole one."""

    def result(self, name: str, record: RunRecord | None, error: tuple[str, str] | None) -> None:
        """How the step ended: its record (if any) and, if it failed, (category, message)."""


class AnsiReport:
    """stderr only, as ``emerge`` always printed: a memo hit is already told by the memo's own line."""

    events = False

    def __init__(self, monitor: AnsiMonitor) -> None:
        self.monitor = monitor

    def log(self, line: str) -> None:
        self.monitor.log(line)

    def step_log(self, name: str, line: str) -> None:
        level, _, rest = line.partition(": ")
        self.monitor.log(f"{level}: step {_q(name)}: {rest}")

    def status(self, name: str, status: str, line: str, detail: Detail = ()) -> None:
        if status != "memoized":
            self.monitor.log(line)

    def relay(self, name: str, line: str) -> None:
        self.monitor.line(f"{name}│ {line}")

    def event(self, name: str, event: bytes) -> None:
        """Never called: the steps print no events in this form."""

    def result(self, name: str, record: RunRecord | None, error: tuple[str, str] | None) -> None:
        """Nothing: the exports (or the error) say how the module ended."""


class JsonReport:
    """Events on stdout (:class:`JsonMonitor`, one lock, each event one write); relayed stderr on stderr."""

    events = True

    def __init__(self, monitor: JsonMonitor, stderr: AnsiMonitor | None = None) -> None:
        self.monitor = monitor
        self.stderr = stderr if stderr is not None else AnsiMonitor(sys.stderr)

    def log(self, line: str) -> None:
        self.monitor.log(line)

    def step_log(self, name: str, line: str) -> None:
        self.monitor.event(log_event(redact_credentials(line), int(time.time()), step=name))

    def status(self, name: str, status: str, line: str, detail: Detail = ()) -> None:
        details = [("status", status), *detail]
        self.monitor.event(log_event(redact_credentials(line), int(time.time()), details, step=name))

    def relay(self, name: str, line: str) -> None:
        self.stderr.line(f"{name}│ {line}")

    def event(self, name: str, event: bytes) -> None:
        self.monitor.event(tagged(event, name))

    def result(self, name: str, record: RunRecord | None, error: tuple[str, str] | None) -> None:
        self.monitor.event(result_event(record, error, step=name))
