"""Checking out a commit's tree as rio's git transmat does: the entries, their metadata, and the tree hash.

rio (``transmat/git/git_unpack.go``) walks the commit's tree depth first in
the tree's stored order (go-git's recursive ``TreeWalker``, which refuses
directories nested more than 1024 deep: so does this) and gives every
entry uid 1000, gid 1000 and mtime 2010-01-01 (``fs.DefaultTime``):
directories 0755, files 0644, executables (100755) 0755, symlinks 0644 with
the blob as target. Git has no metadata for the root, which gets
``DefaultDirMetadata`` (0755, **uid 0, gid 0**, 2010-01-01). Everything goes
through the unpack filters; afterwards rio resets every directory's mtime to
2010-01-01, even one a filter set otherwise, so that is what is placed here
(and hashed: the filtered ID describes what is on disk, as a re-pack keeping
mtimes would hash it).

Submodules: at the top repository a gitlink (mode 160000) is replaced by
its submodule's tree, placed as a repository of its own (its root again 0755
0:0 2010-01-01, then filtered) without further recursion: a submodule's own
gitlinks become empty 0755 directories. Which gitlinks are submodules, and
where to fetch them, comes from the commit's ``.gitmodules``: a listed path
that is not a gitlink, or a gitlink at the top that is not listed, is a
corrupt ware. rio fetches every listed submodule before placing anything;
so does this (through the caller's ``submodules`` callback).

A ``git:`` ware is verified by git's own hashes: every object read is
checked against its ID (see :mod:`.odb`). The tar-style IDs computed on the
way are what :func:`r2k8s.core.ware.ingest.ingest_tar` reports for a tar:
the tree as rio's metadata makes it (*prefilter*) and as placed (*filtered*).
Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from typing import Protocol

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError, ware_corrupt
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, Metadata
from r2k8s.core.ware.git.gitmodules import Submodule, parse_gitmodules
from r2k8s.core.ware.git.objects import (
    BLOB,
    COMMIT,
    MODE_DIR,
    MODE_EXEC,
    MODE_GITLINK,
    MODE_SYMLINK,
    TREE,
    TreeEntry,
    check_commit_hash,
    parse_commit_tree,
    parse_tree,
)
from r2k8s.core.ware.git.odb import ObjectStream
from r2k8s.core.ware.ingest import Placer
from r2k8s.core.ware.treehash import TreeHash
from r2k8s.core.ware.wareid import WareID

__all__ = ["GIT_GID", "GIT_UID", "MAX_TREE_DEPTH", "GitCheckout", "ObjectStore", "SubmoduleObjects", "checkout_commit"]

#: go-git's ``maxTreeDepth``: its tree walker refuses a directory nested more deeply (rio: "corrupt git tree").
MAX_TREE_DEPTH = 1024

#: The owner rio gives every entry of a git tree (the root excepted).
GIT_UID = 1000
GIT_GID = 1000


class ObjectStore(Protocol):
    """What a checkout reads objects from: :class:`~r2k8s.core.ware.git.odb.ObjectDirectory` is one."""

    def read(self, oid: bytes | str) -> tuple[str, bytes]: ...

    def stream(self, oid: bytes | str) -> ObjectStream: ...


SubmoduleObjects = Callable[[str, str, str], ObjectStore]
"""``(path, url, commit)`` -> the objects holding ``commit`` (40 hex) of the submodule at ``path``
(from ``.gitmodules``, relative to the top repository). The warehouse layer fetches the submodule
(``url`` as written in ``.gitmodules``, possibly relative or empty: its to resolve or refuse) and
raises its own errors (``rio-warehouse-unavailable``, ``rio-ware-not-found``, …); the store it
returns is the caller's to close."""


@dataclasses.dataclass(frozen=True)
class GitCheckout:
    """What a checkout placed: the ``git:`` ware, the tar-style IDs of its tree, and the submodules fetched."""

    ware_id: WareID
    prefilter_id: WareID
    filtered_id: WareID
    entries: int
    submodules: tuple[Submodule, ...]


def _dir(name: str, uid: int = GIT_UID, gid: int = GIT_GID) -> Metadata:
    return Metadata(name=name, type=fsmeta.DIR, perms=0o755, uid=uid, gid=gid, mtime=DEFAULT_TIME)


