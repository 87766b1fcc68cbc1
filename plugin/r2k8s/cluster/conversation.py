"""The client's half of the conversation with the build agent, over any byte transport.

The frames and their order are described in :mod:`r2k8s.core.agent.build`.
Here: say hello, stream the client-local inputs (:mod:`.plan`), send a
heartbeat every :data:`HEARTBEAT_INTERVAL` seconds, turn the agent's log and
output frames into repeatr's events on the monitor as they arrive, save the
outputs sent back (staged, checked against the size and SHA-256 the agent
announces, then committed under their ware ID; the transfer itself is
:mod:`r2k8s.core.agent.transfer`, shared with the agent), and return the run record --
or raise the agent's error with its category, so the exit code is the one a
local run gives.

The transport (the pod's attach stream in :mod:`.attach`, plain pipes in
tests) only moves bytes; everything about meaning is here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Protocol, TextIO

from r2k8s.cluster.plan import Plan
from r2k8s.core.agent.contract import PROTOCOL_VERSION
from r2k8s.core.agent.frames import Frame, FrameDecoder, FramingError, encode, encode_raw
from r2k8s.core.agent.transfer import WARE_FRAMES, IncomingWare, WareInbox, send_ware
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.run.job import Monitor
from r2k8s.core.run.record import RunRecord, from_json
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.save import WareSink, begin_save

__all__ = [
    "HEARTBEAT_INTERVAL",
    "AgentError",
    "ConnectionLost",
    "Conversation",
    "Transport",
    "category_named",
    "open_inputs",
    "read_result_message",
    "result_of",
]

HEARTBEAT_INTERVAL = 2.0
"""Seconds between heartbeats; the agent gives up after the spec's ``heartbeatTimeout`` (20 s) of silence."""
HELLO_TIMEOUT = 60.0


class Transport(Protocol):
    """A bidirectional byte stream to the agent."""

    def send(self, data: bytes) -> None:
        """Write all of ``data`` (thread-safe); raise ``OSError`` when the stream is closed."""

    def receive(self, timeout: float) -> bytes | None:
        """Bytes from the agent; ``b""`` at the end of the stream, ``None`` if nothing came in ``timeout`` s."""

    def close(self) -> None: ...


class ConnectionLost(R2k8sError):
    """The stream to the agent ended before its result: the run's outcome is unknown here."""

    def __init__(self, message: str) -> None:
        super().__init__(Category.EXECUTOR_FAILED, message)


class AgentError(R2k8sError):
    """The failure the agent reported, with the run record as far as its run got (None if it never started)."""

    def __init__(self, category: Category, message: str, record: RunRecord | None) -> None:
        super().__init__(category, message)
        self.record = record


def category_named(wire_name: str) -> Category:
    for category in Category:
        if category.wire_name == wire_name:
            return category
    return Category.EXECUTOR_FAILED


