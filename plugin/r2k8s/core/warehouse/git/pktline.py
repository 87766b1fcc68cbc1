"""git's pkt-line framing and side-band demultiplexing (``Documentation/gitprotocol-common.txt``).

A pkt-line is four hex digits giving its length (the four included), then
the payload; ``0000`` is a flush, ``0001`` a delimiter (protocol v2), ``0002``
a response-end. A fetch response carries the pack inside pkt-lines whose
first byte is a side-band channel: 1 pack data, 2 progress text, 3 an error
the server hit. :class:`SidebandReader` turns that back into the plain pack
stream the indexer reads, so the pack is streamed, never held in memory.

Everything that arrives is the warehouse's word; a framing that makes no sense
is the warehouse's fault (``rio-warehouse-unavailable``), not the ware's: the
pack's own checksum decides whether the ware is corrupt.

Standard library only.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from typing import Any, BinaryIO

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError

__all__ = [
    "DELIM",
    "FLUSH",
    "MAX_PKT",
    "RESPONSE_END",
    "PktReader",
    "SidebandReader",
    "encode",
    "encode_lines",
]

FLUSH = b"0000"
DELIM = b"0001"
RESPONSE_END = b"0002"
MAX_PKT = 65520
"""The largest pkt-line git sends or accepts, length prefix included."""

_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE


def encode(payload: bytes | str) -> bytes:
    """One data pkt-line around ``payload`` (a ``str`` is UTF-8)."""
    data = payload.encode() if isinstance(payload, str) else payload
    if len(data) + 4 > MAX_PKT:
        raise ValueError(f"pkt-line payload of {len(data)} bytes is too long")
    return b"%04x" % (len(data) + 4) + data


def encode_lines(lines: Iterable[str]) -> bytes:
    """Each line as a pkt-line ending in ``\\n``, as git's text pkt-lines do."""
    return b"".join(encode(line + "\n") for line in lines)


class PktReader:
    """Reads pkt-lines from ``stream``: :meth:`read` returns the payload, or ``None`` for a special packet.

    ``last_special`` says which special packet (``FLUSH``, ``DELIM``,
    ``RESPONSE_END``) ended the last :meth:`read` that returned ``None``.
    """

    def __init__(self, stream: BinaryIO, where: str) -> None:
        self._stream = stream
        self._where = where
        self.last_special = b""
        self._back: bytes | None = None

    def push_back(self, payload: bytes) -> None:
        """Make ``payload`` the next :meth:`read`'s result again (one packet of look-ahead)."""
        self._back = payload

    def _exact(self, count: int) -> bytes:
        chunks: list[bytes] = []
        left = count
        while left:
            chunk = self._stream.read(left)
            if not chunk:
                raise R2k8sError(
                    _UNAVAILABLE, f"{self._where}: the response ended in the middle of a pkt-line (the server hung up)"
                )
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read(self, *, eof_ok: bool = False) -> bytes | None:
        """The next payload; ``None`` for a flush/delim/response-end, or at a clean end when ``eof_ok``."""
        if self._back is not None:
            payload, self._back = self._back, None
            return payload
        head = self._stream.read(4)
        if not head and eof_ok:
            self.last_special = b""
            return None
        if len(head) < 4:
            head += self._exact(4 - len(head)) if head else self._exact(4)
        try:
            size = int(head, 16)
        except ValueError:
            raise R2k8sError(
                _UNAVAILABLE, f"{self._where}: the server sent {head!r} where a pkt-line length belongs"
            ) from None
        if head[:1] in (b"+", b"-") or head.strip() != head:
            raise R2k8sError(_UNAVAILABLE, f"{self._where}: the server sent {head!r} as a pkt-line length")
        if size < 4:
            self.last_special = head
            if size == 3:
                raise R2k8sError(_UNAVAILABLE, f"{self._where}: the server sent the invalid pkt-line length 0003")
            return None
        if size > MAX_PKT:
            raise R2k8sError(_UNAVAILABLE, f"{self._where}: the server sent a pkt-line of {size} bytes (max {MAX_PKT})")
        return self._exact(size - 4)

    def read_text(self, *, eof_ok: bool = False) -> str | None:
        """:meth:`read` as text without its trailing newline."""
        data = self.read(eof_ok=eof_ok)
        if data is None:
            return None
        return data.decode("utf-8", "replace").removesuffix("\n")


class SidebandReader(io.RawIOBase):
    """The pack inside a side-band stream: channel 1's bytes, until the flush that ends it.

    Channel 2 (progress) goes to ``log`` a line at a time; channel 3 (the
    server's error) is ``rio-warehouse-unavailable`` with the server's words.
    ``cancel``, when set, stops the transfer at the next packet
    (``rio-cancelled``). ``received`` counts the pack bytes delivered.
    """

    def __init__(
        self, packets: PktReader, where: str, log: LogFn | None = None, cancel: threading.Event | None = None
    ) -> None:
        self._packets = packets
        self._where = where
        self._log = log
        self._cancel = cancel
        self._pending = memoryview(b"")
        self._progress = b""
        self._done = False
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._done:
                return 0
            self._next_packet()
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _next_packet(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise R2k8sError(Category.CANCELLED, "cancelled while fetching")
        packet = self._packets.read(eof_ok=True)
        if packet is None:
            self._done = True
            self._flush_progress()
            return
        channel, data = packet[:1], packet[1:]
        if channel == b"\x01":
            self.received += len(data)
            self._pending = memoryview(data)
        elif channel == b"\x02":
            self._progress += data
            *lines, self._progress = self._progress.replace(b"\r", b"\n").split(b"\n")
            for line in lines:
                self._say(line)
        elif channel == b"\x03":
            message = data.decode("utf-8", "replace").strip()
            raise R2k8sError(_UNAVAILABLE, f"{self._where}: the server failed: {message}")
        else:
            raise R2k8sError(
                _UNAVAILABLE, f"{self._where}: a side-band packet on unknown channel {channel!r} (expected 1, 2 or 3)"
            )

    def _say(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if text and self._log is not None:
            self._log(f"info: {self._where}: remote: {text}")

    def _flush_progress(self) -> None:
        if self._progress:
            self._say(self._progress)
            self._progress = b""
