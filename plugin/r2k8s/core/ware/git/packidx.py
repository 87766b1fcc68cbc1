"""Git's pack index: writing one (version 2) for a pack this package indexed, and looking objects up in one
(version 2, or the first version, which old local packs may still have).

Layout (``Documentation/gitformat-pack.txt``): the magic ``\\377tOc`` and
version 2; a 256-entry fan-out table (how many IDs start with a byte up to
each value); the sorted 20-byte IDs; a CRC-32 of each object's packed bytes;
a 4-byte offset each, whose high bit sends offsets past 2 GiB to a table of
8-byte ones; the pack's checksum; and the SHA-1 of everything before it.
An index is read through ``mmap`` and searched in place, so a repository's
index costs address space, not memory. Standard library only.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from r2k8s.core.errors import ware_corrupt

__all__ = ["IDX_MAGIC", "PackIndex", "write_index"]

IDX_MAGIC = b"\xfftOc"
_LARGE = 0x80000000


def write_index(out: BinaryIO, entries: Sequence[tuple[bytes, int, int]], pack_checksum: bytes) -> bytes:
    """Write an index v2 of ``(object ID, offset, CRC-32)`` entries (any order); return its own checksum."""
    ordered = sorted(entries)
    hasher = hashlib.sha1()

    def emit(data: bytes) -> None:
        hasher.update(data)
        out.write(data)

    emit(IDX_MAGIC + struct.pack(">I", 2))
    fanout = [0] * 256
    for oid, _, _ in ordered:
        fanout[oid[0]] += 1
    running = 0
    for index, count in enumerate(fanout):
        running += count
        fanout[index] = running
    emit(struct.pack(">256I", *fanout))
    emit(b"".join(oid for oid, _, _ in ordered))
    emit(b"".join(struct.pack(">I", crc & 0xFFFFFFFF) for _, _, crc in ordered))
    large: list[int] = []
    small = bytearray()
    for _, offset, _ in ordered:
        if offset < _LARGE:
            small += struct.pack(">I", offset)
        else:
            small += struct.pack(">I", _LARGE | len(large))
            large.append(offset)
    emit(bytes(small))
    emit(b"".join(struct.pack(">Q", offset) for offset in large))
    emit(pack_checksum)
    digest = hasher.digest()
    out.write(digest)
    return digest


class PackIndex:
    """A read-only index (``pack-*.idx``), version 2 or git's first (v1); ``find`` gives an object's offset.

    Version 1 (git before 1.5.2, or ``pack.indexVersion=1``) has no magic: the
    fan-out table, then one ``(4-byte offset, ID)`` pair per object, then the
    two checksums; local repositories may still hold such packs.

    The tables are bounds-checked when opened (a truncated or foreign file is a
    corrupt ware); the index's own checksum is not recomputed (every object read
    is verified against its ID instead, which is what matters).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < 8 + 1024 + 40:
                raise ware_corrupt(f"corrupt git pack index {str(path)!r}: too short")
            self._data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        data = self._data
        self._v1 = data[:4] != IDX_MAGIC
        if self._v1:
            self._open_v1(size)
            return
        if data[:8] != IDX_MAGIC + struct.pack(">I", 2):
            self.close()
            raise ware_corrupt(f"corrupt git pack index {str(path)!r}: not an index version 1 or 2")
        self._fanout = struct.unpack(">256I", data[8 : 8 + 1024])
        count = self._fanout[255]
        self.count = count
        self._names_at = 8 + 1024
        self._crcs_at = self._names_at + 20 * count
        self._offsets_at = self._crcs_at + 4 * count
        self._large_at = self._offsets_at + 4 * count
        large_bytes = size - 40 - self._large_at
        if (
            any(a > b for a, b in zip(self._fanout, self._fanout[1:], strict=False))
            or large_bytes < 0
            or large_bytes % 8
        ):
            self.close()
            raise ware_corrupt(f"corrupt git pack index {str(path)!r}: its tables do not fit its size")
        self._large_count = large_bytes // 8
        self.pack_checksum = bytes(data[size - 40 : size - 20])

    def _open_v1(self, size: int) -> None:
        self._fanout = struct.unpack(">256I", self._data[:1024])
        self.count = self._fanout[255]
        if any(a > b for a, b in zip(self._fanout, self._fanout[1:], strict=False)) or (
            size != 1024 + 24 * self.count + 40
        ):
            self.close()
            raise ware_corrupt(f"corrupt git pack index {str(self.path)!r}: its tables do not fit its size")
        self._large_count = 0
        self.pack_checksum = bytes(self._data[size - 40 : size - 20])

    def close(self) -> None:
        self._data.close()

    def find(self, oid: bytes) -> int | None:
        """The pack offset of ``oid``, or ``None`` if this pack does not hold it."""
        first = oid[0]
        low = self._fanout[first - 1] if first else 0
        high = self._fanout[first]
        while low < high:  # bisect over the ID table in place: no copy of it is made
            middle = (low + high) // 2
            name = self._name(middle)
            if name < oid:
                low = middle + 1
            elif name > oid:
                high = middle
            else:
                return self._offset(middle)
        return None

    def _name(self, index: int) -> bytes:
        at = 1024 + 24 * index + 4 if self._v1 else self._names_at + 20 * index
        return self._data[at : at + 20]

    def _offset(self, index: int) -> int:
        if self._v1:
            at = 1024 + 24 * index
            return int(struct.unpack(">I", self._data[at : at + 4])[0])
        at = self._offsets_at + 4 * index
        (value,) = struct.unpack(">I", self._data[at : at + 4])
        if not value & _LARGE:
            return int(value)
        slot = value & ~_LARGE
        if slot >= self._large_count:
            raise ware_corrupt(f"corrupt git pack index {str(self.path)!r}: a large offset is out of its table")
        at = self._large_at + 8 * slot
        (large,) = struct.unpack(">Q", self._data[at : at + 8])
        return int(large)

    def __iter__(self) -> Iterator[bytes]:
        """Every object ID, sorted."""
        for index in range(self.count):
            yield self._name(index)

    def entries(self) -> Iterator[tuple[bytes, int]]:
        """``(object ID, offset)`` of every object, sorted by ID."""
        for index in range(self.count):
            yield self._name(index), self._offset(index)
