"""A streaming zip writer that records entries as rio's zip packer does.

Each entry carries what rio writes (``MetadataToZipHdr`` and Go's
``archive/zip`` writer): the name as rio spells it (``./``, ``./a``,
``./a/b/`` for directories), deflate for every entry, the Unix mode in the
external attributes (with the MS-DOS directory and read-only bits), the extra
fields ``0x7855`` (only when uid and gid fit 16 bits), ``0x7875`` (4-byte uid
and gid) and ``0x5455`` (the mtime as an unsigned 32-bit count of seconds), and
the MS-DOS date and time. A symlink's content is its target.

The output is written strictly forwards (sizes and CRC go in a data descriptor
after each entry's data), so it may be a pipe or an upload; zip64 records are
added where sizes, offsets or the entry count need them. The central
directory is kept in memory until :meth:`ZipWriter.close` (about 100 bytes and
the name per entry, as in Go's writer); content never is.
"""

from __future__ import annotations

import struct
import time
import zlib

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.tar.writer import ByteSink

__all__ = ["ZipWriter", "check_packable", "zip_name"]

_U32_MAX = 0xFFFFFFFF
_VERSION_20 = 20
_VERSION_45 = 45
_CREATOR_UNIX = 3 << 8
_FLAG_DESCRIPTOR = 0x8
_FLAG_UTF8 = 0x800

_UNIX_TYPE_BITS = {fsmeta.FILE: 0o100000, fsmeta.DIR: 0o040000, fsmeta.SYMLINK: 0o120000}


def zip_name(meta: Metadata) -> bytes:
    """rio's entry name: ``fs.RelPath.String()`` (``.`` or ``./path``), plus ``/`` for a directory."""
    name = "." if meta.name == "." else "./" + meta.name
    if meta.type == fsmeta.DIR:
        name += "/"
    return name.encode("utf-8", "surrogateescape")


def check_packable(meta: Metadata) -> None:
    """Refuse what a zip ware cannot hold so that rio (and r2k8s) could unpack it and find the same ID.

    rio's zip packer writes pipes, sockets and devices, and mtimes the zip
    cannot record, but its unpacker refuses the former and reads the latter
    back differently; refusing them here is the only way the ID stays true.
    """
    if meta.type not in _UNIX_TYPE_BITS:
        raise R2k8sError(
            Category.PACK_INVALID,
            f"cannot pack {meta.name!r} into a zip ware: zip wares hold only files, directories and symlinks"
            " (rio could not unpack it); use a tar ware, or remove it",
        )
    if not 0 <= meta.mtime <= _U32_MAX:
        raise R2k8sError(
            Category.PACK_INVALID,
            f"cannot pack {meta.name!r} into a zip ware: its mtime {meta.mtime} is outside what zip's timestamp"
            " field holds (1970 to 2106); use an mtime filter (e.g. mtime=@1262304000)",
        )


def _dos_date_time(mtime: int) -> tuple[int, int]:
    """Go ``timeToMsDosTime`` of the UTC time (fields wrap to 16 bits as Go's do)."""
    t = time.gmtime(mtime)
    date = (t.tm_mday + (t.tm_mon << 5) + ((t.tm_year - 1980) << 9)) & 0xFFFF
    clock = (t.tm_sec // 2 + (t.tm_min << 5) + (t.tm_hour << 11)) & 0xFFFF
    return date, clock


def _extra_fields(meta: Metadata) -> bytes:
    parts = []
    if meta.uid <= 0xFFFF and meta.gid <= 0xFFFF:
        parts.append(struct.pack("<HHHH", 0x7855, 4, meta.uid, meta.gid))
    parts.append(struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, meta.uid, 4, meta.gid))
    parts.append(struct.pack("<HHBI", 0x5455, 5, 1, meta.mtime & _U32_MAX))
    return b"".join(parts)


class _Record:
    __slots__ = ("compressed", "crc", "date", "external", "extra", "flags", "name", "offset", "time", "uncompressed")

    def __init__(self, name: bytes, flags: int, date: int, clock: int, external: int, extra: bytes, offset: int):
        self.name, self.flags, self.date, self.time = name, flags, date, clock
        self.external, self.extra, self.offset = external, extra, offset
        self.crc = self.compressed = self.uncompressed = 0

    @property
    def zip64(self) -> bool:
        return self.compressed >= _U32_MAX or self.uncompressed >= _U32_MAX