class Progress:
    """One self-overwriting status line on a terminal; silent otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def update(self, label: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and (total is None or done < total):
            return
        self._last = now
        amount = f"{_mib(done)}" + (f" / {_mib(total)} ({100 * done // max(total, 1)}%)" if total else "")
        self.stream.write(f"\r\x1b[Kr2k8s: {label}: {amount}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class Conversation:
    """Drive one run with the agent; :meth:`run` returns the run record or raises."""

    def __init__(
        self,
        plan: Plan,
        transport: Transport,
        monitor: Monitor,
        readers: dict[str, BinaryIO],
        *,
        progress: Progress | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        hello_timeout: float = HELLO_TIMEOUT,
        should_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self.plan = plan
        self.readers = dict(readers)
        """The client-local inputs, opened by :func:`open_inputs` (closed here once sent or on failure)."""
        self.transport = transport
        self.monitor = monitor
        self.progress = progress or Progress()
        self.heartbeat_interval = heartbeat_interval
        self.hello_timeout = hello_timeout
        self.should_stop = should_stop
        """Called between receives; raises to abandon the run (signals, deadlines)."""
        self.agent_host = ""
        self._done = threading.Event()
        self._sender_error: R2k8sError | None = None
        self._outputs: WareInbox[WareSink] = WareInbox("path", "output", self._open_output, self._output_progress)
        self._readers_lock = threading.Lock()

    # -- sending -----------------------------------------------------------------------------

    def _send(self, kind: str, body: dict[str, Any] | None = None) -> None:
        self._write(encode(kind, body))

    def _send_raw(self, kind: str, body: dict[str, Any], data: bytes) -> None:
        """A frame and its raw bytes in one write, so no heartbeat lands between them."""
        self._write(encode_raw(kind, body, data))

    def _write(self, line: bytes) -> None:
        try:
            self.transport.send(line)
        except OSError as exc:
            raise ConnectionLost(f"lost the connection to the build pod while sending: {exc.strerror or exc}") from None

    def _heartbeats(self) -> None:
        while not self._done.wait(self.heartbeat_interval):
            try:
                self._send("hb")
            except ConnectionLost:
                return

    def _stream_inputs(self) -> None:
        """Send every client-local input, in input-path order (one thread, after the agent's hello)."""
        try:
            for key, entry in sorted(self.plan.streamed.items(), key=lambda item: item[1].paths[0]):
                with self._readers_lock:
                    if self._done.is_set():
                        return
                    reader = self.readers.pop(key)
                with reader:
                    self._send_ware(key, reader, ", ".join(_q(p) for p in entry.paths))
        except R2k8sError as exc:
            self._sender_error = exc
        finally:
            self.progress.clear()

    def _send_ware(self, key: str, reader: BinaryIO, users: str) -> None:
        total = _size_of(reader)

        def progress(sent: int) -> None:
            self.progress.update(f"sending input {users}", sent, total)

        send_ware(
            self._send,
            {"id": key},
            reader,
            total,
            before_chunk=self._check_sending,
            sent=progress,
            send_raw=self._send_raw,
        )

    def _check_sending(self) -> None:
        """Stop sending an input once the conversation is over (its outcome is known: nobody reads on)."""
        if self._done.is_set():
            raise ConnectionLost("the conversation ended while an input was being sent")

    # -- receiving ---------------------------------------------------------------------------

    def run(self) -> RunRecord:
        self._send("hello", {"version": PROTOCOL_VERSION})
        threading.Thread(target=self._heartbeats, name="r2k8s-heartbeat", daemon=True).start()
        decoder = FrameDecoder()
        hello_by = time.monotonic() + self.hello_timeout
        greeted = False
        try:
            while True:
                self.should_stop()
                if self._sender_error is not None:
                    raise self._sender_error
                data = self.transport.receive(0.25)
                if data is None:
                    if not greeted and time.monotonic() > hello_by:
                        raise ConnectionLost(f"the build agent did not answer within {self.hello_timeout:g} s")
                    continue
                if data == b"":
                    try:
                        decoder.finish()
                    except FramingError as exc:
                        raise ConnectionLost(f"the build pod's stream was cut: {exc}") from None
                    raise ConnectionLost("the connection to the build pod closed before the run's result arrived")
                try:
                    frames = decoder.feed(data)
                except FramingError as exc:
                    raise ConnectionLost(f"the build pod sent something that is not a frame: {exc}") from None
                for frame in frames:
                    if frame.kind == "hello" and not greeted:
                        greeted = True
                        self._greeted(frame)
                        continue
                    outcome = self._handle(frame)
                    if outcome is not None:
                        self._send_bye()
                        return outcome
        finally:
            self._done.set()
            self.progress.clear()
            for output in self._outputs.wares.values():
                output.sink.abort()  # a no-op for those committed
            with self._readers_lock:
                close_all(self.readers)

    def _greeted(self, frame: Frame) -> None:
        version = frame.body.get("version")
        if version != PROTOCOL_VERSION:
            raise ConnectionLost(f"the build agent speaks protocol {version!r}, this client {PROTOCOL_VERSION}")
        self.agent_host = str(frame.body.get("host", ""))
        if self.plan.streamed:
            threading.Thread(target=self._stream_inputs, name="r2k8s-inputs", daemon=True).start()

    def _send_bye(self) -> None:
        # The result is in: a goodbye that cannot be delivered changes nothing.
        with contextlib.suppress(ConnectionLost):
            self._send("bye")

    def _handle(self, frame: Frame) -> RunRecord | None:
        kind = frame.kind
        try:
            if kind == "log":
                self.progress.clear()
                self.monitor.log(frame.field("msg", str))
            elif kind == "txt":
                self.progress.clear()
                self.monitor.output(frame.field("msg", str).encode("utf-8", "surrogateescape"))
            elif kind in WARE_FRAMES:
                self._output_frame(frame)
            elif kind == "result":
                return result_of(frame.body)
            # Unknown kinds are skipped: a newer agent may say more than this client understands.
        except FramingError as exc:
            raise ConnectionLost(f"the build pod sent a malformed {kind!r} frame: {exc}") from None
        return None

    def _open_output(self, path: str, _frame: Frame) -> WareSink:
        url = self.plan.saves.get(path)
        if url is None or path in self._outputs:
            raise FramingError(f"unexpected output {path!r}")
        return begin_save(url, self.plan.base_dir, self.monitor.log)

    def _output_progress(self, output: IncomingWare[WareSink]) -> None:
        self.progress.update(f"receiving output {_q(output.key)}", output.received, output.announced or None)

    def _output_frame(self, frame: Frame) -> None:
        """Save an output the agent sends back; it stays in the inbox (aborted if the run fails) until committed."""
        output = self._outputs.handle(frame)
        if output is None:
            return
        path = output.key
        if not output.intact:
            assert output.sent is not None
            raise R2k8sError(
                Category.WARE_CORRUPT,
                f"output {_q(path)} was damaged on its way from the build pod:"
                f" received {output.received} bytes, the pod sent {output.sent[0]}",
            )
        ware = WareID.parse(frame.field("wareID", str))
        url = self.plan.saves[path]
        self.progress.clear()
        output.sink.commit(ware)
        del self._outputs.wares[path]
        self.monitor.log(f"info: saved output {_q(path)} as {_q(ware)} to warehouse {_q(url)}")


def _size_of(reader: Any) -> int | None:
    """The size of a file-backed ware (for progress); None for streams of unknown length."""
    try:
        return os.fstat(reader.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        length = getattr(reader, "length", None)
        return length if isinstance(length, int) else None


def result_of(body: Mapping[str, Any]) -> RunRecord:
    """The run record in a ``result`` body, or its error raised with the agent's category."""
    error = body.get("error")
    record = body.get("runRecord")
    if isinstance(error, dict):
        category = category_named(str(error.get("category", "")))
        message = str(error.get("message", "the build agent failed without a message"))
        try:
            started = from_json(json.dumps(record)) if isinstance(record, dict) else None
        except ValueError:
            started = None  # the error is what matters; a record beside it is a courtesy
        raise AgentError(category, message, started)
    if not isinstance(record, dict):
        raise FramingError("result without a run record or an error")
    try:
        return from_json(json.dumps(record))
    except ValueError as exc:
        raise FramingError(f"run record: {exc}") from None


def read_result_message(message: str) -> RunRecord | R2k8sError | None:
    """Interpret a termination message written by the agent (the fallback when the stream was lost)."""
    try:
        body = json.loads(message)
    except ValueError:
        return None
    if not isinstance(body, dict) or "truncated" in body:
        return None
    try:
        return result_of(body)
    except R2k8sError as exc:
        return exc
    except FramingError:
        return None


def open_inputs(plan: Plan, log: Callable[[str], None]) -> dict[str, BinaryIO]:
    """Open every client-local input now, in input-path order, so a missing warehouse fails before the pod exists.

    Errors are those of a local run's fetch, prefixed with the input's path.
    """
    readers: dict[str, BinaryIO] = {}
    try:
        for key, entry in sorted(plan.streamed.items(), key=lambda item: item[1].paths[0]):
            users = ", ".join(_q(p) for p in entry.paths)
            label = f"input {users}" if len(entry.paths) == 1 else f"inputs {users}"
            try:
                readers[key], _location = entry.open(plan.base_dir, log)
            except R2k8sError as exc:
                raise R2k8sError(exc.category, f"{label} ({entry.ware}): {exc.message}") from None
    except BaseException:
        close_all(readers)
        raise
    return readers


def close_all(readers: dict[str, BinaryIO]) -> None:
    for reader in readers.values():
        with contextlib.suppress(OSError):
            reader.close()
    readers.clear()
