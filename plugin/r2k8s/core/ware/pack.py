"""Pack a directory into a tar or zip ware and compute its ID in the same pass (rio ``tar_pack.go``, ``zip_pack.go``).

The walk is pre-order with names sorted; metadata comes from ``lstat`` (no
xattrs, hardlinks become independent files), goes through the pack filters,
and has its mtime truncated to whole seconds, so the hash describes exactly the
tar that is written. Content is hashed while it is copied, in 1 MiB chunks.

Zip wares share the walk and the tree hash; only the writer differs
(:class:`~r2k8s.core.ware.zip.writer.ZipWriter`, deflate, no outer
compression). rio's zip packer keeps sub-second mtimes in the hash although
the zip records whole seconds, which makes IDs its own unpacker rejects;
here zip mtimes are truncated like tar's, so the ID always describes the zip.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.tar.writer import ByteSink, TarWriter
from r2k8s.core.ware.tree import Location, file_chunks, metadata_from_stat, read_small_file, walk, walk_file
from r2k8s.core.ware.treehash import WalkTreeHash
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.ware.zip.writer import ZipWriter, check_packable

__all__ = ["COMPRESSIONS", "PACKTYPES", "PackOutput", "pack_tree"]


SMALL_FILE = 64 * 1024
"""Files up to this size are read in one call and written with their header at once (a tar ware's common case)."""
sha384 = hashlib.sha384

COMPRESSIONS = ("gzip", "none")
PACKTYPES = ("tar", "zip")


class PackOutput(ByteSink, Protocol):
    """Where :func:`pack_tree` writes the ware: ``write``, and the ``flush`` a :class:`gzip.GzipFile` may call."""

    def flush(self) -> object: ...


def _single_file(path: Path) -> Iterator[tuple[str, Location, os.stat_result]]:
    """The one entry of a file packed on its own (:func:`~r2k8s.core.ware.tree.walk_file`); unreadable is
    ``rio-pack-invalid``."""
    try:
        yield from walk_file(path)
    except OSError as exc:
        raise R2k8sError(Category.PACK_INVALID, f"cannot read {str(path)!r}: {exc.strerror}") from None


def pack_tree(
    root: Path, filters: Filters, out: PackOutput | None = None, compression: str = "gzip", packtype: str = "tar"
) -> WareID:
    """Pack ``root`` into ``out`` (if given) and return the ware ID.

    A missing ``root`` packs to the empty ID ``tar:-`` (``zip:-``) without
    error, as rio does for an output path the job never created. A regular
    file packs as rio packs it (``fs.Walk`` of a file path visits the file
    alone, as ``.``): one file entry named ``.``, whose ID is that file's node
    hash. ``packtype="zip"`` writes a zip ware (``compression`` does not apply)
    and refuses what a zip cannot hold (see
    :func:`~r2k8s.core.ware.zip.writer.check_packable`), even when only hashing.
    rio's zip packer writes such entries and fails only on its filters, so
    that refusal waits for the end of the walk: a later filter rejection
    (``dev=reject``, ``setid=reject``: exit 13) is reported first, as rio's.
    """
    if packtype not in PACKTYPES:
        raise R2k8sError(Category.USAGE, f"unknown packtype {packtype!r} (use {' or '.join(PACKTYPES)})")
    if compression not in COMPRESSIONS:
        raise R2k8sError(Category.USAGE, f"unknown compression {compression!r} (use {' or '.join(COMPRESSIONS)})")
    if not os.path.lexists(root):
        return WareID(packtype, "")
    root_mode = os.lstat(root).st_mode
    if not stat.S_ISDIR(root_mode) and not stat.S_ISREG(root_mode):
        raise R2k8sError(Category.PACK_INVALID, f"cannot pack {str(root)!r}: not a directory or a regular file")
    tree = WalkTreeHash()  # the walk lists each directory's subtree at once: hashed as it completes
    gzipped: gzip.GzipFile | None = None
    writer: TarWriter | ZipWriter | None = None
    zipped = packtype == "zip"
    unpackable: R2k8sError | None = None  # the first entry a zip cannot hold; raised after the walk
    if out is not None and zipped:
        writer = ZipWriter(out)
    elif out is not None:
        if compression == "gzip":
            gzipped = gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=6, mtime=0)
        writer = TarWriter(out if gzipped is None else gzipped)
    for name, location, st in walk(root) if stat.S_ISDIR(root_mode) else _single_file(root):
        if name.startswith(".."):
            fsmeta.clean_relpath(name)  # a name rio could never unpack again ('..0') is refused here already
        meta = filters.apply(metadata_from_stat(name, st, location))
        if meta is None:
            continue
        meta.mtime_ns = 0  # rio truncates to whole seconds before hashing and writing (tar; see above for zip)
        if zipped and unpackable is None:
            try:
                check_packable(meta)
            except R2k8sError as refused:
                unpackable = refused
        if unpackable is not None:
            writer = None  # nothing more is written: the pack fails once the walk is done
        content_hash = None
        if meta.type == fsmeta.FILE and meta.size <= SMALL_FILE:
            content = read_small_file(location, meta.size)  # one read, one hash call, one buffered write
            if isinstance(writer, TarWriter):
                writer.add_file(meta, content)
            elif writer is not None:
                writer.add(meta)
                if content:
                    writer.write_content(content)
            tree.add(meta, sha384(content).digest())
            continue
        if writer is not None:
            writer.add(meta)
        if meta.type == fsmeta.FILE:
            hasher = hashlib.sha384()
            for chunk in file_chunks(location, meta.size):
                hasher.update(chunk)
                if writer is not None:
                    writer.write_content(chunk)
            content_hash = hasher.digest()
        tree.add(meta, content_hash)
    if unpackable is not None:
        raise unpackable
    if writer is not None:
        writer.close()
        if gzipped is not None:
            gzipped.close()  # writes the gzip trailer; ``out`` stays open, it is the caller's
    return WareID(packtype, tree.ware_hash())
