"""A real HTTP warehouse on 127.0.0.1 for tests: serves files from a folder, counts requests.

Tests can force a status for a path (``respond``), slow every response down
(``delay``), see how many requests were open at once (``max_in_flight``), and
ask for a login (``login``) while recording what each request sent (``authorizations``).
:func:`misbehaving` serves one body badly: a trickle, a body shorter than its
``Content-Length``, a hang-up; over TLS too.
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl


@dataclass
class LoopbackWarehouse:
    root: Path
    port: int = 0
    host: str = "127.0.0.1"
    delay: float = 0.0
    body_delay: float = 0.0
    """Seconds to pause after each 64 KiB of a body: a slow transfer that is already under way."""
    overrides: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    login: str | None = None
    """An ``Authorization`` header every request must carry (else 401), e.g. ``Basic …``."""
    authorizations: list[str | None] = field(default_factory=list)
    """The ``Authorization`` header of each request, in order (``None`` when absent)."""

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def ca_url(self) -> str:
        return self.url("/", scheme="ca+http")

    def respond(self, path: str, status: int, **headers: str) -> None:
        """Answer ``path`` with ``status`` (and an empty body) instead of the file."""
        self.overrides[path] = (status, headers)


def _handler_for(warehouse: LoopbackWarehouse) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with warehouse.lock:
                warehouse.requests.append(path)
                warehouse.authorizations.append(self.headers.get("Authorization"))
                warehouse.in_flight += 1
                warehouse.max_in_flight = max(warehouse.max_in_flight, warehouse.in_flight)
            try:
                time.sleep(warehouse.delay)
                self._answer(path)
            finally:
                with warehouse.lock:
                    warehouse.in_flight -= 1

        def _answer(self, path: str) -> None:
            if warehouse.login is not None and self.headers.get("Authorization") != warehouse.login:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="wares"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path in warehouse.overrides:
                status, headers = warehouse.overrides[path]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            target = warehouse.root / path.lstrip("/")
            if not target.is_file():
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(target.stat().st_size))
            self.end_headers()
            try:
                with open(target, "rb") as source:
                    if not warehouse.body_delay:
                        shutil.copyfileobj(source, self.wfile)
                    while warehouse.body_delay and (chunk := source.read(65536)):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(warehouse.body_delay)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client read what it wanted and hung up

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(root: Path, host: str = "127.0.0.1") -> Iterator[LoopbackWarehouse]:
    """Serve ``root`` on a free port of ``host`` (loopback unless a test's pods must reach it)."""
    root.mkdir(parents=True, exist_ok=True)
    warehouse = LoopbackWarehouse(root=root, host=host)
    server = http.server.ThreadingHTTPServer((host, 0), _handler_for(warehouse))
    server.daemon_threads = True
    warehouse.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield warehouse
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def misbehaving(
    body: bytes,
    *,
    head: int,
    trickle: float = 0.0,
    claim: int | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Serve ``body`` at any path: ``head`` bytes at once, then (``trickle``) one byte per that many seconds,
    or (no trickle) hang up. ``Content-Length`` says ``claim`` (default: the whole body); ``tls`` makes it
    HTTPS. Yields the URL of ``ware.tgz``."""
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) if claim is None else claim))
            self.end_headers()
            try:
                self.wfile.write(body[:head])
                self.wfile.flush()
                for offset in range(head, len(body) if trickle else head):
                    if stop.wait(trickle):
                        return
                    self.wfile.write(body[offset : offset + 1])
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up, as it should

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/ware.tgz"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (``key.pem`` and ``cert.pem`` in
    ``directory``); skips the test without the ``openssl`` command."""
    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
