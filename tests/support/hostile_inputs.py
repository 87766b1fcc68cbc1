"""Hostile inputs for every ``r2k8s`` command, generated here in Python (no checked-in blobs), and the harness
that runs a command on one and says what went wrong (issue 12's suite, ``tests/hostile/``).

Generators:

* **tar wares**: deep trees (:func:`deep_tar`, :func:`make_deep_dir`), decompression bombs
  (:func:`zero_file_tar`, :func:`gzip_of_zeros`), hand-made headers with valid checksums (:func:`header`,
  :func:`pax_entry`) for huge size claims, NUL bytes, invalid UTF-8 and overlong encodings in names;
* **text**: deep YAML/JSON nesting (:func:`nested`, :func:`nested_block`), YAML alias bombs
  (:func:`alias_bomb`), UTF-16 with a BOM (:func:`utf16`), CRLF line ends (:func:`crlf`);
* **formulas** (:func:`formula_doc`, :data:`FORMULA_FIELDS`) with every field's wrong types;
* **KRM input** (:func:`deployment_yaml`, :func:`as_resource_list`, :func:`as_stream`) written as text, so
  malformed fields, complex keys and odd escapes reach the function exactly as an attacker writes them;
* things that stall halfway (:class:`StallingFifo`, :func:`stalling_http`), to deliver a signal mid-command.

Harness: :class:`Box` is one case's sandbox (its own ``HOME``, ``TMPDIR``, ware cache and jobs directory);
:func:`run_process` runs a command with a timeout, a memory ceiling and its peak RSS; :func:`snapshot`
walks trees of any depth without recursion or ``PATH_MAX`` (boxes are removed with the package's own
``remove_tree``, which the unit tests prove at 5,000 levels);
:class:`Case` and :func:`execute` run one case and list every problem (internal error, death by signal,
hang, no message, wrong exit code, memory, writes outside the targets, staging left behind).
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import hashlib
import http.server
import io
import json
import lzma
import os
import re
import resource
import signal
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from r2k8s.core.scratch import remove_tree

BLOCK = 512
MTIME = 1262304000
WRONG_WARE = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
"""A well-formed ware ID that none of the generated wares hashes to (busybash's)."""

# -- running a command ---------------------------------------------------------------------------------------

MEMORY_CEILING = 4 << 30
"""Address-space limit of every command run here: a bomb that escapes its guard dies of MemoryError (an
internal error the checks report) instead of taking the test machine with it."""


@dataclasses.dataclass
class Ran:
    """What one process did."""

    argv: list[str]
    code: int | None
    """Exit code; negative for a death by signal; ``None`` if it had to be killed for hanging."""
    stdout: bytes
    stderr: bytes
    seconds: float
    max_rss_mib: float

    @property
    def hung(self) -> bool:
        return self.code is None

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def r2k8s_argv(*args: str | bytes) -> list[Any]:
    return [sys.executable, "-m", "r2k8s", *args]


def spawn(
    argv: Sequence[str | bytes],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own (so a hang can be killed with its children) under the memory ceiling."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    with contextlib.suppress(OSError):  # it may already be gone
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (MEMORY_CEILING, MEMORY_CEILING))
    return proc


def finish(
    proc: subprocess.Popen[bytes], *, timeout: float, stdin: bytes | None = None, started: float | None = None
) -> Ran:
    """Feed ``stdin``, collect the output, watch the peak RSS and reap ``proc``, killing its session if it is
    still running after ``timeout`` seconds."""
    started = time.monotonic() if started is None else started
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def drain(stream: Any, into: list[bytes]) -> None:
        for block in iter(lambda: stream.read(65536), b""):
            into.append(block)

    def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.write(stdin or b"")
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.close()

    threads = [
        threading.Thread(target=drain, args=(proc.stdout, chunks["out"]), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, chunks["err"]), daemon=True),
    ]
    if proc.stdin is not None and stdin is not None:
        threads.append(threading.Thread(target=feed, daemon=True))
    for thread in threads:
        thread.start()
    deadline = started + timeout
    hung, peak = False, 0
    while True:
        peak = max(peak, high_water_mark(proc.pid))
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            hung = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            pid, status, _ = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if not hung:  # anything it left in its session (an action, a helper) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=10)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return Ran(
        [os.fsdecode(a) for a in proc.args] if isinstance(proc.args, list) else [str(proc.args)],
        None if hung else proc.returncode,
        b"".join(chunks["out"]),
        b"".join(chunks["err"]),
        seconds,
        peak / 1024,
    )


