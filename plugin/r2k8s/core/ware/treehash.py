"""The fileset tree hash behind ``tar:`` ware IDs (rio) and legacy repeatr hashes.

Both schemes are Merkle trees of canonical CBOR records, SHA-384 throughout:

* modern (rio ``fshash/bucketHash.go``): only files and directories feed their
  parent, so symlinks, devices, fifos and hardlinks change nothing; conjured
  directories are 0755 0:0 at 2010-01-01; base58.
* legacy (repeatr v0.15 ``lib/fshash``): every entry feeds its parent (content
  hash empty for non-files); conjured directories are dated 1970; base64url.

Records are collected in any order and hashed at the end in byte-sorted key
order (``./path`` plus ``/`` for directories), which is why the ID does not
depend on tar entry order. Memory grows with the number of entries (a few
hundred bytes each), never with content size.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from r2k8s.core import cbor
from r2k8s.core.base58 import b58encode
from r2k8s.core.errors import ware_corrupt
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, DEVICE_TYPES, DIR, FILE, HARDLINK, Metadata, parent_dirs

__all__ = ["CONJURED_NAME_BUDGET", "EMPTY_SHA384", "LEGACY_TYPEFLAGS", "LegacyTreeHash", "TreeHash", "hash_entries"]

CONJURED_NAME_BUDGET = 32 << 20
"""Most bytes of path names one ware may make the hash conjure for missing parent directories.

