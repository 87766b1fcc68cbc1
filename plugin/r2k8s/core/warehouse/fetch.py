"""Reading wares from warehouses with rio's fallback order (``PickReader``).

:func:`open_ware` tries a ware's URLs strictly in order and moves on *only*
when the warehouse is missing or the ware is not there; any other failure
stops the fetch, because quietly trying elsewhere would hide a broken mirror.
:func:`open_url` opens the single ware a non-CA URL names (``rio scan``).

HTTP transfers are bounded twice, and both are the warehouse's fault
(``rio-warehouse-unavailable``, exit 3), never a corrupt ware:

* every socket operation (connect, each read) by :data:`HTTP_TIMEOUT_SECONDS`;
* the whole transfer by a :class:`ProgressRule`: it fails once it has spent
  ``seconds`` waiting on the warehouse without ``min_bytes`` arriving, so a
  server trickling a byte a minute cannot hold a build forever. Only time
  spent waiting for the network counts (from the request to the last byte),
  not time the reader spends writing what arrived.

A body that ends before its ``Content-Length`` is the warehouse's fault too.

A stop signal must not wait for either bound: :func:`interrupt_transfers`
cuts every HTTP connection the process has open (see there for why that is
the signal handler's job). Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import io
import ipaddress
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Mapping, Sequence
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any, BinaryIO, cast

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError, redact_credentials, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import WarehouseURL, without_userinfo

__all__ = [
    "HTTP_TIMEOUT_SECONDS",
    "PROGRESS_ENV",
    "HTTPBody",
    "ProgressRule",
    "http_exchange",
    "interrupt_transfers",
    "open_url",
    "open_ware",
    "resume_transfers",
]


HTTP_TIMEOUT_SECONDS = 60.0
"""Per socket operation (connect, each read), not for the whole download.

rio uses Go's ``http.Get`` with no timeout at all; a bound keeps a silent server
from hanging a build forever while still allowing arbitrarily long downloads.
"""

PROGRESS_ENV = "R2K8S_WAREHOUSE_PROGRESS"
"""``BYTES/SECONDS`` overriding :class:`ProgressRule`'s default; ``0/…`` turns the rule off."""


@dataclasses.dataclass(frozen=True)
class ProgressRule:
    """A transfer fails once it has waited ``seconds`` on the warehouse without ``min_bytes`` arriving.

    Each time ``min_bytes`` have arrived the count starts again, so a transfer
    must keep up an average of ``min_bytes / seconds`` over every stretch of
    waiting. The default, 64 KiB in 120 s (about 550 bytes/s), is far below any
    real link (a 9600 baud modem does nearly twice that) and patient with a mirror
    that pauses, while a server that trickles a byte a minute fails in two minutes.
    """

    min_bytes: int = 64 * 1024
    seconds: float = 120.0

    @classmethod
    def from_environment(cls) -> ProgressRule:
        """The rule ``$R2K8S_WAREHOUSE_PROGRESS`` sets (``BYTES/SECONDS``), else the default."""
        text = os.environ.get(PROGRESS_ENV, "").strip()
        if not text:
            return cls()
        amount, slash, period = text.partition("/")
        try:
            rule = cls(int(amount), float(period))
        except ValueError:
            rule = None
        if not slash or rule is None or rule.min_bytes < 0 or not 0 < rule.seconds < float("inf"):
            raise usage_error(
                f"${PROGRESS_ENV}={text!r}: expected BYTES/SECONDS, e.g. '65536/120' (fail a transfer that"
                " waits 120 s without 64 KiB arriving); BYTES 0 turns the rule off"
            )
        return rule


_connections: weakref.WeakSet[socket.socket] = weakref.WeakSet()
"""Every HTTP connection of this process (weak: one closed and dropped leaves by itself)."""

_connections_lock = threading.RLock()
"""Re-entrant: :func:`interrupt_transfers` runs in a signal handler, on a thread that may hold it already."""

_interrupted = threading.Event()
"""Set from :func:`interrupt_transfers` until :func:`resume_transfers`: connections made meanwhile are cut at once."""


def interrupt_transfers() -> None:
    """Cut every HTTP transfer this process has open, and any it opens until :func:`resume_transfers`.

    For a stop signal. Its handler runs on the main thread, but a run's fetches
    read on worker threads (``WareCache.ensure_all``), blocked in a socket read
    that only :data:`HTTP_TIMEOUT_SECONDS` or the :class:`ProgressRule` would
    end; a cancel flag is seen only between reads. The main thread, unwinding,
    waits for those workers, so a warehouse that stalls would hold the stop
    for a minute and its staging directory until then, and a second signal
    or a service manager's ``SIGKILL`` would leave it behind for good. Shutting
    the sockets down ends those reads at once ("the transfer ended early"),
    and every fetch unwinds as after any other failure, removing its staging.
    Connections made after the cut (a worker that was connecting) are cut as
    they are made, so none can slip through. Process-wide on purpose: a stop
    signal stops the whole process, and one process runs one job.
    """
    with _connections_lock:
        _interrupted.set()
        for sock in list(_connections):
            _cut(sock)


