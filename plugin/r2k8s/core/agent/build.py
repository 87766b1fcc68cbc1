"""The build agent: runs one formula inside its pod for ``r2k8s run``, tied to the client by a heartbeat.

It is the container's main process (``python3 r2k8s-agent.pyz``; see
:mod:`r2k8s.agent_bundle`). The pod runs under Pod Security *baseline*: root,
but no ``CAP_SYS_ADMIN``, so no mounts. The same pipeline as ``r2k8s run
--local`` (:class:`r2k8s.core.run.job.Job`) therefore runs with the ``chroot``
executor (repeatr's own, ``CAP_SYS_CHROOT``) and the ``copy`` placer, with
the ware cache and the job tree in the pod's ``emptyDir`` (``--work``), or the
cache on a volume shared by build pods (``--cache``: a PVC or a node's
directory; the cache's ``flock`` locks hold across the pods of one node).

Conversation (frames of :mod:`r2k8s.core.agent.frames`; the client writes the
container's stdin through ``attach``, the agent writes its stdout)::

    client                                   agent
    hello {version}                   ->
                                      <-     hello {version, host}
    wareBegin/ware/wareEnd {id, ...}  ->     (wares only the client can read; verified here)
    hb {} every couple of seconds     ->
                                      <-     log {t, msg} / txt {t, msg}   (as it happens)
                                      <-     wareBegin/ware/wareEnd {path, ...}  (outputs to save on the client)
                                      <-     result {runRecord | error}
    bye {}                            ->     exit

Both ends move wares with :mod:`r2k8s.core.agent.transfer` (one sending
loop, one receiving end, each checking size and SHA-256).

Nothing is written to stdout before the client's ``hello``, so an attached
client sees everything (if no client ever comes, only the final ``result``).
The agent stops the action and exits when the client is gone: stdin reaches
EOF (the client disconnected: the container has ``stdinOnce``), no frame arrives for ``heartbeatTimeout`` seconds, or no
``hello`` arrives within ``firstContactTimeout`` seconds of the start. It
then exits at most ``stop_grace + EXIT_MARGIN`` seconds later whatever is
still running. SIGTERM (the Job being deleted) stops it the same way.

The outcome is written to ``/dev/termination-log`` (compact JSON: the
``result`` frame's body) *and* sent as the last frame. Exit status: 0 when
the formula ran (whatever the action's own exit code, as repeatr), else the
failure category's exit code. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from r2k8s.core.agent.contract import BUILD_SPEC_ENV, NODE_NAME_ENV, PROTOCOL_VERSION, TERMINATION_LOG, WORK_DIR
from r2k8s.core.agent.frames import Frame, FrameDecoder, FramingError, encode
from r2k8s.core.agent.run_spec import RunSpec
from r2k8s.core.agent.transfer import WARE_FRAMES, WareInbox, send_ware
from r2k8s.core.errors import Category, R2k8sError, redact_credentials
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula.model import FormulaContext
from r2k8s.core.run.record import RunRecord

__all__ = ["BuildAgent", "EventWriter", "main", "record_document"]

TERMINATION_MESSAGE_LIMIT = 4096
"""The kubelet truncates longer termination messages."""
EXIT_MARGIN = 5.0
"""Seconds past the action's stop grace before the agent exits regardless."""
OUTPUT_PIECE = 64 * 1024
"""An action's output line longer than this goes out in several ``txt`` frames (each well under a frame's limit)."""


def record_document(record: RunRecord) -> dict[str, Any]:
    """The run record with repeatr's keys (the client prints it with :func:`r2k8s.core.run.record.to_json`)."""
    doc: dict[str, Any] = {
        "guid": record.guid,
        "time": record.time,
        "formulaID": record.formula_id,
        "exitCode": record.exit_code,
        "results": record.results,
    }
    if record.hostname:
        doc["hostname"] = record.hostname
    return doc


