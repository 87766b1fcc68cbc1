"""A streaming tar reader that sees headers exactly as Go's ``archive/tar`` does.

rio hashes what Go's reader reports, so this module copies its rules rather
than Python's ``tarfile``: checksum (signed or unsigned), V7/USTAR/PAX/GNU/STAR
name prefixes, base-256 numbers, PAX records (path, linkpath, uid, gid, size,
mtime with nanoseconds, ``SCHILY.xattr.*``; atime and ctime are checked but
not kept; empty values keep the header's),
GNU long names, header-only types whose size field is ignored, ``\\0`` typeflags
that become directories when the name ends in ``/``, and the end-of-archive
rules (two zero blocks, or a clean EOF at a block boundary). It also keeps no
list of members, so memory stays flat on archives of any length.

GNU sparse files in PAX form (GNU tar ``--sparse --format=posix``, map formats
0.0, 0.1 and 1.0) are expanded to the dense file, as Go's ``Reader`` does
(``readGNUSparsePAXHeaders``, ``sparseFileReader``): holes read as zeros,
streamed from one zero buffer, so memory does not grow with the file; a map
that is malformed, out of order or beyond the size, or data the map leaves
unused or misses, is corrupt. The old GNU ``S`` type stays unknown, as in rio.

Anything Go would reject is a ``rio-ware-corrupt`` error naming the entry.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator

from r2k8s.core.errors import R2k8sError, ware_corrupt
from r2k8s.core.goparse import atoi
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.tar.compression import DECOMPRESSION_ERRORS, TarStream

__all__ = ["BLOCK", "CHUNK", "MAX_SPECIAL_FILE", "ZERO_BLOCK", "TarEntry", "TarReader"]

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_SPECIAL_FILE = 1 << 20  # Go's maxSpecialFileSize for PAX and GNU long-name data
CHUNK = 1 << 20

_TYPES = {
    b"0": fsmeta.FILE,
    b"1": fsmeta.HARDLINK,
    b"2": fsmeta.SYMLINK,
    b"3": fsmeta.CHAR_DEVICE,
    b"4": fsmeta.BLOCK_DEVICE,
    b"5": fsmeta.DIR,
    b"6": fsmeta.FIFO,
}
_HEADER_ONLY = frozenset(b"123456")
_DIGITS = re.compile(rb"[0-9]*\Z")
#: mode, uid, gid, size, mtime and checksum in the form writers use: every digit there, then a NUL or space.
_COMMON_NUMBERS = re.compile(
    rb"([0-7]{7})[\0 ]([0-7]{7})[\0 ]([0-7]{7})[\0 ]([0-7]{11})[\0 ]([0-7]{11})[\0 ]([0-7]{6})\0 "
)
_ZERO_DEVICES = b"0000000\0" * 2
_INT64 = 1 << 63
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ZEROS = bytes(CHUNK)
MAX_SPARSE_ENTRIES = 1 << 20  # Go's maxSparseFileEntries
_SPARSE_OFFSET, _SPARSE_NUMBYTES, _SPARSE_MAP = b"GNU.sparse.offset", b"GNU.sparse.numbytes", b"GNU.sparse.map"


@dataclasses.dataclass(slots=True)
class TarEntry:
    """One real entry: its metadata and the tar typeflag it came from."""

    meta: Metadata
    typeflag: str


class _Header:
    """One header as Go's reader builds it: raw name bytes, numbers already parsed.

    Every field but ``xattrs`` is set by :meth:`TarReader._read_header`.
    """

    __slots__ = (
        "devmajor",
        "devminor",
        "gid",
        "linkname",
        "mode",
        "mtime",
        "mtime_ns",
        "name",
        "size",
        "typeflag",
        "uid",
        "xattrs",
    )

    typeflag: bytes
    name: bytes
    linkname: bytes
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    mtime_ns: int
    devmajor: int
    devminor: int
    xattrs: dict[str, str]

    def __init__(self) -> None:
        self.xattrs = {}


def _cstr(field: bytes) -> bytes:
    """Go ``parseString``: up to the first NUL."""
    nul = field.find(b"\0")
    return field if nul < 0 else field[:nul]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class _FieldParser:
    """Go's ``parser``: remembers that any field failed instead of raising at once."""

    def __init__(self) -> None:
        self.failed = False

    def octal(self, field: bytes) -> int:
        digits = _cstr(field.strip(b" \0"))
        if not digits:
            return 0
        # Only the digits 0-7 (Go's ParseUint takes no sign, space or underscore, unlike int()).
        if digits.translate(None, b"01234567"):
            self.failed = True
            return 0
        value = int(digits, 8)
        if value >= 1 << 64:
            self.failed = True
            return 0
        return value - (1 << 64) if value >= _INT64 else value

    def numeric(self, field: bytes) -> int:
        if field and field[0] & 0x80:
            inv = 0xFF if field[0] & 0x40 else 0x00
            x = 0
            for i, c in enumerate(field):
                c ^= inv
                if i == 0:
                    c &= 0x7F
                if x >> 56:
                    self.failed = True
                    return 0
                x = (x << 8) | c
            if x >> 63:
                self.failed = True
                return 0
            return ~x if inv else x
        return self.octal(field)


