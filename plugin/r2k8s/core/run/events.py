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

``r2k8s emerge --format json`` relays its steps' events with the step's
name first in each body (:func:`tagged`, ``step=`` below): the step's own
bytes otherwise, so each is still the keyed union repeatr writes (one key;
refmt's union decoder wants exactly one), and a reader that ignores unknown
fields reads it as a repeatr event. :func:`split_events` and
:func:`read_result` read a child's stream back, event by event.

Strings are escaped as refmt escapes them (:mod:`r2k8s.core.run.record`).
Writes from several threads are serialised; each event is written whole.
:class:`JsonMonitor` is a :class:`r2k8s.core.run.job.Monitor`. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import BinaryIO

from r2k8s.core.errors import redact_credentials
from r2k8s.core.run.record import RunRecord, from_json, go_sorted, quote_string

__all__ = [
    "LEVELS",
    "JsonMonitor",
    "log_event",
    "output_event",
    "read_result",
    "result_event",
    "split_events",
    "tagged",
]

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


def log_event(line: str, t: int, detail: Sequence[tuple[str, str]] = (), step: str | None = None) -> bytes:
    """One ``log`` event line for an r2k8s log line (``info: …``, ``warn: …``; no prefix is info)."""
    level, msg = _split_level(line)
    body: dict[str, Value] = {} if step is None else {"step": step}
    body.update({"t": t, "lvl": level, "msg": msg})
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


def result_event(
    record: RunRecord | None,
    error: tuple[str, str] | None = None,
    *,
    step: str | None = None,
    exports: Mapping[str, str] | None = None,
) -> bytes:
    """The final ``result`` event: ``error`` is ``(category wire name, message)``; ends ``}\\n\\n``.

    ``emerge`` adds ``step`` (first: a step's result) or ``exports`` (its own
    final event: the module's exports, by name).
    """
    body: dict[str, Value] = {}
    if step is not None:
        body["step"] = step
    if record is not None:
        body["runRecord"] = _record_value(record)
    if exports is not None:
        body["exports"] = go_sorted(dict(exports))
    if error is not None:
        body["error"] = {"category": error[0], "message": redact_credentials(error[1])}
    return (_pretty({"result": body}, 0) + "\n\n").encode("utf-8")


def tagged(event: bytes, step: str) -> bytes:
    """A compact ``log`` or ``txt`` event line with ``"step":NAME`` put first in its body, its bytes otherwise kept.

    Raises ``ValueError`` for anything else (a line cut short, a result event):
    what ``emerge`` writes must be whole events.
    """
    key, brace, rest = event.partition(b":{")
    if key not in (b'{"log"', b'{"txt"') or not brace or not event.endswith(b"}}\n"):
        raise ValueError(f"not a log or txt event line: {event[:80]!r}")
    json.loads(event)  # whole and well-formed, or ValueError
    separator = b"" if rest.startswith(b"}") else b","
    return key + b':{"step":' + quote_string(step).encode("utf-8") + separator + rest


def split_events(lines: Iterable[bytes]) -> Iterator[bytes]:
    """A repeatr JSON event stream, read line by line, as its events: each compact line, each whole result.

    A result event starts with a line ``{`` and ends with the empty line after
    its ``}`` (no line of a pretty result is empty: strings escape their line
    breaks). A result cut short at the end of the stream is left out, as is a
    blank line between events.
    """
    block = b""
    for line in lines:
        if block:
            block += line
            if line == b"\n":
                yield block
                block = b""
        elif line == b"{\n":
            block = line
        elif line.strip():
            yield line


def read_result(event: bytes) -> tuple[RunRecord | None, tuple[str, str] | None]:
    """The run record and the error (category, message) of a ``result`` event; ``ValueError`` if it is none."""
    doc = json.loads(event)
    body = doc.get("result") if isinstance(doc, dict) and len(doc) == 1 else None
    if not isinstance(body, dict):
        raise ValueError("not a result event")
    raw_record = body.get("runRecord")
    record = None if raw_record is None else from_json(json.dumps(raw_record))
    raw_error = body.get("error")
    if raw_error is None:
        return record, None
    if not (isinstance(raw_error, dict) and all(isinstance(raw_error.get(k), str) for k in ("category", "message"))):
        raise ValueError("a result event's error must have a category and a message")
    return record, (raw_error["category"], raw_error["message"])


class JsonMonitor:
    """A :class:`r2k8s.core.run.job.Monitor` writing repeatr's JSON events to a binary stream (stdout)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def _write(self, data: bytes) -> None:
        with self._lock:
            self.stream.write(data)
            self.stream.flush()

    def event(self, data: bytes) -> None:
        """An event already encoded (``emerge``'s tagged ones), written whole, never between another's bytes."""
        self._write(data)

    def log(self, line: str) -> None:
        """r2k8s's own event; a URL's password shows as ``xxxxx``, as on the ANSI stream."""
        self._write(log_event(redact_credentials(line), int(time.time())))

    def output(self, line: bytes) -> None:
        self._write(output_event(line, int(time.time())))

    def result(self, record: RunRecord | None, error: tuple[str, str] | None = None) -> None:
        self._write(result_event(record, error))
