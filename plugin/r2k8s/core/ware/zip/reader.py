"""A zip reader that sees entries exactly as rio's zip transmat does (Go ``archive/zip`` plus rio's rules).

rio hashes what Go's reader reports, so this module follows Go's parsing
rather than Python's ``zipfile`` (which decodes names as cp437, cuts them at a
NUL and knows nothing of the owner fields):

* The end record is searched backwards (the last 1 KiB, then 65 KiB), zip64
  end records are followed, and central directory headers are read from the
  directory offset until one does not parse; their number must equal the end
  record's modulo 2¹⁶ (Go compares 16 bits). Only the central directory's
  fields and extras count; a local header contributes its signature and the
  lengths that locate the data.
* Names are raw bytes (UTF-8, other bytes kept as surrogates) cleaned like Go's
  ``path.Clean``: absolute names and names leaving the base (``..``) are a
  corrupt ware; an empty name or ``./`` is the root.
* Type and permissions come from the external attributes: Unix mode bits for
  Unix/macOS creators, MS-DOS attributes for FAT/NTFS/VFAT (``0777``/``0666``,
  minus write bits when read-only), nothing otherwise; a name ending in ``/``
  is a directory whatever the bits say. Pipes, sockets and devices are refused
  (``rio-pack-invalid``, as rio refuses them).
* Owner: the ``0x7875`` field (2- or 4-byte uid/gid), else ``0x7855`` — read
  the way rio reads it, at offsets 4 and 6 of its data, so a data part shorter
  than 8 bytes is a corrupt ware — else 1000:1000.
* mtime: the last of the NTFS (``0x000a``, 100 ns), PKWARE Unix (``0x000d``),
  Info-ZIP Unix (``0x5855``) and extended timestamp (``0x5455``, an unsigned
  32-bit time) fields, else the MS-DOS date and time read as UTC.
* Content is read only for files and symlinks (a symlink's content is its
  target), stored or deflated; anything else is refused like Go's
  ``ErrAlgorithm``. The encryption flag is ignored, as Go ignores it: encrypted
  data fails the checks below (and the message then says it is encrypted),
  while a flag set on plain data changes nothing. Output stops at the declared size:
  more output, less output, a CRC-32 mismatch (checked when the central CRC is
  non-zero or a data descriptor is flagged) and a data descriptor whose CRC
  differs are all a corrupt ware, exactly where Go's checksum reader fails.

Everything is read through a seekable file, one entry at a time: memory does
not grow with the number or the size of the entries.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import posixpath
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from r2k8s.core.errors import Category, R2k8sError, ware_corrupt
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata

__all__ = [
    "CHUNK",
    "DEFAULT_OWNER",
    "MAX_SYMLINK_TARGET",
    "ZipEntry",
    "ZipReader",
    "clean_zip_name",
    "is_zip_magic",
    "open_seekable",
    "refuse_unsupported",
]

CHUNK = 1 << 20
#: Owner of entries that carry neither ``0x7875`` nor ``0x7855`` (rio's "TODO: better default").
DEFAULT_OWNER = 1000
#: Longest symlink target read into memory; rio has no limit, but no filesystem takes more than 4 KiB.
MAX_SYMLINK_TARGET = 1 << 20

_EOCD_SIG = b"PK\x05\x06"
_EOCD_LEN = 22
_LOC64_SIG = 0x07064B50
_EOCD64_SIG = 0x06064B50
_CENTRAL_SIG = 0x02014B50
_LOCAL_SIG = 0x04034B50
_DESCRIPTOR_SIG = 0x08074B50
_CENTRAL_LEN = 46
_LOCAL_LEN = 30

STORED = 0
DEFLATED = 8

_EXTRA_ZIP64 = 0x0001
_EXTRA_NTFS = 0x000A
_EXTRA_UNIX = 0x000D
_EXTRA_INFOZIP_UNIX = 0x5855
_EXTRA_EXTTIME = 0x5455
_EXTRA_UNIX2 = 0x7855
_EXTRA_UNIX3 = 0x7875

_CREATOR_UNIX = frozenset({3, 19})  # Unix, macOS
_CREATOR_MSDOS = frozenset({0, 11, 14})  # FAT, NTFS, VFAT
_NTFS_EPOCH = -11644473600  # 1601-01-01 in Unix seconds

_S_IFMT = 0xF000
_UNIX_TYPES = {
    0x4000: fsmeta.DIR,
    0xA000: fsmeta.SYMLINK,
    0x1000: fsmeta.FIFO,
    0xC000: fsmeta.SOCKET,
    0x6000: fsmeta.BLOCK_DEVICE,
    # Go marks char devices ModeDevice|ModeCharDevice, and rio's OsToType tests ModeDevice first.
    0x2000: fsmeta.BLOCK_DEVICE,
}
_TYPE_WORDS = {
    fsmeta.FIFO: "a named pipe",
    fsmeta.SOCKET: "a socket",
    fsmeta.BLOCK_DEVICE: "a device",
}


def refuse_unsupported(meta: Metadata) -> None:
    """Refuse a pipe, socket or device entry (``rio-pack-invalid``), as rio's zip unpacker does.

    rio reaches that refusal only after the entry's filters have run, so a
    device under ``dev=reject`` (or a setuid pipe under ``setid=reject``) is a
    filter rejection first: the reader yields such entries, and the walk calls
    this after filtering (even when ``dev=ignore`` dropped the entry: rio
    checks the unfiltered type).
    """
    if meta.type in _TYPE_WORDS:
        raise R2k8sError(
            Category.PACK_INVALID,
            f"zip entry {meta.name!r} is {_TYPE_WORDS[meta.type]}: rio's zip transmat does not support such files",
        )


def is_zip_magic(head: bytes) -> bool:
    """True if ``head`` (a file's first 4 bytes) opens a zip: a local header, or the end record of an empty zip."""
    return head[:4] in (b"PK\x03\x04", _EOCD_SIG)


def clean_zip_name(raw: str) -> str:
    """Clean a zip entry name as rio does (Go ``path.Clean``; ``""`` and ``./`` are the root).

    Absolute names (rio panics on them) and names leaving the base (``..``,
    ``../x``) are refused as a corrupt ware; other names starting with ``..``
    (``..0``) as an inoperable path, as rio's placement refuses them even when
    only scanning.
    """
    if raw.startswith("/"):
        raise ware_corrupt(f"corrupt zip: absolute path {raw!r} is not allowed in a ware")
    cleaned = posixpath.normpath(raw) if raw else "."
    if cleaned == ".." or cleaned.startswith("../"):
        raise ware_corrupt(f"corrupt zip: path {raw!r} leaves the base directory ('..' is not allowed)")
    if cleaned.startswith(".."):
        raise R2k8sError(
            Category.INOPERABLE_PATH,
            f"refusing {raw!r}: a top-level name starting with '..' cannot be placed"
            " (rio refuses it as a path breakout)",
        )
    return cleaned


def _is_seekable(source: BinaryIO) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def open_seekable(source: BinaryIO, spool_dir: Path | None = None) -> Iterator[BinaryIO]:
    """``source`` if it can seek (read from its start, wherever it stands), else a spooled copy of the rest of it.

    The copy is an anonymous temporary file in ``spool_dir`` (default: the
    system's temporary directory), written in 1 MiB chunks and gone when the
    context ends. rio buffers every zip to a temporary file the same way.
    """
    if _is_seekable(source):
        yield source
        return
    try:
        spool = tempfile.TemporaryFile(prefix=".r2k8s-zip-spool-", dir=spool_dir)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise R2k8sError(
            Category.INOPERABLE_PATH, f"cannot make a file to spool the zip into: {exc.strerror or exc}"
        ) from None
    with spool:
        while chunk := source.read(CHUNK):  # a failing read is the source's error, reported as its reader says
            try:
                spool.write(chunk)
            except OSError as exc:
                raise R2k8sError(
                    Category.INOPERABLE_PATH, f"cannot spool the zip to a temporary file: {exc.strerror or exc}"
                ) from None
        spool.seek(0)
        yield spool


@dataclasses.dataclass(slots=True)
class ZipEntry:
    """One central directory entry: its metadata (a symlink's ``linkname`` filled in) and where its data is."""

    meta: Metadata
    method: int
    flags: int
    crc: int
    compressed_size: int
    header_offset: int


def _u16(data: bytes, at: int) -> int:
    value: int = struct.unpack_from("<H", data, at)[0]
    return value


def _u32(data: bytes, at: int) -> int:
    value: int = struct.unpack_from("<I", data, at)[0]
    return value


def _u64(data: bytes, at: int) -> int:
    value: int = struct.unpack_from("<Q", data, at)[0]
    return value


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _dos_time(date: int, time: int) -> int:
    """Go ``msDosTimeToTime`` in UTC, with ``time.Date``'s normalisation of out-of-range fields."""
    year, month, day = (date >> 9) + 1980, (date >> 5) & 0xF, date & 0x1F
    hour, minute, second = time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2
    year, month0 = year + (month - 1) // 12, (month - 1) % 12
    days = calendar.timegm((year, month0 + 1, 1, 0, 0, 0)) // 86400 + day - 1
    return days * 86400 + hour * 3600 + minute * 60 + second


class _Central:
    """The raw fields of one central directory header, as Go's ``readDirectoryHeader`` leaves them."""

    __slots__ = (
        "compressed",
        "crc",
        "creator",
        "dos_date",
        "dos_time",
        "external",
        "extra",
        "flags",
        "method",
        "name",
        "offset",
        "uncompressed",
    )

    def __init__(self, fixed: bytes, variable: bytes) -> None:
        (
            _,
            self.creator,
            _,
            self.flags,
            self.method,
            self.dos_time,
            self.dos_date,
            self.crc,
            self.compressed,
            self.uncompressed,
            name_len,
            extra_len,
            _,
            _,
            _,
            self.external,
            self.offset,
        ) = struct.unpack("<IHHHHHHIIIHHHHHII", fixed)
        self.name = variable[:name_len]
        self.extra = variable[name_len : name_len + extra_len]


def _variable_lengths(fixed: bytes) -> int:
    name_len, extra_len, comment_len = struct.unpack_from("<HHH", fixed, 28)
    return int(name_len) + int(extra_len) + int(comment_len)


class _BadHeader(Exception):
    """Go's ``ErrFormat``/``ErrUnexpectedEOF`` from ``readDirectoryHeader``: the directory ends here."""


def _apply_zip64(h: _Central) -> None:
    """Go: the zip64 extra replaces exactly the fields that are maxed out, in order."""
    need_u = h.uncompressed == 0xFFFFFFFF
    need_c = h.compressed == 0xFFFFFFFF
    need_o = h.offset == 0xFFFFFFFF
    for tag, field in _extra_fields(h.extra):
        if tag != _EXTRA_ZIP64:
            continue
        pos = 0
        for need, attr in ((need_u, "uncompressed"), (need_c, "compressed"), (need_o, "offset")):
            if not need:
                continue
            if len(field) - pos < 8:
                raise _BadHeader
            setattr(h, attr, _u64(field, pos))
            pos += 8
        need_u = need_c = need_o = False
    # An uncompressed size of 2³²-1 without zip64 is accepted (42.zip); the others are not.
    if need_c or need_o:
        raise _BadHeader


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """Each ``(tag, data)`` of an extra field block, as Go walks it: a field that runs past the end ends the walk."""
    at = 0
    while len(extra) - at >= 4:
        tag, size = _u16(extra, at), _u16(extra, at + 2)
        at += 4
        if len(extra) - at < size:
            return
        yield tag, extra[at : at + size]
        at += size


def _mtime(h: _Central) -> tuple[int, int]:
    """Go's ``Modified``: the last usable time field of the central extra, else the MS-DOS time as UTC."""
    found: tuple[int, int] | None = None
    for tag, field in _extra_fields(h.extra):
        if tag == _EXTRA_NTFS:
            found = _ntfs_time(field, found)
        elif tag in (_EXTRA_UNIX, _EXTRA_INFOZIP_UNIX):
            if len(field) >= 8:
                found = (_u32(field, 4), 0)
        elif tag == _EXTRA_EXTTIME and len(field) >= 5 and field[0] & 1:
            found = (_u32(field, 1), 0)
    if found is None:
        return _dos_time(h.dos_date, h.dos_time), 0
    return found


def _ntfs_time(field: bytes, found: tuple[int, int] | None) -> tuple[int, int] | None:
    if len(field) < 4:
        return found
    pos = 4  # reserved
    while len(field) - pos >= 4:
        tag, size = _u16(field, pos), _u16(field, pos + 2)
        pos += 4
        if len(field) - pos < size:
            return found
        attr = field[pos : pos + size]
        pos += size
        if tag != 1 or size != 24:
            continue
        ticks: int = struct.unpack_from("<q", attr, 0)[0]  # Go converts the uint64 to int64
        secs = abs(ticks) // 10_000_000 * (1 if ticks >= 0 else -1)  # Go's / and % truncate toward zero
        nanos = (ticks - secs * 10_000_000) * 100
        total = (_NTFS_EPOCH + secs) * 1_000_000_000 + nanos
        found = (total // 1_000_000_000, total % 1_000_000_000)
    return found


def _owner(h: _Central, name: str) -> tuple[int, int]:
    """rio ``zipFileOwnership``: ``0x7875`` wins, then ``0x7855`` (read at rio's offsets), else 1000:1000."""
    fields: dict[int, bytes] = {}
    extra = h.extra
    at = 0
    while at < len(extra) - 3:
        tag, size = _u16(extra, at), _u16(extra, at + 2)
        if len(extra) < at + size + 4:
            raise ware_corrupt(f"corrupt zip: {name!r} does not specify owner: an extra field overruns the header")
        fields[tag] = extra[at + 4 : at + 4 + size]
        at += 4 + size
    unix3 = fields.get(_EXTRA_UNIX3)
    if unix3 is not None:
        return _unix3_owner(unix3, name)
    unix2 = fields.get(_EXTRA_UNIX2)
    if unix2 is not None:
        if len(unix2) < 8:
            raise ware_corrupt(
                f"corrupt zip: {name!r} does not specify owner: its 0x7855 field is too short"
                " (rio reads the owner at bytes 4-8 of that field's data)"
            )
        return _u16(unix2, 4), _u16(unix2, 6)
    return DEFAULT_OWNER, DEFAULT_OWNER


def _unix3_owner(data: bytes, name: str) -> tuple[int, int]:
    def bad(why: str) -> R2k8sError:
        return ware_corrupt(f"corrupt zip: {name!r} does not specify owner: 0x7875 field {why}")

    if len(data) < 7:
        raise bad("too short")
    ids = []
    pos = 1  # version, ignored
    for which in ("uid", "gid"):
        size = data[pos]
        if size not in (2, 4):
            raise bad(f"has a {which} of {size} bytes")
        if len(data) < pos + 1 + size:
            raise bad(f"ends inside the {which}")  # rio's Go code would panic here
        ids.append(_u16(data, pos + 1) if size == 2 else _u32(data, pos + 1))
        pos += 1 + size
    return ids[0], ids[1]


def _kind_and_perms(h: _Central) -> tuple[str, int]:
    """Go ``FileHeader.Mode`` then rio ``OsToType``/``OsToPerms``."""
    creator = h.creator >> 8
    kind = fsmeta.FILE
    perms = 0
    if creator in _CREATOR_UNIX:
        mode = h.external >> 16
        perms = mode & 0o7777
        kind = _UNIX_TYPES.get(mode & _S_IFMT, fsmeta.FILE)
    elif creator in _CREATOR_MSDOS:
        if h.external & 0x10:
            kind, perms = fsmeta.DIR, 0o777
        else:
            perms = 0o666
        if h.external & 0x01:
            perms &= ~0o222
    if h.name.endswith(b"/"):
        kind = fsmeta.DIR
    return kind, perms


class ZipReader:
    """Iterate a seekable zip file's entries as rio would see them.

    The whole central directory is checked before the first entry is yielded
    (Go reads it all in ``zip.NewReader``). A file's content must be read with
    :meth:`content_chunks` before the next entry; a symlink's target is already
    in its metadata. ``log`` receives warnings.
    """

    def __init__(self, file: BinaryIO, log: Callable[[str], None] | None = None) -> None:
        self._file = file
        self._log = log or (lambda message: None)
        self._size = self._file_size()
        self._current: ZipEntry | None = None
        self.entry_count = 0

    # -- raw reading ----------------------------------------------------------

    def _file_size(self) -> int:
        try:
            return self._file.seek(0, 2)
        except OSError as exc:
            raise ware_corrupt(f"corrupt zip: cannot seek in the archive: {exc.strerror or exc}") from None

    def _read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the file)."""
        if offset < 0 or offset >= self._size or size <= 0:
            return b""
        self._file.seek(offset)
        data = self._file.read(size)
        while len(data) < size:
            more = self._file.read(size - len(data))
            if not more:
                break
            data += more
        return data

    # -- the directory --------------------------------------------------------

    def _end_record(self) -> tuple[int, int]:
        """(number of entries, offset of the central directory), as Go's ``readDirectoryEnd`` finds them."""
        at, start, block = -1, 0, b""
        for window in (1024, 65 * 1024):  # Go looks in the last KiB, then in the last 65 KiB
            window = min(window, self._size)
            start = self._size - window
            block = self._read_at(start, window)
            at = self._find_end(block)
            if at >= 0 or window == self._size:
                break
        if at < 0:
            raise ware_corrupt("corrupt zip: no end of central directory record (not a zip file?)")
        record = block[at : at + _EOCD_LEN]
        records, directory_size, directory_offset = _u16(record, 10), _u16(record, 12), _u32(record, 16)
        end_offset = start + at
        # Go's test, including its 16-bit look at the 32-bit directory size.
        if records == 0xFFFF or directory_size == 0xFFFF or directory_offset == 0xFFFFFFFF:
            zip64 = self._zip64_end(end_offset)
            if zip64 is not None:
                records, directory_offset = zip64
        if directory_offset >= self._size:
            raise ware_corrupt("corrupt zip: the central directory offset is past the end of the file")
        if records > self._size // _LOCAL_LEN:
            raise ware_corrupt(f"corrupt zip: the directory declares an impossible {records} entries")
        return records, directory_offset

    @staticmethod
    def _find_end(block: bytes) -> int:
        """Go ``findSignatureInBlock``: the last end signature; -1 if none, or if its comment overruns the block."""
        if len(block) < _EOCD_LEN:
            return -1
        at = block.rfind(_EOCD_SIG, 0, len(block) - _EOCD_LEN + 4)
        if at < 0 or _u16(block, at + 20) + _EOCD_LEN + at > len(block):
            return -1
        return at

    def _zip64_end(self, end_offset: int) -> tuple[int, int] | None:
        locator = self._read_at(end_offset - 20, 20) if end_offset >= 20 else b""
        if len(locator) < 20 or _u32(locator, 0) != _LOC64_SIG or _u32(locator, 4) != 0 or _u32(locator, 16) != 1:
            return None
        record = self._read_at(_u64(locator, 8), 56)
        if len(record) < 56 or _u32(record, 0) != _EOCD64_SIG:
            raise ware_corrupt("corrupt zip: bad zip64 end of central directory record")
        return _u64(record, 32), _u64(record, 48)

    def _central_headers(self, offset: int) -> Iterator[_Central]:
        """Go's loop: headers from ``offset`` until one fails to parse."""
        while True:
            fixed = self._read_at(offset, _CENTRAL_LEN)
            if len(fixed) < _CENTRAL_LEN or _u32(fixed, 0) != _CENTRAL_SIG:
                return
            length = _variable_lengths(fixed)
            variable = self._read_at(offset + _CENTRAL_LEN, length)
            if len(variable) < length:
                return
            header = _Central(fixed, variable)
            try:
                _apply_zip64(header)
            except _BadHeader:
                return
            yield header
            offset += _CENTRAL_LEN + length

    def _headers(self) -> Iterator[_Central]:
        records, offset = self._end_record()
        found = sum(1 for _ in self._central_headers(offset))
        if found % 0x10000 != records % 0x10000:
            raise ware_corrupt(
                f"corrupt zip: the end record declares {records} entries, the central directory holds {found}"
            )
        return self._central_headers(offset)

    # -- entries --------------------------------------------------------------

    def __iter__(self) -> Iterator[ZipEntry]:
        for h in self._headers():
            self.entry_count += 1
            raw_name = _text(h.name)
            kind, perms = _kind_and_perms(h)
            uid, gid = _owner(h, raw_name)
            mtime, mtime_ns = _mtime(h)
            meta = Metadata(
                name=clean_zip_name(raw_name),
                type=kind,
                perms=perms,
                uid=uid,
                gid=gid,
                mtime=mtime,
                mtime_ns=mtime_ns,
                size=h.uncompressed,
            )
            entry = ZipEntry(meta, h.method, h.flags, h.crc, h.compressed, h.offset)
            self._current = entry
            if kind == fsmeta.SYMLINK:
                meta.linkname = _text(self._symlink_target(entry))
            yield entry
        self._current = None

    def _symlink_target(self, entry: ZipEntry) -> bytes:
        if entry.meta.size > MAX_SYMLINK_TARGET:
            raise ware_corrupt(
                f"corrupt zip: the symlink {entry.meta.name!r} declares a {entry.meta.size}-byte target"
                f" (at most {MAX_SYMLINK_TARGET} are accepted)"
            )
        return b"".join(bytes(chunk) for chunk in self.content_chunks())

    def content_chunks(self) -> Iterator[memoryview]:
        """The current entry's content, decompressed and verified, in chunks of at most 1 MiB.

        The last chunk is yielded only after the size and CRC checks pass at the
        end of the data, so a consumer that reads to the end has read good data.
        """
        entry = self._current
        if entry is None or entry.meta.type not in (fsmeta.FILE, fsmeta.SYMLINK):
            return
        try:
            yield from self._verified_chunks(entry)
        except R2k8sError as exc:
            if entry.flags & 0x1:  # Go ignores the flag; encrypted data then fails one of the checks
                raise ware_corrupt(f"unsupported zip: {entry.meta.name!r} is encrypted ({exc.message})") from None
            raise

    def _verified_chunks(self, entry: ZipEntry) -> Iterator[memoryview]:
        name = entry.meta.name
        if entry.method not in (STORED, DEFLATED):
            raise ware_corrupt(
                f"unsupported zip: {name!r} uses compression method {entry.method} (only stored and deflate are read,"
                " as by rio)"
            )
        local = self._read_at(entry.header_offset, _LOCAL_LEN)
        if len(local) < _LOCAL_LEN or _u32(local, 0) != _LOCAL_SIG:
            raise ware_corrupt(f"corrupt zip: no local header for {name!r} at offset {entry.header_offset}")
        body = entry.header_offset + _LOCAL_LEN + _u16(local, 26) + _u16(local, 28)
        declared = entry.meta.size
        crc = 0
        produced = 0
        pending: memoryview | None = None
        for chunk in self._decompressed(entry, body):
            produced += len(chunk)
            if produced > declared:
                raise ware_corrupt(
                    f"corrupt zip: {name!r} decompresses to more than its declared {declared} bytes"
                    " (refused as a zip bomb)"
                )
            crc = zlib.crc32(chunk, crc)
            if pending is not None:
                yield pending
            pending = chunk
        if produced != declared:
            raise ware_corrupt(f"corrupt zip: {name!r} ends after {produced} of its declared {declared} bytes")
        self._check_crc(entry, body, crc)
        if pending is not None:
            yield pending

    def _decompressed(self, entry: ZipEntry, body: int) -> Iterator[memoryview]:
        name = entry.meta.name
        remaining = entry.compressed_size
        position = body
        limit = entry.meta.size + 1  # one byte more than declared is enough to tell a bomb
        inflater = zlib.decompressobj(-15) if entry.method == DEFLATED else None
        while remaining > 0 and limit > 0:
            data = self._read_at(position, min(remaining, CHUNK))
            if not data:
                break
            position += len(data)
            remaining -= len(data)
            if inflater is None:
                out = data[:limit]
                limit -= len(out)
                if out:
                    yield memoryview(out)
                continue
            pending_input = data
            try:
                while True:
                    want = min(limit, CHUNK)
                    out = inflater.decompress(pending_input, want)
                    if out:
                        limit -= len(out)
                        yield memoryview(out)
                    if inflater.eof or limit <= 0:
                        break
                    pending_input = inflater.unconsumed_tail
                    if not pending_input and len(out) < want:
                        break  # everything given was consumed: read more
            except zlib.error as exc:
                raise ware_corrupt(f"corrupt zip: the deflate data of {name!r} is corrupt: {exc}") from None
            if inflater.eof:
                return
        if inflater is not None and not inflater.eof and limit > 0:
            raise ware_corrupt(f"corrupt zip: the deflate data of {name!r} is truncated")
        if inflater is None and remaining > 0 and limit > 0:
            raise ware_corrupt(f"corrupt zip: the data of {name!r} is cut off by the end of the file")

    def _check_crc(self, entry: ZipEntry, body: int, crc: int) -> None:
        name = entry.meta.name
        if entry.flags & 0x8:
            descriptor = self._read_at(body + entry.compressed_size, 16)
            if len(descriptor) >= 4 and _u32(descriptor, 0) == _DESCRIPTOR_SIG:
                descriptor = descriptor[4:]
            if len(descriptor) < 12:
                raise ware_corrupt(f"corrupt zip: the data descriptor of {name!r} is cut off")
            if _u32(descriptor, 0) != entry.crc:
                raise ware_corrupt(f"corrupt zip: the data descriptor of {name!r} disagrees with the directory's CRC")
        elif entry.crc == 0:
            return  # Go checks only a CRC that seems to have been set
        if crc != entry.crc:
            raise ware_corrupt(f"corrupt zip: checksum error in {name!r} (CRC-32 {crc:08x}, expected {entry.crc:08x})")
