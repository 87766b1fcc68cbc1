"""Pack and unpack filters: rio's string form, named sets, and how they change metadata.

A filter set says, per attribute (uid, gid, mtime, sticky, setid, dev), whether
to keep what the files say or replace it. Pack filters say ``keep``; unpack
filters say ``follow`` and allow ``mine`` for uid/gid. An attribute left
unspecified is filled from a default set, the way ``FilesetPackFilter.Apply``
does (repeatr outputs default to Flatten, ``rio pack`` to Conservative).
"""

from __future__ import annotations

import dataclasses
import functools
import os

from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.goparse import atoi, rfc3339_unix
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata

__all__ = [
    "FLATTEN",
    "KEYS",
    "PACK",
    "PACK_CONSERVATIVE",
    "PACK_LOSSLESS",
    "UNPACK",
    "UNPACK_CONSERVATIVE",
    "UNPACK_LOSSLESS",
    "UNPACK_LOWPRIV",
    "FilterValueError",
    "Filters",
    "canonical_value",
    "go_trim_space",
    "id_value",
    "named",
]

KEYS = ("uid", "gid", "mtime", "sticky", "setid", "dev")
PACK = "pack"
UNPACK = "unpack"

_UNSPECIFIED = -1  # go-timeless-api ff_unspecified
_KEEP = -2  # ff_keep (and ff_follow)


