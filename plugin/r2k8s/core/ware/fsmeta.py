"""Filesystem entry metadata: the one record that scan, pack, unpack and hashing share.

Mirrors rio's ``fs.Metadata``: a cleaned relative path, a one-letter type,
permission bits (``& 0o7777``), numeric owner, link name, device numbers,
mtime split into seconds and nanoseconds (floor semantics, like Go's
``time.Time``), and xattrs. Sizes are carried but never hashed.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterator

from r2k8s.core.errors import Category, R2k8sError, ware_corrupt

__all__ = [
    "BLOCK_DEVICE",
    "CHAR_DEVICE",
    "DEFAULT_TIME",
    "DEVICE_TYPES",
    "DIR",
    "FIFO",
    "FILE",
    "HARDLINK",
    "SOCKET",
    "SYMLINK",
    "Metadata",
    "check_placeable",
    "clean_relpath",
    "default_dir",
    "parent_dirs",
]

# rio fs.Type letters (fs/metadata.go).
FILE = "f"
DIR = "d"
SYMLINK = "L"
FIFO = "p"
SOCKET = "S"
BLOCK_DEVICE = "D"
CHAR_DEVICE = "c"
HARDLINK = "h"

DEVICE_TYPES = frozenset({BLOCK_DEVICE, CHAR_DEVICE})

#: 2010-01-01T00:00:00Z, rio's ``fs.DefaultTime`` for conjured directories and atimes.
DEFAULT_TIME = 1262304000


@dataclasses.dataclass(slots=True)
class Metadata:
    """One filesystem entry. ``name`` is a cleaned relative path; the root is ``"."``."""

    name: str
    type: str
    perms: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    mtime: int = 0
    mtime_ns: int = 0
    xattrs: dict[str, str] = dataclasses.field(default_factory=dict)
    size: int = 0

    @property
    def basename(self) -> str:
        return "." if self.name == "." else self.name.rsplit("/", 1)[-1]

    def copy(self) -> Metadata:
        # Spelled out: dataclasses.replace is several times slower, and this runs per entry.
        return Metadata(
            self.name,
            self.type,
            self.perms,
            self.uid,
            self.gid,
            self.linkname,
            self.devmajor,
            self.devminor,
            self.mtime,
            self.mtime_ns,
            dict(self.xattrs),
            self.size,
        )


def default_dir(name: str) -> Metadata:
    """A directory that a tarball implies but never lists (rio ``DefaultDirMetadata``)."""
    return Metadata(name=name, type=DIR, perms=0o755, uid=0, gid=0, mtime=DEFAULT_TIME)


def clean_relpath(raw: str, placement_later: bool = False) -> str:
    """Clean an archive member name the way rio does (Go ``path.Clean``).

    ``./a/``, ``a/`` and ``a`` are the same entry. Absolute names and names that
    leave the base (``..``, ``../x``) are refused as a corrupt ware, because
    unpacking them would write outside the target; other names starting with
    ``..`` (``..0``) are refused as rio refuses them (inoperable path) -- unless
    ``placement_later``: rio meets those only when placing the entry, after its
    filters ran, so the tar reader leaves that check to :func:`check_placeable`.
    """
    if raw.startswith("/"):
        raise ware_corrupt(f"corrupt tar: absolute path {raw!r} is not allowed in a ware")
    cleaned = posixpath.normpath(raw) if raw else "."
    if cleaned == ".." or cleaned.startswith("../"):
        raise ware_corrupt(f"corrupt tar: path {raw!r} leaves the base directory ('..' is not allowed)")
    if not placement_later:
        check_placeable(cleaned)
    return cleaned


def check_placeable(cleaned: str) -> None:
    """Refuse a cleaned top-level name starting with ``..`` (``..0``), as rio's placement does."""
    if cleaned.startswith(".."):
        # rio refuses these too (its breakout check is a plain prefix test), so a
        # ware holding one could never be unpacked by rio: refuse it the same way.
        raise R2k8sError(
            Category.INOPERABLE_PATH,
            f"refusing {cleaned!r}: a top-level name starting with '..' cannot be placed"
            " (rio refuses it as a path breakout)",
        )


def parent_dirs(name: str) -> Iterator[str]:
    """Every ancestor of a cleaned path, root first: ``a/b/c`` -> ``".", "a", "a/b"``.

    Lazily: the ancestors of a name L bytes long total about L²/4 bytes, which a hostile name makes
    gigabytes (:data:`~r2k8s.core.ware.treehash.CONJURED_NAME_BUDGET`); a caller stops when it has enough."""
    if name == ".":
        return
    yield "."
    at = name.find("/")
    while at != -1:
        yield name[:at]
        at = name.find("/", at + 1)