def resume_transfers() -> None:
    """Let transfers run again after :func:`interrupt_transfers` (the stop it served is over)."""
    with _connections_lock:
        _interrupted.clear()


def _track(sock: socket.socket) -> None:
    with _connections_lock:
        _connections.add(sock)
        if _interrupted.is_set():
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    """Shut ``sock`` down for both directions: a read blocked on it in another thread returns at once.

    ``socket.socket.shutdown`` on the socket itself, not a TLS socket's own
    ``shutdown``, which would unwrap TLS under a read still in progress.
    Closing instead would not wake that read, and could hand its descriptor
    number to an unrelated file while the read still uses it.
    """
    with contextlib.suppress(OSError):  # closed already, or never connected: nothing left to cut
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE


_UNWRITABLE = Category.WAREHOUSE_UNWRITABLE


_NOT_FOUND = Category.WARE_NOT_FOUND


def _open_file(path: Path, what: str, raw: str) -> BinaryIO:
    """Open a ware file; only ENOENT means "not here" (ENOTDIR, EISDIR, EACCES... abort)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise R2k8sError(_NOT_FOUND, f"{what} not found in warehouse {raw} ({path} does not exist)") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise R2k8sError(
            _UNAVAILABLE, f"{what} could not be retrieved from warehouse {raw}: {path}: {reason}"
        ) from None


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_http(url: str, ware_id: WareID | None, raw: str, timeout: float, progress: ProgressRule | None) -> BinaryIO:
    """GET ``url``; 200 streams, 404 is WARE_NOT_FOUND, everything else WAREHOUSE_UNAVAILABLE."""
    what = f"ware {ware_id}" if ware_id is not None else "ware"

    def missing() -> R2k8sError:
        return R2k8sError(_NOT_FOUND, f"{what} not found in warehouse {raw} (HTTP 404 from {url})")

    return http_exchange(url, raw, timeout=timeout, progress=progress, not_found=missing).reader


@dataclasses.dataclass
class HTTPBody:
    """A response body being streamed (see :func:`http_exchange`)."""

    reader: BinaryIO
    """The body; the caller closes it. Mid-transfer failures are WAREHOUSE_UNAVAILABLE."""
    url: str
    """The URL that answered, after any redirects."""
    content_type: str
    _pace: _Pace

    @property
    def received(self) -> int:
        """Bytes read from the network for this exchange so far (headers included, TLS excluded)."""
        return self._pace.total


def http_exchange(
    url: str,
    raw: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
    not_found: Callable[[], R2k8sError] | None = None,
) -> HTTPBody:
    """Send one request to a warehouse (``raw`` names it in messages) and stream the 200 answer.

    The one HTTP stack of the warehouses: the GET of a ware (:func:`open_ware`)
    and a git remote's requests alike (a POST with a body, extra headers).
    Proxies come from the environment, except for loopback hosts, which Go's
    ``ProxyFromEnvironment`` never proxies either. The progress rule covers
    the whole exchange: waiting for the headers as much as reading the body,
    and every socket is cut by :func:`interrupt_transfers`. A 404 raises what
    ``not_found`` returns (default: WAREHOUSE_UNAVAILABLE like any other code);
    a refused connection, a DNS failure, any status but 200 are WAREHOUSE_UNAVAILABLE.
    """
    raw = redact_credentials(raw)
    url, authorization = without_userinfo(url)
    sent = {"User-Agent": "r2k8s", **(headers or {})}
    if authorization is not None:
        sent["Authorization"] = authorization
    pace = _Pace(progress if progress is not None else ProgressRule.from_environment(), timeout, raw, url, method)
    proxies: dict[str, str] | None = {} if _is_loopback(urllib.parse.urlsplit(url).hostname) else None
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler(proxies), _PacedHTTPHandler(pace), _PacedHTTPSHandler(pace), _CredentialsStayHome()
    )
    request = urllib.request.Request(url, data=body, headers=sent, method=method)
    try:
        response = cast(HTTPResponse, opener.open(request, timeout=timeout))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404 and not_found is not None:
            raise not_found() from None
        raise R2k8sError(
            _UNAVAILABLE, f"unexpected HTTP code from warehouse {raw}: {exc.code} {exc.reason} ({method} {url})"
        ) from None
    except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise R2k8sError(_UNAVAILABLE, f"error connecting to warehouse {raw}: {reason} ({method} {url})") from None
    if response.status != 200:  # rio accepts exactly 200, not any 2xx
        status = f"{response.status} {response.reason}"
        response.close()
        raise R2k8sError(_UNAVAILABLE, f"unexpected HTTP code from warehouse {raw}: {status} ({method} {url})")
    reader = cast(BinaryIO, _TransferReader(response, raw, url, method))
    return HTTPBody(reader, response.geturl(), response.headers.get("Content-Type", ""), pace)


class _CredentialsStayHome(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, but send the login only to the host it was given for (or its subdomains).

    urllib copies every header to the redirect's target, wherever it is; Go's
    client (``shouldCopyHeaderOnRedirect``) keeps ``Authorization`` only for
    the same host or a subdomain of it, so a warehouse redirecting to a CDN
    does not hand the CDN the token. So does this.
    """

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            before = (urllib.parse.urlsplit(req.full_url).hostname or "").lower()
            after = (urllib.parse.urlsplit(new.full_url).hostname or "").lower()
            if after != before and not after.endswith("." + before):
                new.remove_header("Authorization")
        return new


