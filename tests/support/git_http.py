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
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.git.indexpack import index_pack
from r2k8s.core.ware.git.odb import ObjectDirectory
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


@dataclass
class GitServer:
    root: Path
    protocol_v2: bool = True
    port: int = 0
    tamper: Callable[[bytes], bytes] | None = None
    force_status: dict[str, int] = field(default_factory=dict)
    """Answer a path with this status (and an empty body) instead of running the backend."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


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
            done = subprocess.run(backend, input=body, env=env, capture_output=True, check=False)
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = done.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value.strip()))
            if server.tamper is not None and path.endswith("/git-upload-pack"):
                payload = server.tamper(payload)
            with server.lock:
                server.sent.append(len(payload))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_git(root: Path, *, protocol_v2: bool = True) -> Iterator[GitServer]:
    """Serve the repositories under ``root`` with ``git http-backend`` on a free loopback port."""
    server = GitServer(root=root, protocol_v2=protocol_v2)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


class GitBinaryObjects:
    """An objects directory read through the real ``git cat-file``: the oracle until the format half is used."""

    def __init__(self, objects: Path, scratch_git_dir: Path) -> None:
        self._env = {**os.environ, **GIT_ENV, "GIT_DIR": str(scratch_git_dir), "GIT_OBJECT_DIRECTORY": str(objects)}

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", *args], env=self._env, capture_output=True, check=False)

    def has(self, oid: str) -> bool:
        return self._run("cat-file", "-e", oid).returncode == 0

    def close(self) -> None:
        pass

    def read(self, oid: str) -> tuple[str, bytes]:
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
