"""The canonical-by-construction CBOR subset that repeatr and rio hash.

Only what the Timeless formats use: unsigned/negative integers with minimal
heads, byte and text strings, definite arrays and maps, booleans and null.
Map key order is the caller's: Go structs keep declaration order, Go maps are
sorted byte-wise (see :func:`sorted_map`). No floats, no tags, because the
hashed formats never contain them and silently accepting one would produce an
ID nothing else can reproduce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "BREAK",
    "INDEFINITE_ARRAY_START",
    "NULL",
    "encode",
    "encode_bytes",
    "encode_int",
    "encode_text",
    "head",
    "sorted_map",
]

NULL = b"\xf6"
INDEFINITE_ARRAY_START = b"\x9f"
BREAK = b"\xff"


def head(major: int, value: int) -> bytes:
    """A CBOR initial byte plus the shortest argument encoding of ``value``."""
    m = major << 5
    if value < 24:
        return bytes([m | value])
    if value < 0x100:
        return bytes([m | 24, value])
    if value < 0x10000:
        return bytes([m | 25]) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes([m | 26]) + value.to_bytes(4, "big")
    return bytes([m | 27]) + value.to_bytes(8, "big")


def encode_int(value: int) -> bytes:
    return head(0, value) if value >= 0 else head(1, -1 - value)


def encode_text(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    return head(3, len(raw)) + raw


def encode_bytes(value: bytes) -> bytes:
    return head(2, len(value)) + value


def encode(value: Any) -> bytes:
    """Encode a Python value; dicts keep their iteration order."""
    out = bytearray()
    _encode_into(out, value)
    return bytes(out)


def _encode_into(out: bytearray, value: Any) -> None:
    if value is None:
        out += NULL
    elif value is True:
        out += b"\xf5"
    elif value is False:
        out += b"\xf4"
    elif isinstance(value, int):
        out += encode_int(value)
    elif isinstance(value, str):
        out += encode_text(value)
    elif isinstance(value, (bytes, bytearray)):
        out += encode_bytes(bytes(value))
    elif isinstance(value, Mapping):
        out += head(5, len(value))
        for key, item in value.items():
            _encode_into(out, key)
            _encode_into(out, item)
    elif isinstance(value, Sequence):
        out += head(4, len(value))
        for item in value:
            _encode_into(out, item)
    else:
        raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def sorted_map(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A Go map as refmt emits it: keys sorted by plain byte-wise comparison."""
    return {k: mapping[k] for k in sorted(mapping, key=lambda k: k.encode("utf-8", "surrogateescape"))}
