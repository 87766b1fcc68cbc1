"""A local cache of unpacked filesets, keyed by ware ID, laid out as rio lays out its own.

An entry for ``tar:H`` lives at ``<root>/tar/fileset/<H[0:3]>/<H[3:6]>/<H>``, one for
``git:H`` at ``<root>/git/fileset/…`` alike
(rio ``cache/filesetCache.go``; shard names are '-'-padded like the
warehouse's, so a short hash cannot index out of range). The root is
:func:`default_root`: ``$R2K8S_CACHE`` if set and non-empty, otherwise
``~/.cache/r2k8s/wares``.

Guarantees:

* **All or nothing.** A ware is unpacked (with the lossless unpack filters,
  as repeatr unpacks inputs into its cache) into a private directory under
  ``<root>/.tmp/`` -- :func:`unpack_ware` itself verifies the hash there -- and
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

* **Private.** The root is made mode 0700 when this cache first fills or
  verifies an entry (an existing cache with a looser mode is fixed then):
  lossless entries keep setuid-root files and device nodes exactly as the
  ware says, and nobody but the cache's owner may reach them. What formulas
  see is unchanged: inputs are placed from the cache by root (overlay
  mounts, copies, the pod's takeover), and the placed trees keep their modes.
* **Full disks say so.** Running out of space (``ENOSPC``, ``EDQUOT``) while
  filling an entry is ``rio-cache-problem`` naming the cache and saying it is
  full: the user's fix is the cache's filesystem, not a path they chose.

The ``tar``, ``zip`` and ``git`` packtypes can be cached (:data:`SUPPORTED_PACKTYPES`;
each is filled as its row of ``_PACKTYPES`` says: ``tar`` and ``zip`` stream a file and
:func:`unpack_ware` verifies it, ``git`` is
:func:`~r2k8s.core.warehouse.git.wares.fetch_git_tree`, which keeps each
remote's git objects under ``<root>/git/objs`` as rio does and refuses any
``git:`` ID but a full commit hash); ``mount:`` "wares" are host bind
mounts, not cache entries: :meth:`WareCache.ensure` refuses them and
:meth:`WareCache.ensure_all` leaves them out of its result, for the caller to
mount directly. Filesystem failures on the cache itself are ``rio-cache-problem``
(exit 9), the category rio gives its fileset cache.

Only the standard library is used: this module runs inside stock Python images.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import errno
import fcntl
import io
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.scratch import scratch_dir, sweep_stale
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.git.remotes import check_commit_ware
from r2k8s.core.warehouse.urls import hash_file_name, shard_dirs

__all__ = ["CACHE_ENV", "PRIVATE_MODE", "SUPPORTED_PACKTYPES", "CachedEntry", "WareCache", "default_root"]

CACHE_ENV = "R2K8S_CACHE"
"""Environment variable naming the cache root (see :func:`default_root`)."""

_Fill = Callable[
    ["WareCache", WareID, Path, Sequence[str], Path | None, LogFn | None, bool, threading.Event | None], None
]
"""Fetch a ware and place its verified tree at a staging path: ``(cache, ware, staged, urls, base_dir, log,
legacy, cancel)``. The caller made the staging directory and publishes or removes what was placed."""


def _fill_archive(
    cache: WareCache,
    ware: WareID,
    staged: Path,
    urls: Sequence[str],
    base_dir: Path | None,
    log: LogFn | None,
    legacy: bool,
    cancel: threading.Event | None,
) -> None:
    """rio's tar and zip transmats: stream from the first warehouse that has the file; :func:`unpack_ware`
    verifies (a zip, whose index is at its end, is spooled to a file in the staging area first)."""
    from r2k8s.core.ware.unpack import unpack_ware
    from r2k8s.core.warehouse.fetch import open_ware

    reader, _location = open_ware(ware, urls, base_dir, log)
    with reader:
        source = io.BufferedReader(_Cancellable(reader, cancel)) if cancel is not None else reader
        unpack_ware(ware, source, staged, UNPACK_LOSSLESS, log, legacy=legacy)


def _fill_git(
    cache: WareCache,
    ware: WareID,
    staged: Path,
    urls: Sequence[str],
    base_dir: Path | None,
    log: LogFn | None,
    legacy: bool,
    cancel: threading.Event | None,
) -> None:
    """rio's git transmat: the commit from the first repository that has it (objects cached per remote under
    ``<root>/git/objs``), checked out with its submodules. A commit hash means the same in legacy formulas.

    The fetching code (HTTP, TLS, git's packs) is imported here, when a ware is fetched: whoever only asks
    which packtypes the cache takes (the KRM function, for every formula) never loads it."""
    from r2k8s.core.warehouse.git.wares import fetch_git_tree

    fetch_git_tree(ware, urls, staged, UNPACK_LOSSLESS, cache.root, base_dir, log, cancel)


@dataclasses.dataclass(frozen=True)
class _Packtype:
    fill: _Fill
    check: Callable[[WareID], object] | None = None
    """Refuses IDs of this packtype that are no hash (a usage error) before anything is locked or fetched."""


_PACKTYPES: dict[str, _Packtype] = {
    "tar": _Packtype(_fill_archive),
    "zip": _Packtype(_fill_archive),
    "git": _Packtype(_fill_git, check_commit_ware),
}
"""How each packtype that can be cached is filled: adding one is adding a row."""

SUPPORTED_PACKTYPES = tuple(_PACKTYPES)

PRIVATE_MODE = 0o700
"""The mode of the cache root: entries hold setuid files and devices as the wares say, for root's eyes only."""

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
    from r2k8s.core.ware.unpack import FULL_ERRNOS

    full = " (the cache's filesystem is full)" if exc.errno in FULL_ERRNOS else ""
    return R2k8sError(_CACHE, f"ware cache: {action}: {exc.strerror or exc}{full}")


@dataclasses.dataclass(frozen=True)
class CachedEntry:
    """Something at the entry level of the cache's fileset trees (see :meth:`WareCache.entries`)."""

    path: Path
    ware: WareID | None
    """The ware its name says (``None`` when the name is no hash this cache could have made)."""
    legacy: bool
    """Under ``<packtype>-legacy/``: keyed by repeatr v0.15's tree hash."""
    stray: str | None = None
    """Why this is no usable entry (not a directory, a symlink, a wrong shard), else ``None``."""


class WareCache:
    """Unpacked filesets under ``root``; see the module docstring for the layout and rules."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(os.path.abspath(root)) if root is not None else default_root()
        self._swept = False  # stale staging dirs of killed fetches are swept before the first fill
        self._private = False  # the root is made PRIVATE_MODE on first use
        self._private_lock = threading.Lock()  # ensure_all's threads: one check, one log line

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
        check = _PACKTYPES[ware.packtype].check
        if check is not None:
            check(ware)
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
        """True when a complete entry exists (entries only ever appear complete).

        An entry is a directory, or the one regular file of a ware that is a file (rio packs a file as ``.``).
        """
        path = self.path_for(ware_id, legacy)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _cache_error(f"cannot read {path}", exc) from None
        return stat.S_ISDIR(mode) or stat.S_ISREG(mode)

    def make_private(self, log: LogFn | None = None) -> None:
        """Create the root as :data:`PRIVATE_MODE`, or make an existing root so (once per instance).

        Logs when an existing cache was reachable by others. A root that is
        not a directory, or whose mode cannot be changed (another owner), is
        ``rio-cache-problem``: its entries would be open to other users.
        """
        with self._private_lock:
            if not self._private:
                self._make_private(log)
                self._private = True

    def _make_private(self, log: LogFn | None) -> None:
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.root, PRIVATE_MODE)
            st = os.stat(self.root)
        except OSError as exc:
            raise _cache_error(f"cannot create {self.root}", exc) from None
        if not stat.S_ISDIR(st.st_mode):
            raise R2k8sError(_CACHE, f"ware cache: {self.root} is not a directory")
        mode = stat.S_IMODE(st.st_mode)
        if mode != PRIVATE_MODE:
            try:
                os.chmod(self.root, PRIVATE_MODE)
            except OSError as exc:
                raise R2k8sError(
                    _CACHE,
                    f"ware cache: cannot make {self.root} private (mode {PRIVATE_MODE:04o}, it is {mode:04o};"
                    f" owner uid {st.st_uid}): {exc.strerror or exc}; its entries keep setuid files as the wares"
                    " say, so it must not be reachable by other users: use a cache directory you own",
                ) from None
            if mode & 0o077 and log is not None:
                log(
                    f"info: made the ware cache {self.root} private: mode {PRIVATE_MODE:04o} (it was {mode:04o},"
                    " which let other users reach its setuid files)"
                )

    def _lock_path(self, ware: WareID, legacy: bool) -> Path:
        return self.root / ".locks" / f"{ware.packtype}{'-legacy' if legacy else ''}.{ware.hash}.lock"

    # -- listing and removing ---------------------------------------------------

    def entries(self) -> Iterator[CachedEntry]:
        """Everything at the entry level of ``<root>/<packtype>[-legacy]/fileset/``, in sorted order.

        Shard directories are ``H[0:3]/H[3:6]``; anything else found there (a
        file, a symlink, a name that is no ware hash, an entry in the wrong
        shard) comes out with ``stray`` set: lookups would never use it
        correctly, and a symlink or file at an entry's path blocks its fill.
        Other packtypes' trees (rio's cache may hold them) are left alone.
        """
        for packtype in SUPPORTED_PACKTYPES:
            for legacy in (False, True):
                fileset = self.root / (f"{packtype}-legacy" if legacy else packtype) / "fileset"
                yield from self._entries_under(fileset, packtype, legacy)

    def _entries_under(self, fileset: Path, packtype: str, legacy: bool) -> Iterator[CachedEntry]:
        for first in _listing(fileset):
            if not _is_real_dir(first):
                yield CachedEntry(first, None, legacy, "not a shard directory")
                continue
            for second in _listing(first):
                if not _is_real_dir(second):
                    yield CachedEntry(second, None, legacy, "not a shard directory")
                    continue
                for path in _listing(second):
                    yield self._entry_at(path, packtype, legacy)

    def _entry_at(self, path: Path, packtype: str, legacy: bool) -> CachedEntry:
        try:
            ware = self._checked(WareID(packtype, path.name))
        except R2k8sError:
            return CachedEntry(path, None, legacy, "its name is no ware hash")
        expected = self.path_for(ware, legacy)
        if expected != path:
            return CachedEntry(path, ware, legacy, f"it is in the wrong shard directory (lookups use {expected})")
        if path.is_symlink():
            return CachedEntry(path, ware, legacy, "a symlink, not an unpacked tree")
        if not path.is_dir() and not path.is_file():
            return CachedEntry(path, ware, legacy, "neither a directory nor a file")
        return CachedEntry(path, ware, legacy)

    def discard(self, entry: CachedEntry, log: LogFn | None = None) -> None:
        """Take ``entry`` out of the cache at once, then remove it.

        One ``rename`` moves it into a fresh staging directory under ``.tmp/``
        (holding the ware's lock, so no fill races it): from that instant its
        key is free and nothing half-removed can pass for an entry. The tree
        is then removed; should that fail (a mount inside it, a disk error),
        the staging directory is swept by a later fill, and a warning says so.
        """
        tmp_root = self.root / ".tmp"
        lock = self._locked(entry.ware, entry.legacy) if entry.ware is not None else contextlib.nullcontext()
        moved = False
        try:
            with lock, scratch_dir(tmp_root, "discard.") as holder:
                st = os.lstat(entry.path)
                if stat.S_ISDIR(st.st_mode) and not os.access(entry.path, os.W_OK):
                    os.chmod(entry.path, stat.S_IMODE(st.st_mode) | 0o700)  # moving a directory rewrites its '..'
                os.rename(entry.path, holder / "entry")
                moved = True
        except OSError as exc:
            if not moved:
                raise _cache_error(f"cannot remove {entry.path}", exc) from None
            if log is not None:
                log(
                    f"warn: {entry.path} is out of the cache, but removing it failed: {exc.strerror or exc};"
                    f" it is left under {tmp_root} for a later fetch to sweep"
                )

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
        Fetch errors are :func:`open_ware`'s and :func:`unpack_ware`'s (e.g.
        ``rio-ware-not-found``, ``rio-hash-mismatch``); in every failure case the
        cache is left as it was. ``legacy`` verifies with repeatr v0.15's tree
        hash (legacy formulas name their inputs by it). Setting ``cancel`` stops
        a transfer under way at its next read (``rio-cancelled``; nothing cached).
        """
        ware = self._checked(ware_id)
        emit = log or (lambda _line: None)
        self.make_private(log)
        final = self.path_for(ware, legacy)
        if self.has(ware, legacy):
            emit(f"info: cache already has ware {_q(ware)}")
            return final
        with self._locked(ware, legacy):
            if self.has(ware, legacy):  # filled while we waited for the lock
                emit(f"info: cache already has ware {_q(ware)}")
                return final
            row = _PACKTYPES[ware.packtype]
            self._fill(
                ware, final, log, lambda staged: row.fill(self, ware, staged, urls, base_dir, log, legacy, cancel)
            )
        return final

    def adopt_tree(self, ware_id: WareID | str, tree: WareID, stream: BinaryIO, log: LogFn | None = None) -> Path:
        """Fill the entry for ``ware_id`` from a tar of its placed tree, verified against ``tree`` (``tar:…``).

        For a ware this machine cannot fetch but is handed whole: a build pod gets
        the client's checkout of a ``git:`` commit whose repository only the client
        can reach. The client verified the commit by git's object hashes and packed
        its cache entry losslessly; ``tree`` is that tar's ID, so what arrives is
        verified here as any tar ware is, and the entry is exactly the one a fetch
        would have made. All or nothing, under the entry's lock, as :meth:`ensure`.
        """
        from r2k8s.core.ware.unpack import unpack_tar

        ware = self._checked(ware_id)
        self.make_private(log)
        final = self.path_for(ware)
        with self._locked(ware, False):
            if not self.has(ware):
                self._fill(ware, final, log, lambda staged: unpack_tar(tree, stream, staged, UNPACK_LOSSLESS, log))
        return final

    def _fill(self, ware: WareID, final: Path, log: LogFn | None, fill: Callable[[Path], object]) -> None:
        """Run ``fill`` on a staging path in a fresh scratch directory; publish what it placed there as ``final``."""
        from r2k8s.core.ware.unpack import FULL_ERRNOS, PlacementError

        tmp_root = self.root / ".tmp"
        if not self._swept:
            self._swept = True
            try:
                sweep_stale(tmp_root, log)
            except OSError as exc:  # never a reason to fail this fetch: staging below says if .tmp is unusable
                if log is not None:
                    log(f"warn: cannot sweep stale staging directories in {tmp_root}: {exc.strerror or exc}")
        with contextlib.ExitStack() as stack:
            try:
                workdir = stack.enter_context(scratch_dir(tmp_root, f"{ware.packtype}.{ware.hash[:16]}."))
            except OSError as exc:
                raise _cache_error(f"cannot make a staging dir under {tmp_root}", exc) from None
            staged = workdir / ware.hash
            try:
                fill(staged)
            except PlacementError as exc:
                if exc.errno not in FULL_ERRNOS:
                    raise
                raise R2k8sError(
                    _CACHE,
                    f"the ware cache {self.root} is full: {exc.message}; free space on its filesystem or use"
                    f" a larger cache (--cache, ${CACHE_ENV}, or the pod's cache volume)",
                ) from None
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


def _listing(directory: Path) -> list[Path]:
    try:
        return [directory / name for name in sorted(os.listdir(directory))]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _cache_error(f"cannot list {directory}", exc) from None


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


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
