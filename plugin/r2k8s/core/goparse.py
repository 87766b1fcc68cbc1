"""Go's ways of reading numbers and dates, as the upstream tools saw values.

repeatr, rio and Go's ``archive/tar`` parse integers with ``strconv`` (an
optional sign, decimal digits, 64-bit range: no spaces, no underscores, unlike
Python's ``int()``) and dates with ``time.Parse(time.RFC3339, …)``. Wherever a
parsed value feeds a hash, r2k8s must accept and normalise exactly what Go does.
"""

from __future__ import annotations

import re

__all__ = ["INT64_MAX", "INT64_MIN", "atoi", "fits_int64", "rfc3339_unix"]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_ATOI = re.compile(r"[+-]?[0-9]+\Z")


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def atoi(text: str | bytes) -> int | None:
    """Go ``strconv.Atoi`` / ``ParseInt(s, 10, 64)``, or ``None`` where Go returns an error."""
    raw = text.decode("latin-1") if isinstance(text, bytes) else text
    if not _ATOI.match(raw):
        return None
    value = int(raw)
    return value if fits_int64(value) else None


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _digits(text: str, start: int, count: int) -> int | None:
    """``count`` ASCII digits at ``start`` as a number, or ``None``."""
    part = text[start : start + count]
    if len(part) != count or not all("0" <= ch <= "9" for ch in part):
        return None
    return int(part)


def rfc3339_unix(text: str) -> int | None:
    """Go ``time.Parse(time.RFC3339, s).Unix()``, or ``None`` where Go returns an error.

    Go tries a strict fast path (``parseRFC3339``) and then the general layout
    parser (``parse`` in ``time/format.go``), so what it accepts is what the general
    parser accepts for ``2006-01-02T15:04:05Z07:00``:

    * a 4-digit year (``stdLongYear``), ``-``, 2-digit month 1-12, ``-``, 2-digit
      day valid for the month, an upper-case ``T``;
    * the hour (``stdHour``, ``getnum(s, false)``) as **one or two** digits, 0-23;
    * ``:``, 2-digit minute 0-59, ``:``, 2-digit second 0-59;
    * an optional fraction: ``.`` **or** ``,`` then any number of digits (at least
      one; only the first nine count, and ``Unix()`` ignores them anyway);
    * ``Z``, or a sign, 2 digits, ``:``, 2 digits, with the offset's hour up to
      **24** and minute up to **60** (Go: "some people do write offsets of 24
      hours or 60 minutes");
    * nothing after. No lower-case ``t``/``z``, no spaces, no ``+0100``.
    """
    year = _digits(text, 0, 4)
    month = _digits(text, 5, 2)
    day = _digits(text, 8, 2)
    if year is None or month is None or day is None or text[4:5] != "-" or text[7:8] != "-" or text[10:11] != "T":
        return None
    pos = 11
    hour = _digits(text, pos, 2)
    if hour is not None:
        pos += 2
    else:
        hour = _digits(text, pos, 1)
        pos += 1
    minute = _digits(text, pos + 1, 2)
    second = _digits(text, pos + 4, 2)
    if hour is None or minute is None or second is None or text[pos : pos + 1] != ":" or text[pos + 3 : pos + 4] != ":":
        return None
    pos += 6
    if text[pos : pos + 1] in (".", ",") and _digits(text, pos + 1, 1) is not None:
        pos += 2
        while _digits(text, pos, 1) is not None:
            pos += 1
    rest = text[pos:]
    offset = 0
    if rest[:1] == "Z":
        rest = rest[1:]
    else:
        off_h, off_m = _digits(rest, 1, 2), _digits(rest, 4, 2)
        if off_h is None or off_m is None or rest[:1] not in ("+", "-") or rest[3:4] != ":":
            return None
        if off_h > 24 or off_m > 60:
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if rest[0] == "+" else -1)
        rest = rest[6:]
    if rest:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= month <= 12 or not 1 <= day <= days_in[month - 1] or hour > 23 or minute > 59 or second > 59:
        return None
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