def _read_kind(objects: ObjectStore, oid: bytes, kind: str, what: str) -> bytes:
    got, data = objects.read(oid)
    if got != kind:
        raise ware_corrupt(f"corrupt git ware: {what} {oid.hex()} is a {got}, not a {kind}")
    return data


def _commit_tree(objects: ObjectStore, commit: bytes) -> list[TreeEntry]:
    got, data = objects.read(commit)
    if got != COMMIT:
        raise ware_corrupt(f"failed to get commit: {commit.hex()} is a {got}, not a commit")
    tree = parse_commit_tree(data, commit)
    return parse_tree(_read_kind(objects, tree, TREE, "tree"), tree)


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _gitmodules(objects: ObjectStore, root: list[TreeEntry]) -> list[Submodule]:
    """The submodules of the top commit; like go-git's ``commit.File``, only a file-like root entry counts."""
    for entry in root:
        if entry.name == b".gitmodules":
            if entry.mode in (MODE_DIR, MODE_GITLINK):
                return []
            return parse_gitmodules(_read_kind(objects, entry.oid, BLOB, ".gitmodules blob"))
    return []


def _find_gitlink(objects: ObjectStore, root: list[TreeEntry], path: str) -> bytes:
    """The commit ID of the gitlink at ``path`` (exactly: no cleaning, as go-git's ``FindEntry``)."""
    entries = root
    parts = path.split("/")
    for depth, part in enumerate(parts):
        match = next((e for e in entries if _name(e.name) == part), None)
        if match is None:
            break
        if depth == len(parts) - 1:
            if match.mode != MODE_GITLINK:
                raise ware_corrupt(f"gitmodule entry is not a submodule: {path!r} in .gitmodules is not a gitlink")
            return match.oid
        if match.mode != MODE_DIR:
            break
        entries = parse_tree(_read_kind(objects, match.oid, TREE, "tree"), match.oid)
    raise ware_corrupt(f"submodule entry missing matching tree entry: {path!r} in .gitmodules")


class _Walk:
    """One checkout: hashes and places entries; a repository at a time (the top one, then submodules inside it)."""

    def __init__(self, placer: Placer | None, filters: Filters) -> None:
        self.placer = placer
        self.filters = filters
        self.prefilter = TreeHash()
        self.filtered = TreeHash() if filters.altering else self.prefilter
        self.entries = 0

    def _filter(self, meta: Metadata) -> Metadata:
        placed = self.filters.apply(meta)
        if placed is None:  # only devices are dropped, and git has none
            raise R2k8sError(Category.FILTER_REJECTION, f"the filters drop {meta.name!r}")
        if meta.type == fsmeta.DIR and (placed.mtime, placed.mtime_ns) != (DEFAULT_TIME, 0):
            placed = placed.copy()  # rio resets every directory's mtime after placing the tree
            placed.mtime, placed.mtime_ns = DEFAULT_TIME, 0
        return placed

    def add(self, meta: Metadata, content: ObjectStream | None = None) -> None:
        self.entries += 1
        placed = self._filter(meta)
        content_hash = None
        if content is not None:
            hasher = hashlib.sha384()
            chunks = _hashing(content.chunks, hasher)
            if self.placer is not None:
                self.placer.place(placed, chunks)
            for _ in chunks:  # whatever the placer left unread is still hashed and verified
                pass
            content_hash = hasher.digest()
        elif self.placer is not None:
            self.placer.place(placed, None)
        self.prefilter.add(meta, content_hash)
        if self.filtered is not self.prefilter:
            self.filtered.add(placed, content_hash)

    def repository(
        self,
        objects: ObjectStore,
        root: list[TreeEntry],
        prefix: str,
        submodules: dict[str, tuple[bytes, ObjectStore]] | None,
    ) -> None:
        """Place one repository's tree at ``prefix`` (``""`` for the top); ``submodules`` only at the top."""
        self.add(_dir(prefix.rstrip("/") or ".", uid=0, gid=0))  # rio's DefaultDirMetadata: 0:0
        stack: list[tuple[Iterator[TreeEntry], str]] = [(iter(root), prefix)]
        while stack:
            entries, base = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            path = base + _name(entry.name)
            mode = entry.mode
            if mode == MODE_DIR:
                self.add(_dir(path))
                tree = parse_tree(_read_kind(objects, entry.oid, TREE, "tree"), entry.oid)
                stack.append((iter(tree), path + "/"))
                if len(stack) - 1 > MAX_TREE_DEPTH:
                    raise ware_corrupt(
                        f"corrupt git tree: maximum tree depth exceeded ({len(stack) - 1} levels; rio's go-git"
                        f" walks at most {MAX_TREE_DEPTH})"
                    )
            elif mode == MODE_SYMLINK:
                target = _read_kind(objects, entry.oid, BLOB, "symlink blob")
                if b"\x00" in target:
                    raise R2k8sError(
                        Category.INOPERABLE_PATH, f"error while unpacking: symlink {path!r} has a NUL in its target"
                    )
                self.add(
                    Metadata(
                        name=path,
                        type=fsmeta.SYMLINK,
                        perms=0o644,
                        uid=GIT_UID,
                        gid=GIT_GID,
                        linkname=_name(target),
                        mtime=DEFAULT_TIME,
                    )
                )
            elif mode == MODE_GITLINK:
                if submodules is None:  # inside a submodule: an empty directory, as git leaves it
                    self.add(_dir(path))
                    continue
                found = submodules.get(path)
                if found is None:
                    raise ware_corrupt(f"gitlink found at path {path!r} but no matching config in .gitmodules")
                commit, sub_objects = found
                self.repository(sub_objects, _commit_tree(sub_objects, commit), path + "/", None)
            else:
                stream = objects.stream(entry.oid)
                if stream.kind != BLOB:
                    raise ware_corrupt(f"corrupt git ware: file {path!r} is a {stream.kind}, not a blob")
                perms = 0o755 if mode == MODE_EXEC else 0o644
                meta = Metadata(name=path, type=fsmeta.FILE, perms=perms, uid=GIT_UID, gid=GIT_GID, mtime=DEFAULT_TIME)
                meta.size = stream.size
                self.add(meta, stream)


