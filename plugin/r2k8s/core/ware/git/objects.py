"""Git objects: IDs, and strict parsing of the two kinds a checkout reads (commits and trees).

An object's ID is the SHA-1 of ``"<type> <length>\\0"`` followed by its bytes;
every object this package reads is checked against its ID, so a repository
or a cache that lies is refused. Parsing is strict where leniency would let a
hostile repository place something git itself refuses (``..``, ``.git``,
names with ``/``) or make a commit mean two things. Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from r2k8s.core.errors import usage_error, ware_corrupt

__all__ = [
    "BLOB",
    "COMMIT",
    "MODE_DIR",
    "MODE_EXEC",
    "MODE_FILE",
    "MODE_GITLINK",
    "MODE_SYMLINK",
    "OBJECT_TYPES",
    "TAG",
    "TREE",
    "TreeEntry",
    "check_commit_hash",
    "header",
    "hex_id",
    "object_id",
    "parse_commit_tree",
    "parse_tree",
]

COMMIT = "commit"
TREE = "tree"
BLOB = "blob"
TAG = "tag"
OBJECT_TYPES = (COMMIT, TREE, BLOB, TAG)

MODE_DIR = 0o40000
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_SYMLINK = 0o120000
MODE_GITLINK = 0o160000
_KNOWN_MODES = frozenset({MODE_DIR, MODE_FILE, MODE_EXEC, MODE_SYMLINK, MODE_GITLINK})

_HEX40 = re.compile(r"[0-9a-f]{40}")


def header(kind: str, size: int) -> bytes:
    """The bytes hashed before an object's data: ``"<type> <size>\\0"``."""
    return b"%s %d\x00" % (kind.encode("ascii"), size)


def object_id(kind: str, data: bytes | bytearray | memoryview) -> bytes:
    """The 20-byte ID of an object of type ``kind`` holding ``data``."""
    hasher = hashlib.sha1(header(kind, len(data)))
    hasher.update(data)
    return hasher.digest()


def hex_id(oid: bytes) -> str:
    return oid.hex()


def check_commit_hash(text: str) -> bytes:
    """A ``git:`` ware hash: exactly 40 lowercase hex digits (rio needs the full hash); the 20 bytes."""
    if not isinstance(text, str) or not _HEX40.fullmatch(text):
        raise usage_error(f"git ware hash {text!r} must be a full commit ID: 40 lowercase hex digits")
    return bytes.fromhex(text)


def parse_commit_tree(data: bytes, oid: bytes | None = None) -> bytes:
    """The tree ID of a commit, after checking its header as git's fsck does.

    The header must start with one ``tree`` line, then ``parent`` lines, then
    one ``author`` and one ``committer`` line, each ID 40 lowercase hex;
    anything after (``encoding``, ``gpgsig``, the message) is not read.
    """
    where = f"commit {oid.hex()}" if oid is not None else "commit"
    end = data.find(b"\n\n")
    head = data if end < 0 else data[:end]
    lines = head.split(b"\n")
    if end < 0 and lines and lines[-1] == b"":
        lines.pop()
    if not lines or not lines[0].startswith(b"tree "):
        raise ware_corrupt(f"corrupt git {where}: it does not start with a tree line")
    tree = _hex_field(lines[0][5:], where, "tree")
    index = 1
    while index < len(lines) and lines[index].startswith(b"parent "):
        _hex_field(lines[index][7:], where, "parent")
        index += 1
    for field in (b"author ", b"committer "):
        if index >= len(lines) or not lines[index].startswith(field):
            raise ware_corrupt(f"corrupt git {where}: missing or misplaced {field.decode().strip()} line")
        index += 1
    for line in lines[index:]:
        if line.startswith((b"tree ", b"parent ", b"author ", b"committer ")):
            raise ware_corrupt(f"corrupt git {where}: repeated or misplaced {line.split(b' ')[0].decode()} line")
    return tree


def _hex_field(raw: bytes, where: str, field: str) -> bytes:
    text = raw.decode("ascii", "replace")
    if not _HEX40.fullmatch(text):
        raise ware_corrupt(f"corrupt git {where}: bad {field} ID {text!r}")
    return bytes.fromhex(text)


@dataclasses.dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of a tree object: its mode (one of the ``MODE_*``), name (bytes, as stored) and object ID."""

    mode: int
    name: bytes
    oid: bytes


def parse_tree(data: bytes, oid: bytes | None = None) -> list[TreeEntry]:
    """A tree's entries in stored order, refusing what git's fsck refuses.

    Refused (corrupt ware): truncated entries, modes that are not octal digits
    or not one of git's five (the historic ``100664`` included), empty names,
    ``.``, ``..``, ``.git`` in any case, names containing ``/``, and a name
    repeated in one tree (which would make one path two things). Zero-padded
    modes (``040000``) are read as git and go-git read them.
    """
    where = f"tree {oid.hex()}" if oid is not None else "tree"
    entries: list[TreeEntry] = []
    seen: set[bytes] = set()
    at = 0
    size = len(data)
    while at < size:
        space = data.find(b" ", at)
        nul = data.find(b"\x00", space + 1) if space >= 0 else -1
        if space < 0 or nul < 0 or nul + 21 > size:
            raise ware_corrupt(f"corrupt git {where}: truncated entry at byte {at}")
        mode_text = data[at:space]
        if not mode_text or len(mode_text) > 7 or not all(0x30 <= c <= 0x37 for c in mode_text):
            raise ware_corrupt(f"corrupt git {where}: bad mode {mode_text!r}")
        mode = int(mode_text, 8)
        name = data[space + 1 : nul]
        if mode not in _KNOWN_MODES:
            raise ware_corrupt(f"corrupt git {where}: entry {name!r} has unknown mode {mode_text.decode()}")
        _check_name(name, where)
        if name in seen:
            raise ware_corrupt(f"corrupt git {where}: the name {name!r} appears twice")
        seen.add(name)
        entries.append(TreeEntry(mode, name, data[nul + 1 : nul + 21]))
        at = nul + 21
    return entries


def _check_name(name: bytes, where: str) -> None:
    if not name:
        raise ware_corrupt(f"corrupt git {where}: an entry has an empty name")
    if b"/" in name:
        raise ware_corrupt(f"corrupt git {where}: the name {name!r} contains '/'")
    if name in (b".", b"..") or name.lower() == b".git":
        raise ware_corrupt(f"corrupt git {where}: the name {name!r} is not allowed in a tree")
