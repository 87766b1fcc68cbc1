"""Reading a ware (tar or zip): hash every entry and, optionally, place it on disk.

Scanning and unpacking are the same walk over the archive's entries (rio
``tar_unpack.go``, ``zip_unpack.go``): each entry is hashed twice, once as the
ware says (*prefilter*, the hash a requested ware ID is checked against) and
once after the unpack filters (the ID of what actually lands on disk).
Conjured parent directories go through the filters too. A :class:`Placer`
receives filtered entries in archive order; with none, the walk is a scan.
Tar and zip differ only in the reader that yields the entries
(:class:`~r2k8s.core.ware.tar.reader.TarReader`,
:class:`~r2k8s.core.ware.zip.reader.ZipReader`) and in one rule: a zip may not
list a path twice, not even a directory (rio's zip transmat cannot hash it).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO, Protocol

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.tar.compression import ByteSource, open_decompressed
from r2k8s.core.ware.tar.reader import TarReader
from r2k8s.core.ware.treehash import LegacyTreeHash, TreeHash
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.ware.zip.reader import ZipReader, open_seekable, refuse_unsupported

__all__ = ["EntryReader", "IngestResult", "Placer", "ingest_entries", "ingest_tar", "ingest_zip"]


class Placer(Protocol):
    """Where unpacked entries go. ``content`` must be consumed for files."""

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None: ...


class _Entry(Protocol):
    @property
    def meta(self) -> Metadata: ...


class EntryReader(Protocol):
    """What :func:`ingest_entries` walks: entries in archive order, each file's content read before the next."""

    @property
    def entry_count(self) -> int: ...

    def __iter__(self) -> Iterator[_Entry]: ...

    def content_chunks(self) -> Iterator[memoryview]: ...


@dataclasses.dataclass(frozen=True)
class IngestResult:
    prefilter_id: WareID
    filtered_id: WareID
    compression: str
    entries: int


#: Below this, handing a chunk to another thread costs more than hashing it here.
_OVERLAP_MIN = 64 * 1024


def _hashing(
    chunks: Iterator[memoryview], hasher: hashlib._Hash, pool: ThreadPoolExecutor | None = None
) -> Iterator[memoryview]:
    """Yield each chunk after (or, with a pool, while) feeding it to ``hasher``.

    With a pool, SHA-384 of a chunk runs on another core while the consumer
    writes that same chunk to disk: both release the GIL and only read the
    buffer, and the hash is finished before the reader may reuse it.
    """
    for chunk in chunks:
        if pool is None or len(chunk) < _OVERLAP_MIN:
            hasher.update(chunk)
            yield chunk
            continue
        pending = pool.submit(hasher.update, chunk)
        try:
            yield chunk
        finally:
            pending.result()


def ingest_tar(
    stream: ByteSource,
    filters: Filters,
    placer: Placer | None = None,
    log: Callable[[str], None] | None = None,
    packtype: str = "tar",
    legacy: bool = False,
) -> IngestResult:
    """Walk a (possibly compressed) tar stream once; see the module docstring.

    ``legacy=True`` computes repeatr v0.15's tree hash (base64url) instead of rio's.
    """
    tar_stream, compression = open_decompressed(stream)
    tree_class = LegacyTreeHash if legacy else TreeHash
    reader = TarReader(tar_stream, log)
    return ingest_entries(reader, filters, placer, packtype, compression, tree_class(), tree_class(), legacy)


def ingest_zip(
    source: BinaryIO,
    filters: Filters,
    placer: Placer | None = None,
    log: Callable[[str], None] | None = None,
    *,
    spool_dir: Path | None = None,
) -> IngestResult:
    """Walk a zip ware once; see the module docstring.

    A zip's directory is at its end, so it is read from a seekable file:
    ``source`` itself when it is one (a local file), otherwise (an HTTP body, a
    pipe) ``source`` is first copied to an anonymous temporary file in
    ``spool_dir`` (default: the system's temporary directory), which
    disappears when the walk ends, however it ends.
    """
    with open_seekable(source, spool_dir) as seekable:
        reader = ZipReader(seekable, log)
        trees = (TreeHash("zip", repeated_dirs=False), TreeHash("zip", repeated_dirs=False))
        return ingest_entries(reader, filters, placer, "zip", "none", *trees, unsupported=refuse_unsupported)