class FilterValueError(ValueError):
    """A filter value Go would not parse; callers add where it came from."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def _keep_word(mode: str) -> str:
    return "keep" if mode == PACK else "follow"


def _allowed(mode: str, key: str) -> str:
    keep = _keep_word(mode)
    return {
        "uid": f"{keep}, {'mine, ' if mode == UNPACK else ''}or a decimal id",
        "gid": f"{keep}, {'mine, ' if mode == UNPACK else ''}or a decimal id",
        "mtime": f"{keep}, @<unix seconds>, or an RFC 3339 date such as 2010-01-01T00:00:00Z",
        "sticky": f"{keep} or ignore",
        "setid": f"{keep}, ignore, or reject",
        "dev": f"{keep}, ignore, or reject",
    }[key]


_CONTEXT = -5  # ff_context: unpack "mine" (uid/gid) and "now" (mtime)
_ID_MASK = 0xFFFFFFFF  # rio stores uid/gid as uint32: ``fmeta.Uid = uint32(setTo)``


def _number(mode: str, key: str, value: int, raw: str, prefix: str, serialised: bool) -> str | None:
    # The parsed value shares its int with go-timeless-api's sentinels: -1 is
    # "unspecified", -2 "keep"/"follow" and, in unpack filters, -5 "mine" (uid/gid)
    # or "now" (mtime). Any other number is applied as it is: rio's
    # ApplyPackFilter / ApplyUnpackFilter set ``uint32(setTo)`` for uid/gid (so
    # 2**32 is 0 and -3 is 2**32-3) and ``time.Unix(setTo, 0)`` for mtime.
    # string_uid / string_mtime panic on the other negatives, so a formula (which
    # repeatr re-serialises to hash it) cannot hold one; rio's CLI never
    # serialises its --filters and applies them.
    if value == _UNSPECIFIED:
        return None
    if value == _KEEP:
        return _keep_word(mode)
    if value == _CONTEXT and mode == UNPACK:
        if key == "mtime":
            raise FilterValueError(
                key, f"invalid filter value {raw!r}: rio reads it as mtime=now, which it cannot apply"
            )
        return "mine"
    if value < 0 and serialised:
        raise FilterValueError(
            key, f"invalid filter value {raw!r}: {key} is negative; repeatr would panic serialising it"
        )
    return f"{prefix}{value}"


def id_value(value: str) -> int:
    """A canonical numeric uid/gid filter value as rio applies it: wrapped to 32 bits."""
    return int(value) & _ID_MASK


def canonical_value(mode: str, key: str, raw: str, serialised: bool = False) -> str | None:
    """Parse one filter value as ``filesetFiltersSerialComp.go`` does and write it back.

    ``"0042"`` becomes ``"42"``, an RFC 3339 mtime ``"@<unix>"``, ``"-2"`` the keep
    word and ``"-1"`` ``None`` (unspecified): this normal form is what repeatr
    hashes and what rio applies. ``serialised=True`` is for values that repeatr
    writes back out (formula outputs), where negative numbers are refused.
    """
    keep = _keep_word(mode)
    if raw == keep:
        return keep
    if key in ("uid", "gid"):
        if mode == UNPACK and raw == "mine":
            return raw
        number = atoi(raw)
        if number is not None:
            return _number(mode, key, number, raw, "", serialised)
    elif key == "mtime":
        number = atoi(raw[1:]) if raw.startswith("@") else rfc3339_unix(raw)
        if number is not None:
            return _number(mode, key, number, raw, "@", serialised)
    elif key == "sticky":
        if raw == "ignore":
            return raw
    elif raw in ("ignore", "reject"):
        return raw
    raise FilterValueError(key, f"invalid filter value {raw!r}: {key} must be {_allowed(mode, key)}")


@dataclasses.dataclass(frozen=True)
class Filters:
    """A filter set for one direction (``pack`` or ``unpack``); ``None`` means unspecified."""

    mode: str
    uid: str | None = None
    gid: str | None = None
    mtime: str | None = None
    sticky: str | None = None
    setid: str | None = None
    dev: str | None = None

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_mapping(cls, mode: str, values: dict[str, str], where: str = "filters") -> Filters:
        """From the object form used in formulas; values must be strings (as in repeatr)."""
        fields: dict[str, str] = {}
        for key, value in values.items():
            if key not in KEYS:
                raise usage_error(f"{where}: unknown filter {key!r} (known: {', '.join(KEYS)})")
            if not isinstance(value, str):
                raise usage_error(f"{where}.{key}: filter values are strings, got {type(value).__name__} {value!r}")
            try:
                canonical = canonical_value(mode, key, value)
            except FilterValueError as exc:
                raise usage_error(f"{where}.{key}: {exc.problem}") from None
            if canonical is not None:
                fields[key] = canonical
        return cls(mode, **fields)

    @classmethod
    def parse(cls, mode: str, text: str, where: str = "--filters") -> Filters:
        """rio's string form ``uid=1000,gid=1000,mtime=@1262304000,...``.

        As go-timeless-api ``ParseFilesetPackFilter`` / ``ParseFilesetUnpackFilter``
        read it: ``""`` is no filter; otherwise the text is split at every comma,
        each item has Go's ``strings.TrimSpace`` applied and must be ``key=value``
        split at the first ``=`` with the key exact and the value parsed as is, so
        an empty item (``uid=0,``, ``,uid=0``, ``uid=0,,gid=0``, ``" "``) or a
        blank around ``=`` (``uid =0``, ``uid= 0``) is refused. r2k8s's one
        extension: the first item may name a filter set (``flatten``,
        ``conservative``, ``lossless``, ``lowpriv``) for the later items to override.
        """
        result = cls(mode)
        values: dict[str, str] = {}
        if text == "":
            return result
        for index, item in enumerate(go_trim_space(part) for part in text.split(",")):
            if "=" not in item:
                if index == 0 and item.lower() in _NAMES:
                    result = named(mode, item, where)
                    continue
                raise usage_error(
                    f"{where}: invalid format {text!r}: must be a comma-separated list of k=v pairs"
                    f" (item {index + 1} is {item!r}; a named set may only come first)"
                )
            key, _, value = item.partition("=")
            if key in values:
                raise usage_error(f"{where}: filter {key!r} is given twice")
            values[key] = value
        overrides = cls.from_mapping(mode, values, where)
        return dataclasses.replace(result, **{k: v for k, v in overrides.as_dict().items()})

    # -- views ------------------------------------------------------------------

    def as_dict(self) -> dict[str, str]:
        """The specified keys only, in rio's order."""
        return {key: getattr(self, key) for key in KEYS if getattr(self, key) is not None}

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.as_dict().items())

    def with_defaults(self, defaults: Filters) -> Filters:
        """Fill unspecified keys from ``defaults`` (rio ``FilesetPackFilter.Apply``)."""
        return dataclasses.replace(defaults, **self.as_dict())

    @property
    def altering(self) -> bool:
        """True if applying this set can change an entry's metadata (``reject`` only refuses)."""
        keep = _keep_word(self.mode)
        return any(value not in (None, keep, "reject") for value in self.as_dict().values())

    @functools.cached_property
    def _passthrough(self) -> bool:
        """Neither changes nor rejects anything: :meth:`apply` can hand back its input."""
        return not self.altering and "reject" not in (self.setid, self.dev)

    # -- application --------------------------------------------------------------

    def apply(self, meta: Metadata) -> Metadata | None:
        """The filtered metadata, or ``None`` when ``dev=ignore`` drops a device.

        ``setid=reject`` / ``dev=reject`` raise ``rio-filter-rejection``. The
        input is returned as it is when nothing changes (it runs once per entry).
        """
        if self._passthrough:
            return meta
        if meta.type in fsmeta.DEVICE_TYPES:
            if self.dev == "reject":
                raise R2k8sError(
                    Category.FILTER_REJECTION, f"{meta.name!r} is a device node and the filters say dev=reject"
                )
            if self.dev == "ignore":
                return None
        perms = meta.perms
        if self.sticky == "ignore":
            perms &= ~0o1000
        if perms & 0o6000:
            if self.setid == "reject":
                raise R2k8sError(
                    Category.FILTER_REJECTION, f"{meta.name!r} has a setuid/setgid bit and the filters say setid=reject"
                )
            if self.setid == "ignore":
                perms &= ~0o6000
        uid, gid, mtime, mtime_ns = self._owner_and_time(meta)
        if (perms, uid, gid, mtime, mtime_ns) == (meta.perms, meta.uid, meta.gid, meta.mtime, meta.mtime_ns):
            return meta
        out = meta.copy()
        out.perms, out.uid, out.gid, out.mtime, out.mtime_ns = perms, uid, gid, mtime, mtime_ns
        return out

    def _owner_and_time(self, meta: Metadata) -> tuple[int, int, int, int]:
        keep = _keep_word(self.mode)
        uid, gid, mtime, mtime_ns = meta.uid, meta.gid, meta.mtime, meta.mtime_ns
        if self.uid not in (None, keep):
            uid = os.getuid() if self.uid == "mine" else id_value(self.uid)
        if self.gid not in (None, keep):
            gid = os.getgid() if self.gid == "mine" else id_value(self.gid)
        if self.mtime not in (None, keep):
            mtime, mtime_ns = _mtime_value(self.mtime)
        return uid, gid, mtime, mtime_ns


