"""Real git repositories for tests: made with the real ``git``, served by the real ``git http-backend``.

:func:`serve_git` runs ``git http-backend`` (CGI) behind a loopback
``http.server`` that forwards the request as CGI wants it: ``PATH_INFO``,
``QUERY_STRING``, ``REQUEST_METHOD``, ``CONTENT_TYPE``, the body on stdin,
and ``GIT_PROTOCOL`` from the ``Git-Protocol`` header -- unless the server was
made with ``protocol_v2=False``, which leaves the header out so git answers
with protocol v0, as a server that predates v2 would. ``tamper`` rewrites the
body of every ``git-upload-pack`` answer (a lying proxy); ``force_status`` fails a path; ``sent`` counts the
bytes each answer carried, to measure what a fetch transferred.

:func:`make_repo` and :func:`commit` build repositories with the real ``git``
(fixed author and dates, so hashes only depend on content).
"""

from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.git.indexpack import index_pack
from r2k8s.core.ware.git.odb import ObjectDirectory, ObjectStream
from r2k8s.core.warehouse.git.pick import Formats

GIT_ENV = {
    "GIT_AUTHOR_NAME": "r2k8s test",
    "GIT_AUTHOR_EMAIL": "test@r2k8s.invalid",
    "GIT_COMMITTER_NAME": "r2k8s test",
    "GIT_COMMITTER_EMAIL": "test@r2k8s.invalid",
    "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "HOME": "/nonexistent",
}