class _TransferReader(io.RawIOBase):
    """An HTTP body whose mid-transfer failures say so.

    A dropped connection, a read timeout, a stalled transfer or a body
    shorter than its ``Content-Length`` is the warehouse's fault, not the
    ware's: without this wrapper the tar reader would report a corrupt ware.
    """

    def __init__(self, response: HTTPResponse, raw: str, url: str, method: str = "GET") -> None:
        self._response = response
        self._raw = raw
        self._url = url
        self._method = method
        self._expected = None if response.chunked else response.length
        self._received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._response.readinto(buffer)
        except (OSError, HTTPException) as exc:
            raise R2k8sError(
                _UNAVAILABLE, f"reading from warehouse {self._raw} failed mid-transfer: {exc or type(exc).__name__}"
            ) from None
        self._received += count
        if not count and len(buffer) and self._expected is not None and self._received < self._expected:
            raise R2k8sError(
                _UNAVAILABLE,
                f"reading from warehouse {self._raw} failed: the transfer ended early, after {self._received}"
                f" of {self._expected} bytes ({self._method} {self._url})",
            )
        return count

    def close(self) -> None:
        self._response.close()
        super().close()


class _Pace:
    """One transfer's progress (all its connections: redirects), enforcing its :class:`ProgressRule`.

    Every read from the socket goes through :meth:`read`, which bounds the
    socket's wait by what the rule has left, so even a read that would keep
    getting a byte at a time inside a buffered ``readline`` stops in time.
    """

    def __init__(self, rule: ProgressRule, timeout: float, raw: str, url: str, method: str = "GET") -> None:
        self.rule = rule
        self.timeout = timeout
        self.raw = raw
        self.url = url
        self.method = method
        self.waited = 0.0  # seconds spent waiting since min_bytes last arrived
        self.arrived = 0  # bytes since then
        self.total = 0

    def read(self, sock: socket.socket, receive: Callable[[], int | None]) -> int | None:
        limit = self.timeout
        if self.rule.min_bytes > 0:
            left = self.rule.seconds - self.waited
            if left <= 0:
                raise self._stalled()
            limit = min(limit, left)
        sock.settimeout(limit)
        started = time.monotonic()
        try:
            count = receive()
        except TimeoutError:
            self.waited += time.monotonic() - started
            if self.rule.min_bytes > 0 and self.waited >= self.rule.seconds:
                raise self._stalled() from None
            raise
        self.waited += time.monotonic() - started
        self.arrived += count or 0
        self.total += count or 0
        if self.arrived >= self.rule.min_bytes:
            self.waited, self.arrived = 0.0, 0
        return count

    def _stalled(self) -> R2k8sError:
        return R2k8sError(
            _UNAVAILABLE,
            f"warehouse {self.raw} is too slow: fewer than {self.rule.min_bytes} bytes arrived in"
            f" {self.rule.seconds:g} s of waiting ({self.total} bytes received in all; {self.method} {self.url});"
            f" ${PROGRESS_ENV}=BYTES/SECONDS sets this limit",
        )


class _PacedReader(io.RawIOBase):
    """A connection's socket reads, each through :meth:`_Pace.read`."""

    def __init__(self, inner: io.RawIOBase, sock: socket.socket, pace: _Pace) -> None:
        self._inner = inner  # the socket's own SocketIO: it keeps the socket open while the response lives
        self._sock = sock
        self._pace = pace

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        return self._pace.read(self._sock, functools.partial(self._inner.readinto, buffer))

    def close(self) -> None:
        self._inner.close()
        super().close()


