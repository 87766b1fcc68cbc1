"""The lenient JSON dialect repeatr reads formula files with, plus source positions.

``repeatr run`` decodes formula files with refmt's JSON decoder at commit
``26ba426`` (``json/jsonDecoder.go``, ``jsonDecoderTerminals.go``), which is
more permissive than RFC 8259. Upstream example formulas depend on that, so
r2k8s must accept the same documents and read them the same way:

* **Trailing commas** are accepted: ``[1,]``, ``{"a":1,}``.
* **Missing commas** are accepted: ``[1 2]``, ``{"a":1 "b":2}``.
* **Literals are not spelled out**: after ``n`` the next 3 bytes are skipped
  unread (``null``), after ``t`` 3 bytes (``true``), after ``f`` 4 (``false``);
  so ``txyz`` is ``true``. Whatever those bytes are (quotes, brackets,
  newlines) they are swallowed.
* **A container that is an array element starts as if a comma had been seen**
  (the decoder sets its "some" flag on the new child): ``[[,1]]`` is
  ``[[1]]`` and ``[{,"a":1}]`` is ``[{"a":1}]``. A second comma is an error.
* **Numbers** follow Go's scanner: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?``,
  stopping *without error* at the first byte that does not fit. So ``01`` is
  the number ``0`` followed by the number ``1`` (see missing commas), and
  ``1.`` is the float ``1.0``. A number is an int when it fits int64
  (``ParseInt``), else a float (``ParseFloat``); ``-``, ``1e`` and overflow
  (``1e400``) are errors.
* **Strings**: raw bytes below 0x20 and unknown escapes are errors; invalid
  UTF-8 becomes U+FFFD *per byte* (Go's ``utf8.DecodeRune``, not Python's
  "maximal subpart" rule); ``\\u`` escapes that are not a valid surrogate pair
  become U+FFFD.
* **Whitespace** is only space, tab, CR and LF; a UTF-8 byte order mark is an
  error (as in repeatr).
* **Anything after the first complete value is ignored** (refmt stops reading
  there); :attr:`Document.trailing` tells where it starts so callers can warn.

Two things refmt "accepts" are rejected here, on purpose, because the result
refmt produces is not what any human reading the file would expect; rejecting
never yields a formula ID that differs from repeatr's, it only refuses a file:

* **Object keys that are not strings.** refmt parses a key as *any* value and
  throws away the error of a malformed one (``step_acceptMapKeyOrBreak``
  overwrites ``err``), re-using the *previous* token as the key: in
  ``{"A":"B", q:"C"}`` the key of ``"C"`` becomes ``"B"``. We report an error
  at the bad key instead.
* **Duplicate keys.** refmt's object mapper rejects a repeated key in a *map*
  (``repeated key "x"``) but, for *struct* fields, silently keeps the last
  scalar or list and *merges* repeated objects (``"action":{..}`` twice merges
  the two actions; ``"inputs"`` twice unions the maps). Which rule applies
  depends on the Go type behind the key, which a generic decoder cannot know,
  so the default here is to reject every duplicate key (``duplicates="error"``);
  ``duplicates="last"`` keeps the last value, as Python's :mod:`json` does.

Positions: every value's first byte is recorded by JSON path (``$.a["/x"][0]``)
and every object member's key likewise, so errors can say ``FILE:LINE:COL``.
Lines and columns are 1-based; a column counts characters, a tab is one.

Untrusted input: any byte string gives a :class:`Document` or raises
:class:`JsonSyntaxError` (a usage error carrying the position); nesting deeper
than ``max_depth`` is refused with a clear message rather than exhausting the
stack of whatever recursive code consumes the result (the decoder itself does
not recurse). Standard library only.
"""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.goparse import fits_int64
from r2k8s.core.jsonpath import JsonPath, json_path

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "Document",
    "JsonSyntaxError",
    "Position",
    "SourceMap",
    "loads",
]

"""A path into a decoded document: object keys (str) and array indexes (int)."""

DEFAULT_MAX_DEPTH = 64
"""Formulas nest five levels deep; 64 leaves room for other uses and stays far
below Python's recursion limit for the recursive code that walks the result."""

_WHITESPACE = b" \t\r\n"