class EventWriter:
    """Frames to a file descriptor, whole and in order, from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def send(self, kind: str, body: dict[str, Any] | None = None) -> bool:
        """Write one frame; False once the stream is broken (the client is gone)."""
        data = memoryview(encode(kind, body))
        with self._lock:
            if self.broken:
                return False
            try:
                while data:
                    data = data[os.write(self.fd, data) :]
            except OSError:
                self.broken = True
                return False
        return True


class FramedMonitor:
    """A :class:`r2k8s.core.run.job.Monitor` that sends repeatr's log and output events as frames.

    Log lines naming the pod's own staging files (``internal``: the wares the
    client streamed in, the outbox of outputs it saves itself) are not sent:
    the client logs those transfers with the formula's own URLs.
    """

    def __init__(self, writer: EventWriter, internal: tuple[str, ...] = ()) -> None:
        self.writer = writer
        self.internal = internal

    def log(self, line: str) -> None:
        if any(marker in line for marker in self.internal):
            return
        self.writer.send("log", {"t": int(time.time()), "msg": redact_credentials(line)})  # also in kubectl logs

    def output(self, line: bytes) -> None:
        for start in range(0, max(len(line), 1), OUTPUT_PIECE):
            piece = line[start : start + OUTPUT_PIECE]
            self.writer.send("txt", {"t": int(time.time()), "msg": piece.decode("utf-8", "surrogateescape")})


class ClientLink:
    """The client's side of the conversation: stdin frames, heartbeats, wares streamed in."""

    def __init__(self, spec: RunSpec, stdin_fd: int, incoming: Path) -> None:
        self.spec = spec
        self.stdin_fd = stdin_fd
        self.incoming = incoming
        self.ware_files = {ware: incoming / f"{index}.tar" for index, ware in enumerate(sorted(spec.streamed))}
        self._inbox: WareInbox[BinaryIO] = WareInbox("id", "ware", self._open_ware)
        self._cond = threading.Condition()
        self.hello = False
        self.bye = False
        self.gone_reason: str | None = None
        self.failure: R2k8sError | None = None
        self.on_gone: Callable[[str], None] = lambda _reason: None
        self._last_seen = time.monotonic()
        self._started = time.monotonic()

    def start(self) -> None:
        threading.Thread(target=self._read, name="r2k8s-stdin", daemon=True).start()
        threading.Thread(target=self._watch, name="r2k8s-heartbeat", daemon=True).start()

    # -- reading --------------------------------------------------------------------------

    def _read(self) -> None:
        decoder = FrameDecoder()
        try:
            while True:
                try:
                    chunk = os.read(self.stdin_fd, 1 << 20)
                except InterruptedError:
                    continue
                if not chunk:
                    decoder.finish()
                    self.gone("the client closed the connection (stdin reached EOF)")
                    return
                for frame in decoder.feed(chunk):
                    self._handle(frame)
        except FramingError as exc:
            self.gone(f"the client sent a malformed frame: {exc}")
        except OSError as exc:
            self.gone(f"reading from the client failed: {exc.strerror or exc}")

    def _handle(self, frame: Frame) -> None:
        with self._cond:
            self._last_seen = time.monotonic()
            if frame.kind == "hello":
                version = frame.field("version", int)
                if version != PROTOCOL_VERSION:
                    raise FramingError(f"protocol version {version}; this agent speaks {PROTOCOL_VERSION}")
                self.hello = True
            elif frame.kind == "hb":
                pass
            elif frame.kind == "bye":
                self.bye = True
            elif frame.kind in WARE_FRAMES:
                self._ware_frame(frame)
            else:
                raise FramingError(f"unknown frame kind {frame.kind!r}")
            self._cond.notify_all()

    def _ware_frame(self, frame: Frame) -> None:
        ware = frame.field("id", str)
        if ware not in self.ware_files:
            raise FramingError(f"ware {ware!r} was not announced in the run spec")
        arrived = self._inbox.handle(frame)
        if arrived is None:
            return
        arrived.sink.close()
        if not arrived.intact:
            assert arrived.sent is not None
            size, digest = arrived.sent
            self.failure = R2k8sError(
                Category.WARE_CORRUPT,
                f"ware {_q(ware)} was damaged on its way from the client: received {arrived.received} bytes with"
                f" sha256 {arrived.sha256}, the client sent {size} bytes with sha256 {digest}",
            )

    def _open_ware(self, ware: str, _frame: Frame) -> BinaryIO:
        if ware in self._inbox:
            raise FramingError(f"ware {ware!r} sent twice")
        self.incoming.mkdir(parents=True, exist_ok=True)
        return open(self.ware_files[ware], "wb")  # stays open across frames; closed when the ware ends

    # -- liveness ---------------------------------------------------------------------------

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            with self._cond:
                if self.gone_reason is not None:
                    return
                now = time.monotonic()
                if not self.hello and now - self._started > self.spec.first_contact_timeout:
                    reason = f"no client attached within {self.spec.first_contact_timeout:g} s"
                elif self.hello and now - self._last_seen > self.spec.heartbeat_timeout:
                    reason = f"no heartbeat from the client for {self.spec.heartbeat_timeout:g} s"
                else:
                    continue
            self.gone(reason)
            return

    def gone(self, reason: str) -> None:
        """The client is gone (or must be treated so): record why, wake waiters, tell the owner once."""
        with self._cond:
            if self.gone_reason is not None:
                return
            self.gone_reason = reason
            self._cond.notify_all()
        self.on_gone(reason)

    # -- waiting -----------------------------------------------------------------------------

    def wait_hello(self) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self.hello or self.gone_reason is not None)
            return self.hello and self.gone_reason is None

    def wait_streamed(self) -> dict[str, Path]:
        """Block until every announced ware has arrived; return ware ID -> local file."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self.gone_reason is not None or self.failure is not None or self._inbox.all_done(self.ware_files)
                )
            )
            if self.failure is not None:
                raise self.failure
            if self.gone_reason is not None:
                raise R2k8sError(Category.CANCELLED, f"cancelled: {self.gone_reason}")
        return dict(self.ware_files)

    def wait_bye(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.bye or self.gone_reason is not None, timeout)


class BuildAgent:
    """One run: see the module docstring."""

    def __init__(
        self,
        spec: RunSpec,
        work: Path,
        termination_log: Path,
        *,
        stdin_fd: int = 0,
        stdout_fd: int = 1,
        stop_grace: float | None = None,
        cache: Path | None = None,
    ) -> None:
        self.spec = spec
        self.work = work
        self.cache = cache if cache is not None else work / "cache"
        self.termination_log = termination_log
        self.writer = EventWriter(stdout_fd)
        self.link = ClientLink(spec, stdin_fd, work / "incoming")
        self.outbox = work / "outbox"
        self.stop_grace = stop_grace
        self.job: Any = None
        self._stop_reason: str | None = None
        self._finished = False

    # -- stopping --------------------------------------------------------------------------

    def _stop(self, reason: str) -> None:
        """Stop the run (signal handler or the liveness watcher); exit for sure a little later."""
        if self._finished:
            return  # only the wait for the client's goodbye is left, and the wake-up ends it
        first = self._stop_reason is None
        self._stop_reason = self._stop_reason or reason
        if first:
            grace = self.job.options.stop_grace if self.job is not None else 0.0
            timer = threading.Timer(grace + EXIT_MARGIN, _exit_now, args=(reason,))
            timer.daemon = True
            timer.start()
        if self.job is not None:
            self.job.cancel(reason)
        elif threading.current_thread() is threading.main_thread():
            raise R2k8sError(Category.CANCELLED, f"cancelled: {reason}")

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.link.gone(f"received {signal.Signals(signum).name}")  # wakes the waits; its callback stops the run

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.link.on_gone = self._stop
        self.link.start()
        print(
            f"r2k8s build agent: formula {self.spec.formula_id}: waiting for the client to attach",
            file=sys.stderr,
            flush=True,
        )
        try:
            if not self.link.wait_hello():
                raise R2k8sError(Category.CANCELLED, f"cancelled: {self.link.gone_reason}")
            self.writer.send("hello", {"version": PROTOCOL_VERSION, "host": _host()})
            result, code = self._run_job()
        except R2k8sError as exc:
            started = self.job.record if self.job is not None else None  # what a failed run got to, as repeatr's
            result, code = _error_result(exc, started), exc.category.exit_code
        self._finished = True
        self._finish(result)
        if self.link.gone_reason is None:
            self.link.wait_bye(self.spec.heartbeat_timeout)
        return code

    def _run_job(self) -> tuple[dict[str, Any], int]:
        from r2k8s.core.run.job import Job, JobOptions
        from r2k8s.core.ware.wareid import WareID
        from r2k8s.core.warehouse.cache import WareCache

        monitor = FramedMonitor(self.writer, internal=(f"file://{self.link.incoming}/", f"file://{self.outbox}/"))
        files = self.link.wait_streamed()
        cache = WareCache(self.cache)
        for ware, tree in sorted(self.spec.trees.items()):
            with open(files[ware], "rb") as checkout:  # the client's checkout of a repository only it reaches
                cache.adopt_tree(ware, WareID.parse(tree), checkout, monitor.log)
        options = JobOptions(executor="chroot", placer="copy", cache=cache, jobs_dir=self.work / "jobs")
        if self.stop_grace is not None:
            options.stop_grace = self.stop_grace
        self.job = Job(
            self.spec.formula,
            self._pod_context(files),
            self.spec.formula_id,
            monitor,
            options,
            base_dir=self.work,
            legacy_inputs=frozenset(self.spec.legacy_inputs),
        )
        self.job.record.hostname = _host()
        if self._stop_reason is not None:
            self.job.cancel(self._stop_reason)
        try:
            record = self.job.run()
        finally:
            _reap_orphans()
        self._return_outputs(record)
        return {"runRecord": record_document(record)}, 0

    def _pod_context(self, files: dict[str, Path]) -> FormulaContext:
        fetch = dict(self.spec.context.fetch_urls)
        for ware, paths in self.spec.streamed.items():
            for path in paths:
                fetch[path] = (f"file://{files[ware]}",)
        save = dict(self.spec.context.save_urls)
        self.outbox.mkdir(parents=True, exist_ok=True)
        for index, path in enumerate(self.spec.returned):
            save[path] = f"file://{self.outbox / f'{index}.tar'}"
        return FormulaContext(fetch_urls=fetch, save_urls=save)

    def _return_outputs(self, record: RunRecord) -> None:
        """Send each packed output the client saves itself (only those that have a hash were saved)."""
        results = record.results or {}
        for index, path in enumerate(self.spec.returned):
            packed = self.outbox / f"{index}.tar"
            if not packed.exists():
                continue
            with open(packed, "rb") as source:
                size = os.fstat(source.fileno()).st_size
                end = {"wareID": results.get(path, "")}
                send_ware(self.writer.send, {"path": path}, source, size, end=end, before_chunk=self._check_stop)
            packed.unlink()

    def _check_stop(self) -> None:
        if self._stop_reason is not None:
            raise R2k8sError(Category.CANCELLED, f"cancelled: {self._stop_reason}")

    def _finish(self, result: dict[str, Any]) -> None:
        message = json.dumps(result, ensure_ascii=True, separators=(",", ":"))
        if len(message) > TERMINATION_MESSAGE_LIMIT and result.get("error"):  # the error first; its record may go
            message = json.dumps({**result, "runRecord": None}, ensure_ascii=True, separators=(",", ":"))
        if len(message) > TERMINATION_MESSAGE_LIMIT:
            record = result.get("runRecord") or {}
            message = json.dumps(
                {"truncated": True, "formulaID": record.get("formulaID"), "exitCode": record.get("exitCode")},
                separators=(",", ":"),
            )
        with contextlib.suppress(OSError):
            self.termination_log.write_text(message)
        self.writer.send("result", result)


def _error_result(exc: R2k8sError, record: RunRecord | None = None) -> dict[str, Any]:
    """A failure's ``result`` body; with the record as far as the run got, if it started (``--format json``
    prints it beside the error, as repeatr does). The message is also the pod's termination message, which
    kubectl shows: a URL's password in it shows as ``xxxxx``."""
    document = record_document(record) if record is not None else None
    message = redact_credentials(exc.message)
    return {"runRecord": document, "error": {"category": exc.category.wire_name, "message": message}}


