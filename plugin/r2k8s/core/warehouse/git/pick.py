"""Choosing the git warehouse that serves a commit, as rio's ``pick`` (``transmat/git/git_warehouse.go``).

Each URL in order:

1. parse it (:class:`~r2k8s.core.warehouse.git.remotes.GitRemote`): a URL
   r2k8s cannot use is a usage error, and stops the search there, as in rio;
2. dial it, rio's ``NewController``: a local path must be a repository, a
   remote must answer ``info/refs`` (rio's ``ls-remote`` ping); failing that,
   the warehouse is *unavailable* and the next URL is tried;
3. a local repository is used in place, as rio does (no copy): the commit
   missing there is *not found*, next URL;
4. a remote: its object cache (:mod:`~r2k8s.core.warehouse.git.objcache`)
   may already hold the commit complete (rio's "objcache hit"); otherwise a
   pack is fetched (:mod:`~r2k8s.core.warehouse.git.smarthttp`) and checked.
   The server refusing the commit, or (v0) a pack without it, is *not
   found*, next URL; the connection failing is *unavailable*, next URL.

Anything else (a corrupt pack, a lying server, a cache that cannot be
written) stops the search: quietly trying elsewhere would hide it. With no
warehouse that answered "not here" the error is WAREHOUSE_UNAVAILABLE, else
WARE_NOT_FOUND, with rio's words. (rio counts a warehouse that answered its
ping but failed the fetch as available, and ends with "not found"; r2k8s says
unavailable then, which is what the user has to fix.) Like rio, a remote is
dialled even when the cache holds the commit already.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.ware.filters import Filters
from r2k8s.core.warehouse.fetch import HTTP_TIMEOUT_SECONDS, ProgressRule
from r2k8s.core.warehouse.git.objcache import Indexer, ObjectsCache, ObjectSource, OpenObjects, missing_from
from r2k8s.core.warehouse.git.remotes import GitRemote
from r2k8s.core.warehouse.git.smarthttp import Advertisement, discover, fetch_pack

__all__ = ["Checkout", "Formats", "Picked", "local_objects_dir", "pick"]

_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE
_NOT_FOUND = Category.WARE_NOT_FOUND


Checkout = Callable[
    [ObjectSource, str, Path, Filters, Callable[[str, str, str], ObjectSource], LogFn | None, threading.Event | None],
    None,
]
"""Place a commit's tree: ``(objects, commit, target, filters, submodule source, log, cancel)``."""


@dataclasses.dataclass(frozen=True)
class Formats:
    """The object-format functions this package drives: index a pack stream, open objects, check out a tree.

    One bundle so tests can judge the transport by the real ``git``.
    """

    indexer: Indexer
    open_objects: OpenObjects
    checkout: Checkout


@dataclasses.dataclass
class Picked:
    """The warehouse that had the commit, and the object store to check it out from (the caller closes it)."""

    remote: GitRemote
    source: ObjectSource
    received: int = 0
    """Bytes received over the network for it (0 for a local repository or a cache hit)."""


def local_objects_dir(remote: GitRemote) -> Path:
    """A local repository's objects directory: ``.git/objects``, a ``.git`` file's gitdir, or a bare one's.

    Anything else is not a repository: WAREHOUSE_UNAVAILABLE, as rio says of
    a local warehouse its ``ls-remote`` cannot open ("warehouse does not exist").
    """
    assert remote.path is not None
    path = remote.path
    dot_git = path / ".git"
    gitdir: Path | None = None
    try:
        if dot_git.is_dir():
            gitdir = dot_git
        elif dot_git.is_file():
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                gitdir = Path(os.path.join(path, text.removeprefix("gitdir:").strip()))
        elif (path / "objects").is_dir() and (path / "HEAD").is_file():
            gitdir = path
    except OSError as exc:
        raise R2k8sError(
            _UNAVAILABLE, f"warehouse does not exist: {_q(remote.raw)} ({path}: {exc.strerror or exc})"
        ) from None
    if gitdir is None or not (gitdir / "objects").is_dir():
        raise R2k8sError(_UNAVAILABLE, f"warehouse does not exist: {_q(remote.raw)} ({path} is not a git repository)")
    return gitdir / "objects"


