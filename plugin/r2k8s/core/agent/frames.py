"""The framing between ``r2k8s run`` and the build agent in its pod: one JSON object per line.

The client talks to the agent over the pod's attach stream: the client
writes to the container's stdin, the agent writes to its stdout. Both
directions use the same framing, chosen so that it survives every hop in
between (websocket frames that split or merge writes, the kubelet, the
container log that also records stdout) and stays readable in
``kubectl logs``:

* a frame is a single line: a JSON object with exactly one key, the frame's
  *kind*, whose value is a JSON object, the frame's *body*; then ``\\n``;
* lines are pure ASCII (non-ASCII is ``\\u`` escaped), so no UTF-8 sequence
  is ever cut in half by a chunk boundary;
* bytes (ware chunks, an action's output line that is not UTF-8) travel as
  base64 in a string, or as ``surrogateescape``'d text that JSON escapes;
* or, where nothing records the stream (the client's side: the container's
  stdin, which no log keeps), a frame's body may say ``"raw": N``: the N bytes
  after its line are the frame's :attr:`Frame.data`, as they are. A ware
  chunk then costs no base64 (a third more bytes through every hop) and no
  JSON string to scan, which made the framing, not the attach stream, the
  slowest part of sending an input (``bench/stream_wares.py --cluster``);
* a line, or a frame's raw bytes, longer than :data:`MAX_FRAME_BYTES` is an
  error, so a peer cannot make the reader buffer without bound.

Example: ``{"hb":{}}`` (a heartbeat) or
``{"ware":{"id":"tar:6q7G…","data":"H4sIAAAA…"}}`` (a chunk of a ware).

Anything else -- an incomplete line at the end of the stream, invalid
JSON, a JSON value that is not such an object -- raises
:class:`FramingError`, never another exception (a property test feeds the
decoder random bytes). Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DATA_CHUNK_BYTES",
    "MAX_FRAME_BYTES",
    "RAW_CHUNK_BYTES",
    "RAW_FIELD",
    "Frame",
    "FrameDecoder",
    "FramingError",
    "decode_bytes",
    "encode",
    "encode_bytes",
    "encode_raw",
]

MAX_FRAME_BYTES = 1 << 20
"""Longest line accepted (1 MiB): a 512 KiB data chunk in base64 plus room for its keys."""

DATA_CHUNK_BYTES = 192 * 1024
"""Raw bytes per ware chunk: 256 KiB of base64, well under :data:`MAX_FRAME_BYTES`."""

RAW_FIELD = "raw"
"""The body field saying how many raw bytes follow a frame's line."""

RAW_CHUNK_BYTES = 512 * 1024
"""Bytes per ware chunk sent raw (:func:`encode_raw`): fewer, larger frames, each well under the limit."""


class FramingError(ValueError):
    """The peer sent something that is not a frame (a bug or a corrupted stream: stop talking to it)."""


@dataclasses.dataclass(frozen=True)
class Frame:
    kind: str
    body: Mapping[str, Any]
    data: bytes | None = None
    """The raw bytes that followed the line, for a frame whose body said ``"raw": N``; else None."""

    def field(self, name: str, kind: type | tuple[type, ...]) -> Any:
        """The body's ``name``, checked to be of ``kind`` (``FramingError`` otherwise)."""
        value = self.body.get(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise FramingError(f"{self.kind!r} frame: field {name!r} is missing or not a {_names(kind)}")
        return value


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def encode(kind: str, body: Mapping[str, Any] | None = None) -> bytes:
    """One frame, as the line to write (ending in ``\\n``)."""
    line = json.dumps({kind: dict(body or {})}, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    data = line.encode("ascii") + b"\n"
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"{kind!r} frame of {len(data)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return data


def encode_raw(kind: str, body: Mapping[str, Any], data: bytes) -> bytes:
    """One frame carrying ``data`` as it is: its line (with ``"raw": len(data)``), then the bytes."""
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"{kind!r} frame of {len(data)} raw bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return encode(kind, {**body, RAW_FIELD: len(data)}) + data


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: Any, what: str = "data") -> bytes:
    """Strict base64 (no stray characters), raising ``FramingError``."""
    if not isinstance(text, str):
        raise FramingError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise FramingError(f"{what} is not valid base64: {exc}") from None


class FrameDecoder:
    """Turn a byte stream, cut anywhere, back into frames."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self.max_frame = max_frame
        self._pending = bytearray()
        self._awaiting: tuple[Frame, int] | None = None  # a frame whose raw bytes have not all arrived

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by ``data`` (possibly none)."""
        frames: list[Frame] = []
        start = 0
        buffer = self._pending
        buffer += data
        while True:
            if self._awaiting is not None:
                frame, size = self._awaiting
                if len(buffer) - start < size:
                    break
                frames.append(Frame(frame.kind, frame.body, bytes(buffer[start : start + size])))
                start += size
                self._awaiting = None
                continue
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if end - start + 1 > self.max_frame:
                raise FramingError(f"frame longer than {self.max_frame} bytes")
            frame = _parse_line(bytes(buffer[start:end]))
            start = end + 1
            raw = frame.body.get(RAW_FIELD)
            if raw is None:
                frames.append(frame)
            elif isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= self.max_frame:
                raise FramingError(f"frame {frame.kind!r}: {RAW_FIELD!r} is not a byte count up to {self.max_frame}")
            else:
                self._awaiting = frame, raw
        del buffer[:start]
        if self._awaiting is None and len(buffer) > self.max_frame:
            raise FramingError(f"frame longer than {self.max_frame} bytes (no end of line)")
        return frames

    def finish(self) -> None:
        """The stream ended: refuse a partial last frame (the peer died mid-write)."""
        if self._awaiting is not None:
            raise FramingError(
                f"stream ended inside a frame ({len(self._pending)} of its {self._awaiting[1]} raw bytes arrived)"
            )
        if self._pending:
            raise FramingError(f"stream ended inside a frame ({len(self._pending)} bytes of an unfinished line)")


def _parse_line(line: bytes) -> Frame:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise FramingError("frame has non-ASCII bytes") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise FramingError(f"frame is not JSON: {exc}") from None
    if not isinstance(value, dict) or len(value) != 1:
        raise FramingError("frame is not a JSON object with exactly one key")
    ((kind, body),) = value.items()
    if not isinstance(body, dict):
        raise FramingError(f"frame {kind!r}: its value is not a JSON object")
    return Frame(kind, body)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
