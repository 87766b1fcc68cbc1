"""A local cache of unpacked filesets, keyed by ware ID, laid out as rio lays out its own.

An entry for ``tar:H`` lives at ``<root>/tar/fileset/<H[0:3]>/<H[3:6]>/<H>``
(rio ``cache/filesetCache.go``; shard names are '-'-padded like the
warehouse's, so a short hash cannot index out of range). The root is
:func:`default_root`: ``$R2K8S_CACHE`` if set and non-empty, otherwise
``~/.cache/r2k8s/wares``.

Guarantees:

* **All or nothing.** A ware is unpacked (with the lossless unpack filters,
  as repeatr unpacks inputs into its cache) into a private directory under
  ``<root>/.tmp/`` -- :func:`unpack_tar` itself verifies the hash there -- and
  only a complete, verified tree is renamed to its final path. A failed fetch,
  a corrupt tar or a hash mismatch leaves no entry, no shard directory created
  for it and no staging directory behind. So an entry that exists is complete,
  and :meth:`WareCache.has` is a plain existence check.
* **One download per ware.** :meth:`WareCache.ensure` holds an exclusive
  ``fcntl.flock`` on ``<root>/.locks/<packtype>.<H>.lock`` while it checks and
  fills the entry, so concurrent threads and processes fetch a ware once; the
  others wait and then find it cached. The lock file is unlinked by its
  holder on release; a waiter that then acquires the lock on the unlinked
  file notices (the inode no longer matches the path) and retries, so no lock
  files accumulate and no two holders ever coexist.
* **Nothing leaks.** Each staging directory is a locked scratch directory
  (:mod:`r2k8s.core.scratch`); one left by a fetch that was killed outright
  has lost its lock and is swept before this cache fills its next entry.
* **Losing a race is harmless.** Should a complete entry appear anyway
  (another tool filling the cache without the lock), the final rename fails
  because the target exists and is not empty; the fresh copy is discarded and
  the existing entry used.

Only the ``tar`` packtype can be cached; ``mount:`` "wares" are host bind
mounts, not cache entries: :meth:`WareCache.ensure` refuses them and
:meth:`WareCache.ensure_all` leaves them out of its result, for the caller to
mount directly. Filesystem failures on the cache itself are ``rio-cache-problem``
(exit 9), the category rio gives its fileset cache.

Only the standard library is used: this module runs inside stock Python images.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import fcntl
import io
import os
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.scratch import scratch_dir, sweep_stale
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.unpack import unpack_tar
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.fetch import open_ware
from r2k8s.core.warehouse.urls import hash_file_name, shard_dirs

__all__ = ["CACHE_ENV", "WareCache", "default_root"]

CACHE_ENV = "R2K8S_CACHE"
"""Environment variable naming the cache root (see :func:`default_root`)."""

SUPPORTED_PACKTYPES = ("tar",)

_CACHE = Category.CACHE_PROBLEM

_CANCEL_CHECK_BYTES = 64 * 1024

_Key = tuple[WareID, bool]
"""A cache key: the ware, and whether its hash is the legacy one."""


def default_root() -> Path:
    """``$R2K8S_CACHE`` when set and non-empty, else ``~/.cache/r2k8s/wares``.

    Not ``$XDG_CACHE_HOME``-aware on purpose: one fixed, documented default is
    easier to mount into pods and to share between tools.
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(os.path.abspath(os.path.expanduser(configured)))
    return Path.home() / ".cache" / "r2k8s" / "wares"


def _as_ware_id(ware_id: WareID | str) -> WareID:
    return ware_id if isinstance(ware_id, WareID) else WareID.parse(ware_id)


def _cache_error(action: str, exc: OSError) -> R2k8sError:
    return R2k8sError(_CACHE, f"ware cache: {action}: {exc.strerror or exc}")