def ingest_entries(
    reader: EntryReader,
    filters: Filters,
    placer: Placer | None,
    packtype: str,
    compression: str,
    prefilter: TreeHash,
    filtered: TreeHash,
    legacy: bool = False,
    *,
    unsupported: Callable[[Metadata], None] | None = None,
) -> IngestResult:
    """The walk itself, shared by tar and zip: hash (and place) every entry ``reader`` yields.

    ``prefilter`` and ``filtered`` are two fresh, empty tree hashes (the second
    is used only if the filters can alter an entry). ``unsupported`` refuses
    entries the archive type cannot carry, after their filters (rio's order).
    """
    if not filters.altering:
        filtered = prefilter
    with ThreadPoolExecutor(1, thread_name_prefix="r2k8s-hash") if placer is not None else nullcontext() as pool:
        for entry in reader:
            _ingest_entry(entry.meta, reader, filters, placer, prefilter, filtered, pool, legacy, unsupported)
    prefilter_id = WareID(packtype, prefilter.ware_hash())
    return IngestResult(
        prefilter_id=prefilter_id,
        filtered_id=prefilter_id if filtered is prefilter else WareID(packtype, filtered.ware_hash()),
        compression=compression,
        entries=reader.entry_count,
    )


def _ingest_entry(
    meta: Metadata,
    reader: EntryReader,
    filters: Filters,
    placer: Placer | None,
    prefilter: TreeHash,
    filtered: TreeHash,
    pool: ThreadPoolExecutor | None,
    legacy: bool,
    unsupported: Callable[[Metadata], None] | None = None,
) -> None:
    """Hash one entry into both trees (conjuring missing parents) and place it.

    rio's order (``tar_unpack.go``): the reader's ``..`` check, then the missing
    parents (hashed, filtered, placed), then the entry's filters (``reject`` is
    ``rio-filter-rejection``), then placement, whose refusals (hardlinks, names
    like ``..0``) are ``rio-inoperable-path``. So an entry with two problems
    reports the first of these, as rio does.
    """
    # A file is recorded once its content is hashed; its missing parents come first either way.
    conjured = prefilter.add(meta, None) if meta.type != fsmeta.FILE else prefilter.conjure_parents(meta.name)
    for parent in conjured:
        placed_parent = filters.apply(parent) or parent
        if filtered is not prefilter:
            filtered.add(placed_parent)
        fsmeta.check_placeable(parent.name)
        if placer is not None:
            placer.place(placed_parent, None)
    placed = filters.apply(meta)
    if unsupported is not None:
        unsupported(meta)
    fsmeta.check_placeable(meta.name)
    if meta.type == fsmeta.HARDLINK and not legacy:
        raise R2k8sError(
            Category.INOPERABLE_PATH,
            f"hardlink {meta.name!r} -> {meta.linkname!r}: tar wares cannot contain hardlinks (rio refuses them too, "
            "and the tree hash would not cover the link); repack the tree, e.g. with 'r2k8s pack', which stores "
            "hardlinked files as independent files",
        )
    content_hash = None
    if meta.type == fsmeta.FILE:
        hasher = hashlib.sha384()
        chunks = _hashing(reader.content_chunks(), hasher, pool)
        if placer is not None and placed is not None:
            placer.place(placed, chunks)
        for _ in chunks:  # whatever the placer left unread still counts
            pass
        content_hash = hasher.digest()
        prefilter.add(meta, content_hash)
    elif placer is not None and placed is not None:
        placer.place(placed, None)
    if filtered is not prefilter and placed is not None:
        filtered.add(placed, content_hash)
