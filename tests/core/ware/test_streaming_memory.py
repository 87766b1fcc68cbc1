"""Scanning and unpacking stream: memory does not grow with the size of a ware.

The tarball is generated on the fly (a header, then zeros), so neither the
test nor the code under test can hold it; tracemalloc measures what Python
allocates while 256 MiB of content flows through.
"""

from __future__ import annotations

import io
import tarfile
import tracemalloc
from pathlib import Path

from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.unpack import unpack_tar

SIZE = 256 << 20
LIMIT = 8 << 20  # generous: the reader's own buffer is 1 MiB


class ZeroFileTar(io.RawIOBase):
    """A plain tar holding one file of ``size`` zero bytes, produced as it is read."""

    def __init__(self, size: int) -> None:
        info = tarfile.TarInfo("big")
        info.size = size
        self._header = info.tobuf(format=tarfile.USTAR_FORMAT)
        self._remaining = size + (-size % 512) + 1024  # content, padding, end-of-archive
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._position < len(self._header):
            n = min(len(view), len(self._header) - self._position)
            view[:n] = self._header[self._position : self._position + n]
            self._position += n
            return n
        n = min(len(view), self._remaining)
        view[:n] = bytes(n)
        self._remaining -= n
        return n


def peak_while(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scanning_a_large_ware_keeps_memory_flat() -> None:
    result: list = []
    peak = peak_while(lambda: result.append(ingest_tar(io.BufferedReader(ZeroFileTar(SIZE)), UNPACK_LOSSLESS)))
    assert result[0].entries == 1
    assert peak < LIMIT, f"scanning {SIZE >> 20} MiB allocated {peak >> 20} MiB at peak"


def test_unpacking_a_large_ware_keeps_memory_flat(tmp_path: Path) -> None:
    ware = ingest_tar(io.BufferedReader(ZeroFileTar(SIZE)), UNPACK_LOSSLESS).prefilter_id
    peak = peak_while(lambda: unpack_tar(ware, io.BufferedReader(ZeroFileTar(SIZE)), tmp_path / "out", UNPACK_LOSSLESS))
    assert (tmp_path / "out" / "big").stat().st_size == SIZE
    assert peak < LIMIT, f"unpacking {SIZE >> 20} MiB allocated {peak >> 20} MiB at peak"
