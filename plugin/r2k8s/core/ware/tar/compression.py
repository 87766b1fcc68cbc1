"""Decompression sniffed from magic bytes, as rio's ``tar/compression.go`` does.

``BZh`` is bzip2, ``1f 8b 08`` gzip, ``fd 37 7a 58 5a 00`` xz, anything else is
read as a plain tar. Everything streams: the decompressors are the stdlib's
file objects, which keep only a small window in memory.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable
from typing import Protocol

from r2k8s.core.errors import ware_corrupt

__all__ = [
    "BZIP2_MAGIC",
    "DECOMPRESSION_ERRORS",
    "GZIP_MAGIC",
    "SNIFF_BYTES",
    "XZ_MAGIC",
    "ByteSource",
    "TarStream",
    "detect",
    "open_decompressed",
]

GZIP_MAGIC = b"\x1f\x8b\x08"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
SNIFF_BYTES = 10

#: Exceptions the stdlib decompressors raise on damaged input.
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


class ByteSource(Protocol):
    """What a ware is read from: a binary file, a response body, a raw stream (only ``read`` is needed).

    A source that also has ``readinto`` (most do) is read without an extra copy.
    """

    def read(self, size: int, /) -> bytes: ...


class TarStream(Protocol):
    """What :func:`open_decompressed` returns: a buffered binary stream.

    ``read`` and ``readinto`` return fewer bytes than asked only at the end of the stream.
    """

    def read(self, size: int, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int: ...


class _WriteableBuffer(Protocol):
    """typeshed's ``WriteableBuffer`` (``collections.abc.Buffer`` from Python 3.12): what ``memoryview()`` takes.

    Spelled out here because the core imports only the standard library, and ``_typeshed`` is not in it.
    """

    def __buffer__(self, flags: int, /) -> memoryview: ...


class _Prefixed(io.RawIOBase):
    """A raw stream that replays the sniffed bytes before the rest of ``source``."""

    def __init__(self, prefix: bytes, source: ByteSource) -> None:
        self._prefix = memoryview(prefix)
        self._source = source
        # Looked up once, not per read: with it the source fills the buffer without a copy.
        self._source_readinto: Callable[[_WriteableBuffer], int | None] | None = getattr(source, "readinto", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: _WriteableBuffer, /) -> int | None:
        if self._prefix:
            view = memoryview(buffer)
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        if self._source_readinto is not None:
            return self._source_readinto(buffer)
        view = memoryview(buffer)
        data = self._source.read(len(view))
        view[: len(data)] = data
        return len(data)


def detect(prefix: bytes) -> str:
    for name, magic in (("bzip2", BZIP2_MAGIC), ("gzip", GZIP_MAGIC), ("xz", XZ_MAGIC)):
        if prefix.startswith(magic):
            return name
    return "none"


def open_decompressed(source: ByteSource, buffer_size: int = 1 << 20) -> tuple[TarStream, str]:
    """Sniff ``source`` and return a readable stream of tar bytes plus the compression name."""
    prefix = b""
    while len(prefix) < SNIFF_BYTES:
        chunk = source.read(SNIFF_BYTES - len(prefix))
        if not chunk:
            break
        prefix += chunk
    if len(prefix) < SNIFF_BYTES:
        raise ware_corrupt(f"corrupt tar compression: stream is only {len(prefix)} bytes long")
    kind = detect(prefix)
    raw = io.BufferedReader(_Prefixed(prefix, source), buffer_size)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb"), kind
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb"), kind
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb"), kind
    return raw, kind
