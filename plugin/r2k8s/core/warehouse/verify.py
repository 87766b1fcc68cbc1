"""Re-hashing the ware cache's entries (``r2k8s cache verify``), and removing the bad ones.

An entry is the tree a ware unpacked to with the lossless unpack filters
(which change nothing), stored under the ID it was verified against when it
was filled: so the tree on disk, hashed again, must give that ID. Each entry
is hashed from ``lstat`` and its files' bytes, as packing reads a tree
(:func:`r2k8s.core.ware.tree.walk`, 1 MiB chunks: memory grows with the
number of entries in a tree, never with file sizes), in the scheme its key
uses: rio's tree hash under ``tar/``, repeatr v0.15's under ``tar-legacy/``.
An entry that is one file (a ware rio packed from a file) is hashed as its
one entry ``.``; ``zip`` entries as ``tar`` ones (the same tree hash).
Entries of ``git`` wares are skipped: their ID is a commit hash, which the
placed tree (rio's metadata, submodules inlined) cannot be hashed back to.
One difference from ``pack``: sub-second mtimes are kept, because unpacking
recorded them and the ID covers them (``pack`` truncates them, as rio does).

What this cannot see, because the ID does not cover it: rio's tree hash
leaves out symlinks, device nodes and fifos (only files and directories feed
it), so a changed link target or an added device node in an entry passes.
What it cannot reproduce from disk: xattrs (the ware's are hashed, but
unpacking does not place them), so an entry of a ware with xattrs is
reported as bad; and hardlinks of a legacy ware, whose tar entries the
disk cannot tell apart from their first name, so such an entry is skipped.

Removing is :meth:`WareCache.discard`: one rename out of the cache, then
the tree, so an interrupted repair never leaves a half-removed entry where
a lookup would trust it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import R2k8sError
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.tree import file_chunks, metadata_from_stat, walk, walk_file
from r2k8s.core.ware.treehash import LegacyTreeHash, TreeHash
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import CachedEntry, WareCache

__all__ = ["Verdict", "tree_ware_id", "verify_cache"]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What verifying one entry found."""

    entry: CachedEntry
    problem: str | None = None
    """Why the entry is bad (it does not hash to its key, cannot be read, or is no entry), else ``None``."""
    skipped: str | None = None
    """Why it could not be checked from disk (left in place), else ``None``."""
    removed: bool = False
    """Taken out of the cache (``repair``)."""

    @property
    def bad(self) -> bool:
        return self.problem is not None


class _Unverifiable(Exception):
    """The tree holds something whose hash the disk cannot reproduce."""


def tree_ware_id(root: Path, packtype: str = "tar", legacy: bool = False) -> WareID:
    """The ware ID of the tree at ``root`` as it is on disk, every entry as ``lstat`` reads it (see above).

    Raises ``R2k8sError`` for what no ware can hold (a socket) and ``OSError``
    for what cannot be read.
    """
    tree = LegacyTreeHash() if legacy else TreeHash()
    for name, path, st in walk(root) if not _is_file(root) else walk_file(root):
        meta = metadata_from_stat(name, st, path)
        content_hash = None
        if meta.type == fsmeta.FILE:
            if legacy and st.st_nlink > 1:
                raise _Unverifiable(f"{name!r} is hardlinked: a legacy ware's hardlinks cannot be told from disk")
            hasher = hashlib.sha384()
            for chunk in file_chunks(path, meta.size):
                hasher.update(chunk)
            content_hash = hasher.digest()
        tree.add(meta, content_hash)
    return WareID(packtype, tree.ware_hash())


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _check(entry: CachedEntry) -> Verdict:
    if entry.stray is not None or entry.ware is None:
        return Verdict(entry, problem=entry.stray or "not an entry")
    if entry.ware.packtype == "git":
        return Verdict(
            entry,
            skipped=f"a {entry.ware.packtype} ware's ID names its source (a commit), not a tree hash the disk can"
            " reproduce",
        )
    try:
        found = tree_ware_id(entry.path, entry.ware.packtype, entry.legacy)
    except _Unverifiable as why:
        return Verdict(entry, skipped=str(why))
    except R2k8sError as exc:
        return Verdict(entry, problem=f"cannot be hashed: {exc.message}")
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return Verdict(entry, problem=f"cannot be read: {exc.strerror or exc}{where}")
    if found != entry.ware:
        return Verdict(entry, problem=f"the tree hashes to {found}")
    return Verdict(entry)


def verify_cache(cache: WareCache, *, repair: bool = False, log: LogFn | None = None) -> Iterator[Verdict]:
    """Check every entry of ``cache``; yield a :class:`Verdict` for each, as it is found.

    With ``repair``, each bad entry is removed (:meth:`WareCache.discard`)
    before its verdict is yielded. A missing cache yields nothing; an existing
    one is made private first (:meth:`WareCache.make_private`). Errors reading
    the cache's own directories are ``rio-cache-problem``.
    """
    if not os.path.isdir(cache.root):
        return
    cache.make_private(log)
    for entry in cache.entries():
        verdict = _check(entry)
        if verdict.bad and repair:
            cache.discard(entry, log)
            verdict = dataclasses.replace(verdict, removed=True)
        yield verdict