@dataclasses.dataclass(frozen=True, order=True)
class Position:
    """A 1-based line and column (in characters) in a source text."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class SourceMap:
    """Where each value (and each object key) of a decoded document came from.

    Shared by the JSON decoder here and the YAML loader outside the core, so
    error reporting does not care which syntax a document was written in.
    Marks are stored raw (a byte offset for JSON, a ready Position for YAML)
    and converted only when an error needs them, so big inputs stay cheap.
    """

    def __init__(
        self,
        values: Mapping[JsonPath, Any] | None = None,
        keys: Mapping[JsonPath, Any] | None = None,
        to_position: Callable[[Any], Position] | None = None,
    ) -> None:
        self._values = dict(values or {})
        self._keys = dict(keys or {})
        self._to_position = to_position or (lambda mark: mark)

    def value(self, path: JsonPath) -> Position | None:
        """The start of the value at ``path``, or of its nearest recorded ancestor."""
        return self._find(path, prefer_key=False)

    def key(self, path: JsonPath) -> Position | None:
        """The start of the key naming ``path``; falls back like :meth:`value`."""
        return self._find(path, prefer_key=True)

    def _find(self, path: JsonPath, prefer_key: bool) -> Position | None:
        probe = tuple(path)
        if prefer_key and probe in self._keys:
            return self._to_position(self._keys[probe])
        while True:
            if probe in self._values:
                return self._to_position(self._values[probe])
            if not probe:
                return None
            probe = probe[:-1]


class JsonSyntaxError(R2k8sError):
    """The input is not in repeatr's JSON dialect; carries where, for ``FILE:LINE:COL``."""

    def __init__(self, source: str, position: Position, offset: int, problem: str) -> None:
        super().__init__(Category.USAGE, f"{source}:{position}: {problem}")
        self.source = source
        self.position = position
        self.offset = offset
        self.problem = problem


@dataclasses.dataclass
class Document:
    """A decoded document: the value, where its parts are, and where trailing bytes begin."""

    value: Any
    source_map: SourceMap
    trailing: Position | None
    """Position of the first non-whitespace byte after the value (refmt ignores it), if any."""


# -- Go-compatible string decoding ----------------------------------------------


def _go_replace(exc: UnicodeError) -> tuple[str, int]:
    # Go's utf8.DecodeRune yields (RuneError, 1) for any invalid sequence: one
    # U+FFFD per bad byte, then decoding resumes at the very next byte.
    assert isinstance(exc, UnicodeDecodeError)
    return "\ufffd", exc.start + 1


_GO_REPLACE = "r2k8s-go-utf8-replace"
codecs.register_error(_GO_REPLACE, _go_replace)


def _decode_utf8_go(raw: bytes) -> str:
    return raw.decode("utf-8", _GO_REPLACE)


def _read_u4(raw: bytes, at: int) -> int:
    """Go's getu4: the code unit of ``\\uXXXX`` at ``raw[at:]``, or -1."""
    chunk = raw[at : at + 6]
    if len(chunk) < 6 or chunk[0:2] != b"\\u":
        return -1
    try:
        return int(chunk[2:6].decode("ascii"), 16)
    except ValueError:
        return -1


_SIMPLE_ESCAPES = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}


def _unquote(raw: bytes) -> str:
    """refmt's parseString on bytes the scanner already validated (no quotes, sane escapes)."""
    if b"\\" not in raw:
        return _decode_utf8_go(raw)
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        slash = raw.find(b"\\", i)
        if slash < 0:
            out.append(_decode_utf8_go(raw[i:]))
            break
        if slash > i:
            out.append(_decode_utf8_go(raw[i:slash]))
        code = raw[slash + 1]
        if code != ord("u"):
            out.append(_SIMPLE_ESCAPES[code])
            i = slash + 2
            continue
        unit = _read_u4(raw, slash)
        i = slash + 6
        if 0xD800 <= unit <= 0xDFFF:
            low = _read_u4(raw, i)
            if 0xD800 <= unit < 0xDC00 and 0xDC00 <= low <= 0xDFFF:
                out.append(chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)))
                i += 6
            else:
                out.append("\ufffd")
        else:
            out.append(chr(unit))
    return "".join(out)


# -- the decoder ------------------------------------------------------------------


class _Frame:
    __slots__ = ("key", "key_offset", "kind", "path", "some", "value")

    def __init__(self, kind: str, value: Any, path: JsonPath, some: bool) -> None:
        self.kind = kind  # "arr" or "map"
        self.value = value
        self.path = path
        self.some = some  # refmt's "a value was seen, a comma may come"
        self.key: str | None = None  # map: the key awaiting its value
        self.key_offset = 0