def high_water_mark(pid: int) -> int:
    """Peak resident set of the running process ``pid`` in KiB (``VmHWM``), 0 once it has exited.

    Polled rather than taken from ``wait4``: a child's ``ru_maxrss`` also counts the forked image of the
    test process before ``exec``."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_process(
    argv: Sequence[str | bytes],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    timeout: float = 30,
) -> Ran:
    started = time.monotonic()
    proc = spawn(argv, cwd=cwd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    return finish(proc, timeout=timeout, stdin=stdin, started=started)


# -- the sandbox ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Box:
    """One case's folder, which is also the command's cwd; ``outside/`` is what escaping writes would hit."""

    root: Path

    def __post_init__(self) -> None:
        for sub in ("home", "tmp", "outside", "in"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "outside" / "secret").write_bytes(b"secret\n")

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "R2K8S_DEBUG", "R2K8S_EXPLAIN")}
        environment.update(
            HOME=str(self.root / "home"),
            TMPDIR=str(self.root / "tmp"),
            R2K8S_CACHE=str(self.cache),
            R2K8S_JOBS=str(self.jobs),
            LC_ALL="C.UTF-8",
        )
        environment.update(extra or {})
        return environment


def snapshot(root: Path, skip: Iterable[bytes] = ()) -> dict[bytes, tuple[Any, ...]]:
    """Every path under ``root`` (relative, as bytes) with its type, mode and content digest (files) or target
    (links); directories not descended into when listed in ``skip``. Iterative and ``dir_fd``-relative, so
    depth and ``PATH_MAX`` do not matter; directory mtimes are left out (staging comes and goes in them)."""
    skipped = set(skip)
    state: dict[bytes, tuple[Any, ...]] = {}
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    stack = [(b"", os.open(root, flags))]
    while stack:
        rel, fd = stack.pop()
        try:
            with os.scandir(fd) as entries:
                names = [entry.name for entry in entries]
            for name in names:
                path = (rel + b"/" if rel else b"") + os.fsencode(name)
                try:
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                kind = stat.S_IFMT(info.st_mode)
                detail: Any = None
                if stat.S_ISREG(info.st_mode):
                    detail = (info.st_size, _digest(name, fd, info.st_size), info.st_nlink)
                elif stat.S_ISLNK(info.st_mode):
                    detail = os.readlink(name, dir_fd=fd)
                elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                    detail = info.st_rdev
                state[path] = (kind, stat.S_IMODE(info.st_mode), info.st_uid, detail)
                if stat.S_ISDIR(info.st_mode) and path not in skipped:
                    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                        stack.append((path, os.open(name, flags, dir_fd=fd)))
        finally:
            os.close(fd)
    return state


def _digest(name: str, dir_fd: int, size: int) -> str:
    if size > 8 << 20:
        return f"{size} bytes"  # big generated inputs: their size is enough
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    with os.fdopen(fd, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


STAGING = re.compile(rb"(^|/)(\.[^/]*\.unpack-[^/]*|\.tmp\.upload\.[^/]*)$")
"""Names of unpack's and save's staging entries (``.TARGET.unpack-*``, ``.tmp.upload.*``)."""


def staging_left(after: Mapping[bytes, Any], box: Box) -> list[str]:
    """Staging entries anywhere in the box, staging directories in the ware cache, and job trees."""
    found = [os.fsdecode(p)[:200] for p in after if STAGING.search(p)]
    for parent in (b"cache/.tmp", b"jobs"):
        found += [os.fsdecode(p)[:200] for p in after if p.startswith(parent + b"/") and p.count(b"/") == 2]
    found += [os.fsdecode(p)[:200] for p in after if p.startswith(b"tmp/")]
    return sorted(found)


# -- a case and its checks ------------------------------------------------------------------------------------

Prepare = Callable[[Box], None]
Check = Callable[[Box, Ran], list[str]]


@dataclasses.dataclass(frozen=True)
class Case:
    """One hostile input for one command, and what a careful user may expect of it."""

    id: str
    args: tuple[str | bytes, ...] | Callable[[], tuple[str | bytes, ...]]
    """The command line after ``r2k8s`` (or what computes it when the case runs, e.g. from a generated ware)."""
    prepare: Prepare | None = None
    """Lays out the inputs in the box."""
    codes: frozenset[int] = frozenset({1})
    """The exit codes that are right for this input (2 and death by signal never are)."""
    _: dataclasses.KW_ONLY
    stdin: bytes | Callable[[Box], bytes] | None = None
    says: tuple[str, ...] = ()
    """Fragments stderr must contain when the command fails (the file, resource, field, problem)."""
    writes: tuple[str, ...] = ()
    """Box-relative paths a *successful* run may create or change (its target, a warehouse)."""
    may_change: tuple[str, ...] = ()
    """Box-relative folders whose content may change whatever the outcome (a ware cache)."""
    timeout: float = 45
    max_rss_mib: float = 400
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    check: Check | None = None
    """Further problems, e.g. in the target's content or the function's results."""
    empty_stdout_on_failure: bool = True
    """A failed command prints nothing on stdout (all but the function, which may return its ResourceList)."""


@dataclasses.dataclass
class Report:
    case: Case
    ran: Ran
    problems: list[str]

    def __str__(self) -> str:
        err = self.ran.err
        return (
            f"case {self.case.id}: {' '.join(a[:80] for a in self.ran.argv[2:])}\n"
            f"exit {self.ran.code} after {self.ran.seconds:.1f}s, peak RSS {self.ran.max_rss_mib:.0f} MiB\n"
            f"problems:\n  - " + "\n  - ".join(self.problems) + "\n"
            f"stderr (last 1500 chars):\n{err[-1500:]}\nstdout (first 300 chars):\n{self.ran.out[:300]}"
        )


def params(cases: Sequence[Case]) -> list[Any]:
    """``cases`` as pytest parameters named by their ids (which must be unique)."""
    import pytest

    ids = [case.id for case in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, duplicates
    return [pytest.param(case, id=case.id) for case in cases]


def assert_no_problems(report: Report) -> None:
    """Fail the test with the report (without pytest's rendering of the case object)."""
    import pytest

    if report.problems:
        pytest.fail(str(report), pytrace=False)


def exit_problems(case: Case, ran: Ran) -> list[str]:
    """The checks every case gets from its exit code and its output."""
    problems = []
    if ran.hung:
        return [f"hang: still running after {case.timeout:.0f}s (killed)"]
    assert ran.code is not None
    if ran.code < 0:
        problems.append(f"killed by {signal.Signals(-ran.code).name}")
    elif ran.code == 2:
        problems.append("internal error (exit 2)")
    if ran.code not in case.codes:
        problems.append(f"exit {ran.code}, expected {' or '.join(map(str, sorted(case.codes)))}")
    if ran.code == 0 and not ran.stdout.strip():
        problems.append("exit 0 with empty output")
    if ran.code != 0:
        err = ran.err
        if "error" not in err.lower():
            problems.append("failed without an error message on stderr")
        problems += [f"stderr does not mention {fragment!r}" for fragment in case.says if fragment not in err]
        if case.empty_stdout_on_failure and ran.stdout.strip():
            problems.append("failed but printed on stdout")
    if ran.max_rss_mib > case.max_rss_mib:
        problems.append(f"peak RSS {ran.max_rss_mib:.0f} MiB > {case.max_rss_mib:.0f} MiB")
    return problems


def _under(path: bytes, prefixes: Iterable[str]) -> bool:
    return any(path == os.fsencode(p) or path.startswith(os.fsencode(p) + b"/") for p in prefixes)


def execute(case: Case, base: Path, *, keep: bool = False) -> Report:
    """Run ``case`` in a fresh box under ``base``; list its problems; remove the box unless ``keep``."""
    box = Box(Path(tempfile.mkdtemp(prefix="case-", dir=base)))
    try:
        if case.prepare is not None:
            case.prepare(box)
        stdin = case.stdin(box) if callable(case.stdin) else case.stdin
        targets = tuple(case.writes) + tuple(case.may_change)
        before = snapshot(box.root, skip=[os.fsencode(t) for t in targets])
        args = case.args() if callable(case.args) else case.args
        ran = run_process(r2k8s_argv(*args), cwd=box.root, env=box.env(case.env), stdin=stdin, timeout=case.timeout)
        problems = exit_problems(case, ran)
        after = snapshot(box.root, skip=[os.fsencode(t) for t in targets])
        problems += [f"staging left behind: {p}" for p in staging_left(after, box)]
        allowed = tuple(case.may_change) + (tuple(case.writes) if ran.code == 0 else ())
        changed = sorted(
            p for p in set(before) | set(after) if before.get(p) != after.get(p) and not _under(p, allowed)
        )
        changed = [p for p in changed if not STAGING.search(p)]
        if changed:
            shown = ", ".join(os.fsdecode(p)[:120] for p in changed[:5])
            problems.append(f"wrote outside its targets ({len(changed)} paths): {shown}")
        if case.check is not None and not ran.hung:
            problems += case.check(box, ran)
        return Report(case, ran, problems)
    finally:
        if not keep:
            remove_tree(box.root)


# -- tar wares ------------------------------------------------------------------------------------------------


def checksummed(block: bytes | bytearray) -> bytes:
    block = bytearray(block)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def base256(value: int, width: int = 12) -> bytes:
    raw = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes([raw[0] | (0x80 if value >= 0 else 0xC0)]) + raw[1:]


def header(
    name: bytes,
    *,
    typeflag: bytes = b"0",
    size: int = 0,
    size_field: bytes | None = None,
    mode: int = 0o644,
    linkname: bytes = b"",
    prefix: bytes = b"",
    magic: bytes = b"ustar\x0000",
) -> bytes:
    """One USTAR header block with a valid checksum; ``size_field`` overrides the size as raw bytes."""
    block = bytearray(BLOCK)
    block[0 : min(len(name), 100)] = name[:100]
    block[100:108] = octal(mode, 8)
    block[108:116] = octal(0, 8)
    block[116:124] = octal(0, 8)
    block[124:136] = size_field if size_field is not None else octal(size, 12)
    block[136:148] = octal(MTIME, 12)
    block[156:157] = typeflag
    block[157 : 157 + min(len(linkname), 100)] = linkname[:100]
    block[257:265] = magic
    block[345 : 345 + min(len(prefix), 155)] = prefix[:155]
    return checksummed(block)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def end_of_archive() -> bytes:
    return bytes(2 * BLOCK)


def pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax_entry(records: bytes, *, typeflag: bytes = b"x") -> bytes:
    """A PAX extended header carrying ``records`` (applies to the next entry)."""
    return header(b"PaxHeaders/x", typeflag=typeflag, size=len(records)) + padded(records)


def file_entry(name: bytes, content: bytes = b"", **kw: Any) -> bytes:
    return header(name, size=len(content), **kw) + padded(content)


def raw_tar(*entries: bytes) -> bytes:
    return b"".join(entries) + end_of_archive()


@cache
def deep_tar(depth: int, fmt: str = "pax", compression: str = "none", component: str = "a") -> bytes:
    """``a/a/…/a`` (``depth`` directories, made with ``tarfile``) and a file ``f`` at the bottom."""
    formats = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}
    modes = {"none": "w", "gzip": "w:gz"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=modes[compression], format=formats[fmt]) as archive:
        root = tarfile.TarInfo(".")
        root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, MTIME
        archive.addfile(root)
        name = ""
        for _ in range(depth):
            name = f"{name}/{component}" if name else component
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            archive.addfile(info)
        info = tarfile.TarInfo(f"{name}/f")
        info.size, info.mtime = 5, MTIME
        archive.addfile(info, io.BytesIO(b"deep\n"))
    return buffer.getvalue()


