"""Pack a directory into a tar ware and compute its ID in the same pass (rio ``tar_pack.go``).

The walk is pre-order with names sorted; metadata comes from ``lstat`` (no
xattrs, hardlinks become independent files), goes through the pack filters,
and has its mtime truncated to whole seconds, so the hash describes exactly the
tar that is written. Content is hashed while it is copied, in 1 MiB chunks.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from r2k8s.core import fsmeta
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.filters import Filters
from r2k8s.core.fsmeta import Metadata
from r2k8s.core.tarwriter import TarWriter
from r2k8s.core.treehash import TreeHash
from r2k8s.core.wareid import WareID

CHUNK = 1 << 20
COMPRESSIONS = ("gzip", "none")


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
        raise R2k8sError(Category.PACK_INVALID, f"cannot pack {path!r}: sockets and unknown file types have no tar form")
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


def pack_tree(root: Path, filters: Filters, out: BinaryIO | None = None, compression: str = "gzip",
              packtype: str = "tar") -> WareID:
    """Pack ``root`` into ``out`` (if given) and return the ware ID.

    A missing ``root`` packs to the empty ID ``tar:-`` without error, as rio
    does for an output path the job never created.
    """
    if compression not in COMPRESSIONS:
        raise R2k8sError(Category.USAGE, f"unknown compression {compression!r} (use {' or '.join(COMPRESSIONS)})")
    if not os.path.lexists(root):
        return WareID(packtype, "")
    if not stat.S_ISDIR(os.lstat(root).st_mode):
        raise R2k8sError(Category.PACK_INVALID, f"cannot pack {str(root)!r}: not a directory")
    tree = TreeHash()
    sink: BinaryIO | None = None
    if out is not None:
        sink = gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=6, mtime=0) if compression == "gzip" else out  # type: ignore[assignment]
    writer = TarWriter(sink) if sink is not None else None
    for name, path, st in walk(root):
        if name.startswith(".."):
            fsmeta.clean_relpath(name)  # a name rio could never unpack again ('..0') is refused here already
        meta = filters.apply(metadata_from_stat(name, st, path))
        if meta is None:
            continue
        meta.mtime_ns = 0  # rio truncates to whole seconds before hashing and writing
        if writer is not None:
            writer.add(meta)
        content_hash = None
        if meta.type == fsmeta.FILE:
            hasher = hashlib.sha384()
            for chunk in file_chunks(path, meta.size):
                hasher.update(chunk)
                if writer is not None:
                    writer.write_content(chunk)
            content_hash = hasher.digest()
        tree.add(meta, content_hash)
    if writer is not None:
        writer.close()
        if sink is not out:
            sink.close()  # type: ignore[union-attr]
    return WareID(packtype, tree.ware_hash())
