"""The per-remote object cache, and the check that a commit is complete in an object store.

A remote's objects live at ``<cache root>/git/objs/<slug>/objects`` in git's
own layout (``pack/pack-*.pack`` + ``.idx``), where rio keeps its clones, so
either tool reads the other's packs. Next to them r2k8s keeps:

* ``r2k8s.lock`` -- held (``fcntl.flock``, exclusive) by whoever fetches into
  this remote's cache, so two fetches of one repository, in threads or
  processes, do not both download it; never unlinked, so no lock can be
  taken on a file another holder has already replaced;
* ``r2k8s-complete`` -- the commits known complete here (the commit, its
  tree, every tree and blob under it; submodule commits are other
  repositories'), one per line. A fetch sends them as ``have`` lines, and a
  ``have`` is a promise that everything it reaches is present: only commits
  checked complete are ever written here;
* ``r2k8s-staging/`` -- where a pack being received is indexed.

A fetched pack joins ``objects/pack`` only after it was verified (the
indexer checks every object against its ID and the pack's checksum) *and*
the wanted commit is complete in cache plus pack. A server that sends wrong
bytes, or leaves objects out, is refused and nothing is cached: the staged
pack goes with its scratch directory. The ``.pack`` is moved before its
``.idx``, so a reader never finds an index without its pack.

The object format itself (packs, indexes, object parsing) is
:mod:`r2k8s.core.ware.git`'s; this module only decides what may enter the
cache. Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.scratch import scratch_dir, sweep_stale
from r2k8s.core.ware.unpack import FULL_ERRNOS

__all__ = [
    "HAVES_LIMIT",
    "Indexer",
    "ObjectSource",
    "ObjectsCache",
    "OpenObjects",
    "UnionSource",
    "missing_from",
]

HAVES_LIMIT = 64
"""The most recent complete commits sent as ``have`` lines: plenty for a repository fetched now and then."""

_CACHE = Category.CACHE_PROBLEM
_CORRUPT = Category.WARE_CORRUPT

_MODE_TREE = b"40000"
_MODE_GITLINK = b"160000"


class ObjectSource(Protocol):
    """What this package needs of an object store (git's layout, or several of them)."""

    def has(self, oid: str) -> bool:
        """Whether the object is there, without reading it."""
        ...

    def read(self, oid: str) -> tuple[str, bytes]:
        """The object's type and bytes, verified against its ID; a missing one is WARE_NOT_FOUND."""
        ...

    def close(self) -> None:
        """Let go of open files (packs); the store may still be used afterwards, reopening what it needs."""
        ...


Indexer = Callable[[BinaryIO, Path], object]
"""Reads a pack stream to its end, verifies it, and writes ``pack-*.pack`` + ``.idx`` into the directory."""

OpenObjects = Callable[[Path], ObjectSource]
"""Opens a directory in git's objects layout (``pack/``, loose ``xx/…``)."""


class UnionSource:
    """Several object stores read as one, in order: a staged pack over the cache it is to join."""

    def __init__(self, sources: Sequence[ObjectSource]) -> None:
        self._sources = list(sources)

    def has(self, oid: str) -> bool:
        return any(source.has(oid) for source in self._sources)

    def read(self, oid: str) -> tuple[str, bytes]:
        for source in self._sources[:-1]:
            if source.has(oid):
                return source.read(oid)
        return self._sources[-1].read(oid)

    def close(self) -> None:
        for source in self._sources:
            source.close()


def _tree_entries(data: bytes, oid: str) -> Iterator[tuple[bytes, str]]:
    """``(mode, object ID)`` of each entry of a tree (names are the checkout's business)."""
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        nul = data.find(b"\0", space + 1)
        if space < 0 or nul < 0 or nul + 21 > len(data):
            raise R2k8sError(_CORRUPT, f"corrupt git tree {oid}: a truncated entry at byte {at}")
        yield data[at:space], data[nul + 1 : nul + 21].hex()
        at = nul + 21


def _commit_tree(data: bytes, oid: str) -> str:
    first = data.split(b"\n", 1)[0]
    if not first.startswith(b"tree ") or len(first) != 45:
        raise R2k8sError(_CORRUPT, f"corrupt git commit {oid}: it does not start with its tree")
    return first[5:].decode("ascii", "replace")


def missing_from(source: ObjectSource, commit: str, cancel: threading.Event | None = None) -> str | None:
    """Why ``commit`` is not complete in ``source`` (the first object missing), or ``None`` when it is.

    Complete: the commit, its tree, and every tree and blob below, each tree
    read (so verified) once; blobs are only looked up, never read. Gitlinks
    (submodules) name commits of other repositories and are not followed.
    A commit that is not there at all raises WARE_NOT_FOUND, for the caller's
    "not in this repository" handling; an object of the wrong type is corrupt.
    """
    if not source.has(commit):
        raise R2k8sError(Category.WARE_NOT_FOUND, f"commit {commit} is not in this repository")
    kind, data = source.read(commit)
    if kind != "commit":
        raise R2k8sError(Category.USAGE, f"{commit} is a {kind}, not a commit: only commit hashes are ware IDs")
    pending = [_commit_tree(data, commit)]
    seen: set[str] = set()
    while pending:
        if cancel is not None and cancel.is_set():
            raise R2k8sError(Category.CANCELLED, "cancelled while checking a fetched commit")
        tree = pending.pop()
        if tree in seen:
            continue
        seen.add(tree)
        if not source.has(tree):
            return f"tree {tree} is missing"
        kind, data = source.read(tree)
        if kind != "tree":
            raise R2k8sError(_CORRUPT, f"git object {tree} should be a tree but is a {kind}")
        for mode, oid in _tree_entries(data, tree):
            if mode == _MODE_GITLINK:
                continue
            if mode == _MODE_TREE:
                pending.append(oid)
            elif oid not in seen:
                if not source.has(oid):
                    return f"blob {oid} is missing"
                seen.add(oid)
    return None


def _cache_error(action: str, exc: OSError) -> R2k8sError:
    full = " (the cache's filesystem is full)" if exc.errno in FULL_ERRNOS else ""
    return R2k8sError(_CACHE, f"git object cache: {action}: {exc.strerror or exc}{full}")


class ObjectsCache:
    """One remote's cache directory ``<objs root>/<slug>``; see the module docstring."""

    def __init__(self, objs_root: Path, slug: str, open_objects: OpenObjects) -> None:
        self.dir = objs_root / slug
        self.objects = self.dir / "objects"
        self._record = self.dir / "r2k8s-complete"
        self._open_objects = open_objects

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this remote's cache exclusively (blocks while another fetch holds it)."""
        try:
            (self.objects / "pack").mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / "r2k8s.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _cache_error(f"cannot create {self.dir}", exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def complete(self) -> list[str]:
        """The commits recorded complete, oldest first."""
        try:
            text = self._record.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _cache_error(f"cannot read {self._record}", exc) from None
        return list(dict.fromkeys(line.strip() for line in text.splitlines() if len(line.strip()) == 40))

    def haves(self) -> list[str]:
        """The ``have`` lines to send: the most recent complete commits, newest first."""
        return self.complete()[::-1][:HAVES_LIMIT]

    def record(self, commit: str) -> None:
        """Add ``commit`` to the record (replaced whole by a rename: a reader never sees half a line)."""
        known = self.complete()
        if commit in known:
            return
        staged = self._record.with_name(f"{self._record.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            staged.write_text("".join(f"{c}\n" for c in [*known, commit]), encoding="ascii")
            os.replace(staged, self._record)
        except OSError as exc:
            with contextlib.suppress(OSError):
                staged.unlink()
            raise _cache_error(f"cannot update {self._record}", exc) from None

    def source(self) -> ObjectSource:
        return self._open_objects(self.objects)

    def has_complete(self, commit: str, cancel: threading.Event | None = None) -> bool:
        """Whether the cache holds ``commit`` complete: recorded, or (a clone rio left here) checked now."""
        if commit in self.complete():
            return True
        with contextlib.closing(self.source()) as source:
            if not source.has(commit) or missing_from(source, commit, cancel) is not None:
                return False
        self.record(commit)
        return True

    def add_pack(
        self,
        commit: str,
        receive: Callable[[Path], object],
        log: LogFn | None = None,
        cancel: threading.Event | None = None,
        where: str = "the git warehouse",
    ) -> None:
        """Stage what ``receive`` indexes into the directory it is given, check, then move it in.

        ``receive(pack_dir)`` fetches and indexes one pack into ``pack_dir``.
        Then ``commit`` must be complete in the cache plus the staged pack:
        if it is not there at all, WARE_NOT_FOUND (the remote does not have
        it); if objects are missing, WARE_CORRUPT (the server left them out).
        Either way nothing is cached. Call while holding :meth:`locked`.
        """
        staging_root = self.dir / "r2k8s-staging"
        with contextlib.suppress(OSError):
            sweep_stale(staging_root, log)
        with contextlib.ExitStack() as stack:
            try:
                staging = stack.enter_context(scratch_dir(staging_root, "fetch."))
            except OSError as exc:
                raise _cache_error(f"cannot make a staging dir under {staging_root}", exc) from None
            pack_dir = staging / "pack"
            pack_dir.mkdir()
            try:
                receive(pack_dir)
            except OSError as exc:
                raise _cache_error(f"cannot store a fetched pack in {pack_dir}", exc) from None
            union = stack.enter_context(contextlib.closing(UnionSource([self._open_objects(staging), self.source()])))
            try:
                missing = missing_from(union, commit, cancel)
            except R2k8sError as exc:
                if exc.category is Category.WARE_NOT_FOUND:
                    raise R2k8sError(exc.category, f"commit {commit} is not in {where}") from None
                raise
            if missing is not None:
                raise R2k8sError(
                    _CORRUPT,
                    f"{where} sent an incomplete pack for commit {commit}: {missing}; nothing was cached",
                )
            self._move_in(pack_dir)
            self.record(commit)

    def _move_in(self, pack_dir: Path) -> None:
        names = sorted(os.listdir(pack_dir))
        order = [n for n in names if n.endswith(".pack")] + [n for n in names if not n.endswith(".pack")]
        target = self.objects / "pack"
        try:
            for name in order:
                os.replace(pack_dir / name, target / name)
        except OSError as exc:
            raise _cache_error(f"cannot move a fetched pack into {target}", exc) from None