class ZipWriter:
    """Write entries: :meth:`add` each (pre-order), :meth:`write_content` a file's bytes, then :meth:`close`.

    ``close`` writes the central directory; it does not close ``out``.
    """

    def __init__(self, out: ByteSink) -> None:
        self._out = out
        self._offset = 0
        self._records: list[_Record] = []
        self._open: _Record | None = None
        self._deflate: zlib._Compress | None = None

    def _write(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._offset += len(data)

    def add(self, meta: Metadata) -> None:
        """Start an entry (finishing the previous one); a symlink's target is written at once."""
        check_packable(meta)
        self._finish_previous()
        name = zip_name(meta)
        flags = _FLAG_DESCRIPTOR
        if not name.isascii():
            try:
                name.decode("utf-8")
                flags |= _FLAG_UTF8
            except UnicodeDecodeError:
                pass
        date, clock = _dos_date_time(meta.mtime)
        external = (_UNIX_TYPE_BITS[meta.type] | (meta.perms & 0o7777)) << 16
        if meta.type == fsmeta.DIR:
            external |= 0x10
        if not meta.perms & 0o200:
            external |= 0x01
        extra = _extra_fields(meta)
        record = _Record(name, flags, date, clock, external, extra, self._offset)
        self._write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, _VERSION_20, flags, 8, clock, date, 0, 0, 0, len(name), len(extra))
            + name
            + extra
        )
        self._records.append(record)
        self._open = record
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        if meta.type == fsmeta.SYMLINK:
            self.write_content(meta.linkname.encode("utf-8", "surrogateescape"))

    def write_content(self, chunk: bytes) -> None:
        record, deflate = self._open, self._deflate
        assert record is not None and deflate is not None, "write_content before add"
        record.crc = zlib.crc32(chunk, record.crc)
        record.uncompressed += len(chunk)
        data = deflate.compress(chunk)
        record.compressed += len(data)
        self._write(data)

    def _finish_previous(self) -> None:
        record, deflate = self._open, self._deflate
        if record is None or deflate is None:
            return
        tail = deflate.flush()
        record.compressed += len(tail)
        self._write(tail)
        if record.zip64:
            self._write(struct.pack("<IIQQ", 0x08074B50, record.crc, record.compressed, record.uncompressed))
        else:
            self._write(struct.pack("<IIII", 0x08074B50, record.crc, record.compressed, record.uncompressed))
        self._open = self._deflate = None

    def close(self) -> None:
        """Finish the last entry and write the central directory and end records."""
        self._finish_previous()
        start = self._offset
        for record in self._records:
            self._write(self._central(record))
        size = self._offset - start
        count = len(self._records)
        if count >= 0xFFFF or size >= _U32_MAX or start >= _U32_MAX:
            end64 = self._offset
            self._write(
                struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, _VERSION_45, _VERSION_45, 0, 0, count, count, size, start)
            )
            self._write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
            count16, size32, start32 = min(count, 0xFFFF), min(size, _U32_MAX), min(start, _U32_MAX)
        else:
            count16, size32, start32 = count, size, start
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count16, count16, size32, start32, 0))

    @staticmethod
    def _central(record: _Record) -> bytes:
        extra = record.extra
        version = _VERSION_20
        compressed, uncompressed, offset = record.compressed, record.uncompressed, record.offset
        if record.zip64 or record.offset >= _U32_MAX:
            extra += struct.pack("<HHQQQ", 0x0001, 24, uncompressed, compressed, offset)
            compressed = uncompressed = _U32_MAX
            version = _VERSION_45
        return (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                _CREATOR_UNIX | version,
                version,
                record.flags,
                8,
                record.time,
                record.date,
                record.crc,
                compressed,
                uncompressed,
                len(record.name),
                len(extra),
                0,
                0,
                0,
                record.external,
                min(offset, _U32_MAX),
            )
            + record.name
            + extra
        )