class _PacedSocket:
    """A connected socket whose ``makefile("rb")`` (what ``HTTPResponse`` reads from) is paced."""

    def __init__(self, sock: socket.socket, pace: _Pace) -> None:
        self._sock = sock
        self._pace = pace

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs: Any) -> Any:
        if mode != "rb":
            return self._sock.makefile(mode, buffering, **kwargs)  # type: ignore[call-overload]  # passed through as given
        inner = cast(io.RawIOBase, self._sock.makefile("rb", buffering=0))
        return io.BufferedReader(_PacedReader(inner, self._sock, self._pace))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _PacedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, pace: _Pace, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._pace = pace

    def connect(self) -> None:
        super().connect()
        _track(self.sock)
        self.sock = cast(socket.socket, _PacedSocket(self.sock, self._pace))


class _PacedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, pace: _Pace, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._pace = pace

    def connect(self) -> None:
        super().connect()  # TLS is set up on the plain socket; the paced one reads through it
        _track(self.sock)
        self.sock = cast(socket.socket, _PacedSocket(self.sock, self._pace))


class _PacedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, pace: _Pace) -> None:
        super().__init__()
        self._pace = pace

    def http_open(self, req: urllib.request.Request) -> HTTPResponse:
        return self.do_open(functools.partial(_PacedHTTPConnection, pace=self._pace), req)


class _PacedHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's defaults for TLS (certificates, ALPN), with paced connections."""

    def __init__(self, pace: _Pace) -> None:
        super().__init__()
        self._pace = pace

    def https_open(self, req: urllib.request.Request) -> HTTPResponse:
        return self.do_open(functools.partial(_PacedHTTPSConnection, pace=self._pace), req)


def _open_ware_at(
    warehouse: WarehouseURL, ware_id: WareID, timeout: float, progress: ProgressRule | None
) -> tuple[BinaryIO, str]:
    """Open the ware in one warehouse for streaming. WARE_NOT_FOUND is the only error that falls back."""
    location = warehouse.location_for(ware_id)
    if warehouse.kind == "file":
        return _open_file(Path(location), f"ware {ware_id}", warehouse.raw), location
    return _open_http(location, ware_id, warehouse.raw, timeout, progress), location


def open_ware(
    ware_id: WareID,
    urls: Sequence[str],
    base_dir: Path | None = None,
    log: LogFn | None = None,
    *,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
) -> tuple[BinaryIO, str]:
    """Open ``ware_id`` from the first warehouse in ``urls`` that has it.

    Returns a streaming binary reader (the caller closes it) and the location
    opened (a file path or http URL). Follows rio's ``PickReader``: a missing
    warehouse or a missing ware moves on to the next URL; any other error
    aborts. With nothing usable at all the error is WAREHOUSE_UNAVAILABLE (exit
    3), otherwise WARE_NOT_FOUND (exit 5). A bad URL aborts when it is reached.
    HTTP transfers follow ``progress`` (default: :meth:`ProgressRule.from_environment`).
    """
    emit = log or (lambda _line: None)
    any_available = False
    tried: list[str] = []
    for raw in urls:
        warehouse = WarehouseURL.parse(raw, base_dir)
        try:
            warehouse._dial("read")
        except R2k8sError as exc:
            emit(f"warn: {_UNAVAILABLE.wire_name} while dialing warehouse {_q(raw)} for read: {exc}")
            tried.append(f"{raw} (unavailable: {exc})")
            continue
        any_available = True
        try:
            reader, location = _open_ware_at(warehouse, ware_id, timeout, progress)
        except R2k8sError as exc:
            if exc.category is not _NOT_FOUND:
                raise
            emit(f"info: {_NOT_FOUND.wire_name} from warehouse {_q(raw)} for ware {_q(ware_id)}")
            tried.append(f"{raw} (not found)")
            continue
        emit(f"info: read for ware {_q(ware_id)} opened from warehouse {_q(raw)}")
        return reader, location
    looked = f" (tried: {'; '.join(tried)})" if tried else " (no warehouse URLs were given)"
    if not any_available:
        raise R2k8sError(_UNAVAILABLE, f"no warehouses were available!{looked}")
    raise R2k8sError(_NOT_FOUND, f"none of the available warehouses have ware {_q(ware_id)}!{looked}")


def open_url(
    url: str,
    base_dir: Path | None = None,
    *,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
) -> BinaryIO:
    """Open the single ware a non-CA URL names (``rio scan``'s "mono" warehouse).

    CA URLs are a usage error: without a ware ID there is nothing to look up.
    """
    warehouse = WarehouseURL.parse(url, base_dir)
    if warehouse.content_addressed:
        raise usage_error(
            f"this operation doesn't support {_q(warehouse.scheme)} scheme"
            " (a single-ware warehouse is required, not CA-mode)"
        )
    warehouse._dial("read")
    if warehouse.kind == "file":
        assert warehouse.path is not None
        return _open_file(warehouse.path, "ware", url)
    assert warehouse.base_url is not None
    return _open_http(warehouse.base_url, None, url, timeout, progress)
