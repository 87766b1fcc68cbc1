"""Fetching a ``git:<commit>`` ware and placing its tree: the one entry point the ware cache calls.

:func:`fetch_git_tree` follows rio's ``transmat/git/git_unpack.go``:

1. :func:`~r2k8s.core.warehouse.git.pick.pick` finds the first warehouse
   with the commit (fetching it into that remote's object cache, or using a
   local repository in place);
2. the checkout (:mod:`r2k8s.core.ware.git`) places the commit's tree with
   rio's metadata and asks, for each submodule, for the object store holding
   its commit; that store is picked the same way, from the one URL
   ``.gitmodules`` gives (rio tries no other). A relative URL (``../lib.git``)
   is resolved against the remote the superproject came from, as ``git
   submodule`` does; rio passes it to ``pick`` as it is, where its empty
   scheme is a usage error, so no rio user can depend on that failure.

Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from r2k8s.core.aliases import LogFn
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.git.indexpack import index_pack
from r2k8s.core.ware.git.odb import ObjectDirectory
from r2k8s.core.ware.git.unpack import unpack_git
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.fetch import HTTP_TIMEOUT_SECONDS, ProgressRule
from r2k8s.core.warehouse.git.objcache import ObjectSource
from r2k8s.core.warehouse.git.pick import Formats, pick
from r2k8s.core.warehouse.git.remotes import GitRemote, check_commit_ware, resolve_submodule_url

__all__ = ["OBJS_DIR", "SubmoduleSource", "default_formats", "fetch_git_tree", "objs_root"]

OBJS_DIR = ("git", "objs")
"""Where remotes' object caches live under the cache root: rio's ``config.GetCacheBasePath()/git/objs``."""

SubmoduleSource = Callable[[str, str, str], ObjectSource]
"""``(path in the tree, URL as .gitmodules writes it, commit)`` to the object store that holds the commit."""


def objs_root(cache_root: Path) -> Path:
    return cache_root.joinpath(*OBJS_DIR)


def _resolution_base(remote: GitRemote) -> str:
    """The superproject's remote as a URL relative submodule URLs can be resolved against."""
    return f"file://{remote.url}" if remote.kind == "file" else remote.url


def fetch_git_tree(
    ware: WareID,
    urls: Sequence[str],
    target: Path,
    filters: Filters,
    cache_root: Path,
    base_dir: Path | None = None,
    log: LogFn | None = None,
    cancel: threading.Event | None = None,
    *,
    formats: Formats | None = None,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
) -> None:
    """Place the tree of commit ``ware`` (``git:<40 hex>``) at ``target``, fetched from the first of ``urls``.

    ``target`` must not exist (or be an empty directory); on failure the
    caller removes it. Remote objects are cached under
    ``<cache_root>/git/objs/<slug>``. Errors: a hash that is no full
    commit ID is a usage error ("only commit hashes are ware IDs"); then as
    :func:`~r2k8s.core.warehouse.git.pick.pick` and the checkout say.
    ``formats`` defaults to :mod:`r2k8s.core.ware.git`'s.
    """
    commit = check_commit_ware(ware)
    chosen = formats if formats is not None else default_formats()
    root = objs_root(cache_root)
    picked = pick(commit, urls, root, chosen, base_dir, log, cancel, timeout=timeout, progress=progress)
    base = _resolution_base(picked.remote)
    opened = [picked.source]

    def submodule(path: str, url: str, sub_commit: str) -> ObjectSource:
        resolved = resolve_submodule_url(base, url)
        if log is not None and resolved != url:
            log(f"info: submodule {path!r}: relative URL {url!r} resolved to {resolved!r}")
        found = pick(sub_commit, [resolved], root, chosen, base_dir, log, cancel, timeout=timeout, progress=progress)
        opened.append(found.source)
        return found.source

    try:
        chosen.checkout(picked.source, commit, target, filters, submodule, log, cancel)
    finally:
        for source in opened:
            source.close()


def default_formats() -> Formats:
    """:mod:`r2k8s.core.ware.git`'s pack indexer, object directory and checkout."""
    return Formats(index_pack, ObjectDirectory, _checkout)


def _checkout(
    source: ObjectSource,
    commit: str,
    target: Path,
    filters: Filters,
    submodules: SubmoduleSource,
    log: LogFn | None,
    cancel: threading.Event | None,
) -> None:
    """:func:`~r2k8s.core.ware.git.unpack.unpack_git`: all or nothing, every object verified by its ID.

    ``cancel`` is seen by the fetches (submodules' too), not by the placing
    of objects already on this machine.
    """
    unpack_git(WareID("git", commit), source, target, filters, submodules, log)