class _Decoder:
    def __init__(self, data: bytes, source: str, max_depth: int, duplicates: str) -> None:
        self.data = data
        self.n = len(data)
        self.i = 0
        self.source = source
        self.max_depth = max_depth
        self.duplicates = duplicates
        self.values: dict[JsonPath, int] = {}
        self.keys: dict[JsonPath, int] = {}
        self._line_starts: list[int] | None = None

    # positions

    def position(self, offset: int) -> Position:
        if self._line_starts is None:
            starts = [0]
            find = self.data.find
            at = find(b"\n")
            while at >= 0:
                starts.append(at + 1)
                at = find(b"\n", at + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[line]
        column = len(self.data[start:offset].decode("utf-8", "replace")) + 1
        return Position(line + 1, column)

    def fail(self, offset: int, problem: str) -> JsonSyntaxError:
        offset = max(0, min(offset, self.n))
        return JsonSyntaxError(self.source, self.position(offset), offset, problem)

    # reading

    def next_nonws(self, expecting: str) -> int:
        data, i, n = self.data, self.i, self.n
        while i < n and data[i] in _WHITESPACE:
            i += 1
        if i >= n:
            self.i = i
            raise self.fail(n, f"unexpected end of input while expecting {expecting}")
        self.i = i + 1
        return data[i]

    # values

    def start_value(self, byte: int, path: JsonPath, depth: int, from_array: bool) -> tuple[bool, Any]:
        """Decode the value whose first byte (already consumed) is ``byte``.

        Returns (True, frame) when a container was opened, else (False, value).
        """
        offset = self.i - 1
        self.values[path] = offset
        if byte in (0x7B, 0x5B):  # { [
            if depth + 1 > self.max_depth:
                raise self.fail(offset, f"nesting deeper than {self.max_depth} levels is not accepted")
            kind = "map" if byte == 0x7B else "arr"
            # Quirk: a container opened as an array element starts with some=true.
            return True, _Frame(kind, {} if kind == "map" else [], path, some=from_array)
        if byte == 0x22:  # "
            return False, self.string(offset)
        if byte == 0x6E:  # n: 3 unchecked bytes
            self.i = min(self.i + 3, self.n)
            return False, None
        if byte == 0x74:  # t: 3 unchecked bytes
            self.i = min(self.i + 3, self.n)
            return False, True
        if byte == 0x66:  # f: 4 unchecked bytes
            self.i = min(self.i + 4, self.n)
            return False, False
        if byte == 0x2D or 0x30 <= byte <= 0x39:
            return False, self.number(offset)
        raise self.fail(offset, f"invalid byte {_show(byte)} while expecting the start of a value")

    def string(self, offset: int) -> str:
        data, n = self.data, self.n
        i = self.i
        start = i
        while True:
            if i >= n:
                raise self.fail(n, f"unexpected end of input inside a string (opened at {self.position(offset)})")
            c = data[i]
            if c == 0x22:
                break
            if c == 0x5C:
                i += 1
                if i >= n:
                    raise self.fail(n, "unexpected end of input inside a string escape")
                e = data[i]
                if e == 0x75:  # u + 4 hex digits
                    for k in range(1, 5):
                        if i + k >= n:
                            raise self.fail(n, "unexpected end of input inside a \\u escape")
                        if data[i + k] not in b"0123456789abcdefABCDEF":
                            raise self.fail(i + k, f"invalid byte {_show(data[i + k])} in \\u hexadecimal escape")
                    i += 5
                    continue
                if e not in b'bfnrt\\/"':
                    raise self.fail(i, f"invalid byte {_show(e)} in string escape sequence")
                i += 1
                continue
            if c < 0x20:
                raise self.fail(i, f"invalid unprintable byte {_show(c)} in string literal")
            i += 1
        self.i = i + 1
        return _unquote(data[start:i])

    def number(self, offset: int) -> int | float:
        data, n = self.data, self.n
        i = self.i  # first byte already consumed
        state = "neg" if data[offset] == 0x2D else ("0" if data[offset] == 0x30 else "1")
        while i < n:
            c = data[i]
            digit = 0x30 <= c <= 0x39
            nxt = None
            if state == "neg":
                nxt = "0" if c == 0x30 else ("1" if digit else None)
            elif state == "1" and digit:
                nxt = "1"
            elif state in ("1", "0"):
                nxt = "dot" if c == 0x2E else ("e" if c in (0x65, 0x45) else None)
            elif state == "dot":
                nxt = "dot0" if digit else None
            elif state == "dot0":
                nxt = "dot0" if digit else ("e" if c in (0x65, 0x45) else None)
            elif state == "e":
                nxt = "esign" if c in (0x2B, 0x2D) else ("e0" if digit else None)
            elif state in ("esign", "e0"):
                nxt = "e0" if digit else None
            if nxt is None:
                break  # refmt unreads this byte and parses what it has, error or not
            state = nxt
            i += 1
        self.i = i
        text = data[offset:i].decode("ascii")
        if state in ("0", "1"):
            value = int(text)
            if fits_int64(value):
                return value
        try:
            number = float(text)
        except ValueError:
            raise self.fail(offset, f"invalid number {text!r}") from None
        if number in (float("inf"), float("-inf")):
            raise self.fail(offset, f"number {text!r} is out of range")
        return number

    # containers

    def run(self) -> Any:
        byte = self.next_nonws("a value")
        opened, result = self.start_value(byte, (), 0, from_array=False)
        if not opened:
            return result
        root = result
        stack: list[_Frame] = [root]
        while stack:
            frame = stack[-1]
            child = self.step(frame, len(stack))
            if child is _CLOSED:
                stack.pop()
                if stack:
                    stack[-1].some = True  # refmt's Step sets some=true on pop
            elif child is not None:
                stack.append(child)
        return root.value

    def step(self, frame: _Frame, depth: int) -> Any:
        if frame.kind == "arr":
            byte = self.next_nonws("a value or ']'")
            if frame.some:
                if byte == 0x5D:
                    return _CLOSED
                if byte == 0x2C:
                    byte = self.next_nonws("a value or ']'")
            if byte == 0x5D:
                return _CLOSED
            index = len(frame.value)
            opened, result = self.start_value(byte, frame.path + (index,), depth, from_array=True)
            frame.some = True
            if opened:
                frame.value.append(result.value)
                return result
            frame.value.append(result)
            return None

        if frame.key is None:  # expecting a key or '}'
            byte = self.next_nonws("an object key or '}'")
            if frame.some:
                if byte == 0x7D:
                    return _CLOSED
                if byte == 0x2C:
                    byte = self.next_nonws("an object key or '}'")
            if byte == 0x7D:
                return _CLOSED
            key_offset = self.i - 1
            if byte != 0x22:
                raise self.fail(
                    key_offset,
                    f"object keys must be strings, found {_show(byte)} "
                    "(repeatr would silently reuse the previous token as the key)",
                )
            key = self.string(key_offset)
            colon = self.next_nonws("':' after an object key")
            if colon != 0x3A:
                raise self.fail(self.i - 1, f"expected ':' after object key, found {_show(colon)}")
            path = frame.path + (key,)
            if key in frame.value:
                if self.duplicates == "error":
                    first = self.position(self.keys[path])
                    raise self.fail(
                        key_offset,
                        f"duplicate key {json.dumps(key, ensure_ascii=False)} in {json_path(frame.path)} "
                        f"(first at {first}); repeatr would merge or reject it depending on the field",
                    )
                self._forget(path)
                del frame.value[key]  # re-insert so iteration order follows the last occurrence
            self.keys[path] = key_offset
            frame.key = key
            frame.some = True
            return None

        key = frame.key
        frame.key = None
        byte = self.next_nonws("a value")
        opened, result = self.start_value(byte, frame.path + (key,), depth, from_array=False)
        if opened:
            frame.value[key] = result.value
            return result
        frame.value[key] = result
        return None

    def _forget(self, path: JsonPath) -> None:
        """Drop positions under ``path`` when a duplicate key replaces its value."""
        size = len(path)
        for table in (self.values, self.keys):
            for known in [p for p in table if p[:size] == path]:
                del table[known]


_CLOSED = object()


def _show(byte: int) -> str:
    if 0x20 < byte < 0x7F:
        return f"{chr(byte)!r} (0x{byte:02x})"
    return f"0x{byte:02x}"


def loads(
    data: bytes | str,
    *,
    source: str = "<input>",
    max_depth: int = DEFAULT_MAX_DEPTH,
    duplicates: Literal["error", "last"] = "error",
) -> Document:
    """Decode one value in repeatr's lenient JSON; see the module docstring for the dialect.

    ``source`` names the input in error messages (``SOURCE:LINE:COL: problem``).
    Raises :class:`JsonSyntaxError` (category USAGE) and nothing else.
    """
    if duplicates not in ("error", "last"):
        raise ValueError("duplicates must be 'error' or 'last'")
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    decoder = _Decoder(bytes(data), source, max_depth, duplicates)
    value = decoder.run()
    rest = decoder.i
    while rest < decoder.n and decoder.data[rest] in _WHITESPACE:
        rest += 1
    trailing = decoder.position(rest) if rest < decoder.n else None
    return Document(value, SourceMap(decoder.values, decoder.keys, decoder.position), trailing)
