"""Indexing a pack stream as ``git index-pack --stdin`` does: store it, check it, and write its ``.idx``.

The stream is read once and written as it is read to a temporary file in
``pack_dir``; nothing holds the whole pack. While reading, each entry's
header is parsed, its zlib data inflated and checked against its declared
size, whole objects hashed to their IDs as they stream by, and the CRC-32 of
each entry's packed bytes taken; the trailing SHA-1 must match. Deltas are
then resolved from the file, base first: each base is inflated once and all
its deltas (``OFS_DELTA`` by offset, ``REF_DELTA`` by ID) are resolved while it
is in memory, depth first, as git's index-pack does, so a long chain is not
re-inflated from its root for every link.

Memory: a delta needs its base, the delta's data and the result in memory
at once; each is refused above ``max_object`` bytes (default 512 MiB, git's
``core.bigFileThreshold``: git never deltifies larger blobs, so a pack from
git never needs more). Bases still needed by later deltas on the current
path stay held only up to ``base_budget`` bytes; past that they are dropped
and rebuilt from their chain when needed again. Objects that are no base of
anything are streamed, never held, whatever their size. Per object there is
bookkeeping of a few hundred bytes.

A ``REF_DELTA`` base must be in the same pack: a *thin* pack (as a fetch
with the ``thin-pack`` capability gets) is refused, so the transport must not
ask for one. The pack and its index are renamed into place only when
everything checked out (pack first, index last: an index names a complete
pack), as ``pack-<checksum>.pack`` and ``.idx``, readable by git itself; on
any error nothing is left in ``pack_dir``. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

from r2k8s.core.errors import ware_corrupt
from r2k8s.core.ware.git.delta import apply_delta
from r2k8s.core.ware.git.objects import header, object_id
from r2k8s.core.ware.git.packfile import (
    OBJ_OFS_DELTA,
    OBJ_REF_DELTA,
    TYPE_NAMES,
    Entry,
    PackFile,
    inflate_chunks,
    parse_entry_header,
)
from r2k8s.core.ware.git.packidx import write_index

__all__ = ["DEFAULT_BASE_BUDGET", "DEFAULT_MAX_OBJECT", "IndexedPack", "index_pack"]

DEFAULT_MAX_OBJECT = 512 << 20
DEFAULT_BASE_BUDGET = 64 << 20
_READ = 64 << 10


@dataclasses.dataclass(frozen=True)
class IndexedPack:
    """A pack stored and indexed in ``pack_dir``: its two files, checksum (hex) and object IDs (sorted, 20 bytes)."""

    pack_path: Path
    index_path: Path
    checksum: str
    object_ids: tuple[bytes, ...]


class _StreamInput:
    """The pack stream as it is consumed: every byte consumed is written to the file and hashed.

    ``crc`` is the CRC-32 of the bytes consumed since it was last reset (one
    entry's packed bytes). ``hashing`` is switched off for the trailer.
    """

    def __init__(self, source: BinaryIO, out: BinaryIO) -> None:
        self._source = source
        self._out = out
        self._buffer = b""
        self._at = 0
        self.offset = 0
        self.sha = hashlib.sha1()
        self.crc = 0
        self.hashing = True

    def _more(self) -> None:
        chunk = self._source.read(_READ)
        if not chunk:
            raise ware_corrupt(f"corrupt git pack: the stream ends early, after {self.offset} bytes")
        self._buffer = self._buffer[self._at :] + bytes(chunk)
        self._at = 0

    def _consume(self, data: bytes | memoryview) -> None:
        self._out.write(data)
        if self.hashing:
            self.sha.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.offset += len(data)

    def read(self, count: int) -> bytes:
        while len(self._buffer) - self._at < count:
            self._more()
        data = self._buffer[self._at : self._at + count]
        self._at += count
        self._consume(data)
        return data

    def read_byte(self) -> int:
        return self.read(1)[0]

    def chunk(self) -> bytes:
        """Whatever is buffered (reading more if nothing is), not yet consumed: see :meth:`give_back`."""
        if self._at >= len(self._buffer):
            self._more()
        data = self._buffer[self._at :]
        self._at = len(self._buffer)
        return data

    def give_back(self, given: int, unused: int) -> None:
        """Of the last ``given`` bytes from :meth:`chunk`, the final ``unused`` were not part of the entry."""
        start = self._at - given
        self._consume(memoryview(self._buffer)[start : self._at - unused])
        self._at -= unused

    def at_end(self) -> bool:
        return self._at >= len(self._buffer) and not self._source.read(1)


@dataclasses.dataclass(slots=True)
class _Record:
    entry: Entry
    crc: int = 0
    kind: int = 0  # the object's type (1-4), once known
    oid: bytes = b""


def index_pack(
    source: BinaryIO,
    pack_dir: Path,
    *,
    max_object: int = DEFAULT_MAX_OBJECT,
    base_budget: int = DEFAULT_BASE_BUDGET,
) -> IndexedPack:
    """Read a pack (version 2 or 3) from ``source`` and store it with its index in ``pack_dir``; see the module doc.

    ``source`` must end right after the pack's trailer (junk after it is an
    error, as in git). Every failure is a corrupt ware (``R2k8sError``,
    ``rio-ware-corrupt``) except I/O errors writing ``pack_dir``, which are
    ``OSError``; either way nothing is left behind.
    """
    pack_dir.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=".tmp-pack-", dir=pack_dir)
    temp_pack = Path(temp_name)
    temp_index: Path | None = None
    placed: list[Path] = []
    try:
        with os.fdopen(fd, "wb") as out:
            records, checksum = _read_stream(source, out, max_object)
            out.flush()
            os.fsync(out.fileno())
        pack = PackFile(temp_pack)
        try:
            _resolve_deltas(pack, records, max_object, base_budget)
        finally:
            pack.close()
        ids = [record.oid for record in records]
        if len(set(ids)) != len(ids):
            raise ware_corrupt("corrupt git pack: it holds an object twice")
        fd, index_name = tempfile.mkstemp(prefix=".tmp-idx-", dir=pack_dir)
        temp_index = Path(index_name)
        with os.fdopen(fd, "wb") as out:
            write_index(out, [(r.oid, r.entry.offset, r.crc) for r in records], checksum)
            out.flush()
            os.fsync(out.fileno())
        name = f"pack-{checksum.hex()}"
        pack_path, index_path = pack_dir / f"{name}.pack", pack_dir / f"{name}.idx"
        for temp, final in ((temp_pack, pack_path), (temp_index, index_path)):
            os.chmod(temp, 0o444)
            if os.path.exists(final):  # the same pack, indexed before: same bytes, keep the one readers may hold
                os.unlink(temp)
            else:
                os.rename(temp, final)
                placed.append(final)
        _fsync_dir(pack_dir)
        return IndexedPack(pack_path, index_path, checksum.hex(), tuple(sorted(ids)))
    except BaseException:
        for path in (temp_pack, temp_index, *placed):
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_stream(source: BinaryIO, out: BinaryIO, max_object: int) -> tuple[list[_Record], bytes]:
    """Copy the pack to ``out``, checking every entry's data and hashing whole objects; the records and checksum."""
    stream = _StreamInput(source, out)
    head = stream.read(12)
    if head[:4] != b"PACK":
        raise ware_corrupt("corrupt git pack: it does not start with 'PACK'")
    version, count = struct.unpack(">II", head[4:])
    if version not in (2, 3):
        raise ware_corrupt(f"corrupt git pack: unsupported version {version}")
    records: list[_Record] = []
    starts: set[int] = set()
    for _ in range(count):
        offset = stream.offset
        stream.crc = 0
        entry = parse_entry_header(stream.read_byte, stream.read, offset)
        if entry.kind == OBJ_OFS_DELTA and entry.base_offset not in starts:
            raise ware_corrupt(f"corrupt git pack: the delta at {offset} names no entry as its base")
        record = _Record(entry)
        if entry.kind in TYPE_NAMES:
            hasher = hashlib.sha1(header(TYPE_NAMES[entry.kind], entry.size))
            for chunk in _InflateIter(stream, entry):
                hasher.update(chunk)
            record.kind, record.oid = entry.kind, hasher.digest()
        else:
            if entry.size > max_object:
                raise ware_corrupt(f"git delta at {offset} is {entry.size} bytes, over the {max_object}-byte limit")
            for _ in _InflateIter(stream, entry):
                pass
        record.crc = stream.crc
        records.append(record)
        starts.add(offset)
    computed = stream.sha.digest()
    stream.hashing = False
    trailer = stream.read(20)
    if trailer != computed:
        raise ware_corrupt(
            f"corrupt git pack: its checksum is {trailer.hex()} but its contents hash to {computed.hex()}"
        )
    if not stream.at_end():
        raise ware_corrupt("corrupt git pack: there is data after its checksum")
    return records, computed