def _checksums(block: bytes) -> tuple[int, int]:
    """Go ``computeChecksum``: the checksum field counts as spaces; signed sums bytes as int8."""
    outside = block[:148] + block[156:]
    unsigned = sum(outside) + 8 * 0x20
    high = len(outside) - len(outside.translate(None, _HIGH_BYTES))
    return unsigned, unsigned - 256 * high


def _parse_go_int(value: bytes, what: str) -> int:
    number = atoi(value)
    if number is None:
        raise ware_corrupt(f"corrupt tar: PAX record {what}={value!r} is not a 64-bit integer")
    return number


def _parse_pax_time(value: bytes, what: str = "mtime") -> tuple[int, int]:
    """Go ``parsePAXTime``: seconds, then up to 9 fraction digits (more are cut)."""
    secs_text, dot, frac = value.partition(b".")
    seconds = _parse_go_int(secs_text, what)
    if not dot or not frac:
        return seconds, 0
    if not _DIGITS.match(frac):
        raise ware_corrupt(f"corrupt tar: PAX {what} {value!r} is malformed")
    nanos = int((frac + b"000000000")[:9])
    if secs_text.startswith(b"-"):
        nanos = -nanos
    total = seconds * 1_000_000_000 + nanos
    return total // 1_000_000_000, total % 1_000_000_000


def _parse_pax_records(data: bytes) -> dict[bytes, bytes]:
    """Go ``parsePAX``, which also turns GNU sparse 0.0's repeated offset/numbytes records into 0.1's map."""
    records: dict[bytes, bytes] = {}
    sparse_map: list[bytes] = []
    while data:
        space = data.find(b" ")
        if space <= 0 or not data[:space].isdigit():
            raise ware_corrupt("corrupt tar: malformed PAX record length")
        length = int(data[:space])
        if length <= space or length > len(data) or data[length - 1 : length] != b"\n":
            raise ware_corrupt("corrupt tar: malformed PAX record")
        record = data[space + 1 : length - 1]
        key, eq, value = record.partition(b"=")
        if not eq or not key:
            raise ware_corrupt("corrupt tar: malformed PAX record (no key)")
        if key in (b"path", b"linkpath", b"uname", b"gname") and b"\0" in value:
            raise ware_corrupt(f"corrupt tar: PAX record {key!r} contains a NUL byte")
        data = data[length:]
        if key in (_SPARSE_OFFSET, _SPARSE_NUMBYTES):
            expected = _SPARSE_OFFSET if len(sparse_map) % 2 == 0 else _SPARSE_NUMBYTES
            if key != expected or b"," in value:
                raise ware_corrupt("corrupt tar: GNU sparse 0.0 offset/numbytes records out of order")
            sparse_map.append(value)
            continue
        records[key] = value
    if sparse_map:
        records[_SPARSE_MAP] = b",".join(sparse_map)
    return records


def _sparse_number(value: bytes) -> int:
    number = atoi(value)
    if number is None:
        raise ware_corrupt(f"corrupt tar: GNU sparse map holds {value[:40]!r}, not a 64-bit integer")
    return number


def _check_sparse(datas: list[tuple[int, int]], size: int) -> None:
    """Go ``validateSparseEntries``: non-negative, in order, not overlapping, within the size."""
    if size < 0:
        raise ware_corrupt(f"corrupt tar: GNU sparse file size {size} is negative")
    previous_end = 0
    for offset, length in datas:
        if offset < 0 or length < 0 or offset > (_INT64 - 1) - length:
            raise ware_corrupt(f"corrupt tar: GNU sparse map entry ({offset}, {length}) is invalid")
        if offset + length > size:
            raise ware_corrupt(f"corrupt tar: GNU sparse map entry ({offset}, {length}) goes past the size {size}")
        if previous_end > offset:
            raise ware_corrupt(f"corrupt tar: GNU sparse map entry ({offset}, {length}) overlaps or is out of order")
        previous_end = offset + length