def pick(
    commit: str,
    urls: Sequence[str],
    objs_root: Path,
    formats: Formats,
    base_dir: Path | None = None,
    log: LogFn | None = None,
    cancel: threading.Event | None = None,
    *,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
) -> Picked:
    """The first warehouse in ``urls`` that has ``commit``, fetched into the cache under ``objs_root``."""
    emit = log or (lambda _line: None)
    ware = f"git:{commit}"
    any_available = False
    tried: list[str] = []
    for raw in urls:
        remote = GitRemote.parse(raw, base_dir)
        try:
            if remote.kind == "file":
                source: ObjectSource = formats.open_objects(local_objects_dir(remote))
                advert = None
            else:
                advert = discover(remote.url, raw, timeout=timeout, progress=progress)
        except R2k8sError as exc:
            if exc.category is not _UNAVAILABLE:
                raise
            emit(f"warn: {_UNAVAILABLE.wire_name} while dialing warehouse {_q(raw)} for read: {exc}")
            tried.append(f"{raw} (unavailable: {exc})")
            continue
        try:
            if advert is None:
                try:
                    _check_local(source, commit, raw, cancel)
                except BaseException:
                    source.close()
                    raise
                emit(f"info: read for ware {_q(ware)} opened from warehouse {_q(raw)}")
                return Picked(remote, source)
            picked = _fetch_remote(
                remote, advert, commit, objs_root, formats, emit, cancel, timeout=timeout, progress=progress
            )
        except R2k8sError as exc:
            if exc.category is _NOT_FOUND:
                any_available = True
                emit(f"info: {_NOT_FOUND.wire_name} from warehouse {_q(raw)} for ware {_q(ware)}: {exc}")
                tried.append(f"{raw} (not found)")
                continue
            if exc.category is _UNAVAILABLE:
                emit(f"warn: {_UNAVAILABLE.wire_name} while reading from warehouse {_q(raw)}: {exc}")
                tried.append(f"{raw} (unavailable: {exc})")
                continue
            raise
        return picked
    looked = f" (tried: {'; '.join(tried)})" if tried else " (no warehouse URLs were given)"
    if not any_available:
        raise R2k8sError(_UNAVAILABLE, f"no warehouses were available!{looked}")
    raise R2k8sError(_NOT_FOUND, f"none of the available warehouses have ware {_q(ware)}!{looked}")


def _check_local(source: ObjectSource, commit: str, raw: str, cancel: threading.Event | None) -> None:
    """The commit is in the local repository and complete there (a missing object there is corruption)."""
    if not source.has(commit):
        raise R2k8sError(_NOT_FOUND, f"commit {commit} is not in this repository")
    missing = missing_from(source, commit, cancel)
    if missing is not None:
        raise R2k8sError(
            Category.WARE_CORRUPT, f"the repository of warehouse {_q(raw)} is incomplete for commit {commit}: {missing}"
        )


def _fetch_remote(
    remote: GitRemote,
    advert: Advertisement,
    commit: str,
    objs_root: Path,
    formats: Formats,
    emit: LogFn,
    cancel: threading.Event | None,
    *,
    timeout: float,
    progress: ProgressRule | None,
) -> Picked:
    cache = ObjectsCache(objs_root, remote.slug, formats.open_objects)
    ware = f"git:{commit}"
    with cache.locked():
        if cache.has_complete(commit, cancel):
            emit(f"info: ware {_q(ware)} found in the git object cache of warehouse {_q(remote.raw)}")
            return Picked(remote, cache.source())
        haves = cache.haves()
        received = advert.received

        def receive(pack_dir: Path) -> None:
            nonlocal received
            _value, count = fetch_pack(
                advert,
                remote.raw,
                commit,
                haves,
                lambda stream: formats.indexer(stream, pack_dir),
                log=emit,
                cancel=cancel,
                timeout=timeout,
                progress=progress,
            )
            received += count

        cache.add_pack(commit, receive, emit, cancel, where=f"git warehouse {_q(remote.raw)}")
        emit(
            f"info: read for ware {_q(ware)} fetched from warehouse {_q(remote.raw)} (protocol v{advert.version},"
            f" {len(haves)} have lines, {received} bytes received)"
        )
        return Picked(remote, cache.source(), received)
