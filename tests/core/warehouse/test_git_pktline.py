"""pkt-line framing and side-band demultiplexing: what a server sends, good and broken."""

from __future__ import annotations

import io
import threading

import pytest

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.warehouse.git.pktline import DELIM, FLUSH, PktReader, SidebandReader, encode, encode_lines


def reader(data: bytes) -> PktReader:
    return PktReader(io.BytesIO(data), "test warehouse")


def test_lines_round_trip_with_special_packets() -> None:
    packets = reader(encode_lines(["a", "bc"]) + DELIM + encode(b"\x00raw") + FLUSH)
    assert packets.read_text() == "a"
    assert packets.read_text() == "bc"
    assert packets.read() is None and packets.last_special == DELIM
    assert packets.read() == b"\x00raw"
    assert packets.read() is None and packets.last_special == FLUSH
    assert packets.read(eof_ok=True) is None


@pytest.mark.parametrize("data", [b"00", b"zzzz", b"0009abc", b"0003", b"fff0" + b"x" * 10, b"+004", b" 005x"])
def test_broken_framing_is_the_warehouses_fault(data: bytes) -> None:
    with pytest.raises(R2k8sError) as info:
        reader(data).read()
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE


def test_an_oversized_payload_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode(b"x" * 65520)


def test_sideband_yields_channel_one_logs_channel_two_and_stops_at_the_flush() -> None:
    lines: list[str] = []
    data = encode(b"\x01PACK") + encode(b"\x02Counting: 1\rCounting: 2\n") + encode(b"\x01rest") + FLUSH + b"junk"
    stream = SidebandReader(reader(data), "w", lines.append)
    assert stream.read() == b"PACKrest"
    assert stream.received == 8
    assert lines == ["info: w: remote: Counting: 1", "info: w: remote: Counting: 2"]


def test_channel_three_is_the_servers_error() -> None:
    stream = SidebandReader(reader(encode(b"\x01PA") + encode(b"\x03out of memory\n")), "w")
    with pytest.raises(R2k8sError) as info:
        stream.read()
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert "out of memory" in info.value.message


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(R2k8sError, match="unknown channel"):
        SidebandReader(reader(encode(b"\x07x")), "w").read()


@pytest.mark.parametrize("data", [b"0010\x01short", encode(b"\x01PACK")], ids=["mid-packet", "no-flush"])
def test_a_hang_up_is_unavailable_not_a_corrupt_pack(data: bytes) -> None:
    with pytest.raises(R2k8sError) as info:
        SidebandReader(reader(data), "w").read()
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE


def test_cancel_stops_at_the_next_packet() -> None:
    cancel = threading.Event()
    stream = SidebandReader(reader(encode(b"\x01a") + encode(b"\x01b") + FLUSH), "w", cancel=cancel)
    assert stream.read(1) == b"a"
    cancel.set()
    with pytest.raises(R2k8sError) as info:
        stream.read(1)
    assert info.value.category is Category.CANCELLED
