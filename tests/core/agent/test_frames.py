"""The client <-> build agent framing.

Frames round-trip however the bytes are cut, and bytes from the network never crash it.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2k8s.core.agent.frames import (
    MAX_FRAME_BYTES,
    Frame,
    FrameDecoder,
    FramingError,
    decode_bytes,
    encode,
    encode_bytes,
    encode_raw,
)

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
frames = st.tuples(st.text(min_size=1, max_size=12), st.dictionaries(st.text(max_size=10), json_values, max_size=5))


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(st.lists(frames, max_size=8), st.lists(st.integers(min_value=0), max_size=12))
def test_frames_survive_any_cutting_of_the_stream(sent: list[tuple[str, dict]], points: list[int]) -> None:
    stream = b"".join(encode(kind, body) for kind, body in sent)
    decoder = FrameDecoder()
    received: list[Frame] = []
    for piece in cut(stream, points):
        received += decoder.feed(piece)
    decoder.finish()
    assert [(f.kind, dict(f.body)) for f in received] == [(kind, body) for kind, body in sent]


@given(st.binary(max_size=2000))
def test_bytes_travel_through_base64_exactly(data: bytes) -> None:
    frame = FrameDecoder().feed(encode("ware", {"data": encode_bytes(data)}))[0]
    assert decode_bytes(frame.body["data"]) == data


@given(st.text(max_size=200))
def test_lines_are_pure_ascii_whatever_the_text(text: str) -> None:
    line = encode("txt", {"msg": text})
    assert line.isascii() and line.count(b"\n") == 1 and line.endswith(b"\n")


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_random_bytes_give_frames_or_framing_error_never_anything_else(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_frame=256)
    try:
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                assert isinstance(frame.kind, str) and isinstance(frame.body, dict)
        decoder.finish()
    except FramingError:
        pass


@settings(max_examples=200)
@given(st.lists(frames, min_size=1, max_size=4), st.integers(min_value=0), st.binary(min_size=1, max_size=3))
def test_corrupting_a_stream_is_detected_or_harmless(sent: list[tuple[str, dict]], where: int, junk: bytes) -> None:
    stream = bytearray(b"".join(encode(kind, body) for kind, body in sent))
    at = where % len(stream)
    stream[at:at] = junk
    decoder = FrameDecoder()
    try:
        decoder.feed(bytes(stream))
        decoder.finish()
    except FramingError:
        pass


@pytest.mark.parametrize(
    "line, problem",
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", "exactly one key"),
        (b'{"a": {}, "b": {}}\n', "exactly one key"),
        (b'{"hb": 1}\n', "not a JSON object"),
        (b'{"hb": {"x": NaN}}\n', "not JSON"),
        ('{"hb": {"x": "\u00e9"}}\n'.encode(), "non-ASCII"),
    ],
)
def test_malformed_lines_are_named(line: bytes, problem: str) -> None:
    with pytest.raises(FramingError, match=problem):
        FrameDecoder().feed(line)


def test_a_line_over_the_limit_is_refused_before_its_end_arrives() -> None:
    decoder = FrameDecoder(max_frame=100)
    with pytest.raises(FramingError, match="longer than 100"):
        decoder.feed(b'{"ware":{"data":"' + b"A" * 200)


def test_the_writer_refuses_frames_the_reader_would_refuse() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode("ware", {"data": "A" * MAX_FRAME_BYTES})


def test_a_stream_cut_inside_a_frame_is_reported() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b'{"hb":{}}\n{"res') == [Frame("hb", {})]
    with pytest.raises(FramingError, match="ended inside a frame"):
        decoder.finish()


def test_base64_must_be_strict() -> None:
    with pytest.raises(FramingError, match="not valid base64"):
        decode_bytes("aGk=\n!")
    with pytest.raises(FramingError, match="not a base64 string"):
        decode_bytes(3)


def test_field_checks_types() -> None:
    frame = Frame("wareEnd", json.loads('{"size": true, "sha256": "x"}'))
    with pytest.raises(FramingError, match="'size' is missing or not a int"):
        frame.field("size", int)
    assert frame.field("sha256", str) == "x"


raw_frames = st.tuples(
    st.sampled_from(["ware", "x"]), st.dictionaries(st.sampled_from(["id", "n"]), st.text(max_size=5))
)


@given(
    st.lists(st.tuples(raw_frames, st.none() | st.binary(max_size=600)), max_size=6),
    st.lists(st.integers(0), max_size=12),
)
def test_raw_bytes_after_a_line_survive_any_cutting(sent: list, points: list[int]) -> None:
    """Frames with raw bytes (what the client sends a ware as) and plain ones, mixed, cut anywhere."""
    stream = b"".join(
        encode(kind, body) if data is None else encode_raw(kind, body, data) for (kind, body), data in sent
    )
    decoder = FrameDecoder()
    received: list[Frame] = []
    for piece in cut(stream, points):
        received += decoder.feed(piece)
    decoder.finish()
    expected = [(kind, body if data is None else {**body, "raw": len(data)}, data) for (kind, body), data in sent]
    assert [(f.kind, dict(f.body), f.data) for f in received] == expected


@pytest.mark.parametrize("count", ["-1", '"5"', "true", "1.5", str(1 << 20 + 1)])
def test_a_raw_byte_count_that_is_no_count_is_refused(count: str) -> None:
    with pytest.raises(FramingError, match="'raw' is not a byte count"):
        FrameDecoder().feed(b'{"ware":{"raw":' + count.encode() + b"}}\nxx")


def test_a_stream_cut_inside_raw_bytes_is_reported() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_raw("ware", {"id": "a"}, b"12345")[:-2]) == []
    with pytest.raises(FramingError, match="3 of its 5 raw bytes"):
        decoder.finish()


def test_the_writer_refuses_raw_bytes_the_reader_would_refuse() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_raw("ware", {}, bytes(MAX_FRAME_BYTES + 1))
