"""Wares over frames, as both ends of the build conversation send and receive them.

The frames' bytes are pinned (both ends spoke exactly these before the
transfer was written once); a ware arrives whole however it is chunked; a
damaged one is told apart; frames out of place are framing errors.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r2k8s.core.agent.frames import DATA_CHUNK_BYTES, Frame, FrameDecoder, FramingError, encode, encode_bytes
from r2k8s.core.agent.transfer import IncomingWare, WareInbox, send_ware


class Wire:
    """Frames as the peer would read them."""

    def __init__(self) -> None:
        self.data = bytearray()

    def send(self, kind: str, body: dict[str, Any]) -> None:
        self.data += encode(kind, body)

    def frames(self) -> list[Frame]:
        decoder = FrameDecoder()
        frames = decoder.feed(bytes(self.data))
        decoder.finish()
        return frames


def inbox(noun: str = "output", key_field: str = "path") -> tuple[WareInbox[io.BytesIO], list[str]]:
    opened: list[str] = []

    def open_sink(key: str, _frame: Frame) -> io.BytesIO:
        if key == "unexpected":
            raise FramingError(f"unexpected {noun} {key!r}")
        opened.append(key)
        return io.BytesIO()

    return WareInbox(key_field, noun, open_sink), opened


def deliver(box: WareInbox[io.BytesIO], frames: list[Frame]) -> list[IncomingWare[io.BytesIO]]:
    return [ended for frame in frames if (ended := box.handle(frame)) is not None]


def test_the_client_sends_an_input_as_it_always_has() -> None:
    wire = Wire()
    assert send_ware(wire.send, {"id": "tar:abc"}, io.BytesIO(b"xyz")) == 3
    digest = hashlib.sha256(b"xyz").hexdigest()
    assert bytes(wire.data) == (
        b'{"wareBegin":{"id":"tar:abc"}}\n'
        b'{"ware":{"id":"tar:abc","data":"eHl6"}}\n'
        b'{"wareEnd":{"id":"tar:abc","size":3,"sha256":"' + digest.encode() + b'"}}\n'
    )


def test_the_agent_sends_an_output_as_it_always_has() -> None:
    wire = Wire()
    send_ware(wire.send, {"path": "/out"}, io.BytesIO(b""), 0, end={"wareID": "tar:h"})
    digest = hashlib.sha256(b"").hexdigest()
    assert bytes(wire.data) == (
        b'{"wareBegin":{"path":"/out","size":0}}\n'
        b'{"wareEnd":{"path":"/out","wareID":"tar:h","size":0,"sha256":"' + digest.encode() + b'"}}\n'
    )


@given(st.binary(max_size=3 * DATA_CHUNK_BYTES // 2), st.booleans())
def test_a_ware_arrives_whole(data: bytes, announce: bool) -> None:
    wire, progress = Wire(), []
    send_ware(wire.send, {"path": "/o"}, io.BytesIO(data), len(data) if announce else None, sent=progress.append)
    box, _ = inbox()
    (ware,) = deliver(box, wire.frames())
    assert ware.sink.getvalue() == data
    assert ware.intact and ware.done and ware.received == len(data)
    assert ware.announced == (len(data) if announce else None)
    assert progress == [min(len(data), DATA_CHUNK_BYTES * (i + 1)) for i in range(len(progress))]
    assert box.all_done(["/o"]) and not box.all_done(["/o", "/p"])


def test_a_damaged_ware_is_told_apart() -> None:
    wire = Wire()
    send_ware(wire.send, {"id": "tar:x"}, io.BytesIO(b"payload"))
    frames = wire.frames()
    frames[1] = Frame("ware", {"id": "tar:x", "data": encode_bytes(b"paylo")})
    box, _ = inbox("ware", "id")
    (ware,) = deliver(box, frames)
    assert ware.done and not ware.intact
    assert ware.received == 5 and ware.sent == (7, hashlib.sha256(b"payload").hexdigest())


def test_before_chunk_abandons_the_ware_without_a_ware_end() -> None:
    wire = Wire()

    def stop() -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        send_ware(wire.send, {"id": "tar:x"}, io.BytesIO(b"payload"), before_chunk=stop)
    assert [frame.kind for frame in wire.frames()] == ["wareBegin"]


@pytest.mark.parametrize(
    ("frames", "problem"),
    [
        ([Frame("ware", {"path": "/o", "data": ""})], "'ware' for output '/o' outside its transfer"),
        ([Frame("wareEnd", {"path": "/o", "size": 0, "sha256": ""})], "'wareEnd' for output '/o' outside"),
        ([Frame("wareBegin", {"path": "unexpected"})], "unexpected output 'unexpected'"),
        ([Frame("wareBegin", {})], "field 'path' is missing"),
        ([Frame("wareBegin", {"path": "/o"}), Frame("ware", {"path": "/o", "data": "!"})], "output /o data is not"),
        ([Frame("wareBegin", {"path": "/o"}), Frame("wareEnd", {"path": "/o", "size": 0})], "field 'sha256'"),
        ([Frame("wareBegin", {"path": "/o"}), Frame("hb", {"path": "/o"})], "'hb' for output '/o' outside"),
    ],
)
def test_frames_out_of_place_are_framing_errors(frames: list[Frame], problem: str) -> None:
    box, _ = inbox()
    with pytest.raises(FramingError, match=problem):
        deliver(box, frames)


def test_a_malformed_ware_end_leaves_the_ware_unfinished() -> None:
    box, _ = inbox()
    box.handle(Frame("wareBegin", {"path": "/o", "size": "big"}))
    with pytest.raises(FramingError):
        box.handle(Frame("wareEnd", {"path": "/o", "size": 0}))
    assert "/o" in box and not box.wares["/o"].done  # still there for its owner to abort
    assert box.wares["/o"].announced is None  # a size that is not a number is only not announced
