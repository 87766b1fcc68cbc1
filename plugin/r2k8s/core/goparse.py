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
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


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


def rfc3339_unix(text: str) -> int | None:
    """Go ``time.Parse(time.RFC3339, s).Unix()``, or ``None`` if Go would refuse it.

    Fractions of a second are dropped (Go keeps them as a positive offset, so
    ``Unix()`` floors). Accepts ``YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)``
    with calendar and range checks. Go releases before 1.20 also took a few odd
    spellings (a one-digit hour, out-of-range offsets); those are refused here,
    which can only reject a value, never change a hash.
    """
    m = _RFC3339.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= month <= 12 or not 1 <= day <= days_in[month - 1] or hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if not m.group(7):
        off_h, off_m = int(m.group(9)), int(m.group(10))
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if m.group(8) == "+" else -1)
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
