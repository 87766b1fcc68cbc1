"""repeatr's ``--format json`` event stream (go-timeless-api ``repeatr/fmt/repeatrFmtJson.go``), on stdout.

Every event is a keyed union, encoded by refmt: ``log`` and ``txt`` events
compact, one per line; the final ``result`` event pretty-printed (four
spaces, ``": "``), then one more newline, so the stream ends ``}\\n\\n``::

    {"log":{"t":1544875520,"lvl":2,"msg":"created job ns/r2k8s-run-…"}}
    {"txt":{"t":1544875521,"msg":"hello world!\\n"}}
    {
        "result": {
            "runRecord": {
                "guid": "…",
                …
            }
        }
    }

* ``log``: ``t`` (Unix seconds), ``lvl`` (4 error, 3 warn, 2 info, 1 debug:
  read from r2k8s's ``info:``/``warn:`` prefixes, which then leave ``msg``),
  ``msg``, and ``detail`` (``[[key, value], …]``) only when there is some.
* ``txt``: one event per line of the action's output (stdout and stderr
  merged), the line's ``\\n`` included; repeatr sends the bytes as they came,
  so its events may split lines elsewhere.
* ``result``: ``runRecord`` (left out when there is none) and ``error``
  (``category``, ``message``; left out on success). A run that failed after
  it started has both, the record as far as it got (``exitCode`` -1,
  ``results`` null when nothing was packed), as repeatr prints it.

Strings are escaped as refmt escapes them (:mod:`r2k8s.core.run.record`).
Writes from several threads are serialised; each event is written whole.
:class:`JsonMonitor` is a :class:`r2k8s.core.run.job.Monitor`. Standard library only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from r2k8s.core.errors import redact_credentials
from r2k8s.core.run.record import RunRecord, go_sorted, quote_string

__all__ = ["LEVELS", "JsonMonitor", "log_event", "output_event", "result_event"]

LEVELS = {"error": 4, "warn": 3, "info": 2, "debug": 1}
"""repeatr's ``LogLevel`` numbers by the names r2k8s's log lines start with."""

_INDENT = "    "

Value = str | int | None | Sequence["Value"] | Mapping[str, "Value"]


def _compact(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(quote_string(k) + ":" + _compact(v) for k, v in value.items()) + "}"
    return "[" + ",".join(_compact(v) for v in value) + "]"


def _pretty(value: Value, depth: int) -> str:
    """refmt's pretty form: a line break after each opening bracket and comma, four spaces per level."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = "\n" + _INDENT * (depth + 1)
        entries = [inner + quote_string(k) + ": " + _pretty(v, depth + 1) for k, v in value.items()]
        return "{" + ",".join(entries) + "\n" + _INDENT * depth + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return "[]"
        inner = "\n" + _INDENT * (depth + 1)
        return "[" + ",".join(inner + _pretty(v, depth + 1) for v in value) + "\n" + _INDENT * depth + "]"
    return _compact(value)


def _split_level(line: str) -> tuple[int, str]:
    name, colon, rest = line.partition(": ")
    if colon and name in LEVELS:
        return LEVELS[name], rest
    return LEVELS["info"], line


def log_event(line: str, t: int, detail: Sequence[tuple[str, str]] = ()) -> bytes:
    """One ``log`` event line for an r2k8s log line (``info: …``, ``warn: …``; no prefix is info)."""
    level, msg = _split_level(line)
    body: dict[str, Value] = {"t": t, "lvl": level, "msg": msg}
    if detail:
        body["detail"] = [[key, value] for key, value in detail]
    return (_compact({"log": body}) + "\n").encode("utf-8")


def output_event(line: bytes, t: int) -> bytes:
    """One ``txt`` event line for a line of the action's output (given without its newline)."""
    msg = line.decode("utf-8", "surrogateescape") + "\n"
    return (_compact({"txt": {"t": t, "msg": msg}}) + "\n").encode("utf-8")


def _record_value(record: RunRecord) -> dict[str, Value]:
    doc: dict[str, Value] = {
        "guid": record.guid,
        "time": int(record.time),
        "formulaID": record.formula_id,
        "exitCode": int(record.exit_code),
        "results": None if record.results is None else go_sorted(record.results),
    }
    if record.hostname:
        doc["hostname"] = record.hostname
    if record.metadata:
        doc["metadata"] = go_sorted(record.metadata)
    return doc


def result_event(record: RunRecord | None, error: tuple[str, str] | None = None) -> bytes:
    """The final ``result`` event: ``error`` is ``(category wire name, message)``; ends ``}\\n\\n``."""
    body: dict[str, Value] = {}
    if record is not None:
        body["runRecord"] = _record_value(record)
    if error is not None:
        body["error"] = {"category": error[0], "message": redact_credentials(error[1])}
    return (_pretty({"result": body}, 0) + "\n\n").encode("utf-8")


class JsonMonitor:
    """A :class:`r2k8s.core.run.job.Monitor` writing repeatr's JSON events to a binary stream (stdout)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def _write(self, data: bytes) -> None:
        with self._lock:
            self.stream.write(data)
            self.stream.flush()

    def log(self, line: str) -> None:
        """r2k8s's own event; a URL's password shows as ``xxxxx``, as on the ANSI stream."""
        self._write(log_event(redact_credentials(line), int(time.time())))

    def output(self, line: bytes) -> None:
        self._write(output_event(line, int(time.time())))

    def result(self, record: RunRecord | None, error: tuple[str, str] | None = None) -> None:
        self._write(result_event(record, error))