def _host() -> str:
    import socket

    return os.environ.get(NODE_NAME_ENV) or socket.gethostname()


def _reap_orphans() -> None:
    """As the container's pid 1 the agent inherits the action's orphans; collect their exit statuses."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _exit_now(reason: str) -> None:
    print(f"r2k8s build agent: exiting ({reason})", file=sys.stderr, flush=True)
    os._exit(Category.CANCELLED.exit_code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="r2k8s-agent", description="r2k8s build agent (runs in the build pod)")
    parser.add_argument("--work", default=WORK_DIR, help="the pod's scratch volume (ware cache, job trees)")
    parser.add_argument(
        "--cache", default=None, help="the ware cache (default: in --work); a shared volume when the user chose one"
    )
    parser.add_argument("--termination-log", default=TERMINATION_LOG)
    parser.add_argument("--spec-env", default=BUILD_SPEC_ENV, help="environment variable holding the run spec")
    args = parser.parse_args(argv)
    termination_log = Path(args.termination_log)
    try:
        spec = RunSpec.from_json(os.environ.get(args.spec_env, ""))
    except R2k8sError as exc:
        print(f"r2k8s {redact_credentials(exc.message)}", file=sys.stderr, flush=True)
        with contextlib.suppress(OSError):
            termination_log.write_text(json.dumps(_error_result(exc), separators=(",", ":")))
        return exc.category.exit_code
    cache = Path(args.cache) if args.cache else None
    return BuildAgent(spec, Path(args.work), termination_log, cache=cache).run()


if __name__ == "__main__":
    raise SystemExit(main())