def git(*args: str | os.PathLike[str], cwd: Path | None = None, input: bytes | None = None) -> str:
    """Run the real ``git`` with a fixed identity and no user config; its stdout, stripped."""
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, input=input, capture_output=True, check=False)
    if done.returncode:
        raise AssertionError(f"git {' '.join(map(str, args))} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


def make_repo(path: Path, *, bare: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", *(["--bare"] if bare else []), path)
    git("-C", path, "config", "protocol.file.allow", "always")
    return path


def commit(repo: Path, files: Mapping[str, bytes | str | None], message: str = "commit") -> str:
    """Write ``files`` (``None`` removes one; a value starting ``symlink:`` makes a symlink), commit all."""
    for name, content in files.items():
        target = repo / name
        if content is None:
            git("-C", repo, "rm", "-q", "-r", "--cached", name)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("symlink:"):
            target.symlink_to(content.removeprefix("symlink:"))
        else:
            target.write_bytes(content.encode() if isinstance(content, str) else content)
    git("-C", repo, "add", "-A")
    git("-C", repo, "commit", "-q", "--allow-empty", "-m", message)
    return git("-C", repo, "rev-parse", "HEAD")


def bare_copy(repo: Path, target: Path) -> Path:
    """A bare clone of ``repo`` at ``target`` (what a server holds)."""
    git("clone", "-q", "--bare", "--no-local", repo, target)
    return target


def _cgi_head(stdout: BinaryIO) -> tuple[int, list[tuple[str, str]]]:
    """The CGI response's status and headers (``Status:`` becomes the status)."""
    status = 200
    headers: list[tuple[str, str]] = []
    while (line := stdout.readline().decode("latin-1").rstrip("\r\n")) != "":
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((name, value.strip()))
    return status, headers


@dataclass
class GitServer:
    root: Path
    protocol_v2: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    tamper: Callable[[bytes], bytes] | None = None
    stall: float = 0.0
    """Seconds to wait, headers sent, before the body of a ``git-upload-pack`` answer (a stalling server)."""
    stopping: threading.Event = field(default_factory=threading.Event)
    force_status: dict[str, int] = field(default_factory=dict)
    """Answer a path with this status (and an empty body) instead of running the backend."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    scheme: str = "http"

    def url(self, name: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{name}"


def _handler_for(server: GitServer) -> type[http.server.BaseHTTPRequestHandler]:
    backend = [os.path.join(git("--exec-path"), "git-http-backend")]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            path, _, query = self.path.partition("?")
            with server.lock:
                server.requests.append((self.command, path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if path in server.force_status:
                self.send_response(server.force_status[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            env = {
                **os.environ,
                **GIT_ENV,
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
            }
            protocol = self.headers.get("Git-Protocol")
            if protocol and server.protocol_v2:
                env["GIT_PROTOCOL"] = protocol
            with subprocess.Popen(backend, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as proc:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(body)
                proc.stdin.close()
                status, headers = _cgi_head(proc.stdout)
                if server.tamper is not None and path.endswith("/git-upload-pack"):
                    payload = server.tamper(proc.stdout.read())
                    self._answer(status, [*headers, ("Content-Length", str(len(payload)))], [payload])
                else:  # streamed, as a real server does: a big pack is never held here either
                    self._answer(status, headers, iter(lambda: proc.stdout.read(65536), b""))

        def _answer(self, status: int, headers: list[tuple[str, str]], chunks: Iterable[bytes]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if server.stall and self.path.endswith("/git-upload-pack"):
                self.wfile.flush()
                server.stopping.wait(server.stall)
            count = 0
            with suppress(BrokenPipeError, ConnectionResetError):
                for chunk in chunks:
                    self.wfile.write(chunk)
                    count += len(chunk)
            with server.lock:
                server.sent.append(count)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_git(
    root: Path, *, protocol_v2: bool = True, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[GitServer]:
    """Serve the repositories under ``root`` with ``git http-backend`` on a free port of ``host`` (HTTPS with
    ``tls``); loopback by default, the node's bridge address for the test cluster's pods."""
    server = GitServer(root=root, protocol_v2=protocol_v2, scheme="https" if tls else "http", host=host)
    httpd = http.server.ThreadingHTTPServer((host, 0), _handler_for(server))
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()


def _hex(oid: bytes | str) -> str:
    return oid if isinstance(oid, str) else oid.hex()


class GitBinaryObjects:
    """An objects directory read through the real ``git cat-file``: the oracle until the format half is used."""

    def __init__(self, objects: Path, scratch_git_dir: Path) -> None:
        self._env = {**os.environ, **GIT_ENV, "GIT_DIR": str(scratch_git_dir), "GIT_OBJECT_DIRECTORY": str(objects)}

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", *args], env=self._env, capture_output=True, check=False)

    def has(self, oid: bytes | str) -> bool:
        return self._run("cat-file", "-e", _hex(oid)).returncode == 0

    def close(self) -> None:
        pass

    def stream(self, oid: bytes | str) -> ObjectStream:
        kind, data = self.read(oid)
        return ObjectStream(kind, len(data), iter([data]))

    def read(self, oid: bytes | str) -> tuple[str, bytes]:
        oid = _hex(oid)
        kind = self._run("cat-file", "-t", oid)
        if kind.returncode:
            raise R2k8sError(Category.WARE_NOT_FOUND, f"object {oid} not found")
        name = kind.stdout.decode().strip()
        return name, self._run("cat-file", name, oid).stdout


def git_binary_indexer(stream: BinaryIO, pack_dir: Path) -> Path:
    """Index a pack stream with the real ``git index-pack`` (which verifies it) into ``pack_dir``."""
    incoming = pack_dir / "incoming.pack"
    with open(incoming, "wb") as out:
        shutil.copyfileobj(stream, out)
    done = subprocess.run(["git", "index-pack", str(incoming)], capture_output=True, check=False)
    if done.returncode:
        raise R2k8sError(Category.WARE_CORRUPT, f"git index-pack: {done.stderr.decode(errors='replace').strip()}")
    name = done.stdout.decode().split()[-1]
    incoming.rename(pack_dir / f"pack-{name}.pack")
    (pack_dir / "incoming.idx").rename(pack_dir / f"pack-{name}.idx")
    return pack_dir / f"pack-{name}.pack"


def git_binary_formats(scratch: Path) -> Formats:
    """:class:`~r2k8s.core.warehouse.git.pick.Formats` backed by the real ``git``."""
    git_dir = make_repo(scratch / "oracle.git", bare=True)
    return Formats(git_binary_indexer, lambda objects: GitBinaryObjects(objects, git_dir), _no_checkout)


def r2k8s_formats() -> Formats:
    """The format half's indexer and object directory (checkout left out: these tests judge the transport)."""
    return Formats(index_pack, ObjectDirectory, _no_checkout)


def _no_checkout(*args: object) -> None:
    raise AssertionError("the git oracle only indexes and reads objects; checking out is the format half's")
