"""repeatr's human-readable event stream on stderr (``repeatrFmtAnsi.go``), without the colours.

Three kinds of line, each stamped with the local time as ``MM-DD hh:mm:ss``::

    -⟩ [11-23 14:02:11] -⟩ info: read for ware "tar:6q7G…" opened from warehouse "file://…"
    ≡⟩ [11-23 14:02:11] ≡⟩ <TAB>hello world!
    ∴⟩ [11-23 14:02:11] runrecord follows:

Log lines come from r2k8s, output lines are the action's own stdout and
stderr, merged and re-split on newlines. stdout stays reserved for the run
record. Writes from several threads are serialised. Standard library only.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["AnsiMonitor"]


class AnsiMonitor:
    """A :class:`r2k8s.core.run.job.Monitor` writing repeatr's layout to a text stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()

    @staticmethod
    def _stamp() -> str:
        return time.strftime("[%m-%d %H:%M:%S]")

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text)
            self.stream.flush()

    def log(self, line: str) -> None:
        self._write(f"-⟩ {self._stamp()} -⟩ {line}\n")

    def output(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        self._write(f"≡⟩ {self._stamp()} ≡⟩ \t{text}\n")

    def line(self, text: str) -> None:
        """A line of someone else's events as it is (``emerge`` relays its steps' stderr), between ours."""
        self._write(f"{text}\n")

    def record_follows(self) -> None:
        self._write(f"∴⟩ {self._stamp()} runrecord follows:\n")

    def failed(self, message: str) -> None:
        """repeatr's two lines for a run that errored: a log event, then the bare message."""
        self.log(f"error: failed to evaluate formula --- error: {message}")
        self._write(f"{message}\n")
