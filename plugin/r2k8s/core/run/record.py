"""The run record repeatr prints on stdout, byte for byte (reference §3.1-3.2).

``repeatr run`` prints ``FormulaRunRecord`` (go-timeless-api ``formula.go``)
through refmt's JSON encoder (pinned refmt 26ba426) in pretty mode: a
newline after every ``{``/``,``, four spaces per nesting level, ``": "``
between key and value, ``{}`` for an empty map and one ``"\\n"`` after the
closing brace.  Keys come in struct order; ``hostname`` and ``metadata`` are
``omitempty`` (an empty string or a nil *or* empty map is left out); the
``results`` map is never omitted and prints ``null`` when nil.  Map keys are
sorted as Go sorts strings: by their bytes.

Python's ``json`` module escapes differently (``\\b``/``\\f`` instead of
``\\u0008``/``\\u000c``, U+2028/U+2029 left raw or all non-ASCII escaped,
lone surrogates kept instead of ``\\ufffd``), so the encoder follows
refmt's rules by hand instead.

Strings are Python ``str``; bytes that are not UTF-8 (a Go string may hold
any bytes) travel as ``surrogateescape``'d code points, the way
``os.fsdecode`` hands them over, and come out as ``\\ufffd`` like refmt's.

``new_guid`` reproduces rio ``lib/guid/guid.go``: the ids repeatr puts in
``guid``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "GUID_ALPHABET",
    "RunRecord",
    "RunRecordError",
    "from_json",
    "go_sorted",
    "new_guid",
    "quote_string",
    "to_compact_json",
    "to_json",
]


@dataclass
class RunRecord:
    """``FormulaRunRecord``; fields in the order repeatr serialises them.

    ``results`` is ``None`` when the run failed before packing (prints
    ``null``), ``{}`` when the formula has no outputs.  ``metadata`` is never
    set by repeatr; ``None`` and ``{}`` both leave it out of the output.
    """

    guid: str
    time: int
    formula_id: str
    exit_code: int
    results: dict[str, str] | None
    hostname: str = ""
    metadata: dict[str, str] | None = None


# --------------------------------------------------------------------------
# Encoding.

_INDENT = "    "
_HEX = "0123456789abcdef"


def _go_bytes(s: str) -> bytes:
    """The bytes a Go string would hold for ``s``.

    ``surrogateescape`` code points (U+DC80..U+DCFF) are raw bytes; any other
    lone surrogate is written the way Go's ``string(rune)`` never could,
    as its 3-byte (invalid) UTF-8 form, which the encoder then replaces.
    """
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        out = bytearray()
        for ch in s:
            cp = ord(ch)
            if 0xDC80 <= cp <= 0xDCFF:
                out.append(cp - 0xDC00)
            else:
                out += ch.encode("utf-8", "surrogatepass")
        return bytes(out)


def _utf8_len(lead: int) -> int:
    """Sequence length a lead byte announces; 0 if it cannot start one."""
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def _emit_string(s: str) -> str:
    """Quote ``s`` exactly as refmt ``emitString`` does.

    Escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``; other bytes below
    0x20 as ``\\u00xx``; each byte Go's ``utf8.DecodeRuneInString`` rejects
    (size 1 error) as ``\\ufffd``; U+2028/U+2029 as ``\\u2028``/``\\u2029``.
    Everything else, non-ASCII included, is copied through.  Python's strict
    UTF-8 decoder rejects the same sequences Go does (overlongs, surrogates,
    beyond U+10FFFF), so it serves as the validity check.
    """
    data = _go_bytes(s)
    out: list[str] = ['"']
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            if b == 0x22:
                out.append('\\"')
            elif b == 0x5C:
                out.append("\\\\")
            elif b == 0x0A:
                out.append("\\n")
            elif b == 0x0D:
                out.append("\\r")
            elif b == 0x09:
                out.append("\\t")
            elif b < 0x20:
                out.append("\\u00" + _HEX[b >> 4] + _HEX[b & 0xF])
            else:
                out.append(chr(b))
            i += 1
            continue
        size = _utf8_len(b)
        try:
            ch = data[i : i + size].decode("utf-8") if size and i + size <= n else None
        except UnicodeDecodeError:
            ch = None
        if ch is None:
            out.append("\\ufffd")
            i += 1
        elif ch in ("\u2028", "\u2029"):
            out.append(f"\\u{ord(ch):04x}")
            i += size
        else:
            out.append(ch)
            i += size
    out.append('"')
    return "".join(out)


def _emit_map(m: dict[str, str], depth: int, compact: bool = False) -> str:
    """A string→string map at nesting ``depth`` (the record itself is 0); ``compact``: no white space at all."""
    if not m:
        return "{}"
    inner = "" if compact else "\n" + _INDENT * (depth + 1)
    colon = ":" if compact else ": "
    entries = [inner + _emit_string(k) + colon + _emit_string(m[k]) for k in sorted(m, key=_go_bytes)]
    return "{" + ",".join(entries) + ("" if compact else "\n" + _INDENT * depth) + "}"


def quote_string(s: str) -> str:
    """``s`` as a JSON string, escaped exactly as refmt escapes it (for the other refmt output: events)."""
    return _emit_string(s)


def go_sorted(m: dict[str, str]) -> dict[str, str]:
    """``m`` with its keys in the order refmt writes a Go map's: by their bytes."""
    return {k: m[k] for k in sorted(m, key=_go_bytes)}


