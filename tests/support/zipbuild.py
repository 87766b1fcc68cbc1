"""Build zip files byte by byte for the zip ware tests: every field is the test's to choose.

Python's ``zipfile`` cannot write some of what the tests need (owner extra
fields in the central directory only, wrong CRCs, lying sizes, odd creators,
names that are not UTF-8), so this writes local headers, data and the central
directory directly. By default an entry is what Info-ZIP's ``zip`` writes on
Linux: creator Unix 3.0, the Unix mode in the external attributes, stored.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import time
import zlib

import installs
from repo import REPO_ROOT

__all__ = ["ZEntry", "build_zip", "dos_datetime", "ext_time", "info_zip_missing", "ntfs_time", "unix2", "unix3"]

INFO_ZIP_PACKAGES = ("zip", "unzip")

STORED = 0
DEFLATED = 8


def dos_datetime(year: int, month: int, day: int, hour: int, minute: int, second: int) -> tuple[int, int]:
    """MS-DOS (date, time) fields."""
    return ((year - 1980) << 9) | (month << 5) | day, (hour << 11) | (minute << 5) | (second // 2)


def dos_of(mtime: int) -> tuple[int, int]:
    t = time.gmtime(mtime)
    return dos_datetime(max(t.tm_year, 1980), t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def ext_time(mtime: int, flags: int = 1) -> bytes:
    """A central-directory ``0x5455`` field holding the mtime."""
    return struct.pack("<HHBI", 0x5455, 5, flags, mtime & 0xFFFFFFFF)


def unix3(uid: int, gid: int, size: int = 4) -> bytes:
    """``0x7875``: version 1, uid and gid of ``size`` bytes each."""
    fmt = "<H" if size == 2 else "<I"
    data = bytes([1, size]) + struct.pack(fmt, uid) + bytes([size]) + struct.pack(fmt, gid)
    return struct.pack("<HH", 0x7875, len(data)) + data


def unix2(data: bytes) -> bytes:
    """``0x7855`` with the given data part."""
    return struct.pack("<HH", 0x7855, len(data)) + data


def ntfs_time(mtime: int, nanos: int = 0) -> bytes:
    """``0x000a`` with one mtime/atime/ctime attribute (100 ns ticks since 1601)."""
    ticks = (mtime + 11644473600) * 10_000_000 + nanos // 100
    attr = struct.pack("<HHQQQ", 1, 24, ticks, ticks, ticks)
    data = b"\0\0\0\0" + attr
    return struct.pack("<HH", 0x000A, len(data)) + data


@dataclasses.dataclass
class ZEntry:
    name: bytes | str
    content: bytes = b""
    mode: int = 0o100644
    creator: int = 3
    external: int | None = None  # overrides the one made from ``mode``
    extra: bytes = b""
    mtime: int = 1433013083
    dos: tuple[int, int] | None = None  # default: ``mtime`` as UTC
    method: int = STORED
    flags: int = 0
    crc: int | None = None
    declared_size: int | None = None
    data: bytes | None = None  # the stored/compressed bytes; default from ``content`` and ``method``
    descriptor: bytes | None = None  # written after the data (set flags 0x8 yourself)
    local_signature: bytes = b"PK\x03\x04"


def _raw_name(entry: ZEntry) -> bytes:
    return entry.name.encode("utf-8", "surrogateescape") if isinstance(entry.name, str) else entry.name


def build_zip(entries: list[ZEntry], *, declared_count: int | None = None, comment: bytes = b"") -> bytes:
    out = bytearray()
    central = bytearray()
    for e in entries:
        name = _raw_name(e)
        if e.data is not None:
            data = e.data
        elif e.method == DEFLATED:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = comp.compress(e.content) + comp.flush()
        else:
            data = e.content
        crc = zlib.crc32(e.content) if e.crc is None else e.crc
        size = len(e.content) if e.declared_size is None else e.declared_size
        date, clock = e.dos if e.dos is not None else dos_of(e.mtime)
        external = (e.mode << 16) | (0x10 if e.mode & 0o170000 == 0o040000 else 0) if e.external is None else e.external
        offset = len(out)
        out += e.local_signature + struct.pack(
            "<HHHHHIIIHH", 20, e.flags, e.method, clock, date, crc, len(data), size, len(name), 0
        )
        out += name + data + (e.descriptor or b"")
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (e.creator << 8) | 30,
            20,
            e.flags,
            e.method,
            clock,
            date,
            crc,
            len(data),
            size,
            len(name),
            len(e.extra),
            0,
            0,
            0,
            external,
            offset,
        )
        central += name + e.extra
    count = len(entries) if declared_count is None else declared_count
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), start, len(comment)) + comment
    return bytes(out)


def info_zip_missing() -> str | None:
    """None once Info-ZIP's ``zip`` and ``unzip`` are on PATH (installed with ``.ci/install-packages``
    if need be, once per session, as ``.ci/run`` installs them); else why they are not, for a skip."""
    if all(shutil.which(program) for program in INFO_ZIP_PACKAGES):
        return None
    if installs.not_root():
        return "Info-ZIP zip/unzip are not installed, and not being root the tests cannot apt-get install them"
    install = REPO_ROOT / ".ci" / "install-packages"
    outcome = installs.run_once(("install-packages", *INFO_ZIP_PACKAGES), [install, *INFO_ZIP_PACKAGES], "zip unzip")
    if all(shutil.which(program) for program in INFO_ZIP_PACKAGES):
        return None
    return f"Info-ZIP zip/unzip could not be installed: {outcome.describe()}"