class _InflateIter:
    """Inflate one entry from the stream, consuming exactly its zlib bytes (the rest stays buffered)."""

    def __init__(self, stream: _StreamInput, entry: Entry) -> None:
        self._stream = stream
        self._inflater = zlib.decompressobj()
        self._given = 0

        def feed() -> bytes:
            if self._given:
                self._stream.give_back(self._given, 0)
            data = self._stream.chunk()
            self._given = len(data)
            return data

        self._chunks = inflate_chunks(
            self._inflater,
            feed,
            entry.size,
            lambda problem: f"corrupt git pack: the entry at {entry.offset}: {problem}",
        )

    def __iter__(self) -> _InflateIter:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self._stream.give_back(self._given, len(self._inflater.unused_data))
            self._given = 0
            raise


def _resolve_deltas(pack: PackFile, records: list[_Record], max_object: int, base_budget: int) -> None:
    """Give every delta its type and ID, resolving each base's deltas while the base is in memory."""
    by_offset = {record.entry.offset: index for index, record in enumerate(records)}
    ofs_children: dict[int, list[int]] = {}
    ref_children: dict[bytes, list[int]] = {}
    for index, record in enumerate(records):
        entry = record.entry
        if entry.kind == OBJ_OFS_DELTA:
            ofs_children.setdefault(entry.base_offset, []).append(index)
        elif entry.kind == OBJ_REF_DELTA:
            ref_children.setdefault(entry.base_id, []).append(index)
    if not ofs_children and not ref_children:
        return
    resolver = _Resolver(pack, records, by_offset, max_object, base_budget)
    for index, record in enumerate(records):
        if record.entry.kind in TYPE_NAMES:
            children = ofs_children.get(record.entry.offset, []) + ref_children.get(record.oid, [])
            if children:
                resolver.resolve_tree(index, children, ofs_children, ref_children)
    for record in records:
        if not record.oid:
            entry = record.entry
            base = entry.base_id.hex() if entry.kind == OBJ_REF_DELTA else f"the entry at {entry.base_offset}"
            raise ware_corrupt(
                f"corrupt git pack: the delta at {entry.offset} has no base in the pack ({base});"
                " a thin pack or a delta cycle"
            )