def _hashing(chunks: Iterator[bytes], hasher: hashlib._Hash) -> Iterator[memoryview]:
    for chunk in chunks:
        hasher.update(chunk)
        yield memoryview(chunk)


def checkout_commit(
    objects: ObjectStore,
    commit: str,
    placer: Placer | None,
    filters: Filters,
    submodules: SubmoduleObjects | None = None,
    log: LogFn | None = None,
) -> GitCheckout:
    """Walk ``commit`` (40 lowercase hex) as rio does, handing filtered entries to ``placer`` (none: just hash).

    ``submodules`` fetches each submodule ``.gitmodules`` lists (all of them,
    before anything is placed); without it, a commit that has submodules is a
    usage error. Errors: ``rio-ware-not-found`` for a missing object (the
    stores' own), ``rio-ware-corrupt`` for anything malformed or lying, and the
    placer's. ``log`` gets one ``info:`` line per submodule fetched.
    """
    commit_id = check_commit_hash(commit)
    root = _commit_tree(objects, commit_id)
    listed = _gitmodules(objects, root)
    fetched: dict[str, tuple[bytes, ObjectStore]] = {}
    for module in listed:
        sub_commit = _find_gitlink(objects, root, module.path)
        if module.path in fetched:
            if fetched[module.path][0] != sub_commit or any(
                m.path == module.path and m.url != module.url for m in listed
            ):
                raise ware_corrupt(f".gitmodules lists the path {module.path!r} twice with different URLs")
            continue
        if submodules is None:
            raise R2k8sError(
                Category.USAGE,
                f"commit {commit} has submodule {module.path!r} and no way to fetch submodules was given",
            )
        if log is not None:
            log(f"info: fetching submodule {module.path!r} ({sub_commit.hex()}) from {module.url!r}")
        fetched[module.path] = (sub_commit, submodules(module.path, module.url, sub_commit.hex()))
    walk = _Walk(placer, filters)
    walk.repository(objects, root, "", fetched)
    prefilter_id = WareID("tar", walk.prefilter.ware_hash())
    filtered_id = prefilter_id if walk.filtered is walk.prefilter else WareID("tar", walk.filtered.ware_hash())
    return GitCheckout(WareID("git", commit), prefilter_id, filtered_id, walk.entries, tuple(listed))
