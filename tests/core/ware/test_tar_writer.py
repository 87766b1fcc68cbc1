"""The tar writer: every mtime it writes reads back as exactly the mtime that was hashed.

Regression: a negative mtime with nanoseconds went into its PAX record as
``-5.000000001`` for (-5 s, 1 ns), which Go's reader (and ours) read as
-5.000000001 s, i.e. (-6 s, 999999999 ns). Go's ``formatPAXTime`` writes
``-4.999999999``.
"""

from __future__ import annotations

import io
import tarfile
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.tar.compression import open_decompressed
from r2k8s.core.ware.tar.reader import TarReader
from r2k8s.core.ware.tar.writer import TarWriter


def _write(*entries: Metadata) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out)
    for meta in entries:
        writer.add(meta)
        if meta.type == fsmeta.FILE:
            writer.write_content(b"x" * meta.size)
    writer.close()
    return out.getvalue()


def _read_back(data: bytes) -> list[Metadata]:
    stream, _ = open_decompressed(io.BytesIO(data))
    return [entry.meta for entry in TarReader(stream)]


def _dir(mtime: int, mtime_ns: int) -> Metadata:
    return Metadata(name=".", type=fsmeta.DIR, perms=0o755, mtime=mtime, mtime_ns=mtime_ns)


@pytest.mark.parametrize(
    ("mtime", "mtime_ns", "record"),
    [
        (-5, 1, "-4.999999999"),
        (-1, 500_000_000, "-0.5"),
        (-1, 999_999_999, "-0.000000001"),
        (5, 1, "5.000000001"),
        (1234, 120_000_000, "1234.12"),
        (-5, 0, "-5"),
    ],
)
def test_pax_mtime_is_written_as_go_formats_it(mtime: int, mtime_ns: int, record: str) -> None:
    data = _write(_dir(mtime, mtime_ns))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
    assert member.pax_headers["mtime"] == record
    ((read_mtime, read_ns),) = [(m.mtime, m.mtime_ns) for m in _read_back(data)]
    assert (read_mtime, read_ns) == (mtime, mtime_ns)


def test_an_mtime_ustar_can_hold_gets_no_pax_record() -> None:
    data = _write(_dir(1_500_000_000, 0))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
    assert member.pax_headers == {}
    assert member.mtime == 1_500_000_000


@given(
    mtime=st.integers(min_value=-(2**40), max_value=2**40),
    mtime_ns=st.integers(min_value=0, max_value=999_999_999),
    size=st.integers(min_value=0, max_value=600),
)
def test_every_mtime_reads_back_exactly(mtime: int, mtime_ns: int, size: int) -> None:
    entries = [
        _dir(mtime, mtime_ns),
        Metadata(name="f", type=fsmeta.FILE, perms=0o644, mtime=mtime, mtime_ns=mtime_ns, size=size),
    ]
    assert [(m.name, m.mtime, m.mtime_ns, m.size) for m in _read_back(_write(*entries))] == [
        (".", mtime, mtime_ns, 0),
        ("f", mtime, mtime_ns, size),
    ]
    with tarfile.open(fileobj=io.BytesIO(_write(*entries))) as tar:  # the PAX text says that value, exactly
        for member in tar.getmembers():
            if "mtime" in member.pax_headers:
                assert Decimal(member.pax_headers["mtime"]) == mtime + Decimal(mtime_ns) / 1_000_000_000
            else:
                assert (member.mtime, mtime_ns) == (mtime, 0)