def make_deep_dir(root: Path, depth: int, component: str = "a") -> Path:
    """``root/a/a/…/a/f`` on disk, made through directory descriptors (the path exceeds ``PATH_MAX``)."""
    root.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    fd = os.open(root, flags)
    try:
        for _ in range(depth):
            os.mkdir(component, 0o755, dir_fd=fd)
            child = os.open(component, flags, dir_fd=fd)
            os.close(fd)
            fd = child
        file_fd = os.open("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=fd)
        os.write(file_fd, b"deep\n")
        os.close(file_fd)
    finally:
        os.close(fd)
    return root


def _zero_tar_parts(size: int, name: str = "zeros") -> tuple[bytes, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, MTIME, 0o644
    return info.tobuf(tarfile.PAX_FORMAT), bytes(-size % BLOCK) + end_of_archive()


@cache
def zero_file_tar(size: int, compression: str) -> bytes:
    """A valid tar whose one file holds ``size`` zero bytes, compressed (``gzip``, ``xz``, ``bzip2``): a bomb
    that is a real ware, so it must be read to its end. gzip is built by repeating one fully flushed deflate
    block (fast to make at any size); xz and bzip2 are compressed for real."""
    head, tail = _zero_tar_parts(size)
    mib = bytes(1 << 20)
    assert size % len(mib) == 0
    if compression == "gzip":
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        first = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
        block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
        last = deflate.compress(tail) + deflate.flush(zlib.Z_FINISH)
        crc = zlib.crc32(head)
        for _ in range(size // len(mib)):
            crc = zlib.crc32(mib, crc)
        crc = zlib.crc32(tail, crc)
        total = len(head) + size + len(tail)
        trailer = struct.pack("<II", crc, total & 0xFFFFFFFF)
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + block * (size // len(mib)) + last + trailer
    compressor: Any = (
        lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=1) if compression == "xz" else bz2.BZ2Compressor(9)
    )
    out = [compressor.compress(head)]
    out += [compressor.compress(mib) for _ in range(size // len(mib))]
    out += [compressor.compress(tail), compressor.flush()]
    return b"".join(out)


@cache
def gzip_of_zeros(size: int) -> bytes:
    """``size`` zero bytes gzipped (one flushed deflate block repeated): a bomb that is not even a tar."""
    mib = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(mib, crc)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + block * (size >> 20) + last + trailer


@cache
def ware_id_of(data: bytes) -> str:
    """The ware ID of a generated tarball, as ``r2k8s scan`` (and ``unpack``'s verification) compute it."""
    from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
    from r2k8s.core.ware.ingest import ingest_tar

    return str(ingest_tar(io.BytesIO(data), UNPACK_CONSERVATIVE).prefilter_id)


def small_tar(names: Sequence[bytes] = (b"hello",)) -> bytes:
    return raw_tar(*(file_entry(name, b"hello\n") for name in names))


HUGE_HEADERS: dict[str, Callable[[], bytes]] = {
    "pax-header-claims-8GiB": lambda: header(b"PaxHeaders/x", typeflag=b"x", size=8**11 - 1) + bytes(BLOCK * 4),
    "gnu-longname-claims-8GiB": lambda: header(b"././@LongLink", typeflag=b"L", size=8**11 - 1) + bytes(BLOCK * 4),
    "gnu-longname-2MiB": lambda: raw_tar(
        header(b"././@LongLink", typeflag=b"L", size=2 << 20) + padded(b"n" * (2 << 20)), file_entry(b"x")
    ),
    "pax-record-length-huge": lambda: raw_tar(pax_entry(b"99999999999999999999 path=a\n"), file_entry(b"x")),
    "pax-record-length-negative": lambda: raw_tar(pax_entry(b"-5 path=a\n"), file_entry(b"x")),
    "pax-size-record-overflows": lambda: raw_tar(pax_entry(pax_record(b"size", b"9" * 30)), file_entry(b"x")),
    "pax-size-record-claims-1TiB": lambda: raw_tar(pax_entry(pax_record(b"size", b"1099511627776")), file_entry(b"x")),
    "pax-global-claims-8GiB": lambda: header(b"g", typeflag=b"g", size=8**11 - 1) + bytes(BLOCK * 4),
    "base256-size-2**62": lambda: header(b"x", size_field=base256(1 << 62)) + bytes(BLOCK * 4),
    "base256-size-negative": lambda: raw_tar(header(b"x", size_field=base256(-1)), file_entry(b"y")),
    "octal-size-max": lambda: header(b"x", size_field=b"77777777777\x00") + bytes(BLOCK * 4),
    "pax-100k-records": lambda: raw_tar(
        pax_entry(b"".join(pax_record(b"SCHILY.xattr.user.k%d" % i, b"v") for i in range(40_000))), file_entry(b"x")
    ),
    "pax-path-1MiB": lambda: raw_tar(pax_entry(pax_record(b"path", b"p" * ((1 << 20) - 64))), file_entry(b"x")),
}
"""Headers whose size fields and records claim far more than the archive holds (or than anyone should read)."""

ENCODED_NAMES: dict[str, Callable[[], bytes]] = {
    "invalid-utf8-names": lambda: small_tar([b"\xff\xfe", b"caf\xe9", b"d\xed\xa0\x80"]),
    "overlong-slash-dotdot": lambda: small_tar([b"d/..\xc0\xaf..\xc0\xaf..\xc0\xafoutside", b"\xc0\xae\xc0\xae"]),
    "crlf-names": lambda: small_tar([b"a\r\n", b"b\r"]),
    "nul-in-pax-path": lambda: raw_tar(pax_entry(pax_record(b"path", b"a\x00b")), file_entry(b"x")),
    "nul-in-pax-linkpath": lambda: raw_tar(
        pax_entry(pax_record(b"linkpath", b"../outside\x00")), header(b"l", typeflag=b"2", mode=0o777)
    ),
    "nul-in-ustar-prefix": lambda: raw_tar(file_entry(b"n", prefix=b"a\x00b")),
    "pax-path-invalid-utf8": lambda: raw_tar(pax_entry(pax_record(b"path", b"\xff\xfe/\xc0\xaf")), file_entry(b"x")),
    "utf16-bom-before-tar": lambda: b"\xff\xfe" + small_tar(),
    "utf8-bom-before-tar": lambda: b"\xef\xbb\xbf" + small_tar(),
}


# -- text: nesting, alias bombs, encodings --------------------------------------------------------------------


def nested(depth: int, kind: str = "list") -> str:
    """Flow-style nesting (YAML and JSON alike): ``[[[…]]]`` or ``{"a": {"a": …}}``."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


def nested_block(depth: int, indent: int = 0) -> str:
    """Block-style YAML mappings ``a:`` nested ``depth`` deep (quadratic in size: keep ``depth`` small)."""
    lines = [" " * (indent + 2 * level) + "a:" for level in range(depth)]
    return "\n".join(lines) + " 1\n"


def alias_bomb(levels: int = 10, width: int = 10, indent: int = 0) -> str:
    """The billion-laughs mapping: ``a0: &a0 [lol, …]``, ``a1: &a1 [*a0, …]`` … (``width ** levels`` leaves)."""
    pad = " " * indent
    lines = [f"{pad}a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"{pad}a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def utf16(text: str, order: str = "le") -> bytes:
    return (b"\xff\xfe" if order == "le" else b"\xfe\xff") + text.encode(f"utf-16-{order}")


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


# -- formulas -------------------------------------------------------------------------------------------------


def formula_doc(fetch: str = "ca+https://warehouse.example/wares") -> dict[str, Any]:
    """A modern formula with every field written, so each can be replaced by a wrong type."""
    return {
        "formula": {
            "inputs": {"/": WRONG_WARE},
            "action": {
                "exec": ["/bin/true"],
                "env": {"A": "b"},
                "cwd": "/task",
                "userinfo": {"uid": 1000, "gid": 1000, "username": "u", "homedir": "/home/u"},
                "policy": "routine",
                "hostname": "h",
                "cradle": "enable",
                "noop": False,
            },
            "outputs": {
                "/out": {
                    "packtype": "tar",
                    "filters": {"uid": "keep", "gid": "keep", "mtime": "keep", "sticky": "keep", "setid": "keep"},
                }
            },
        },
        "context": {"fetchUrls": {"/": [fetch]}, "saveUrls": {"/out": "ca+file://./wares"}},
    }


def legacy_doc() -> dict[str, Any]:
    return {
        "inputs": {"rootfs": {"type": "tar", "mount": "/", "hash": "aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNM"}},
        "action": {"command": ["/bin/true"], "cwd": "/task", "env": {"A": "b"}, "policy": "routine"},
        "outputs": {"out": {"type": "tar", "mount": "/out", "filters": ["uid 10"]}},
    }


def with_value(document: Any, path: Sequence[str], value: Any) -> Any:
    """A deep copy of ``document`` with the field at ``path`` set to ``value``."""
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


WRONG_TYPES: dict[str, Any] = {"int": 5, "string": "hello", "list": ["x"], "map": {"k": "v"}, "bool": True}

FORMULA_FIELDS: dict[str, tuple[str, ...]] = {
    "formula": ("formula",),
    "context": ("context",),
    "inputs": ("formula", "inputs"),
    "inputs./": ("formula", "inputs", "/"),
    "action": ("formula", "action"),
    "exec": ("formula", "action", "exec"),
    "env": ("formula", "action", "env"),
    "env.A": ("formula", "action", "env", "A"),
    "cwd": ("formula", "action", "cwd"),
    "userinfo": ("formula", "action", "userinfo"),
    "uid": ("formula", "action", "userinfo", "uid"),
    "gid": ("formula", "action", "userinfo", "gid"),
    "username": ("formula", "action", "userinfo", "username"),
    "homedir": ("formula", "action", "userinfo", "homedir"),
    "policy": ("formula", "action", "policy"),
    "hostname": ("formula", "action", "hostname"),
    "cradle": ("formula", "action", "cradle"),
    "noop": ("formula", "action", "noop"),
    "outputs": ("formula", "outputs"),
    "outputs./out": ("formula", "outputs", "/out"),
    "packtype": ("formula", "outputs", "/out", "packtype"),
    "filters": ("formula", "outputs", "/out", "filters"),
    "filters.uid": ("formula", "outputs", "/out", "filters", "uid"),
    "fetchUrls": ("context", "fetchUrls"),
    "fetchUrls./": ("context", "fetchUrls", "/"),
    "saveUrls": ("context", "saveUrls"),
    "saveUrls./out": ("context", "saveUrls", "/out"),
}
"""Every field of a modern formula, by the JSON path that reaches it."""

LEGACY_FIELDS: dict[str, tuple[str, ...]] = {
    "inputs": ("inputs",),
    "inputs.rootfs": ("inputs", "rootfs"),
    "type": ("inputs", "rootfs", "type"),
    "hash": ("inputs", "rootfs", "hash"),
    "mount": ("inputs", "rootfs", "mount"),
    "action": ("action",),
    "command": ("action", "command"),
    "cwd": ("action", "cwd"),
    "env": ("action", "env"),
    "policy": ("action", "policy"),
    "outputs": ("outputs",),
    "outputs.filters": ("outputs", "out", "filters"),
}


def wrong_types_of(value: Any) -> dict[str, Any]:
    """The wrong types for a field whose right value is ``value`` (``None`` is left out: most fields allow it)."""
    right = type(value)
    out = {}
    for name, wrong in WRONG_TYPES.items():
        if isinstance(wrong, right) and not (right is int and isinstance(wrong, bool)):
            continue
        out[name] = wrong
    if right is int:
        out["float"] = 1.5
        out["huge"] = 2**70
    return out


def value_at(document: Any, path: Sequence[str]) -> Any:
    node = document
    for key in path:
        node = node[key]
    return node


# -- KRM input as text ------------------------------------------------------------------------------------------


def _indented(fragments: Iterable[str], indent: int) -> str:
    out = ""
    for fragment in fragments:
        for line in fragment.splitlines():
            out += " " * indent + line + "\n"
    return out


def deployment_yaml(
    *container: str,
    name: str = "web",
    image: str = "./web.formula",
    metadata: Sequence[str] = (),
    spec: Sequence[str] = (),
    template_metadata: Sequence[str] = (),
    pod: Sequence[str] = (),
    name_line: str | None = None,
    container_name: str | None = None,
) -> str:
    """A Deployment as text; each argument adds block-YAML lines at that place (fields of the first container,
    of ``metadata``, ``spec``, the pod template's ``metadata``, the pod spec)."""
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        + (name_line if name_line is not None else f"  name: {name}\n")
        + _indented(metadata, 2)
        + "spec:\n  selector:\n    matchLabels: {app: web}\n"
        + _indented(spec, 2)
        + "  template:\n    metadata:\n      labels: {app: web}\n"
        + _indented(template_metadata, 6)
        + "    spec:\n"
        + _indented(pod, 6)
        + f"      containers:\n      - name: {container_name or name}\n        image: {image}\n"
        + _indented(container, 8)
    )


def plain_yaml(name: str = "cm") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def as_resource_list(documents: Sequence[str], config: str | None = None) -> str:
    """Wrap block-YAML documents as the items of a ResourceList (and a ``functionConfig``)."""
    out = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
    for document in documents:
        lines = document.rstrip("\n").split("\n")
        out += "- " + lines[0] + "\n" + "".join("  " + line + "\n" for line in lines[1:])
    if config is not None:
        out += "functionConfig:\n" + _indented([config], 2)
    return out


def as_stream(documents: Sequence[str]) -> str:
    return "".join("---\n" + document for document in documents)


FUNCTION_CONFIG = "apiVersion: fn.r2k8s.io/v1alpha1\nkind: R2k8sFunction\nmetadata:\n  name: c\n"


def modern_formula_text(fetch: str = "ca+https://warehouse.example/wares") -> str:
    document = formula_doc(fetch)
    del document["context"]["saveUrls"], document["formula"]["outputs"]
    return json.dumps(document, indent="\t")


# -- things that stall halfway --------------------------------------------------------------------------------


class StallingFifo:
    """A FIFO whose writer sends the first ``stall_at`` bytes of ``data`` and then waits, holding it open.

    When :meth:`wait_stalled` returns True, the reader has consumed all but at most a pipe buffer of those bytes:
    it is in the middle of reading."""

    def __init__(self, path: Path, data: bytes, stall_at: int) -> None:
        self.path, self.data, self.stall_at = path, data, stall_at
        os.mkfifo(path)
        self.stalled, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            view = memoryview(self.data[: self.stall_at])
            while view:
                view = view[os.write(fd, view) :]
            self.stalled.set()
            self.release.wait(120)
        except OSError:
            self.stalled.set()
        finally:
            os.close(fd)

    def wait_stalled(self, timeout: float = 30) -> bool:
        return self.stalled.wait(timeout)

    def close(self) -> None:
        self.release.set()
        if self.thread.is_alive() and not self.stalled.is_set():
            with contextlib.suppress(OSError):  # nobody opened it: open the other end so the writer's open returns
                os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        self.thread.join(10)


@dataclasses.dataclass
class StallingServer:
    url: str
    requests: list[str]
    stalled: threading.Event
    release: threading.Event


@contextlib.contextmanager
def stalling_http(data: bytes, stall_at: int) -> Iterator[StallingServer]:
    """An HTTP warehouse on 127.0.0.1 that answers every GET with ``data``'s length and then its first
    ``stall_at`` bytes, and stalls until the test is done."""
    stalled, release = threading.Event(), threading.Event()
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data[:stall_at])
                self.wfile.flush()
            stalled.set()
            release.wait(120)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield StallingServer(f"http://127.0.0.1:{server.server_address[1]}", requests, stalled, release)
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def read_chars(pid: int) -> int:
    """Bytes the process has read so far (``rchar`` of ``/proc/PID/io``), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_for(predicate: Callable[[], bool], timeout: float = 30, every: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


# -- hostile formula files --------------------------------------------------------------------------------------

MODERN_JSON = modern_formula_text()
MODERN_YAML = (
    "formula:\n"
    f'  inputs:\n    "/": "{WRONG_WARE}"\n'
    "  action:\n    exec: [/bin/true]\n    env:\n      A: b\n"
    'context:\n  fetchUrls:\n    "/": ["ca+https://warehouse.example/wares"]\n'
)
LEGACY_YAML = (
    "inputs:\n  rootfs:\n    type: tar\n    mount: /\n    hash: aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNM\n"
    "action:\n  command: [/bin/true]\n  env:\n    A: b\n"
)


@dataclasses.dataclass(frozen=True)
class HostileFormula:
    make: Callable[[], bytes]
    codes: frozenset[int]
    says: tuple[str, ...] = ()
    same_id_as: bytes | None = None
    """A formula that must load to the same ID (the same text with other line ends, say)."""


def _json_with(field: str, raw: str) -> bytes:
    """The modern JSON formula with ``"A": "b"`` in its env replaced by ``"A": RAW`` (raw JSON text)."""
    assert '"A": "b"' in MODERN_JSON
    return MODERN_JSON.replace('"A": "b"', f'"A": {raw}' if field == "value" else f'{raw}: "b"').encode()


def _doc_with(path: Sequence[str], value: Any) -> bytes:
    return json.dumps(with_value(json.loads(MODERN_JSON), path, value), indent="\t").encode()


def _yaml_env(raw: str) -> bytes:
    return MODERN_YAML.replace("      A: b\n", f"      A: {raw}\n").encode()


def _either(*values: int) -> frozenset[int]:
    return frozenset(values)


HOSTILE_FORMULAS: dict[str, HostileFormula] = {
    # deep nesting, in a field (env) and in every syntax the loader reads
    **{
        f"deep-json-list-{d}": HostileFormula(lambda d=d: _json_with("value", nested(d)), _either(1), ("nesting",))
        for d in (100, 101, 5000, 50000)
    },
    **{
        f"deep-json-object-{d}": HostileFormula(lambda d=d: _json_with("value", nested(d, "map")), _either(1))
        for d in (5000, 50000)
    },
    **{
        f"deep-yaml-flow-{d}": HostileFormula(lambda d=d: _yaml_env(nested(d)), _either(1))
        for d in (100, 101, 5000, 50000)
    },
    **{
        f"deep-yaml-block-{d}": HostileFormula(
            lambda d=d: MODERN_YAML.replace("      A: b\n", "      A:\n" + nested_block(d, 8)).encode(), _either(1)
        )
        for d in (100, 101)
    },
    **{
        f"deep-legacy-yaml-{d}": HostileFormula(
            lambda d=d: LEGACY_YAML.replace("    A: b\n", f"    A: {nested(d)}\n").encode(), _either(1)
        )
        for d in (5000, 50000)
    },
    "wide-10000-inputs": HostileFormula(
        lambda: json.dumps(
            {"formula": {"inputs": {f"/i{i}": WRONG_WARE for i in range(10_000)}, "action": {"exec": ["/bin/true"]}}}
        ).encode(),
        _either(0),
    ),
    "long-exec-20000-args": HostileFormula(
        lambda: _doc_with(("formula", "action", "exec"), ["/bin/true"] * 20_000), _either(0)
    ),
    # bombs
    "yaml-alias-bomb": HostileFormula(lambda: (MODERN_YAML + "x:\n" + alias_bomb(indent=2)).encode(), _either(1)),
    "yaml-alias-bomb-in-env": HostileFormula(
        lambda: MODERN_YAML.replace("      A: b\n", alias_bomb(indent=6)).encode(), _either(1)
    ),
    "legacy-yaml-alias-bomb": HostileFormula(
        lambda: (LEGACY_YAML + "x:\n" + alias_bomb(indent=2)).encode(), _either(1)
    ),
    "huge-string-4MiB": HostileFormula(lambda: _json_with("value", '"' + "x" * (4 << 20) + '"'), _either(0)),
    "whitespace-4MiB": HostileFormula(lambda: b" " * (4 << 20) + MODERN_JSON.encode(), _either(0)),
    # encodings
    "invalid-utf8-json": HostileFormula(
        lambda: _json_with("value", '"b"').replace(b'"b"', b'"\xff\xfe"'), _either(0, 1)
    ),
    "invalid-utf8-yaml": HostileFormula(lambda: _yaml_env("b").replace(b"A: b", b"A: \xff\xfe"), _either(1)),
    "overlong-slash-json": HostileFormula(
        lambda: _json_with("value", '"b"').replace(b'"b"', b'"\xc0\xaf"'), _either(0, 1)
    ),
    "overlong-slash-yaml": HostileFormula(lambda: _yaml_env("b").replace(b"A: b", b"A: \xc0\xaf"), _either(1)),
    "raw-nul-json": HostileFormula(lambda: _json_with("value", '"b"').replace(b'"b"', b'"a\x00b"'), _either(0, 1)),
    "raw-nul-yaml": HostileFormula(lambda: _yaml_env("b").replace(b"A: b", b"A: a\x00b"), _either(1)),
    "nul-escape-in-exec": HostileFormula(
        lambda: MODERN_JSON.replace("/bin/true", "/bin/\\u0000true").encode(), _either(0, 1)
    ),
    "nul-escape-in-input-path": HostileFormula(
        lambda: MODERN_JSON.replace('"/"', '"/a\\u0000b"').encode(), _either(0, 1)
    ),
    "nul-escape-in-yaml-key": HostileFormula(lambda: _yaml_env("b").replace(b"A: b", b'"A\\0": b'), _either(0, 1)),
    "lone-surrogate-json": HostileFormula(lambda: _json_with("value", '"\\ud800"'), _either(0, 1)),
    "reversed-surrogates-json": HostileFormula(lambda: _json_with("value", '"\\udc00\\ud800"'), _either(0, 1)),
    "lone-surrogate-json-key": HostileFormula(lambda: _json_with("key", '"\\ud800"'), _either(0, 1)),
    "lone-surrogate-yaml": HostileFormula(lambda: _yaml_env('"\\ud800"'), _either(0, 1)),
    "utf16le-bom-json": HostileFormula(lambda: utf16(MODERN_JSON, "le"), _either(0, 1)),
    "utf16be-bom-json": HostileFormula(lambda: utf16(MODERN_JSON, "be"), _either(0, 1)),
    "utf16le-bom-yaml": HostileFormula(lambda: utf16(MODERN_YAML, "le"), _either(0, 1)),
    "utf8-bom-json": HostileFormula(lambda: b"\xef\xbb\xbf" + MODERN_JSON.encode(), _either(0, 1)),
    "utf8-bom-yaml": HostileFormula(lambda: b"\xef\xbb\xbf" + MODERN_YAML.encode(), _either(0, 1)),
    "crlf-json": HostileFormula(lambda: crlf(MODERN_JSON).encode(), _either(0), same_id_as=MODERN_JSON.encode()),
    "crlf-yaml": HostileFormula(lambda: crlf(MODERN_YAML).encode(), _either(0), same_id_as=MODERN_YAML.encode()),
    "crlf-legacy": HostileFormula(lambda: crlf(LEGACY_YAML).encode(), _either(0), same_id_as=LEGACY_YAML.encode()),
    "binary": HostileFormula(lambda: bytes(range(256)) * 64, _either(1)),
    "empty": HostileFormula(lambda: b"", _either(1)),
    # malformed fields and keys
    "exec-is-a-number": HostileFormula(lambda: _doc_with(("formula", "action", "exec"), 5), _either(1), ("exec",)),
    "env-is-a-number": HostileFormula(
        lambda: _yaml_env("b").replace(b"    env:\n      A: b\n", b"    env: 5\n"), _either(1), ("env",)
    ),
    "inputs-is-a-string": HostileFormula(
        lambda: MODERN_YAML.replace(f'  inputs:\n    "/": "{WRONG_WARE}"\n', "  inputs: hello\n").encode(),
        _either(1),
        ("inputs",),
    ),
    "formula-is-a-list": HostileFormula(lambda: b'{"formula": [1, 2]}', _either(1), ("formula",)),
    "top-level-list": HostileFormula(lambda: b"[1, 2]\n", _either(1)),
    "top-level-scalar": HostileFormula(lambda: b"hello\n", _either(1)),
    "complex-key-top-level": HostileFormula(lambda: (MODERN_YAML + "? [a, b]\n: c\n").encode(), _either(1)),
    "complex-key-in-env": HostileFormula(
        lambda: _yaml_env("b").replace(b"      A: b\n", b"      ? {a: 1}\n      : b\n"), _either(1)
    ),
    "int-key-in-inputs": HostileFormula(
        lambda: MODERN_YAML.replace('    "/": ', "    5: ").encode(), _either(1), ("inputs",)
    ),
    "bool-key-in-env": HostileFormula(
        lambda: _yaml_env("b").replace(b"      A: b", b"      true: b"), _either(1), ("env",)
    ),
    "null-key-in-env": HostileFormula(
        lambda: _yaml_env("b").replace(b"      A: b", b"      ~: b"), _either(1), ("env",)
    ),
    "float-key-in-legacy-env": HostileFormula(
        lambda: LEGACY_YAML.replace("    A: b\n", "    1.5: b\n").encode(), _either(0, 1)
    ),
    "duplicate-keys-json": HostileFormula(
        lambda: MODERN_JSON.replace('"A": "b"', '"A": "b", "A": "c"').encode(), _either(1)
    ),
}
"""Formula files for ``formula-id`` and ``run``: nesting, bombs, encodings, malformed fields and keys."""


@dataclasses.dataclass
class SilentServer:
    port: int
    connections: list[Any]


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word (an API server that hangs)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = SilentServer(listener.getsockname()[1], [])

    def accept() -> None:
        while True:
            try:
                server.connections.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.close()
        for connection in server.connections:
            connection.close()


def kubeconfig_for(server: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster: {{server: {json.dumps(server)}}}\n"
        "users:\n- name: u\n  user: {token: abc}\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u, namespace: ns}\n"
        "current-context: x\n"
    )