class _Resolver:
    def __init__(
        self, pack: PackFile, records: list[_Record], by_offset: dict[int, int], max_object: int, base_budget: int
    ) -> None:
        self._pack = pack
        self._records = records
        self._by_offset = by_offset
        self._max = max_object
        self._budget = base_budget

    def _load_whole(self, index: int) -> bytearray:
        entry = self._records[index].entry
        if entry.size > self._max:
            raise ware_corrupt(
                f"git object at {entry.offset} is a delta base of {entry.size} bytes,"
                f" over the {self._max}-byte limit for objects held in memory"
            )
        return self._pack.inflate(entry)

    def _rebuild(self, index: int) -> bytearray:
        """An already resolved object's data, rebuilt from its chain (its base was dropped to save memory)."""
        chain = []
        while self._records[index].entry.kind not in TYPE_NAMES:
            chain.append(index)
            entry = self._records[index].entry
            if entry.kind == OBJ_OFS_DELTA:
                index = self._by_offset[entry.base_offset]
            else:
                index = self._index_of_id(entry.base_id)
        data = self._load_whole(index)
        for link in reversed(chain):
            data = apply_delta(data, self._pack.inflate(self._records[link].entry), self._max)
        return data

    def _index_of_id(self, oid: bytes) -> int:
        for index, record in enumerate(self._records):  # rare: only when a dropped REF_DELTA base is rebuilt
            if record.oid == oid:
                return index
        raise ware_corrupt(f"corrupt git pack: no base {oid.hex()}")

    def resolve_tree(
        self,
        root: int,
        children: list[int],
        ofs_children: dict[int, list[int]],
        ref_children: dict[bytes, list[int]],
    ) -> None:
        """Resolve every delta below the whole object ``root``, depth first (an explicit stack: chains may be deep)."""
        # Each frame: [object index, its data or None if dropped, its children, the next child to resolve].
        stack: list[list[object]] = [[root, self._load_whole(root), children, 0]]
        held = self._records[root].entry.size
        while stack:
            frame = stack[-1]
            index, data, kids, next_kid = frame
            assert isinstance(index, int) and isinstance(kids, list) and isinstance(next_kid, int)
            if next_kid >= len(kids):
                stack.pop()
                if isinstance(data, bytearray):
                    held -= len(data)
                continue
            if data is None:
                data = self._rebuild(index)
                frame[1] = data
                held += len(data)
            assert isinstance(data, bytearray)
            child = kids[next_kid]
            frame[3] = next_kid + 1
            child_record = self._records[child]
            delta = self._pack.inflate(child_record.entry)
            result = apply_delta(data, delta, self._max)
            del delta
            if next_kid + 1 >= len(kids):  # the base's last delta: it is not needed any more
                frame[1] = None
                held -= len(data)
            del data
            child_record.kind = self._records[index].kind
            child_record.oid = object_id(TYPE_NAMES[child_record.kind], result)
            grandchildren = ofs_children.get(child_record.entry.offset, []) + ref_children.get(child_record.oid, [])
            if not grandchildren:
                continue
            stack.append([child, result, grandchildren, 0])
            held += len(result)
            for older in stack[:-1]:  # over budget: drop the oldest bases still held; they are rebuilt if needed
                if held <= self._budget:
                    break
                if isinstance(older[1], bytearray):
                    held -= len(older[1])
                    older[1] = None