class TarReader:
    """Iterate a tar stream's entries; read each file's content before moving on.

    ``log`` receives warnings (skipped PAX global headers), like rio's monitor.
    """

    def __init__(self, stream: TarStream, log: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self._log = log or (lambda message: None)
        self._remaining = 0  # unread content bytes of the current entry (in the archive: physical)
        self._pad = 0
        self._sparse: tuple[list[tuple[int, int]], int] | None = None  # data fragments and dense size
        self._buffer = bytearray(CHUNK)
        self._current = ""  # the name of the entry whose content is being read, for messages
        self.entry_count = 0

    # -- low-level reading --------------------------------------------------

    def _read(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
            while len(data) < n:
                more = self._stream.read(n - len(data))
                if not more:
                    break
                data += more
        except DECOMPRESSION_ERRORS as exc:
            raise ware_corrupt(f"corrupt tar compression: {exc}") from None
        return data

    def _read_exact(self, n: int, what: str) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise ware_corrupt(f"corrupt tar: unexpected end of stream in {what}")
        return data

    def _skip_rest(self) -> None:
        self._sparse = None
        while self._remaining:
            for _ in self._physical_chunks():
                pass
        if self._pad:
            self._read_exact(self._pad, f"the padding after {self._current!r}")
            self._pad = 0

    def content_chunks(self) -> Iterator[memoryview]:
        """The current entry's remaining content, in chunks of at most 1 MiB.

        The chunks are views of one reused buffer: consume each before asking
        for the next. A GNU sparse file is read dense: its holes are zeros.
        """
        if self._sparse is None:
            yield from self._physical_chunks()
            return
        datas, size = self._sparse
        self._sparse = None
        position = 0
        zeros = memoryview(_ZEROS)
        for offset, length in datas:
            if not length:
                continue
            while position < offset:
                step = min(offset - position, CHUNK)
                position += step
                yield zeros[:step]
            if self._remaining < length:
                raise ware_corrupt(f"corrupt tar: GNU sparse file {self._current!r} references data it does not hold")
            last = self._remaining - length
            yield from self._physical_chunks(length)
            assert self._remaining == last
            position = offset + length
        while position < size:
            step = min(size - position, CHUNK)
            position += step
            yield zeros[:step]
        if self._remaining:
            raise ware_corrupt(f"corrupt tar: GNU sparse file {self._current!r} holds data its map does not use")

    def _physical_chunks(self, limit: int | None = None) -> Iterator[memoryview]:
        """Up to ``limit`` (default: all) of the entry's remaining bytes as stored in the archive."""
        stop = 0 if limit is None else self._remaining - limit
        view = memoryview(self._buffer)
        while self._remaining > stop:
            want = min(self._remaining - stop, CHUNK)
            try:
                got = self._stream.readinto(view[:want])
            except DECOMPRESSION_ERRORS as exc:
                raise ware_corrupt(f"corrupt tar compression: {exc}") from None
            if not got:
                raise ware_corrupt(f"corrupt tar: unexpected end of stream inside the content of {self._current!r}")
            self._remaining -= got
            yield view[:got]

    def _read_special(self, size: int, what: str) -> bytes:
        if size > MAX_SPECIAL_FILE:
            raise ware_corrupt(f"corrupt tar: {what} is larger than {MAX_SPECIAL_FILE} bytes")
        data = self._read_exact(size, what)
        self._read_exact(-size % BLOCK, "padding")
        return data

    # -- headers ------------------------------------------------------------

    def _read_header(self) -> tuple[_Header, bytes] | None:
        block = self._read(BLOCK)
        if not block:
            return None
        if len(block) != BLOCK:
            raise ware_corrupt("corrupt tar: unexpected end of stream in a header")
        if block == ZERO_BLOCK:
            block = self._read(BLOCK)
            if not block or block == ZERO_BLOCK:
                return None
            raise ware_corrupt("corrupt tar: a zero block followed by a non-zero block")
        p = _FieldParser()
        h = _Header()
        common = _COMMON_NUMBERS.match(block, 100)
        if common is not None:
            # The numbers as GNU tar, Go and r2k8s write them: plain octal digits, which parse as they read.
            h.mode, h.uid, h.gid, h.size, h.mtime, stored = (int(digits, 8) for digits in common.groups())
            checked = stored == sum(block) - sum(block[148:156]) + 8 * 0x20 or stored in _checksums(block)
        else:
            stored = p.octal(block[148:156])
            checked = not p.failed and stored in _checksums(block)
            h.size = p.numeric(block[124:136])
            h.mode = p.numeric(block[100:108])
            h.uid = p.numeric(block[108:116])
            h.gid = p.numeric(block[116:124])
            h.mtime = p.numeric(block[136:148])
        if not checked:
            raise ware_corrupt(f"corrupt tar: bad header checksum (entry #{self.entry_count + 1})")
        magic, version, trailer = block[257:263], block[263:265], block[508:512]
        h.typeflag = block[156:157]
        h.name = _cstr(block[0:100])
        h.linkname = _cstr(block[157:257])
        h.mtime_ns = 0
        h.devmajor = h.devminor = 0
        is_ustar = magic == b"ustar\0"
        is_gnu = magic == b"ustar " and version == b" \0"
        if (is_ustar or is_gnu) and block[329:345] != _ZERO_DEVICES:
            h.devmajor = p.numeric(block[329:337])
            h.devminor = p.numeric(block[337:345])
        prefix = b""
        if is_ustar and trailer == b"tar\0":
            prefix = _cstr(block[345:476])
        elif is_ustar:
            prefix = _cstr(block[345:500])
        elif is_gnu:
            times = _FieldParser()
            for field in (block[345:357], block[357:369]):
                if field[0]:
                    times.numeric(field)
            if times.failed and _cstr(block[345:500]).isascii():
                prefix = _cstr(block[345:500])
        if prefix:
            h.name = prefix + b"/" + h.name
        if p.failed:
            raise ware_corrupt(f"corrupt tar: malformed numeric field in header of {_text(h.name)!r}")
        return h, block

    def _set_data(self, h: _Header) -> None:
        size = 0 if h.typeflag and h.typeflag[0] in _HEADER_ONLY else h.size
        if size < 0:
            raise ware_corrupt(f"corrupt tar: negative size for {_text(h.name)!r}")
        self._remaining = size
        self._pad = -size % BLOCK

    def _merge_pax(self, h: _Header, pax: dict[bytes, bytes]) -> None:
        try:
            self._merge_pax_records(h, pax)
        except R2k8sError as exc:
            raise ware_corrupt(f"{exc.message} (in the PAX header of {_text(h.name)!r})") from None

    def _merge_pax_records(self, h: _Header, pax: dict[bytes, bytes]) -> None:
        for key, value in pax.items():
            if not value:
                continue
            if key == b"path":
                h.name = value
            elif key == b"linkpath":
                h.linkname = value
            elif key == b"uid":
                h.uid = _parse_go_int(value, "uid")
            elif key == b"gid":
                h.gid = _parse_go_int(value, "gid")
            elif key == b"size":
                h.size = _parse_go_int(value, "size")
            elif key == b"mtime":
                h.mtime, h.mtime_ns = _parse_pax_time(value)
            elif key in (b"atime", b"ctime"):
                # Not hashed, but Go's mergePAX parses them too and a malformed one is ErrHeader.
                _parse_pax_time(value, _text(key))
            elif key.startswith(b"SCHILY.xattr."):
                h.xattrs[_text(key[len(b"SCHILY.xattr.") :])] = _text(value)

    def _next_header(self) -> _Header | None:
        pax: dict[bytes, bytes] = {}
        long_name = long_link = b""
        while True:
            self._skip_rest()
            read = self._read_header()
            if read is None:
                return None
            h, _ = read
            self._set_data(h)
            if h.typeflag in (b"x", b"g"):
                records = _parse_pax_records(self._read_special(self._remaining, "a PAX header"))
                self._remaining = self._pad = 0
                if h.typeflag == b"g":
                    self._log(f"unpacking: skipping an entry: tar type 'g' header entries ignored ({_text(h.name)!r})")
                    continue
                pax = records
                continue
            if h.typeflag in (b"L", b"K"):
                data = _cstr(self._read_special(self._remaining, "a GNU long name"))
                self._remaining = self._pad = 0
                if h.typeflag == b"L":
                    long_name = data
                else:
                    long_link = data
                continue
            self._merge_pax(h, pax)
            if long_name:
                h.name = long_name
            if long_link:
                h.linkname = long_link
            if h.typeflag == b"\0" or h.typeflag == b"":
                h.typeflag = b"5" if h.name.endswith(b"/") else b"0"
            self._set_data(h)
            self._current = _text(h.name)
            self._sparse_file(h, pax)
            return h

    def _sparse_file(self, h: _Header, pax: dict[bytes, bytes]) -> None:
        """Go ``readGNUSparsePAXHeaders`` and ``handleSparseFile``: set up a dense read of a GNU PAX sparse file."""
        major, minor = pax.get(b"GNU.sparse.major", b""), pax.get(b"GNU.sparse.minor", b"")
        if major == b"0" and minor in (b"0", b"1"):
            v1 = False
        elif major == b"1" and minor == b"0":
            v1 = True
        elif major or minor:
            return  # an unknown version: Go reads the entry as a plain file
        elif pax.get(_SPARSE_MAP):
            v1 = False  # 0.0 and 0.1 had no version records
        else:
            return
        if pax.get(b"GNU.sparse.name"):
            h.name = pax[b"GNU.sparse.name"]
            self._current = _text(h.name)
        size_text = pax.get(b"GNU.sparse.size") or pax.get(b"GNU.sparse.realsize")
        if size_text:
            size = atoi(size_text)
            if size is None:
                raise ware_corrupt(f"corrupt tar: GNU sparse size {size_text[:40]!r} of {self._current!r} is malformed")
            h.size = size
        datas = self._sparse_map_1x0() if v1 else self._sparse_map_0x1(pax)
        if h.typeflag and h.typeflag[0] in _HEADER_ONLY:
            raise ware_corrupt(f"corrupt tar: {self._current!r} has a GNU sparse map but holds no data")
        _check_sparse(datas, h.size)
        self._sparse = (datas, h.size)

    @staticmethod
    def _sparse_map_0x1(pax: dict[bytes, bytes]) -> list[tuple[int, int]]:
        count = _sparse_number(pax.get(b"GNU.sparse.numblocks", b""))
        numbers = pax.get(_SPARSE_MAP, b"").split(b",")
        if numbers == [b""]:
            numbers = []
        if count < 0 or len(numbers) != 2 * count:
            raise ware_corrupt(f"corrupt tar: GNU sparse map has {len(numbers)} numbers for {count} entries")
        if count > MAX_SPARSE_ENTRIES:
            raise ware_corrupt("corrupt tar: GNU sparse map too long")
        values = [_sparse_number(n) for n in numbers]
        return list(zip(values[0::2], values[1::2], strict=True))

    def _sparse_map_1x0(self) -> list[tuple[int, int]]:
        """The map at the start of the data: decimal numbers, one a line, count first, in whole blocks."""
        pending = bytearray()
        tokens: list[bytes] = []

        def feed(wanted: int) -> None:
            nonlocal pending
            read = 0
            while len(tokens) < wanted:
                read += BLOCK
                if read > MAX_SPECIAL_FILE or self._remaining < BLOCK:
                    what = "too long" if read > MAX_SPECIAL_FILE else "cut short"
                    raise ware_corrupt(f"corrupt tar: the GNU sparse map of {self._current!r} is {what}")
                pending += self._read_exact(BLOCK, "a GNU sparse map")
                self._remaining -= BLOCK
                *lines, rest = bytes(pending).split(b"\n")
                tokens.extend(lines)
                pending = bytearray(rest)

        feed(1)
        count = _sparse_number(tokens.pop(0))
        if count < 0:
            raise ware_corrupt(f"corrupt tar: GNU sparse map of {self._current!r} has {count} entries")
        if count > MAX_SPARSE_ENTRIES:
            raise ware_corrupt("corrupt tar: GNU sparse map too long")
        feed(2 * count)
        values = [_sparse_number(t) for t in tokens[: 2 * count]]
        return list(zip(values[0::2], values[1::2], strict=True))

    def __iter__(self) -> Iterator[TarEntry]:
        while True:
            h = self._next_header()
            if h is None:
                return
            self.entry_count += 1
            kind = _TYPES.get(h.typeflag)
            name = self._current = _text(h.name)
            if kind is None:
                raise ware_corrupt(
                    f"corrupt tar: {name!r} has type {_text(h.typeflag)!r}, which is not a known file type"
                )
            meta = Metadata(
                name=fsmeta.clean_relpath(name, placement_later=True),
                type=kind,
                perms=h.mode & 0o7777,
                uid=h.uid & 0xFFFFFFFF,
                gid=h.gid & 0xFFFFFFFF,
                linkname=_text(h.linkname),
                devmajor=h.devmajor,
                devminor=h.devminor,
                mtime=h.mtime,
                mtime_ns=h.mtime_ns,
                xattrs=h.xattrs,
                size=self._remaining if self._sparse is None else self._sparse[1],
            )
            yield TarEntry(meta, _text(h.typeflag))
