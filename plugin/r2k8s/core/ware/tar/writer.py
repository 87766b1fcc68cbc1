"""A small streaming tar writer: USTAR headers, PAX records only where USTAR can't say it.

The ware ID never depends on these bytes, but rio, GNU tar and our own reader
must all read back exactly the metadata we hashed, so every value that USTAR
cannot hold (long or non-ASCII names, big ids or sizes, negative mtimes) goes
into a PAX record, as Go's ``archive/tar`` does.

Speed matters for trees of many small files, where the per-entry work is the
cost: the common header (a short ASCII name, numbers that fit, no link, no
xattrs) is packed in one step, and headers, small contents and padding are
gathered in a buffer written out a megabyte at a time, not three writes per
file; large contents go straight through, uncopied.
"""

from __future__ import annotations

import struct
from typing import Protocol

from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata

__all__ = ["BLOCK", "ByteSink", "TarWriter", "archive_name"]

BLOCK = 512
_TYPEFLAGS = {
    fsmeta.FILE: b"0",
    fsmeta.HARDLINK: b"1",
    fsmeta.SYMLINK: b"2",
    fsmeta.CHAR_DEVICE: b"3",
    fsmeta.BLOCK_DEVICE: b"4",
    fsmeta.DIR: b"5",
    fsmeta.FIFO: b"6",
}


class ByteSink(Protocol):
    """Where the tar bytes go: a binary file, or anything with its ``write``."""

    def write(self, data: bytes, /) -> object: ...


def _octal(value: int, width: int) -> bytes | None:
    """``width-1`` octal digits plus NUL, or None if it does not fit."""
    if value < 0 or value >= 8 ** (width - 1):
        return None
    return b"%0*o\0" % (width - 1, value)


def _octal_fitting(value: int, width: int) -> bytes:
    """:func:`_octal` of a value the field can always hold."""
    encoded = _octal(value, width)
    if encoded is None:
        raise ValueError(f"{value} does not fit a {width}-byte tar header field")
    return encoded


def _pax_time(seconds: int, nanos: int) -> bytes:
    """Go ``formatPAXTime``: a negative time with nanoseconds is ``-(|seconds| - 1).(1e9 - nanos)``."""
    if not nanos:
        return b"%d" % seconds
    sign = b""
    if seconds < 0:
        sign, seconds, nanos = b"-", -(seconds + 1), 1_000_000_000 - nanos
    return (b"%s%d.%09d" % (sign, seconds, nanos)).rstrip(b"0")


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _split_ustar_name(name: bytes) -> tuple[bytes, bytes] | None:
    """USTAR's ``prefix``/``name`` split at the last ``/`` that leaves each part short enough, if any.

    Only a slash at index 1..155 with 1..100 bytes after it can split, so
    only that window is searched: a name thousands of levels deep must not
    cost a step per byte (for every entry of a deep tree).
    """
    if len(name) <= 100:
        return b"", name
    i = name.rfind(b"/", max(1, len(name) - 101), min(155, len(name) - 2) + 1)
    return (name[:i], name[i + 1 :]) if i > 0 else None


def archive_name(meta: Metadata) -> bytes:
    """rio's member names: ``./`` for the root, ``./path``, directories end in ``/``; a file packed alone is ``.``."""
    if meta.name == ".":
        return b"./" if meta.type == fsmeta.DIR else b"."
    name = b"./" + meta.name.encode("utf-8", "surrogateescape")
    return name + b"/" if meta.type == fsmeta.DIR else name


#: USTAR header layout up to the prefix; struct pads the short fields with NULs.
_PADDING = bytes(BLOCK)
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_ZERO8 = b"0000000\0"
_ZERO12 = b"00000000000\0"
_ZEROS = {8: _ZERO8, 12: _ZERO12}


def _header_block(
    name: bytes,
    prefix: bytes,
    typeflag: bytes,
    perms: int,
    numbers: dict[str, bytes],
    linkname: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
) -> bytes:
    """One USTAR header; ``numbers`` holds the already-encoded uid, gid, size and mtime."""
    block = _USTAR.pack(
        name,
        _octal_fitting(perms & 0o7777, 8),
        numbers["uid"],
        numbers["gid"],
        numbers["size"],
        numbers["mtime"],
        b"        ",
        typeflag,
        linkname,
        b"ustar\x0000",
        b"",
        b"",
        _octal(devmajor, 8) or _ZERO8,
        _octal(devminor, 8) or _ZERO8,
        prefix,
    )
    return b"%s%06o\0 %s" % (block[:148], sum(block), block[156:])


#: The common header's numbers: mode, uid, gid, size and mtime, in their octal fields.
_NUMBERS = b"%07o\0%07o\0%07o\0%011o\0%011o\0"
#: Everything after the typeflag of a header with no link, owner names, device numbers or prefix.
_TAIL = bytes(100) + b"ustar\x0000" + bytes(64) + _ZERO8 + _ZERO8 + bytes(155 + 12)
_TAIL_SUM = sum(_TAIL) + 8 * 0x20  # the checksum field counts as eight spaces
_SMALL = 8**7  # uid and gid below this fit their 8-byte octal fields
_MAX_OCTAL12 = 8**11
#: Bytes gathered before the buffer is written out.
FLUSH_BYTES = 1 << 20