def _mtime_value(value: str) -> tuple[int, int]:
    """Seconds and nanoseconds of a canonical ``@<unix>`` value (Go keeps whole seconds)."""
    return int(value[1:]), 0


_NAMED: dict[tuple[str, str], dict[str, str]] = {
    (PACK, "flatten"): dict(uid="1000", gid="1000", mtime="@1262304000", sticky="keep", setid="keep", dev="keep"),
    (PACK, "conservative"): dict(
        uid="1000", gid="1000", mtime="@1262304000", sticky="keep", setid="reject", dev="reject"
    ),
    (PACK, "lossless"): dict(uid="keep", gid="keep", mtime="keep", sticky="keep", setid="keep", dev="keep"),
    (UNPACK, "lossless"): dict(
        uid="follow", gid="follow", mtime="follow", sticky="follow", setid="follow", dev="follow"
    ),
    (UNPACK, "conservative"): dict(
        uid="follow", gid="follow", mtime="follow", sticky="follow", setid="reject", dev="reject"
    ),
    (UNPACK, "lowpriv"): dict(uid="mine", gid="mine", mtime="follow", sticky="follow", setid="reject", dev="reject"),
}


_NAMES = frozenset(name for _, name in _NAMED)

#: Go's ``unicode.IsSpace`` (what ``strings.TrimSpace`` trims); Python's ``str.strip``
#: also trims U+001C-U+001F, which Go keeps.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def go_trim_space(text: str) -> str:
    """Go ``strings.TrimSpace``."""
    return text.strip(_GO_SPACE)


def named(mode: str, name: str, where: str = "--filters") -> Filters:
    """One of rio's named filter sets (``filesetFilters.go``)."""
    try:
        return Filters(mode, **_NAMED[(mode, name.strip().lower())])
    except KeyError:
        names = ", ".join(sorted(n for m, n in _NAMED if m == mode))
        raise usage_error(f"{where}: unknown {mode} filter set {name!r} (known: {names})") from None


FLATTEN = named(PACK, "flatten")
PACK_CONSERVATIVE = named(PACK, "conservative")
PACK_LOSSLESS = named(PACK, "lossless")
UNPACK_LOSSLESS = named(UNPACK, "lossless")
UNPACK_CONSERVATIVE = named(UNPACK, "conservative")
UNPACK_LOWPRIV = named(UNPACK, "lowpriv")