def _fields(record: RunRecord, compact: bool) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = [
        ("guid", _emit_string(record.guid)),
        ("time", str(int(record.time))),
        ("formulaID", _emit_string(record.formula_id)),
        ("exitCode", str(int(record.exit_code))),
        ("results", "null" if record.results is None else _emit_map(record.results, 1, compact)),
    ]
    if record.hostname:
        fields.append(("hostname", _emit_string(record.hostname)))
    if record.metadata:
        fields.append(("metadata", _emit_map(record.metadata, 1, compact)))
    return fields


def to_json(record: RunRecord) -> str:
    """The record exactly as ``repeatr run`` writes it to stdout, trailing newline included."""
    body = ",".join("\n" + _INDENT + _emit_string(k) + ": " + v for k, v in _fields(record, compact=False))
    return "{" + body + "\n}\n"


def to_compact_json(record: RunRecord) -> str:
    """The record as repeatr's memo file holds it: refmt's JSON encoder without options (no white space, no
    trailing newline), the same escaping as :func:`to_json`."""
    return "{" + ",".join(_emit_string(k) + ":" + v for k, v in _fields(record, compact=True)) + "}"


# --------------------------------------------------------------------------
# Decoding (a record read back from a pod log or a memo file).


class RunRecordError(ValueError):
    """Text that is not a run record.

    A ``ValueError``, like the ``json.JSONDecodeError`` malformed text raises,
    so a caller scanning a log catches one type for both.
    """


def _str_map(value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise RunRecordError(f"runrecord {key!r} must be a map of strings to strings")
    return dict(value)


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RunRecordError(f"runrecord {key!r} must be an integer, got {value!r}")
    return value


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise RunRecordError(f"runrecord {key!r} must be a string, got {value!r}")
    return value


def from_json(text: str | bytes) -> RunRecord:
    """Parse a record printed by ``to_json`` (or repeatr; pretty or compact).

    Raises ``ValueError``: ``json.JSONDecodeError`` on malformed text,
    ``RunRecordError`` on wrong field types.  Unknown keys are rejected, as refmt's
    struct unmarshaller rejects them.  Absent ``results`` is ``None``, as Go
    leaves a nil map; absent ``hostname``/``metadata`` take their defaults.
    """
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise RunRecordError("runrecord must be a JSON object")
    known = {"guid", "time", "formulaID", "exitCode", "results", "hostname", "metadata"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise RunRecordError(f"runrecord has unknown keys {unknown}")
    results = doc.get("results")
    metadata = doc.get("metadata")
    return RunRecord(
        guid=_str(doc.get("guid", ""), "guid"),
        time=_int(doc.get("time", 0), "time"),
        formula_id=_str(doc.get("formulaID", ""), "formulaID"),
        exit_code=_int(doc.get("exitCode", 0), "exitCode"),
        results=None if results is None else _str_map(results, "results"),
        hostname=_str(doc.get("hostname", ""), "hostname"),
        metadata=None if metadata is None else _str_map(metadata, "metadata"),
    )


# --------------------------------------------------------------------------
# GUIDs (rio lib/guid/guid.go).

#: rio's base32: ASCII-ordered, without i, j, l, u.
GUID_ALPHABET = "0123456789abcdefghkmnopqrstvwxyz"
_RADIX = 32
_RAND_LEN = 16


class _Chooser(Protocol):
    """Anything with ``choice``: the ``secrets`` module or a ``random.Random``."""

    def choice(self, seq: Sequence[int], /) -> int: ...


_lock = threading.Lock()
_last_ms: int | None = None
_last_digits: list[int] = [0] * _RAND_LEN


def new_guid(now_ms: int | None = None, rng: _Chooser = secrets) -> str:
    """A guid in rio's format: ``tttttttt-rrrrrrrr-rrrrrrrr``.

    ``tttttttt`` is the Unix time in milliseconds modulo 32**8 (it wraps
    about every 34.8 years; rio drops the high bits the same way), most
    significant digit first.  The 16 random digits read as one big-endian
    base-32 number; within one millisecond rio does not redraw them but
    adds one to that number (carrying, wrapping to zero), so ids made in
    the same millisecond still sort in creation order.  The state is
    per-process and locked, as rio's is.
    """
    global _last_ms
    ms = _time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if ms < 0:
        raise ValueError(f"guid time must not be negative, got {ms}")
    with _lock:
        if ms == _last_ms:
            for i in range(_RAND_LEN):
                _last_digits[i] += 1
                if _last_digits[i] < _RADIX:
                    break
                _last_digits[i] = 0
        else:
            _last_ms = ms
            for i in range(_RAND_LEN):
                _last_digits[i] = rng.choice(range(_RADIX))
        # _last_digits[0] is the least significant digit, the id's last char.
        rand = "".join(GUID_ALPHABET[d] for d in reversed(_last_digits))
    t = ms % (_RADIX**8)
    stamp = []
    for _ in range(8):
        t, digit = divmod(t, _RADIX)
        stamp.append(GUID_ALPHABET[digit])
    return "".join(reversed(stamp)) + "-" + rand[:8] + "-" + rand[8:]