def _common_header(name: bytes, meta: Metadata, size: int) -> bytes | None:
    """The USTAR header of a short ASCII name with every number in range and no link, else None (the full path)."""
    mtime = meta.mtime
    if (
        len(name) > 100
        or meta.linkname
        or meta.uid >= _SMALL
        or meta.gid >= _SMALL
        or not 0 <= mtime < _MAX_OCTAL12
        or size >= _MAX_OCTAL12
        or meta.mtime_ns
        or meta.xattrs
        or meta.type in fsmeta.DEVICE_TYPES
        or not name.isascii()
    ):
        return None
    numbers = _NUMBERS % (meta.perms & 0o7777, meta.uid, meta.gid, size, mtime)
    typeflag = _TYPEFLAGS[meta.type]
    checksum = sum(name) + sum(numbers) + typeflag[0] + _TAIL_SUM
    return b"%s%s%s%06o\0 %s%s" % (name, bytes(100 - len(name)), numbers, checksum, typeflag, _TAIL)


class TarWriter:
    """Writes entries to a binary stream; call :meth:`close` to write the end marker (and the last buffered bytes)."""

    def __init__(self, out: ByteSink) -> None:
        self._out = out
        self._pieces: list[bytes] = []  # written out joined, once they add up to FLUSH_BYTES
        self._buffered = 0
        self._pending = 0  # content bytes still owed for the current file
        self._padding = 0

    def _write(self, data: bytes) -> None:
        self._pieces.append(data)
        self._buffered += len(data)
        if self._buffered >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pieces:
            self._out.write(b"".join(self._pieces))
            self._pieces = []
            self._buffered = 0

    def add_file(self, meta: Metadata, content: bytes) -> None:
        """A regular file and all of its content at once (``len(content) == meta.size``): the small-file path."""
        if len(content) != meta.size or meta.type != fsmeta.FILE:
            raise ValueError("add_file takes a regular file and exactly its content")
        header = _common_header(archive_name(meta), meta, meta.size) if not self._pending else None
        if header is None:
            self.add(meta)
            if content:
                self.write_content(content)
            return
        if self._padding:
            self._pieces.append(_PADDING[: self._padding])
        padding = -len(content) % BLOCK
        self._pieces += (header, content, _PADDING[:padding])
        self._buffered += BLOCK + len(content) + padding + self._padding
        self._padding = 0
        if self._buffered >= FLUSH_BYTES:
            self._flush()

    def add(self, meta: Metadata) -> None:
        """Write the header for ``meta``; for files, ``write_content`` must follow with ``meta.size`` bytes."""
        self._finish_previous()
        name = archive_name(meta)
        size = meta.size if meta.type == fsmeta.FILE else 0
        header = _common_header(name, meta, size)
        if header is not None:
            self._write(header)
            self._pending = size
            self._padding = -size % BLOCK
            return
        linkname = meta.linkname.encode("utf-8", "surrogateescape")
        pax: list[bytes] = []
        split = _split_ustar_name(name) if name.isascii() else None
        if split is None:
            pax.append(_pax_record("path", name))
            split = (b"", b"@PaxPath")
        if len(linkname) > 100 or not linkname.isascii():
            pax.append(_pax_record("linkpath", linkname))
            linkname = b""
        numbers: dict[str, bytes] = {}
        for key, value, width in (
            ("uid", meta.uid, 8),
            ("gid", meta.gid, 8),
            ("size", size, 12),
            ("mtime", meta.mtime, 12),
        ):
            encoded = _octal(value, width)
            if key == "mtime" and meta.mtime_ns:
                pax.append(_pax_record(key, _pax_time(value, meta.mtime_ns)))
            elif encoded is None:
                pax.append(_pax_record(key, b"%d" % value))
            numbers[key] = _ZEROS[width] if encoded is None else encoded
        for xattr, xattr_value in sorted(meta.xattrs.items()):
            pax.append(_pax_record("SCHILY.xattr." + xattr, xattr_value.encode("utf-8", "surrogateescape")))
        if pax:
            data = b"".join(pax)
            pax_numbers = {"uid": _ZERO8, "gid": _ZERO8, "size": _octal_fitting(len(data), 12), "mtime": _ZERO12}
            self._write(_header_block(b"PaxHeader", b"", b"x", 0o644, pax_numbers))
            self._write(data + bytes(-len(data) % BLOCK))
        device = meta.type in fsmeta.DEVICE_TYPES
        self._write(
            _header_block(
                split[1],
                split[0],
                _TYPEFLAGS[meta.type],
                meta.perms,
                numbers,
                linkname,
                meta.devmajor if device else 0,
                meta.devminor if device else 0,
            )
        )
        self._pending = size
        self._padding = -size % BLOCK

    def write_content(self, chunk: bytes) -> None:
        if len(chunk) > self._pending:
            raise ValueError("more content than the header's size")
        if len(chunk) >= FLUSH_BYTES // 4:
            self._flush()
            self._out.write(chunk)  # a large chunk goes through as it is: no copy into the buffer
        else:
            self._write(bytes(chunk))  # kept until the next flush: never a view of a buffer its owner reuses
        self._pending -= len(chunk)

    def _finish_previous(self) -> None:
        if self._pending:
            raise ValueError(f"{self._pending} bytes of file content are missing")
        if self._padding:
            self._write(_PADDING[: self._padding])
            self._padding = 0

    def close(self) -> None:
        """Pad the last file, write the end-of-archive marker (two zero blocks) and everything still buffered."""
        self._finish_previous()
        self._write(bytes(2 * BLOCK))
        self._flush()