Every conjured directory is recorded under its full path, so one entry ``a/a/…/f`` of L bytes with no
directory entries before it conjures about L²/4 bytes of names: a 30 KB tar holding one 10,000-level path
took 244 MiB, and a name at the reader's 1 MiB limit would exhaust memory — an amplification like a
decompression bomb, from a few bytes. 32 MiB admits every tree that listed its directories (nothing is
conjured then) and a 5,000-level path that did not; rio has no such limit, but no real ware comes near it."""

EMPTY_SHA384 = hashlib.sha384(b"").digest()

_M = cbor.encode_text("m")
_H = cbor.encode_text("h")
_L = cbor.encode_text("l")
_MAP2 = b"\xa2"
_MAP1 = b"\xa1"


def _shown(name: str) -> str:
    """``name`` for a message: whole if short, else its two ends (a hostile name may be a megabyte long)."""
    return repr(name) if len(name) <= 120 else f"{name[:60]!r}…{name[-40:]!r}"


def _sort_key(meta: Metadata) -> bytes:
    name = meta.name.encode("utf-8", "surrogateescape")
    if meta.name == ".":
        return b"./"
    return b"./" + name + (b"/" if meta.type == DIR else b"")


class TreeHash:
    """Collects entry records and computes the root hash (the modern rio scheme)."""

    #: mtime of directories conjured for missing parents.
    conjured_mtime = DEFAULT_TIME

    def __init__(self, archive: str = "tar", repeated_dirs: bool = True) -> None:
        """``archive`` names the format in messages; ``repeated_dirs=False`` refuses a directory listed twice.

        rio's zip transmat has no repeated-directory rule: its bucket refuses (panics on)
        any path recorded twice, including a directory listed after it was conjured.
        """
        self._archive = archive
        self._repeated_dirs = repeated_dirs
        # Directories keep their metadata (a later entry may replace it); every other
        # entry is reduced to its leaf digest at once (None if it feeds no parent), so
        # memory per file is a key and 48 bytes, not a whole Metadata.
        self._records: dict[bytes, Metadata | bytes | None] = {}
        self._dirs: set[str] = set()
        self._conjured_bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    # -- collecting ----------------------------------------------------------

    def add(self, meta: Metadata, content_hash: bytes | None = None) -> list[Metadata]:
        """Record one entry; returns the directories conjured for its missing parents.

        A directory listed again (or after being conjured) takes the later
        metadata, as rio HEAD does; any other repeated path is a corrupt ware.
        """
        conjured = self.conjure_parents(meta.name)
        self._put(meta, content_hash)
        return conjured

    def conjure_parents(self, name: str) -> list[Metadata]:
        """Record default directories for the missing ancestors of ``name``; return them."""
        if name == "." or self._has_parent(name.rpartition("/")[0] or "."):
            return []  # every recorded entry's ancestors are recorded, so this is the common case
        conjured = []
        for parent in parent_dirs(name):
            if not self._has_parent(parent):
                self._conjured_bytes += len(parent)
                if self._conjured_bytes > CONJURED_NAME_BUDGET:
                    raise ware_corrupt(
                        f"corrupt {self._archive}: the entry {_shown(name)} ({name.count('/') + 1} levels deep) has"
                        f" no directory entries before it, and conjuring them all would take more than"
                        f" {CONJURED_NAME_BUDGET >> 20} MiB of names: refused as a memory bomb"
                    )
                dir_meta = Metadata(name=parent, type=DIR, perms=0o755, mtime=self.conjured_mtime)
                self._put(dir_meta, None)
                conjured.append(dir_meta)
        return conjured

    def _has_parent(self, name: str) -> bool:
        return name in self._dirs

    def _put(self, meta: Metadata, content_hash: bytes | None) -> None:
        key = _sort_key(meta)
        if key in self._records and not self._may_replace(meta):
            raise ware_corrupt(f"corrupt {self._archive}: repeated path {meta.name!r}")
        if meta.type == DIR:
            self._records[key] = meta
            self._dirs.add(meta.name)
        else:
            self._records[key] = self.leaf_hash(meta, content_hash) if self.feeds_parent(meta) else None

    def _may_replace(self, meta: Metadata) -> bool:
        return self._repeated_dirs and meta.type == DIR

    # -- hashing ------------------------------------------------------------

    def encode_metadata(self, meta: Metadata) -> bytes:
        """rio ``marshalMetadata``: fixed key order n t p u g [l] [dM dm] m mn [x].

        Written out field by field rather than through :func:`cbor.encode`: this
        runs once per entry and dominates scanning trees of small files.
        """
        parts = [
            _K_N,
            cbor.encode_text(meta.basename),
            _K_T,
            _TYPE_TEXT[meta.type],
            _K_P,
            cbor.encode_int(meta.perms & 0o7777),
            _K_U,
            cbor.encode_int(meta.uid),
            _K_G,
            cbor.encode_int(meta.gid),
        ]
        count = 7 + _optional_fields(meta, parts)
        parts += (_K_M, cbor.encode_int(meta.mtime), _K_MN, cbor.encode_int(meta.mtime_ns))
        count += _xattr_field(meta, parts)
        return cbor.head(5, count) + b"".join(parts)

    def feeds_parent(self, meta: Metadata) -> bool:
        return meta.type in (FILE, DIR)

    def leaf_hash(self, meta: Metadata, content_hash: bytes | None) -> bytes:
        if meta.type == FILE:
            return hashlib.sha384(
                _MAP2 + _M + self.encode_metadata(meta) + _H + cbor.encode_bytes(content_hash or EMPTY_SHA384)
            ).digest()
        return hashlib.sha384(_MAP1 + _M + self.encode_metadata(meta)).digest()

    def root_digest(self) -> bytes:
        """Walk the records in sorted order with a stack of open directories."""
        keys = sorted(self._records)
        if not keys or keys[0] != b"./":
            raise ware_corrupt(f"corrupt {self._archive}: the ware has no entries (missing root)")
        if not isinstance(self._records[b"./"], Metadata):
            raise ware_corrupt(f"corrupt {self._archive}: the root '.' is not a directory")
        stack: list[tuple[bytes, hashlib._Hash]] = []
        root: bytes | None = None
        for key in keys:
            record = self._records[key]
            while stack and not key.startswith(stack[-1][0]):
                root = self._close_dir(stack)
            if stack:
                rest = key[len(stack[-1][0]) :].rstrip(b"/")
                if b"/" in rest:
                    raise ware_corrupt(f"corrupt {self._archive}: missing tree: {key!r} follows {stack[-1][0]!r}")
            elif key != b"./":
                raise ware_corrupt(f"corrupt {self._archive}: {key!r} is outside the root")
            if isinstance(record, Metadata):
                hasher = hashlib.sha384(_MAP2 + _M + self.encode_metadata(record) + _L + cbor.INDEFINITE_ARRAY_START)
                stack.append((key, hasher))
            elif record is not None and stack:
                stack[-1][1].update(cbor.encode_bytes(record))
        while stack:
            root = self._close_dir(stack)
        assert root is not None
        return root

    @staticmethod
    def _close_dir(stack: list[tuple[bytes, hashlib._Hash]]) -> bytes:
        _, hasher = stack.pop()
        hasher.update(cbor.BREAK)
        digest = hasher.digest()
        if stack:
            stack[-1][1].update(cbor.encode_bytes(digest))
        return digest

    def ware_hash(self) -> str:
        return b58encode(self.root_digest())


class LegacyTreeHash(TreeHash):
    """repeatr v0.15 ``lib/fshash``: symlinks and every other entry count, base64url."""

    conjured_mtime = 0

    def _has_parent(self, name: str) -> bool:
        # v0.15 conjured a parent only when nothing existed at that path on disk.
        return name in self._dirs or _file_key(name) in self._records

    def _may_replace(self, meta: Metadata) -> bool:
        return False

    def encode_metadata(self, meta: Metadata) -> bytes:
        """v0.15 ``Metadata.Marshal``: n t(int typeflag) m(mode) u g tm tmn [l] [dM dm] [x]."""
        parts = [
            _K_N,
            cbor.encode_text(meta.basename),
            _K_T,
            cbor.encode_int(LEGACY_TYPEFLAGS[meta.type]),
            _K_M,
            cbor.encode_int(meta.perms & 0o7777),
            _K_U,
            cbor.encode_int(meta.uid),
            _K_G,
            cbor.encode_int(meta.gid),
            _K_TM,
            cbor.encode_int(meta.mtime),
            _K_TMN,
            cbor.encode_int(meta.mtime_ns),
        ]
        count = 7 + _optional_fields(meta, parts) + _xattr_field(meta, parts)
        return cbor.head(5, count) + b"".join(parts)

    def feeds_parent(self, meta: Metadata) -> bool:
        return True

    def leaf_hash(self, meta: Metadata, content_hash: bytes | None) -> bytes:
        return hashlib.sha384(
            _MAP2 + _M + self.encode_metadata(meta) + _H + cbor.encode_bytes(content_hash or b"")
        ).digest()

    def ware_hash(self) -> str:
        return base64.urlsafe_b64encode(self.root_digest()).decode("ascii")


def _optional_fields(meta: Metadata, parts: list[bytes]) -> int:
    """Append ``l`` and ``dM``/``dm``, present only when they mean something; return how many."""
    count = 0
    if meta.linkname:
        parts += (_K_L, cbor.encode_text(meta.linkname))
        count += 1
    if meta.type in DEVICE_TYPES:
        parts += (_K_DM, cbor.encode_int(meta.devmajor), _K_DMIN, cbor.encode_int(meta.devminor))
        count += 2
    return count


def _xattr_field(meta: Metadata, parts: list[bytes]) -> int:
    if not meta.xattrs:
        return 0
    parts += (_K_X, cbor.encode(cbor.sorted_map(meta.xattrs)))
    return 1


_K_N, _K_T, _K_P, _K_U, _K_G, _K_M, _K_MN, _K_L, _K_DM, _K_DMIN, _K_X, _K_TM, _K_TMN = (
    cbor.encode_text(k) for k in ("n", "t", "p", "u", "g", "m", "mn", "l", "dM", "dm", "x", "tm", "tmn")
)
_TYPE_TEXT = {letter: cbor.encode_text(letter) for letter in "fdLpSDch"}


def _file_key(name: str) -> bytes:
    return b"./" + name.encode("utf-8", "surrogateescape")


#: tar typeflags as integers, for the legacy ``t`` field.
LEGACY_TYPEFLAGS = {
    FILE: ord("0"),
    HARDLINK: ord("1"),
    "L": ord("2"),
    "c": ord("3"),
    "D": ord("4"),
    DIR: ord("5"),
    "p": ord("6"),
}


def hash_entries(entries: Iterable[tuple[Metadata, bytes | None]], legacy: bool = False) -> str:
    """Convenience: the ware hash (without packtype) of ``(metadata, content hash)`` pairs."""
    tree = LegacyTreeHash() if legacy else TreeHash()
    for meta, content_hash in entries:
        tree.add(meta, content_hash)
    return tree.ware_hash()
