"""Walking a directory tree in rio's order and reading its files, for packing and copying.

The walk is pre-order with names sorted byte-wise and iterative, so a very
deep tree cannot exhaust Python's recursion limit; file contents are read
in 1 MiB chunks, and a file that changes size while it is read is an error.
:func:`copy_tree` is the one copy walk (rio's copy placer, and the pod's
root takeover), with the placer that writes the copy as its parameter.
Standard library only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata

__all__ = ["Placer", "copy_tree", "file_chunks", "metadata_from_stat", "walk"]


CHUNK = 1 << 20


def metadata_from_stat(name: str, st: os.stat_result, path: str) -> Metadata:
    """What rio's pack reads from ``lstat``; sockets cannot be packed."""
    mode = st.st_mode
    meta = Metadata(
        name=name,
        type=fsmeta.FILE,
        perms=stat.S_IMODE(mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime=st.st_mtime_ns // 1_000_000_000,
        mtime_ns=st.st_mtime_ns % 1_000_000_000,
    )
    if stat.S_ISREG(mode):
        meta.size = st.st_size
    elif stat.S_ISDIR(mode):
        meta.type = fsmeta.DIR
    elif stat.S_ISLNK(mode):
        meta.type = fsmeta.SYMLINK
        meta.linkname = os.readlink(path)
    elif stat.S_ISFIFO(mode):
        meta.type = fsmeta.FIFO
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        meta.type = fsmeta.CHAR_DEVICE if stat.S_ISCHR(mode) else fsmeta.BLOCK_DEVICE
        meta.devmajor, meta.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise R2k8sError(
            Category.PACK_INVALID, f"cannot pack {path!r}: sockets and unknown file types have no tar form"
        )
    return meta


def _sorted_names(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory), key=os.fsencode)
    except OSError as exc:
        raise R2k8sError(Category.PACK_INVALID, f"cannot read directory {directory!r}: {exc.strerror}") from None


def walk(root: Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """``(relative name, path, lstat)`` in rio's order: pre-order, names sorted byte-wise.

    Iterative, so a very deep tree cannot exhaust Python's recursion limit.
    """
    root_path = str(root)
    yield ".", root_path, os.lstat(root_path)
    stack: list[tuple[Iterator[str], str, str]] = [(iter(_sorted_names(root_path)), root_path, "")]
    while stack:
        names, directory, prefix = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        path = os.path.join(directory, name)
        st = os.lstat(path)
        yield prefix + name, path, st
        if stat.S_ISDIR(st.st_mode):
            stack.append((iter(_sorted_names(path)), path, prefix + name + "/"))


def file_chunks(path: str, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of a regular file; a file that changes size mid-pack is an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise R2k8sError(Category.PACK_INVALID, f"cannot read {path!r}: {exc.strerror}") from None
    try:
        remaining = size
        while remaining:
            chunk = os.read(fd, min(CHUNK, remaining))
            if not chunk:
                raise R2k8sError(Category.PACK_INVALID, f"{path!r} shrank while it was being packed")
            remaining -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


class Placer(Protocol):
    """Where :func:`copy_tree` writes: :class:`r2k8s.core.ware.unpack.DirectoryPlacer` or one of its kind."""

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        """Create the entry ``meta`` describes (``content``: a regular file's bytes)."""

    def finish(self) -> None:
        """Called once every entry is placed (directory metadata is applied last, deepest first)."""


def copy_tree(source: Path, placer: Placer) -> None:
    """Copy the tree at ``source`` through ``placer``: every entry in :func:`walk`'s order, then ``finish``.

    Each entry goes with the metadata ``lstat`` gives (owner, mode, mtime,
    link target, device numbers) and, for a regular file, its bytes read by
    :func:`file_chunks`; the placer decides where and how it lands. Errors
    are the placer's, :func:`walk`'s and ``OSError``: callers word them.
    """
    for name, path, st in walk(source):
        meta = metadata_from_stat(name, st, path)
        content = _views(file_chunks(path, meta.size)) if stat.S_ISREG(st.st_mode) else None
        placer.place(meta, content)
    placer.finish()


def _views(chunks: Iterator[bytes]) -> Iterator[memoryview]:
    for chunk in chunks:
        yield memoryview(chunk)
