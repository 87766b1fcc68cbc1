"""Sniffing and decompressing: every kind of source reads to the same tar bytes.

``open_decompressed`` takes anything with ``read``: a file or ``BytesIO``
(``readinto`` fills the buffer directly), a raw stream whose reads come back
short, or an object with ``read`` alone (copied through ``read``).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from tarbuild import COMPRESSIONS, D, F, make_tar

from r2k8s.core.errors import R2k8sError
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.tar.compression import open_decompressed

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CONTENT = bytes(range(256)) * 5000  # 1.2 MiB: more than one buffer of the decompressed stream
ENTRIES = [D("."), F("big", CONTENT), F("small", b"hello\n")]
PLAIN = make_tar(ENTRIES)


class ReadOnly:
    """A source with ``read`` and nothing else."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int, /) -> bytes:
        return self._stream.read(size)


class Trickle(io.RawIOBase):
    """A raw stream that returns at most 7 bytes a read, as a slow socket might."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        return self._stream.readinto(memoryview(buffer)[:7])


SOURCES = {"BytesIO": io.BytesIO, "read only": ReadOnly, "trickle": Trickle}


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_decompresses_to_the_same_tar(compression: str, source: str) -> None:
    stream, kind = open_decompressed(SOURCES[source](make_tar(ENTRIES, compression)))
    assert kind == compression
    data = bytearray()
    while chunk := stream.read(100_000):
        data += chunk
    assert bytes(data) == PLAIN


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_scans_to_the_same_id(source: str) -> None:
    expected = ingest_tar(io.BytesIO(PLAIN), UNPACK_LOSSLESS).prefilter_id
    for compression in COMPRESSIONS:
        assert ingest_tar(SOURCES[source](make_tar(ENTRIES, compression)), UNPACK_LOSSLESS).prefilter_id == expected


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_stream_shorter_than_the_sniff_is_corrupt(source: str) -> None:
    with pytest.raises(R2k8sError, match="stream is only 4 bytes long"):
        open_decompressed(SOURCES[source](b"\x1f\x8b\x08\x00"))
