"""Fuzzing where the tar parsers meet untrusted bytes (hypothesis).

(a) Arbitrary bytes, random headers with valid checksums, and flip/insert/delete/
    overwrite/truncate mutations of small valid tarballs (plain, gzipped before
    or after mutating) go to ``ingest_tar``: it returns an ``IngestResult`` or
    raises ``R2k8sError``, never anything else, and never hangs (a timer fails
    any example that takes more than a few seconds).
(b) The same mutated inputs go to ``unpack_tar`` in a sandbox whose ``outside/``
    the seed's symlink points at: nothing outside the target changes, and a
    failed unpack leaves no target and no staging directory. The expected ID is
    the scan's when the scan succeeds, so weird-but-valid archives really unpack.
(c) Differential against Python's ``tarfile``: for valid archives hypothesis
    generates (long and non-ASCII names, random modes/owners/mtimes, devices,
    links, xattrs; PAX, GNU and USTAR formats; compressed or not), the metadata
    and content ``TarReader`` yields equal what ``tarfile`` reads.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import posixpath
import shutil
import signal
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from r2k8s.core.errors import R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.ingest import IngestResult, ingest_tar
from r2k8s.core.ware.tar.compression import open_decompressed
from r2k8s.core.ware.tar.reader import TarReader
from r2k8s.core.ware.unpack import unpack_tar
from r2k8s.core.ware.wareid import WareID

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
EXAMPLE_TIME_LIMIT = 10  # seconds; a hang fails the example instead of stalling the suite
DUMMY_ID = WareID("tar", "6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6")
FILTER_SETS = [
    flt.UNPACK_LOWPRIV,
    flt.UNPACK_LOSSLESS,
    flt.UNPACK_CONSERVATIVE,
    flt.Filters.parse(flt.UNPACK, "lowpriv,dev=ignore,setid=ignore"),
]
BLOCK = 512


class Hang(Exception):
    """Not an R2k8sError: raised by the timer, so a hang fails the property."""


@contextlib.contextmanager
def time_limit(seconds: int = EXAMPLE_TIME_LIMIT):
    def alarm(_signum, _frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- seeds: small valid tarballs made with tarfile --------------------------------------------


def _seed(fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:

        def add(name: str, kind: bytes = tarfile.REGTYPE, content: bytes | None = None, **attrs) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.mode = kind, 1262304000, 0o755 if kind == tarfile.DIRTYPE else 0o644
            for key, value in attrs.items():
                setattr(info, key, value)
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)

        add("d", tarfile.DIRTYPE, uid=1000, gid=1000)
        add("d/" + "long" * 20, tarfile.DIRTYPE)
        add("d/f", content=b"hello world\n", mode=0o640, uid=1000)
        add("link", tarfile.SYMTYPE, linkname="../outside")  # one flipped byte away from writing through it:
        add("linkxpwned", content=b"pwned?\n")  # 'x' -> '/' makes this 'link/pwned'
        add("d/" + "long" * 20 + "/" + "name" * 15, content=b"a long name\n", mtime=1262304000 + 7)
        add("fifo", tarfile.FIFOTYPE)
        add("d/e", tarfile.DIRTYPE, mode=0o2755 if fmt == tarfile.GNU_FORMAT else 0o700)
    return buffer.getvalue()


SEEDS = {"pax": _seed(tarfile.PAX_FORMAT), "gnu": _seed(tarfile.GNU_FORMAT), "ustar": _seed(tarfile.USTAR_FORMAT)}
GZIP_SEEDS = {name: gzip.compress(data, mtime=0) for name, data in SEEDS.items()}
#: where the header fields start (name, mode, uid, gid, size, mtime, chksum, typeflag, linkname, magic, devs, prefix)
FIELD_STARTS = [0, 99, 100, 108, 116, 124, 135, 136, 148, 156, 157, 257, 263, 329, 337, 345, 500]


def header_offsets(data: bytes) -> list[int]:
    """Offsets of the header blocks of a (valid, tarfile-made) archive."""
    offsets, at = [], 0
    while at + BLOCK <= len(data) and data[at : at + BLOCK] != bytes(BLOCK):
        offsets.append(at)
        size = int(data[at + 124 : at + 136].strip(b"\0 ") or b"0", 8)
        at += BLOCK + -(-size // BLOCK) * BLOCK
    return offsets


HEADERS = {name: header_offsets(data) for name, data in SEEDS.items()}


def with_checksum(block: bytes | bytearray) -> bytes:
    block = bytearray(block)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


# -- mutation strategies ----------------------------------------------------------------------

mutation = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.one_of(st.none(), st.integers(0, 15)),  # anchor: a header of the seed, or None for anywhere
    st.one_of(st.sampled_from(FIELD_STARTS), st.integers(0, 1 << 16)),
    st.binary(min_size=1, max_size=24),
)


def mutate(data: bytes, headers: list[int], mutations: list[tuple], fix_checksums: bool) -> bytes:
    out = bytearray(data)
    for op, anchor, offset, blob in mutations:
        if not out:
            break
        pos = (headers[anchor % len(headers)] + offset % BLOCK) if anchor is not None and headers else offset
        pos %= len(out)
        if op == "flip":
            out[pos] ^= blob[0] or 0x01
        elif op == "set":
            out[pos : pos + len(blob)] = blob
        elif op == "insert":
            out[pos:pos] = blob
        elif op == "delete":
            del out[pos : pos + len(blob)]
        else:
            del out[pos:]
    if fix_checksums:  # let header damage get past the checksum and into the field parsers
        for at in headers:
            if at + BLOCK <= len(out):
                out[at : at + BLOCK] = with_checksum(out[at : at + BLOCK])
    return bytes(out)


@st.composite
def mutated_tarballs(draw) -> bytes:
    seed = draw(st.sampled_from(sorted(SEEDS)))
    how = draw(st.sampled_from(["plain", "gzip-after-mutating", "mutate-the-gzip"]))
    mutations = draw(st.lists(mutation, min_size=1, max_size=4))
    if how == "mutate-the-gzip":
        return mutate(GZIP_SEEDS[seed], [], mutations, False)
    data = mutate(SEEDS[seed], HEADERS[seed], mutations, draw(st.booleans()))
    return gzip.compress(data, mtime=0) if how == "gzip-after-mutating" else data


# -- random headers with valid checksums ------------------------------------------------------

GOOD_NAMES = [
    b"a",
    b"d/",
    b"d/f",
    b"d/e/g",
    b"./d/h",
    b"link",
    b"link/pwned",
    b"n" * 100,
    "caf\u00e9".encode(),
    b"\xff\xfe",
]
BAD_NAMES = [b"../x", b"/etc/x", b"..x", b".", b"", b"./", b"a/b/../../..", b"a//b/./c", b"d/../../x"]
LINKS = [b"a", b"d/f", b"d", b"../outside", b"/etc/passwd", b"link", b"", b"nope"]
#: mostly the common types, so headers get past the type check and into ingest and placement
TYPEFLAGS = [bytes([c]) for c in b"0000000000111222222555555555xxxxxLLK3466"] + [
    bytes([c]) for c in b"0789gKSVDAZ \x00\xff"
]
HEADER_ONLY = [bytes([c]) for c in b"123456"]


def _sometimes(good, bad, bad_one_in: int = 5):
    """``good`` most of the time, ``bad`` about once in ``bad_one_in``."""
    return st.integers(0, bad_one_in - 1).flatmap(lambda n: bad if n == 0 else good)


def _base256(width: int):
    def encode(v: int) -> bytes:
        raw = (v % (1 << (8 * width))).to_bytes(width, "big")
        return bytes([raw[0] | (0x80 if v >= 0 else 0xC0)]) + raw[1:]

    return st.integers(-(1 << 63), (1 << 63) - 1).map(encode)


def _numeric(width: int, small: int = 4096):
    octal = st.integers(0, small).map(lambda v: b"%0*o\x00" % (width - 1, v))
    odd = st.one_of(
        st.integers(0, 8 ** (width - 1) - 1).map(lambda v: b"%0*o\x00" % (width - 1, v)),
        _base256(width),
        st.binary(min_size=width, max_size=width),
        st.integers(0, 4096).map(lambda v: (b" %o " % v).ljust(width, b"\x00")[:width]),
    )
    return _sometimes(octal, odd, 8)


PAX_KEYS = [
    b"path",
    b"linkpath",
    b"size",
    b"uid",
    b"gid",
    b"mtime",
    b"SCHILY.xattr.user.k",
    b"GNU.sparse.major",
    b"comment",
    b"uname",
]
PAX_VALUES = [
    b"",
    b"0",
    b"-1",
    b"12",
    b"1.5",
    b"-1.5",
    b"1.",
    b".5",
    b"9" * 30,
    b"../x",
    b"/abs",
    b"a\x00b",
    b"x" * 200,
    b"12x",
    b"d/p",
    b"1e3",
]


@st.composite
def pax_payload(draw) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        key = draw(_sometimes(st.sampled_from(PAX_KEYS), st.binary(max_size=8)))
        value = draw(_sometimes(st.sampled_from(PAX_VALUES), st.binary(max_size=12)))
        body = b" " + key + b"=" + value + b"\n"
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        if draw(st.integers(0, 9)) == 0:
            length += draw(st.integers(-5, 5))
        out += str(length).encode() + body
    if draw(st.integers(0, 9)) == 0:
        out += draw(st.binary(max_size=20))
    return out


@st.composite
def random_header_archives(draw) -> bytes:
    """1-6 headers with valid checksums; each field is sane most of the time and hostile sometimes."""
    out = b""
    for _ in range(draw(st.integers(1, 6))):
        block = bytearray(BLOCK)
        typeflag = draw(st.sampled_from(TYPEFLAGS))
        name = draw(
            _sometimes(st.sampled_from(GOOD_NAMES), st.one_of(st.sampled_from(BAD_NAMES), st.binary(max_size=100)), 4)
        )
        block[0 : len(name)] = name
        block[100:108] = draw(_numeric(8, 0o7777))
        for offset, width in ((108, 8), (116, 8), (136, 12), (329, 8), (337, 8)):
            block[offset : offset + width] = draw(_numeric(width))
        block[156:157] = typeflag
        link = draw(_sometimes(st.sampled_from(LINKS), st.binary(max_size=100)))
        block[157 : 157 + len(link)] = link
        block[257:265] = draw(
            st.sampled_from([b"ustar\x0000", b"ustar\x0000", b"ustar  \x00", bytes(8), b"ustar\x00xx"])
        )
        if draw(st.integers(0, 5)) == 0:
            prefix = draw(st.one_of(st.sampled_from(GOOD_NAMES + BAD_NAMES), st.binary(max_size=155)))
            block[345 : 345 + len(prefix)] = prefix[:155]
        if typeflag in (b"x", b"g"):
            content = draw(pax_payload())
        elif typeflag in (b"L", b"K"):
            content = draw(st.sampled_from(GOOD_NAMES + BAD_NAMES + LINKS)) + b"\x00"
        elif typeflag in HEADER_ONLY and draw(st.integers(0, 9)):
            content = b""  # the reader ignores their size field: content here would be read as a header
        else:
            content = draw(st.binary(max_size=1500))
        size_field = b"%011o\x00" % len(content)
        block[124:136] = draw(_sometimes(st.just(size_field), _numeric(12, 1 << 40), 6))
        block = bytearray(with_checksum(block))
        if draw(st.integers(0, 19)) == 0:
            block[148] ^= 1  # now and then a bad checksum, too
        out += bytes(block) + content + bytes(-len(content) % BLOCK)
    tail = draw(st.sampled_from([b"", bytes(BLOCK), bytes(2 * BLOCK), bytes(3 * BLOCK), bytes(BLOCK) + b"junk"]))
    return out + tail


# -- valid archives generated with tarfile (for (c), and as seeds to mutate) -----------------------

FORMATS = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}
KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}
FS_TYPES = {
    tarfile.REGTYPE: fsmeta.FILE,
    tarfile.AREGTYPE: fsmeta.FILE,
    tarfile.DIRTYPE: fsmeta.DIR,
    tarfile.SYMTYPE: fsmeta.SYMLINK,
    tarfile.LNKTYPE: fsmeta.HARDLINK,
    tarfile.CHRTYPE: fsmeta.CHAR_DEVICE,
    tarfile.BLKTYPE: fsmeta.BLOCK_DEVICE,
    tarfile.FIFOTYPE: fsmeta.FIFO,
}
COMPRESSIONS = {"none": "w", "gzip": "w:gz", "bzip2": "w:bz2", "xz": "w:xz"}


def _component(max_size: int):
    chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/")
    return st.text(chars, min_size=1, max_size=max_size).filter(lambda c: c != "." and not c.startswith(".."))


def _name(fmt: str):
    size, count = (14, 5) if fmt == "ustar" else (120, 6)
    parts = st.lists(_component(size), min_size=1, max_size=count).map("/".join)
    return st.tuples(st.sampled_from(["", "./"]), parts).map("".join)


@st.composite
def tar_entry(draw, fmt: str) -> tuple[tarfile.TarInfo, bytes | None, tuple[int, int] | None]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    info = tarfile.TarInfo(draw(_name(fmt)))
    info.type = KINDS[kind]
    info.mode = draw(st.integers(0, 0o7777))
    big = fmt != "ustar"
    info.uid = draw(st.integers(0, 2**32 - 1 if big else 0o7777777))
    info.gid = draw(st.integers(0, 2**32 - 1 if big else 0o7777777))
    info.mtime = draw(st.integers(-(2**33), 2**35) if big else st.integers(0, 8**11 - 1))
    exact_time = None
    if fmt == "pax" and draw(st.booleans()):
        seconds, nanos = draw(st.integers(0, 2**31)), draw(st.integers(0, 999_999_999))
        info.mtime, exact_time = seconds, (seconds, nanos)
        info.pax_headers["mtime"] = f"{seconds}.{nanos:09d}"
    if fmt == "pax":
        xattrs = draw(
            st.dictionaries(
                st.text("abcdefghij.", min_size=1, max_size=8),
                st.text(min_size=1, max_size=20).filter(lambda v: "\x00" not in v),
                max_size=2,
            )
        )
        info.pax_headers.update({f"SCHILY.xattr.user.{k}": v for k, v in xattrs.items()})
    if kind in ("symlink", "hardlink"):
        info.linkname = draw(st.one_of(_name(fmt), st.sampled_from(["../x", "/etc/passwd", "a/../b"])))
    if kind in ("chr", "blk"):
        info.devmajor = draw(st.integers(0, 2**24 if fmt == "gnu" else 0o7777777))
        info.devminor = draw(st.integers(0, 2**24 if fmt == "gnu" else 0o7777777))
    content = draw(st.binary(max_size=1500)) if kind == "file" else None
    if content is not None:
        info.size = len(content)
    return info, content, exact_time


@st.composite
def valid_tarballs(draw, compressions: tuple[str, ...] = tuple(COMPRESSIONS)):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    entries = draw(st.lists(tar_entry(fmt), min_size=1, max_size=6))
    compression = draw(st.sampled_from(sorted(compressions)))
    global_headers = (
        {"comment": draw(st.text(min_size=1, max_size=20))} if fmt == "pax" and draw(st.booleans()) else None
    )
    buffer = io.BytesIO()
    try:
        with tarfile.open(
            fileobj=buffer, mode=COMPRESSIONS[compression], format=FORMATS[fmt], pax_headers=global_headers
        ) as tar:
            for info, content, _ in entries:
                tar.addfile(info, io.BytesIO(content) if content is not None else None)
    except ValueError:  # USTAR cannot say it (a name too long to split, say)
        assume(False)
    return buffer.getvalue(), [exact for _, _, exact in entries]


@st.composite
def mutated_generated_tarballs(draw) -> bytes:
    """A generated valid archive (devices, links, odd owners...), sometimes left alone, often mutated."""
    data, _ = draw(valid_tarballs(compressions=("none",)))
    mutations = draw(st.lists(mutation, max_size=3))
    return mutate(data, header_offsets(data), mutations, draw(st.booleans()))


untrusted_tarballs = st.one_of(mutated_tarballs(), random_header_archives(), mutated_generated_tarballs())


# -- (a) ingest never crashes or hangs --------------------------------------------------------


def ingest_outcome(data: bytes, filters: flt.Filters, legacy: bool = False) -> IngestResult | R2k8sError:
    with time_limit():
        try:
            result = ingest_tar(io.BytesIO(data), filters, legacy=legacy)
        except R2k8sError as error:
            return error
    assert isinstance(result, IngestResult)
    assert result.prefilter_id.packtype == "tar" and result.prefilter_id.hash
    return result


@FUZZ
@given(
    data=st.binary(max_size=4096),
    prefix=st.sampled_from([b"", b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"ustar\x00"]),
    filters=st.sampled_from(FILTER_SETS),
    legacy=st.booleans(),
)
def test_ingest_of_arbitrary_bytes_returns_or_raises_r2k8serror(
    data: bytes, prefix: bytes, filters: flt.Filters, legacy: bool
) -> None:
    ingest_outcome(prefix + data, filters, legacy)


@FUZZ
@given(
    data=st.one_of(mutated_tarballs(), mutated_generated_tarballs()),
    filters=st.sampled_from(FILTER_SETS),
    legacy=st.booleans(),
)
def test_ingest_of_mutated_tarballs_returns_or_raises_r2k8serror(
    data: bytes, filters: flt.Filters, legacy: bool
) -> None:
    ingest_outcome(data, filters, legacy)


@FUZZ
@given(
    data=random_header_archives(), compress=st.booleans(), filters=st.sampled_from(FILTER_SETS), legacy=st.booleans()
)
def test_ingest_of_random_valid_checksum_headers_returns_or_raises_r2k8serror(
    data: bytes, compress: bool, filters: flt.Filters, legacy: bool
) -> None:
    ingest_outcome(gzip.compress(data, mtime=0) if compress else data, filters, legacy)


def test_the_seeds_are_valid_wares() -> None:
    for name, data in {**SEEDS, **{f"{k}.gz": v for k, v in GZIP_SEEDS.items()}}.items():
        assert isinstance(ingest_outcome(data, flt.UNPACK_LOSSLESS), IngestResult), name


# -- (b) unpack never writes outside or leaves staging behind -------------------------------


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unpack-fuzz")


def _outside_state(box: Path) -> dict[str, tuple]:
    state = {}
    for path in sorted(box.joinpath("outside").rglob("*")) + [box / "outside", box / "sentinel"]:
        st_ = os.lstat(path)
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        state[str(path.relative_to(box))] = (st_.st_mode, st_.st_uid, st_.st_nlink, content)
    return state


def _watch_absolute() -> dict[str, bool]:
    return {path: os.path.lexists(path) for path in ("/tmp/outside", "/tmp/x", "/etc/x", "/x", "/pwned")}


@FUZZ
@given(data=untrusted_tarballs, filters=st.sampled_from(FILTER_SETS))
def test_unpack_of_mutated_tarballs_stays_inside_and_cleans_up(
    fuzz_base: Path, data: bytes, filters: flt.Filters
) -> None:
    box = Path(tempfile.mkdtemp(dir=fuzz_base))
    try:
        (box / "outside").mkdir()
        (box / "outside" / "secret").write_bytes(b"secret\n")
        (box / "sentinel").write_bytes(b"sentinel\n")
        before, absolute_before = _outside_state(box), _watch_absolute()
        scanned = ingest_outcome(data, filters)
        ware = scanned.prefilter_id if isinstance(scanned, IngestResult) else DUMMY_ID
        with time_limit():
            try:
                result = unpack_tar(ware, io.BytesIO(data), box / "target", filters)
                succeeded = True
                event("unpacked")
            except R2k8sError as error:
                succeeded = False
                event(f"refused: {error.category.wire_name}")
        left = sorted(os.listdir(box))
        assert left == (["outside", "sentinel", "target"] if succeeded else ["outside", "sentinel"]), left
        assert _outside_state(box) == before
        assert _watch_absolute() == absolute_before
        if succeeded:  # and the scan and the unpack agree on what landed
            assert isinstance(scanned, IngestResult) and result == scanned.filtered_id
    finally:
        shutil.rmtree(box)


# -- (c) differential against tarfile ---------------------------------------------------------


def read_with_tarreader(data: bytes) -> list[tuple[fsmeta.Metadata, bytes | None]]:
    stream, _ = open_decompressed(io.BytesIO(data))
    reader = TarReader(stream)
    out = []
    for entry in reader:
        content = (
            b"".join(bytes(chunk) for chunk in reader.content_chunks()) if entry.meta.type == fsmeta.FILE else None
        )
        out.append((entry.meta, content))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(generated=valid_tarballs())
def test_tarreader_reads_what_tarfile_reads(generated: tuple[bytes, list]) -> None:
    data, exact_times = generated
    ours = read_with_tarreader(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        theirs = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
    assert len(ours) == len(theirs) == len(exact_times)
    for (meta, content), (member, their_content), exact in zip(ours, theirs, exact_times, strict=True):
        assert meta.name == posixpath.normpath(member.name), (meta.name, member.name)
        assert meta.type == FS_TYPES[member.type]
        assert meta.perms == member.mode & 0o7777
        assert (meta.uid, meta.gid) == (member.uid, member.gid)
        if exact is None:
            assert (meta.mtime, meta.mtime_ns) == (int(member.mtime), 0)
        else:
            assert (meta.mtime, meta.mtime_ns) == exact
            assert abs(meta.mtime + meta.mtime_ns / 1e9 - member.mtime) < 1e-5
        assert meta.linkname == member.linkname
        if member.ischr() or member.isblk():
            assert (meta.devmajor, meta.devminor) == (member.devmajor, member.devminor)
        assert content == their_content
        if member.isreg():
            assert meta.size == member.size == len(content or b"")
        xattr_prefix = "SCHILY.xattr."
        assert meta.xattrs == {
            k[len(xattr_prefix) :]: v for k, v in member.pax_headers.items() if k.startswith(xattr_prefix)
        }


def test_differential_sees_long_and_non_ascii_names_in_every_format() -> None:
    """A fixed example, so the properties above are known to reach PAX paths, GNU long names and USTAR prefixes."""
    long_name = "d\u00e9j\u00e0/" + "\u00fc" * 60 + "/" + "x" * 90
    for fmt in FORMATS.values():
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
            info = tarfile.TarInfo(long_name if fmt != tarfile.USTAR_FORMAT else "p" * 120 + "/" + "q" * 90)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
        [(meta, content)] = read_with_tarreader(buffer.getvalue())
        assert meta.name == info.name and content == b"abc"
