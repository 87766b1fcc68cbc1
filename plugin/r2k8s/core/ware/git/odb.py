"""Reading git's object directory (``objects/``): loose objects, packs with their v2 indexes, alternates.

This serves both a real repository's ``.git/objects`` (a local repository is
used in place, as rio does) and the per-URL cache the warehouse layer writes
packs into. Every object handed out is checked against its ID (SHA-1 of
header and data), so a repository or cache that lies is refused as a corrupt
ware; a missing object is ``rio-ware-not-found``. Packs added after this was
opened are found on the next miss (as git re-scans its packs).

:meth:`ObjectDirectory.read` returns a whole object (trees, commits, small
blobs; bounded by ``max_object``); :meth:`ObjectDirectory.stream` yields a
blob in chunks without holding it when it is stored whole (loose, or not a
delta in its pack), checking its ID when the last chunk has been read.
Deltified objects are rebuilt in memory (base, delta and result at once), with
a small cache of recent bases since a checkout reads many deltas of one base.
Standard library only.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType

from r2k8s.core.errors import Category, R2k8sError, ware_corrupt
from r2k8s.core.ware.git.delta import apply_delta
from r2k8s.core.ware.git.objects import OBJECT_TYPES, header
from r2k8s.core.ware.git.packfile import CHUNK, OBJ_OFS_DELTA, TYPE_NAMES, Entry, PackFile
from r2k8s.core.ware.git.packidx import PackIndex

__all__ = ["DEFAULT_MAX_OBJECT", "ObjectDirectory", "ObjectStream", "find_objects_dir"]

DEFAULT_MAX_OBJECT = 512 << 20
_BASE_CACHE_BYTES = 32 << 20
_BASE_CACHE_ITEM = 4 << 20
_MAX_ALTERNATE_DEPTH = 5


def _as_id(oid: bytes | str) -> bytes:
    if isinstance(oid, str):
        try:
            raw = bytes.fromhex(oid)
        except ValueError:
            raw = b""
        if len(raw) != 20 or oid != raw.hex():
            raise R2k8sError(Category.USAGE, f"not a git object ID: {oid!r} (40 lowercase hex digits)")
        return raw
    if len(oid) != 20:
        raise R2k8sError(Category.USAGE, f"not a git object ID: {oid!r} (20 bytes)")
    return bytes(oid)


def find_objects_dir(repository: Path) -> Path:
    """The object directory of a repository at ``repository``: a work tree's ``.git`` (directory or
    ``gitdir:`` file, following ``commondir``), or a bare repository; ``rio-ware-not-found`` if none."""
    dot_git = repository / ".git"
    git_dir = repository
    if dot_git.is_file():
        text = dot_git.read_text(errors="replace").strip()
        if not text.startswith("gitdir:"):
            raise R2k8sError(Category.WARE_NOT_FOUND, f"{str(dot_git)!r} is not a gitdir link")
        git_dir = (repository / text[len("gitdir:") :].strip()).resolve()
    elif dot_git.is_dir():
        git_dir = dot_git
    common = git_dir / "commondir"
    if common.is_file():
        git_dir = (git_dir / common.read_text(errors="replace").strip()).resolve()
    objects = git_dir / "objects"
    if not objects.is_dir():
        raise R2k8sError(Category.WARE_NOT_FOUND, f"no git repository at {str(repository)!r} (no objects directory)")
    return objects


@dataclasses.dataclass
class ObjectStream:
    """An object being read in chunks: its type, size, and ``chunks`` (exactly ``size`` bytes; the last
    step checks the ID, so a consumer must read to the end before trusting what it read)."""

    kind: str
    size: int
    chunks: Iterator[bytes]


class _Pack:
    def __init__(self, index_path: Path) -> None:
        self.index_path = index_path
        self.index = PackIndex(index_path)
        self._file: PackFile | None = None

    @property
    def file(self) -> PackFile:
        if self._file is None:
            pack = PackFile(self.index_path.with_suffix(".pack"))
            if pack.checksum != self.index.pack_checksum:
                pack.close()
                raise ware_corrupt(f"git pack {str(pack.path)!r} does not match its index (checksums differ)")
            self._file = pack
        return self._file

    def close(self) -> None:
        self.index.close()
        if self._file is not None:
            self._file.close()


class ObjectDirectory:
    """The objects under ``path`` (a repository's ``objects`` directory; see :func:`find_objects_dir`)."""

    def __init__(self, path: Path, *, max_object: int = DEFAULT_MAX_OBJECT, _depth: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise R2k8sError(Category.WARE_NOT_FOUND, f"no git object directory at {str(self.path)!r}")
        self.max_object = max_object
        self._packs: dict[Path, _Pack] = {}
        self._cache: collections.OrderedDict[tuple[Path, int], tuple[int, bytes]] = collections.OrderedDict()
        self._cached_bytes = 0
        self._alternates = self._read_alternates(_depth)
        self.refresh()

    # -- set-up -------------------------------------------------------------

    def _read_alternates(self, depth: int) -> list[ObjectDirectory]:
        path = self.path / "info" / "alternates"
        if not path.is_file():
            return []
        if depth >= _MAX_ALTERNATE_DEPTH:
            raise ware_corrupt(f"git alternates nest deeper than {_MAX_ALTERNATE_DEPTH} at {str(path)!r}")
        found = []
        for line in path.read_text(errors="surrogateescape").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(ObjectDirectory(self.path / line, max_object=self.max_object, _depth=depth + 1))
        return found

    def refresh(self) -> None:
        """Look for packs added since the last look (an index names a complete pack)."""
        pack_dir = self.path / "pack"
        if not pack_dir.is_dir():
            return
        for index_path in sorted(pack_dir.glob("pack-*.idx")):
            if index_path not in self._packs and index_path.with_suffix(".pack").exists():
                self._packs[index_path] = _Pack(index_path)

    def close(self) -> None:
        for pack in self._packs.values():
            pack.close()
        self._packs.clear()
        for alternate in self._alternates:
            alternate.close()

    def __enter__(self) -> ObjectDirectory:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- lookup -------------------------------------------------------------

    def _loose_path(self, oid: bytes) -> Path:
        text = oid.hex()
        return self.path / text[:2] / text[2:]

    def _locate(self, oid: bytes) -> tuple[_Pack, int] | Path | None:
        for pack in self._packs.values():
            offset = pack.index.find(oid)
            if offset is not None:
                return pack, offset
        loose = self._loose_path(oid)
        if loose.is_file():
            return loose
        return None

    def _find(self, oid: bytes) -> tuple[ObjectDirectory, tuple[_Pack, int] | Path] | None:
        where = self._locate(oid)
        if where is None:
            self.refresh()
            where = self._locate(oid)
        if where is not None:
            return self, where
        for alternate in self._alternates:
            found = alternate._find(oid)
            if found is not None:
                return found
        return None

    def has(self, oid: bytes | str) -> bool:
        """Whether the object is stored here (or in an alternate); not read, so not yet verified."""
        return self._find(_as_id(oid)) is not None

    def _missing(self, oid: bytes) -> R2k8sError:
        return R2k8sError(Category.WARE_NOT_FOUND, f"git object {oid.hex()} is not in {str(self.path)!r}")

    # -- reading ------------------------------------------------------------

    def read(self, oid: bytes | str) -> tuple[str, bytes]:
        """The object's type (``commit``, ``tree``, ``blob``, ``tag``) and data, verified against its ID."""
        raw = _as_id(oid)
        found = self._find(raw)
        if found is None:
            raise self._missing(raw)
        owner, where = found
        if isinstance(where, Path):
            stream = owner._loose_stream(raw, where, whole=True)
            data = b"".join(stream.chunks)
            return stream.kind, data
        pack, offset = where
        kind_number, packed = owner._packed(pack, offset)
        _verify(raw, TYPE_NAMES[kind_number], packed, f"{str(pack.file.path)!r} at {offset}")
        return TYPE_NAMES[kind_number], bytes(packed)

    def stream(self, oid: bytes | str) -> ObjectStream:
        """The object in chunks, held whole only if it is stored as a delta; see :class:`ObjectStream`."""
        raw = _as_id(oid)
        found = self._find(raw)
        if found is None:
            raise self._missing(raw)
        owner, where = found
        if isinstance(where, Path):
            return owner._loose_stream(raw, where, whole=False)
        pack, offset = where
        entry = pack.file.entry(offset)
        if entry.kind in TYPE_NAMES:
            kind = TYPE_NAMES[entry.kind]
            return ObjectStream(kind, entry.size, _verified(raw, kind, entry.size, pack.file.chunks(entry), pack))
        kind_number, data = owner._packed(pack, offset)
        kind = TYPE_NAMES[kind_number]
        _verify(raw, kind, data, f"{str(pack.file.path)!r} at {offset}")
        return ObjectStream(kind, len(data), _split(bytes(data)))

    def _loose_stream(self, oid: bytes, path: Path, whole: bool) -> ObjectStream:
        chunks: Generator[bytes, None, None] = _inflate_file(path)
        head = b""
        try:
            for chunk in chunks:
                head += chunk
                if b"\x00" in head[:64] or len(head) >= 64:
                    break
        except FileNotFoundError:
            raise self._missing(oid) from None
        kind, size, rest = _parse_loose_header(head, path)
        if whole and size > self.max_object:
            chunks.close()
            raise ware_corrupt(f"git object {oid.hex()} is {size} bytes, over the {self.max_object}-byte limit")
        return ObjectStream(kind, size, _verified(oid, kind, size, _sized(rest, chunks, size, path), str(path)))

    def _packed(self, pack: _Pack, offset: int) -> tuple[int, bytearray | bytes]:
        """The type and data of the pack entry at ``offset``, deltas applied (iteratively, base first)."""
        chain: list[Entry] = []
        file = pack.file
        base: tuple[int, bytearray | bytes] | None = None
        while True:
            cached = self._cache.get((pack.index_path, offset))
            if cached is not None:
                self._cache.move_to_end((pack.index_path, offset))
                base = cached
                break
            entry = file.entry(offset)
            if entry.kind in TYPE_NAMES:
                base = (entry.kind, self._inflate(file, entry))
                break
            chain.append(entry)
            if len(chain) > 10_000:
                raise ware_corrupt(f"git pack {str(file.path)!r}: a delta chain longer than 10000 (a cycle?)")
            if entry.kind == OBJ_OFS_DELTA:
                offset = entry.base_offset
                continue
            base_offset = pack.index.find(entry.base_id)
            if base_offset is None:  # not in this pack: a base elsewhere in this directory (read and verified)
                kind_name, outside = self.read(entry.base_id)
                base = (OBJECT_TYPES.index(kind_name) + 1, outside)
                break
            offset = base_offset
        kind, data = base[0], base[1]
        for entry in reversed(chain):
            data = apply_delta(data, self._inflate(file, entry), self.max_object)
            self._remember(pack, entry.offset, kind, data)
        return kind, data

    def _inflate(self, file: PackFile, entry: Entry) -> bytearray:
        if entry.size > self.max_object:
            raise ware_corrupt(
                f"git object at {entry.offset} in {str(file.path)!r} is {entry.size} bytes,"
                f" over the {self.max_object}-byte limit for objects held in memory"
            )
        return file.inflate(entry)

    def _remember(self, pack: _Pack, offset: int, kind: int, data: bytearray | bytes) -> None:
        if len(data) > _BASE_CACHE_ITEM:
            return
        self._cache[(pack.index_path, offset)] = (kind, bytes(data))
        self._cached_bytes += len(data)
        while self._cached_bytes > _BASE_CACHE_BYTES:
            _, (_, dropped) = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)


def _inflate_file(path: Path) -> Generator[bytes, None, None]:
    """A loose object file inflated, in chunks of at most :data:`CHUNK`; data after its zlib stream is an error."""
    with open(path, "rb") as file:
        inflater = zlib.decompressobj()
        data = b""
        full = False
        try:
            while not inflater.eof:
                if not data and not full:
                    data = file.read(64 << 10)
                    if not data:
                        raise ware_corrupt(f"corrupt loose git object {str(path)!r}: truncated")
                out = inflater.decompress(data, CHUNK)
                data = inflater.unconsumed_tail
                full = len(out) == CHUNK
                if out:
                    yield out
        except zlib.error as exc:
            raise ware_corrupt(f"corrupt loose git object {str(path)!r}: bad zlib data ({exc})") from None
        if inflater.unused_data or file.read(1):
            raise ware_corrupt(f"corrupt loose git object {str(path)!r}: data after its end")


def _parse_loose_header(head: bytes, path: Path) -> tuple[str, int, bytes]:
    nul = head.find(b"\x00", 0, 64)
    if nul < 0:
        raise ware_corrupt(f"corrupt loose git object {str(path)!r}: no header")
    kind_raw, _, size_raw = head[:nul].partition(b" ")
    kind = kind_raw.decode("ascii", "replace")
    if kind not in OBJECT_TYPES or not size_raw.isdigit() or (len(size_raw) > 1 and size_raw[:1] == b"0"):
        raise ware_corrupt(f"corrupt loose git object {str(path)!r}: bad header {head[:nul]!r}")
    return kind, int(size_raw), head[nul + 1 :]


def _sized(first: bytes, rest: Iterator[bytes], size: int, path: Path) -> Iterator[bytes]:
    """``first`` then ``rest``, which must come to exactly ``size`` bytes (a loose object's declared size)."""
    count = len(first)
    if count > size:
        raise ware_corrupt(f"corrupt loose git object {str(path)!r}: longer than the {size} bytes it declares")
    if first:
        yield first
    for chunk in rest:
        count += len(chunk)
        if count > size:
            raise ware_corrupt(f"corrupt loose git object {str(path)!r}: longer than the {size} bytes it declares")
        yield chunk
    if count != size:
        raise ware_corrupt(f"corrupt loose git object {str(path)!r}: {count} bytes, not the {size} it declares")


def _verify(oid: bytes, kind: str, data: bytes | bytearray, where: str) -> None:
    hasher = hashlib.sha1(header(kind, len(data)))
    hasher.update(data)
    if hasher.digest() != oid:
        raise ware_corrupt(f"git object {oid.hex()} from {where} hashes to {hasher.hexdigest()}: the store is corrupt")


def _verified(oid: bytes, kind: str, size: int, chunks: Iterator[bytes], where: object) -> Iterator[bytes]:
    hasher = hashlib.sha1(header(kind, size))
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk
    if hasher.digest() != oid:
        raise ware_corrupt(f"git object {oid.hex()} from {where} hashes to {hasher.hexdigest()}: the store is corrupt")


def _split(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for at in range(0, len(data), CHUNK):
        yield bytes(view[at : at + CHUNK])