class WareCache:
    """Unpacked filesets under ``root``; see the module docstring for the layout and rules."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(os.path.abspath(root)) if root is not None else default_root()
        self._swept = False  # stale staging dirs of killed fetches are swept before the first fill

    def __repr__(self) -> str:
        return f"WareCache({str(self.root)!r})"

    # -- layout -----------------------------------------------------------------

    @staticmethod
    def _checked(ware_id: WareID | str) -> WareID:
        ware = _as_ware_id(ware_id)
        if ware.is_mount:
            raise usage_error(f"{ware} is a host mount, not a ware: it has no cache entry (mount it directly)")
        if ware.packtype not in SUPPORTED_PACKTYPES:
            raise usage_error(
                f"cannot cache ware {_q(ware)}: packtype {_q(ware.packtype)} is not supported"
                f" (supported: {', '.join(SUPPORTED_PACKTYPES)})"
            )
        hash_file_name(ware, "a cache entry")
        return ware

    def path_for(self, ware_id: WareID | str, legacy: bool = False) -> Path:
        """Where the entry for ``ware_id`` lives (whether or not it exists yet).

        ``legacy`` entries (verified with repeatr v0.15's tree hash) live under
        ``<packtype>-legacy/``: the two hash schemes must never share a key.
        """
        ware = self._checked(ware_id)
        kind = f"{ware.packtype}-legacy" if legacy else ware.packtype
        return self.root / kind / "fileset" / Path(*shard_dirs(ware.hash)) / ware.hash

    def has(self, ware_id: WareID | str, legacy: bool = False) -> bool:
        """True when a complete entry exists (entries only ever appear complete)."""
        path = self.path_for(ware_id, legacy)
        return path.is_dir() and not path.is_symlink()

    def _lock_path(self, ware: WareID, legacy: bool) -> Path:
        return self.root / ".locks" / f"{ware.packtype}{'-legacy' if legacy else ''}.{ware.hash}.lock"

    # -- filling ----------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, ware: WareID, legacy: bool) -> Iterator[None]:
        """Hold the exclusive per-ware lock; the lock file is removed on release."""
        path = self._lock_path(ware, legacy)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cache_error(f"cannot create lock dir {path.parent}", exc) from None
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise _cache_error(f"cannot open lock file {path}", exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    current = None
                mine = os.fstat(fd)
            except BaseException:
                os.close(fd)
                raise
            if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)  # the previous holder unlinked it under us: take the new file
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)

    def ensure(
        self,
        ware_id: WareID | str,
        urls: Sequence[str],
        base_dir: Path | None = None,
        log: LogFn | None = None,
        legacy: bool = False,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Return the entry for ``ware_id``, fetching and unpacking it first if needed.

        Logs ``info: cache already has ware "tar:…"`` when nothing is fetched;
        otherwise :func:`open_ware` logs which warehouse the read was opened from.
        Fetch errors are :func:`open_ware`'s and :func:`unpack_tar`'s (e.g.
        ``rio-ware-not-found``, ``rio-hash-mismatch``); in every failure case the
        cache is left as it was. ``legacy`` verifies with repeatr v0.15's tree
        hash (legacy formulas name their inputs by it). Setting ``cancel`` stops
        a transfer under way at its next read (``rio-cancelled``; nothing cached).
        """
        ware = self._checked(ware_id)
        emit = log or (lambda _line: None)
        final = self.path_for(ware, legacy)
        if self.has(ware, legacy):
            emit(f"info: cache already has ware {_q(ware)}")
            return final
        with self._locked(ware, legacy):
            if self.has(ware, legacy):  # filled while we waited for the lock
                emit(f"info: cache already has ware {_q(ware)}")
                return final
            self._fill(ware, final, urls, base_dir, log, legacy, cancel)
        return final

    def _fill(
        self,
        ware: WareID,
        final: Path,
        urls: Sequence[str],
        base_dir: Path | None,
        log: LogFn | None,
        legacy: bool,
        cancel: threading.Event | None,
    ) -> None:
        tmp_root = self.root / ".tmp"
        if not self._swept:
            self._swept = True
            sweep_stale(tmp_root, log)
        with contextlib.ExitStack() as stack:
            try:
                workdir = stack.enter_context(scratch_dir(tmp_root, f"{ware.packtype}.{ware.hash[:16]}."))
            except OSError as exc:
                raise _cache_error(f"cannot make a staging dir under {tmp_root}", exc) from None
            staged = workdir / ware.hash
            reader, _location = open_ware(ware, urls, base_dir, log)
            with reader:
                source = io.BufferedReader(_Cancellable(reader, cancel)) if cancel is not None else reader
                unpack_tar(ware, source, staged, UNPACK_LOSSLESS, log, legacy=legacy)
            self._publish(staged, final, log)

    @staticmethod
    def _publish(staged: Path, final: Path, log: LogFn | None) -> None:
        """Rename the verified tree into place; if an entry is already there, keep that one."""
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cache_error(f"cannot create {final.parent}", exc) from None
        # Moving a directory to another parent rewrites its '..', which needs write
        # permission on it; a ware's root may be read-only (0555), so lend u+w briefly.
        mode = os.lstat(staged).st_mode & 0o7777
        lent = not os.access(staged, os.W_OK)
        try:
            if lent:
                os.chmod(staged, mode | 0o200)
            try:
                os.rename(staged, final)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and final.is_dir():
                    if log is not None:
                        log(f"info: cache already has ware at {final} (filled concurrently); discarding this copy")
                    return  # the caller removes the staged copy with its workdir
                raise _cache_error(f"cannot move the unpacked ware into {final}", exc) from None
            if lent:
                os.chmod(final, mode)
                lent = False
        finally:
            if lent:
                with contextlib.suppress(OSError):
                    os.chmod(staged, mode)

    def ensure_all(
        self,
        requests: Mapping[str, tuple[WareID | str, Sequence[str]]],
        base_dir: Path | None = None,
        log: LogFn | None = None,
        max_workers: int = 4,
        legacy_paths: Collection[str] = (),
        cancel: threading.Event | None = None,
    ) -> dict[str, Path]:
        """Ensure several inputs in parallel; return ``{input path: cache entry}``.

        ``requests`` maps each input path to ``(ware ID, warehouse URLs)``.
        Inputs naming the same ware are fetched once, trying the URLs of all of
        them in input-path order (duplicates dropped). ``mount:`` inputs are
        skipped and left out of the result: the caller mounts them itself.

        On failure, fetches that have not started are cancelled, running ones
        are allowed to finish (what they complete stays cached: it is verified),
        and the error of the first failing input in sorted path order is raised,
        its message prefixed with that input's path (same category).

        Inputs whose path is in ``legacy_paths`` are verified with the legacy
        tree hash (see :meth:`ensure`).
        """
        order = sorted(requests)
        wares: dict[_Key, list[str]] = {}  # (ware, legacy) -> input paths, in path order
        urls_for: dict[_Key, list[str]] = {}
        for path in order:
            raw_id, urls = requests[path]
            ware = _as_ware_id(raw_id)
            if ware.is_mount:
                continue
            try:
                self._checked(ware)
            except R2k8sError as exc:
                raise R2k8sError(exc.category, f"input {_q(path)}: {exc.message}") from None
            key = (ware, path in legacy_paths)
            wares.setdefault(key, []).append(path)
            merged = urls_for.setdefault(key, [])
            merged.extend(url for url in urls if url not in merged)
        if not wares:
            return {}
        results: dict[_Key, Path] = {}
        errors: dict[_Key, BaseException] = {}
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(max_workers, len(wares))), thread_name_prefix="r2k8s-warecache"
        )
        try:
            futures = {
                pool.submit(self.ensure, key[0], urls_for[key], base_dir, log, key[1], cancel): key for key in wares
            }
            for future in concurrent.futures.as_completed(futures):
                key = futures[future]
                if future.cancelled():
                    continue
                failure = future.exception()
                if failure is None:
                    results[key] = future.result()
                    continue
                errors[key] = failure
                for other in futures:
                    other.cancel()  # only those not yet running
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if errors:
            first_path = min(path for key in errors for path in wares[key])
            key = next(k for k in errors if first_path in wares[k])
            first = errors[key]
            users = ", ".join(_q(p) for p in wares[key])
            inputs = f"input {users}" if len(wares[key]) == 1 else f"inputs {users}"
            if isinstance(first, R2k8sError):
                raise R2k8sError(first.category, f"{inputs} ({key[0]}): {first.message}") from first
            raise R2k8sError(_CACHE, f"{inputs} ({key[0]}): {type(first).__name__}: {first}") from first
        return {path: results[key] for key, paths in wares.items() for path in paths}


class _Cancellable(io.RawIOBase):
    """A reader that raises ``rio-cancelled`` at the first read after ``event`` is set.

    Reads are capped at :data:`_CANCEL_CHECK_BYTES`: a raw read returns what it
    got (callers buffer), and one read of a whole buffer from a slow warehouse
    would otherwise keep a cancelled fetch going for as long as that takes.
    """

    def __init__(self, inner: BinaryIO, event: threading.Event) -> None:
        self._inner = inner
        self._event = event

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._event.is_set():
            raise R2k8sError(Category.CANCELLED, "cancelled while fetching")
        data = self._inner.read(min(len(buffer), _CANCEL_CHECK_BYTES))
        buffer[: len(data)] = data
        return len(data)
