"""Git's binary delta format: a result rebuilt from a base by copy and insert instructions.

A delta starts with the base's size and the result's size (little-endian
base-128 varints), then instructions: a byte with the high bit set copies a
range of the base (offset and length bytes selected by its low seven bits,
length 0 meaning 65536); a byte 1-127 inserts that many literal bytes; 0 is
reserved. Every size is checked, and the declared result size is checked
against ``max_size`` before anything is built, so a small delta cannot make
a huge object. Standard library only.
"""

from __future__ import annotations

from r2k8s.core.errors import ware_corrupt

__all__ = ["apply_delta", "delta_sizes"]


def _varint(delta: bytes | bytearray | memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(delta):
            raise ware_corrupt("corrupt git delta: truncated size header")
        byte = delta[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at
        if shift > 63:
            raise ware_corrupt("corrupt git delta: size header too long")


def delta_sizes(delta: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """``(base size, result size, where the instructions start)``."""
    base_size, at = _varint(delta, 0)
    result_size, at = _varint(delta, at)
    return base_size, result_size, at


def apply_delta(
    base: bytes | bytearray | memoryview, delta: bytes | bytearray | memoryview, max_size: int
) -> bytearray:
    """The object ``delta`` makes of ``base``; a malformed delta or a size mismatch is a corrupt ware."""
    base_size, result_size, at = delta_sizes(delta)
    if base_size != len(base):
        raise ware_corrupt(f"corrupt git delta: it is for a base of {base_size} bytes, the base has {len(base)}")
    if result_size > max_size:
        raise ware_corrupt(
            f"git delta result of {result_size} bytes is over the {max_size}-byte limit for objects held in memory"
        )
    out = bytearray()
    end = len(delta)
    base_view = memoryview(base)
    delta_view = memoryview(delta)
    while at < end:
        cmd = delta[at]
        at += 1
        if cmd & 0x80:
            offset = length = 0
            for bit in range(4):
                if cmd & (1 << bit):
                    if at >= end:
                        raise ware_corrupt("corrupt git delta: truncated copy instruction")
                    offset |= delta[at] << (8 * bit)
                    at += 1
            for bit in range(3):
                if cmd & (0x10 << bit):
                    if at >= end:
                        raise ware_corrupt("corrupt git delta: truncated copy instruction")
                    length |= delta[at] << (8 * bit)
                    at += 1
            if length == 0:
                length = 0x10000
            if offset + length > base_size or len(out) + length > result_size:
                raise ware_corrupt("corrupt git delta: a copy instruction is out of range")
            out += base_view[offset : offset + length]
        elif cmd:
            if at + cmd > end or len(out) + cmd > result_size:
                raise ware_corrupt("corrupt git delta: an insert instruction is out of range")
            out += delta_view[at : at + cmd]
            at += cmd
        else:
            raise ware_corrupt("corrupt git delta: reserved instruction 0")
    if len(out) != result_size:
        raise ware_corrupt(f"corrupt git delta: it declares {result_size} bytes and makes {len(out)}")
    return out  # not copied to bytes: that would hold the object twice
