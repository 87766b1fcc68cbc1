"""Zip scan and unpack stream: memory does not grow with the size of a ware.

The zip (one 256 MiB file of zeros, deflated to a few hundred KiB: what a
decompression bomb looks like, but honest about its size) is written to disk
in 1 MiB chunks; tracemalloc measures
what Python allocates while its content is inflated, hashed and written.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.ingest import ingest_zip
from r2k8s.core.ware.unpack import unpack_zip
from r2k8s.core.ware.zip.writer import ZipWriter

DEFLATED_SIZE = 256 << 20
LIMIT = 8 << 20  # generous: the reader's own chunks are 1 MiB
CHUNK = bytes(1 << 20)


def write_big_zip(path: Path) -> None:
    with open(path, "wb") as out:
        writer = ZipWriter(out)
        writer.add(Metadata(".", "d", 0o755, mtime=1262304000))
        writer.add(Metadata("big", "f", 0o644, mtime=1262304000))
        for _ in range(DEFLATED_SIZE // len(CHUNK)):
            writer.write_content(CHUNK)
        writer.close()


def peak_while(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scanning_and_unpacking_a_large_zip_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.zip"
    write_big_zip(path)
    assert path.stat().st_size < DEFLATED_SIZE // 100  # it really is deflated
    with open(path, "rb") as source:
        ware = ingest_zip(source, UNPACK_LOSSLESS).prefilter_id
    with open(path, "rb") as source:
        peak = peak_while(lambda: ingest_zip(source, UNPACK_LOSSLESS))
    assert peak < LIMIT, f"scan peaked at {peak} bytes"
    target = tmp_path / "out"
    with open(path, "rb") as source:
        peak = peak_while(lambda: unpack_zip(ware, source, target, UNPACK_LOSSLESS))
    assert peak < LIMIT, f"unpack peaked at {peak} bytes"
    assert (target / "big").stat().st_size == DEFLATED_SIZE
