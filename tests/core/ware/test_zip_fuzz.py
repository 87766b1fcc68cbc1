"""Fuzzing the zip reader (hypothesis, bounded): mutated zips end in an ID or an R2k8sError, nothing else.

Seeds are valid zips of every shape the reader knows (stored, deflated, data
descriptors with and without signature, symlinks, owner and time extras, the
writer's own output, zip64 end records); mutations flip and overwrite bytes,
insert and delete ranges, truncate, and corrupt the numeric fields of the end
record and the central directory where damage reaches the parsers. Unpacking a
mutated zip must also leave nothing outside its target and no staging
directory or spooled copy.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zipbuild import DEFLATED, ZEntry, build_zip, ext_time, ntfs_time, unix2, unix3

from r2k8s.core.errors import R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.ingest import ingest_zip
from r2k8s.core.ware.unpack import unpack_zip
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.ware.zip.writer import ZipWriter

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = b"fuzz me " * 300


def _writer_zip(count: int) -> bytes:
    out = io.BytesIO()
    writer = ZipWriter(out)
    writer.add(Metadata(".", "d", 0o755, 0, 0, mtime=1262304000))
    writer.add(Metadata("d", "d", 0o700, 70000, 5, mtime=1262304001))
    for i in range(count):
        writer.add(Metadata(f"d/f{i}", "f", 0o644, 1, 2, mtime=1262304000 + i))
        writer.write_content(TEXT[: i * 7])
    writer.add(Metadata("d/l", "L", 0o777, 0, 0, linkname="f0", mtime=5))
    writer.close()
    return out.getvalue()


SEEDS = [
    build_zip(
        [
            ZEntry("d/", mode=0o40755, extra=unix3(1, 2) + ext_time(1500000000)),
            ZEntry("d/a", TEXT, method=DEFLATED, extra=unix2(b"\0\0\0\0\x07\0\x08\0") + ntfs_time(1, 5)),
            ZEntry(
                "d/b",
                TEXT,
                method=DEFLATED,
                flags=8,
                descriptor=struct.pack("<IIII", 0x08074B50, zlib.crc32(TEXT), 0, 0),
            ),
            ZEntry("d/c", b"stored", flags=8, descriptor=struct.pack("<III", zlib.crc32(b"stored"), 6, 6)),
            ZEntry("d/l", b"a", mode=0o120777),
            ZEntry("e", b"", creator=0, external=0x01),
        ],
        comment=b"seed",
    ),
    _writer_zip(4),
    build_zip([ZEntry("x", b"")]),
]


def _mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, at, length, payload in ops:
        if not buf:
            break
        at %= len(buf)
        if op == 0:
            buf[at] ^= 1 << (length % 8)
        elif op == 1:
            buf[at : at + len(payload)] = payload
        elif op == 2:
            buf[at:at] = payload
        elif op == 3:
            del buf[at : at + length]
        elif op == 4:
            del buf[at:]
        else:  # a numeric field near the end (the end record, the last central headers) gets an extreme value
            end = max(0, len(buf) - 1 - (at % 200))
            buf[end : end + 4] = payload[:4].ljust(4, b"\xff")
    return bytes(buf)


OPS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2**20), st.integers(0, 64), st.binary(min_size=0, max_size=8)),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(st.sampled_from(range(len(SEEDS))), OPS)
def test_scanning_mutated_zips_returns_or_raises_r2k8serror(seed: int, ops: list[tuple[int, int, int, bytes]]) -> None:
    data = _mutate(SEEDS[seed], ops)
    try:
        result = ingest_zip(io.BytesIO(data), flt.UNPACK_LOSSLESS)
    except R2k8sError:
        return
    assert result.prefilter_id.packtype == "zip" and result.prefilter_id.hash


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_scanning_arbitrary_bytes_returns_or_raises_r2k8serror(data: bytes) -> None:
    with contextlib.suppress(R2k8sError):
        ingest_zip(io.BytesIO(b"PK\x03\x04" + data), flt.UNPACK_LOSSLESS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), OPS)
def test_unpacking_mutated_zips_stays_inside_and_cleans_up(seed: int, ops: list[tuple[int, int, int, bytes]]) -> None:
    data = _mutate(SEEDS[seed], ops)
    with tempfile.TemporaryDirectory() as work:
        arena = Path(work)
        (arena / "outside").mkdir()
        target = arena / "target"
        try:
            ware = ingest_zip(io.BytesIO(data), flt.UNPACK_LOSSLESS).prefilter_id
        except R2k8sError:
            ware = WareID("zip", "6c1eVnQ9NutqZSMD5gimy72u3gZMcp4mFAVbQhAkpwTvTH1CCnGgL6yvBJ6MNkWUYZ")
        try:
            unpack_zip(ware, io.BytesIO(data), target, flt.UNPACK_LOWPRIV)
        except R2k8sError:
            assert sorted(os.listdir(arena)) == ["outside"]
        else:
            assert sorted(os.listdir(arena)) == ["outside", "target"]
        assert os.listdir(arena / "outside") == []


def test_the_seeds_are_valid_wares() -> None:
    """Without this, the fuzzing above could be exercising nothing but the first refusal."""
    for data in SEEDS:
        assert ingest_zip(io.BytesIO(data), flt.UNPACK_LOSSLESS).entries >= 1
