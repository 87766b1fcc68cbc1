"""Wares over frames: the transfer both ends of the build conversation speak, written once.

``r2k8s run`` streams to the build agent the wares only the client can read
(each named by its ware ID, in the field ``id``); the agent sends back the
packed outputs the client saves itself (each named by its output path, in
``path``). Either way one ware travels as (frames of
:mod:`r2k8s.core.agent.frames`)::

    wareBegin {KEY, size?}                 size: when the sender knows it (for progress only)
    ware      {KEY, data}                  a chunk of at most DATA_CHUNK_BYTES, base64
    ware      {KEY, raw: N} + N bytes      or, where the stream allows it, RAW_CHUNK_BYTES as they are
    ...
    wareEnd   {KEY, ..., size, sha256}     what was sent: its byte count and SHA-256 (hex)

and the receiver compares what arrived with the ``wareEnd`` before it uses
the ware. The client sends raw chunks (the pod's stdin is recorded nowhere);
the agent sends base64, because its stdout is also the container's log.
:func:`send_ware` is the sending loop and :class:`WareInbox` the receiving
end; what differs between the two ends (the key, where the bytes go, what a
damaged ware means, progress, cancellation) is theirs to pass in.
Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from r2k8s.core.agent.frames import (
    DATA_CHUNK_BYTES,
    RAW_CHUNK_BYTES,
    Frame,
    FramingError,
    decode_bytes,
    encode_bytes,
)

__all__ = ["WARE_FRAMES", "IncomingWare", "SendFn", "SendRawFn", "WareInbox", "send_ware"]

WARE_FRAMES = ("wareBegin", "ware", "wareEnd")
"""The kinds of frame that carry wares."""

SendFn = Callable[[str, dict[str, Any]], object]
"""Writes one frame (kind, body) to the peer."""

SendRawFn = Callable[[str, dict[str, Any], bytes], object]
"""Writes one frame (kind, body) followed by raw bytes (:func:`r2k8s.core.agent.frames.encode_raw`)."""


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


SinkT = TypeVar("SinkT", bound=_Writable)


def _nothing() -> None:
    pass


def _ignore(_sent: int) -> None:
    pass


def send_ware(
    send: SendFn,
    key: Mapping[str, str],
    reader: _Readable,
    size: int | None = None,
    *,
    end: Mapping[str, Any] | None = None,
    before_chunk: Callable[[], None] = _nothing,
    sent: Callable[[int], None] = _ignore,
    send_raw: SendRawFn | None = None,
) -> int:
    """Send the ware ``reader`` holds as ``wareBegin``, ``ware``… and ``wareEnd`` frames; return its size.

    ``key`` is the field naming the ware in every frame (``{"id": ware}`` or
    ``{"path": path}``); ``size``, when known, goes into ``wareBegin``;
    ``end`` adds fields to ``wareEnd``, before its ``size`` and ``sha256``.
    ``before_chunk`` runs before each chunk is sent and raises to abandon the
    ware (no ``wareEnd`` follows); ``sent`` is told the bytes sent so far
    after each chunk. With ``send_raw``, chunks go as raw bytes after their
    frame's line instead of base64 in it.
    """
    send("wareBegin", {**key, **({"size": size} if size is not None else {})})
    digest, count = hashlib.sha256(), 0
    while chunk := reader.read(DATA_CHUNK_BYTES if send_raw is None else RAW_CHUNK_BYTES):
        before_chunk()
        digest.update(chunk)
        count += len(chunk)
        if send_raw is None:
            send("ware", {**key, "data": encode_bytes(chunk)})
        else:
            send_raw("ware", {**key}, chunk)
        sent(count)
    send("wareEnd", {**key, **(end or {}), "size": count, "sha256": digest.hexdigest()})
    return count


@dataclasses.dataclass(eq=False)
class IncomingWare(Generic[SinkT]):
    """One ware arriving: its bytes go to ``sink`` while their count and SHA-256 are kept."""

    key: str
    sink: SinkT
    announced: int | None = None
    """The size ``wareBegin`` announced, if any (for progress: it is not checked)."""
    received: int = 0
    sent: tuple[int, str] | None = None
    """The ``(size, sha256)`` its ``wareEnd`` says was sent; ``None`` until then."""
    _digest: Any = dataclasses.field(default_factory=hashlib.sha256, init=False, repr=False)

    def write(self, data: bytes) -> None:
        self.sink.write(data)
        self._digest.update(data)
        self.received += len(data)

    @property
    def sha256(self) -> str:
        """The SHA-256 (hex) of what arrived so far."""
        return str(self._digest.hexdigest())

    @property
    def done(self) -> bool:
        """Its ``wareEnd`` has arrived."""
        return self.sent is not None

    @property
    def intact(self) -> bool:
        """Done, and what arrived is what the sender says it sent."""
        return self.sent == (self.received, self.sha256)


class WareInbox(Generic[SinkT]):
    """The receiving end: ``wareBegin``/``ware``/``wareEnd`` frames of any number of wares, one at a time.

    ``key_field`` names the body field that says which ware a frame is for;
    ``noun`` names such a ware in errors (``'ware' for output '/out' outside
    its transfer``). ``open_sink(key, frame)`` is called for each
    ``wareBegin`` and returns where the bytes go, or raises
    :class:`FramingError` for a ware that is not expected; ``on_data`` is
    called after each chunk. Wares stay in :attr:`wares` once done, until
    the owner removes them.
    """

    def __init__(
        self,
        key_field: str,
        noun: str,
        open_sink: Callable[[str, Frame], SinkT],
        on_data: Callable[[IncomingWare[SinkT]], None] | None = None,
    ) -> None:
        self.key_field = key_field
        self.noun = noun
        self.open_sink = open_sink
        self.on_data = on_data
        self.wares: dict[str, IncomingWare[SinkT]] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.wares

    def all_done(self, keys: Iterable[str]) -> bool:
        """Every one of ``keys`` has arrived whole (its ``wareEnd`` too)."""
        return all(key in self.wares and self.wares[key].done for key in keys)

    def handle(self, frame: Frame) -> IncomingWare[SinkT] | None:
        """Take one ware frame; return the ware its ``wareEnd`` ends (check :attr:`IncomingWare.intact`).

        Raises :class:`FramingError` for a frame out of place or malformed.
        """
        key = frame.field(self.key_field, str)
        if frame.kind == "wareBegin":
            size = frame.body.get("size")
            announced = size if isinstance(size, int) and not isinstance(size, bool) else None
            self.wares[key] = IncomingWare(key, self.open_sink(key, frame), announced)
            return None
        ware = self.wares.get(key)
        if frame.kind not in WARE_FRAMES or ware is None or ware.done:
            raise FramingError(f"{frame.kind!r} for {self.noun} {key!r} outside its transfer")
        if frame.kind == "ware":
            data = (
                frame.data
                if frame.data is not None
                else decode_bytes(frame.body.get("data"), f"{self.noun} {key} data")
            )
            ware.write(data)
            if self.on_data is not None:
                self.on_data(ware)
            return None
        ware.sent = (frame.field("size", int), frame.field("sha256", str))
        return ware
