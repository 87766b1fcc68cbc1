"""Reading a pack file at random: entry headers, and inflating an entry's data in chunks or whole.

Pack entries (``Documentation/gitformat-pack.txt``) start with a type (3 bits)
and an inflated size (a varint); an ``OFS_DELTA`` then names its base by a
negative offset, a ``REF_DELTA`` by its 20-byte ID; zlib data follows. Every
size is checked: an entry that inflates to more or less than it declares, or
whose zlib stream runs past the pack's end, is a corrupt ware. Files are read
with ``pread`` (never ``mmap``: a pack truncated under a reader must be an
error, not ``SIGBUS``). Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from r2k8s.core.errors import ware_corrupt
from r2k8s.core.ware.git.objects import BLOB, COMMIT, TAG, TREE

__all__ = [
    "OBJ_OFS_DELTA",
    "OBJ_REF_DELTA",
    "TYPE_NAMES",
    "Entry",
    "PackFile",
    "parse_entry_header",
]

OBJ_OFS_DELTA = 6
OBJ_REF_DELTA = 7
TYPE_NAMES = {1: COMMIT, 2: TREE, 3: BLOB, 4: TAG}

#: Inflated bytes produced per step when streaming; compressed bytes read per ``pread``.
CHUNK = 1 << 20
_READ = 64 << 10


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """A pack entry's header: ``kind`` is 1-4 (see :data:`TYPE_NAMES`) or a delta type, ``size`` its inflated size.

    ``base_offset`` (OFS_DELTA) or ``base_id`` (REF_DELTA) names a delta's base;
    ``data_offset`` is where its zlib stream starts.
    """

    offset: int
    kind: int
    size: int
    data_offset: int
    base_offset: int = -1
    base_id: bytes = b""


def parse_entry_header(read_byte: Callable[[], int], read: Callable[[int], bytes], offset: int) -> Entry:
    """Parse one entry header through ``read_byte``/``read`` (the entry starts at ``offset``)."""
    byte = read_byte()
    kind = (byte >> 4) & 7
    size = byte & 0x0F
    shift = 4
    used = 1
    while byte & 0x80:
        if shift > 60:
            raise ware_corrupt(f"corrupt git pack: the size of the entry at {offset} is too long")
        byte = read_byte()
        used += 1
        size |= (byte & 0x7F) << shift
        shift += 7
    if kind in TYPE_NAMES:
        return Entry(offset, kind, size, offset + used)
    if kind == OBJ_OFS_DELTA:
        byte = read_byte()
        used += 1
        distance = byte & 0x7F
        while byte & 0x80:
            if distance > 1 << 56:
                raise ware_corrupt(f"corrupt git pack: the base offset of the entry at {offset} is too long")
            byte = read_byte()
            used += 1
            distance = ((distance + 1) << 7) | (byte & 0x7F)
        base = offset - distance
        if distance == 0 or base < 12:
            raise ware_corrupt(f"corrupt git pack: the entry at {offset} names a delta base outside the pack")
        return Entry(offset, kind, size, offset + used, base_offset=base)
    if kind == OBJ_REF_DELTA:
        base_id = read(20)
        return Entry(offset, kind, size, offset + used + 20, base_id=base_id)
    raise ware_corrupt(f"corrupt git pack: the entry at {offset} has unknown type {kind}")


def inflate_chunks(
    inflater: zlib._Decompress, feed: Callable[[], bytes], size: int, describe: Callable[[str], str]
) -> Iterator[bytes]:
    """Inflate one zlib stream read through ``feed`` into chunks of at most :data:`CHUNK` bytes.

    Exactly ``size`` bytes must come out. Output is limited per step
    (``max_length``), so a stream that inflates a thousandfold never lands in
    memory whole. When it ends, ``inflater.unused_data`` holds what ``feed``
    gave past the stream's end. ``describe`` words a problem for the error.
    """
    produced = 0
    data = b""
    full = False
    try:
        while not inflater.eof:
            if not data and not full:
                data = feed()
            out = inflater.decompress(data, CHUNK)
            data = inflater.unconsumed_tail
            full = len(out) == CHUNK
            if out:
                produced += len(out)
                if produced > size:
                    raise ware_corrupt(describe(f"it inflates to more than the {size} bytes it declares"))
                yield out
    except zlib.error as exc:
        raise ware_corrupt(describe(f"bad zlib data ({exc})")) from None
    if produced != size:
        raise ware_corrupt(describe(f"it inflates to {produced} bytes, not the {size} it declares"))


class PackFile:
    """One ``.pack`` opened for reading entries at their offsets (from its index)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.size = os.fstat(self._fd).st_size
        if self.size < 32 or os.pread(self._fd, 4, 0) != b"PACK":
            self.close()
            raise ware_corrupt(f"corrupt git pack {str(path)!r}: not a pack file")
        self.checksum = os.pread(self._fd, 20, self.size - 20)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def entry(self, offset: int) -> Entry:
        """The header of the entry at ``offset``."""
        if not 12 <= offset < self.size - 20:
            raise ware_corrupt(f"corrupt git pack {str(self.path)!r}: no entry can start at offset {offset}")
        head = os.pread(self._fd, 64, offset)
        at = 0

        def read_byte() -> int:
            nonlocal at
            if at >= len(head):
                raise ware_corrupt(f"corrupt git pack {str(self.path)!r}: the entry at {offset} is truncated")
            at += 1
            return head[at - 1]

        def read(count: int) -> bytes:
            nonlocal at
            if at + count > len(head):
                raise ware_corrupt(f"corrupt git pack {str(self.path)!r}: the entry at {offset} is truncated")
            at += count
            return head[at - count : at]

        return parse_entry_header(read_byte, read, offset)

    def chunks(self, entry: Entry) -> Iterator[bytes]:
        """The entry's inflated data in chunks of at most :data:`CHUNK` bytes, exactly ``entry.size`` in all."""
        at = entry.data_offset
        end = self.size - 20

        def feed() -> bytes:
            nonlocal at
            if at >= end:
                raise ware_corrupt(self._message(entry, "its data runs past the end of the pack"))
            data = os.pread(self._fd, min(_READ, end - at), at)
            at += len(data)
            return data

        return inflate_chunks(zlib.decompressobj(), feed, entry.size, lambda problem: self._message(entry, problem))

    def inflate(self, entry: Entry) -> bytearray:
        """The entry's whole inflated data (callers bound ``entry.size`` first)."""
        out = bytearray()
        for chunk in self.chunks(entry):
            out += chunk
        return out

    def _message(self, entry: Entry, problem: str) -> str:
        return f"corrupt git pack {str(self.path)!r}: the entry at {entry.offset}: {problem}"
