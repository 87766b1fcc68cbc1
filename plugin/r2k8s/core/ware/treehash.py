"""The fileset tree hash behind ``tar:`` ware IDs (rio) and legacy repeatr hashes.

Both schemes are Merkle trees of canonical CBOR records, SHA-384 throughout:

* modern (rio ``fshash/bucketHash.go``): only files and directories feed their
  parent, so symlinks, devices, fifos and hardlinks change nothing; conjured
  directories are 0755 0:0 at 2010-01-01; base58.
* legacy (repeatr v0.15 ``lib/fshash``): every entry feeds its parent (content
  hash empty for non-files); conjured directories are dated 1970; base64url.

Records are collected in any order and hashed at the end in byte-sorted key
order (``./path`` plus ``/`` for directories), which is why the ID does not
depend on tar entry order. The order is one flat sort of every record, but the
hash it feeds is hierarchical (a directory's node hash covers its children's),
so the records must all be seen before any directory can be closed: a tar may
list a directory's entries anywhere. Memory stays bounded instead by an
external sort: every :data:`SPILL_RECORDS` records (or :data:`SPILL_KEY_BYTES`
of names) the batch in memory is sorted and written to an unnamed temporary
file, and the final walk merges those runs with the last batch. What stays in
memory is one batch and the names of the directories (to conjure missing
parents when rio does, at the entry naming them), never one record per file.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from r2k8s.core import cbor
from r2k8s.core.base58 import b58encode
from r2k8s.core.errors import ware_corrupt
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, DEVICE_TYPES, DIR, FILE, HARDLINK, Metadata, parent_dirs

__all__ = [
    "CONJURED_NAME_BUDGET",
    "EMPTY_SHA384",
    "LEGACY_TYPEFLAGS",
    "SPILL_KEY_BYTES",
    "SPILL_RECORDS",
    "LegacyTreeHash",
    "TreeHash",
    "WalkTreeHash",
    "hash_entries",
]

CONJURED_NAME_BUDGET = 32 << 20
"""Most bytes of path names one ware may make the hash conjure for missing parent directories.

Every conjured directory is recorded under its full path, so one entry ``a/a/…/f`` of L bytes with no
directory entries before it conjures about L²/4 bytes of names: a 30 KB tar holding one 10,000-level path
took 244 MiB, and a name at the reader's 1 MiB limit would exhaust memory — an amplification like a
decompression bomb, from a few bytes. 32 MiB admits every tree that listed its directories (nothing is
conjured then) and a 5,000-level path that did not; rio has no such limit, but no real ware comes near it."""

EMPTY_SHA384 = hashlib.sha384(b"").digest()

SPILL_RECORDS = 1 << 13
"""Records held in memory before the batch is sorted and spilled to a temporary file (about 1.5 MiB of them).

Below it (a tree of up to 8,192 entries) nothing touches the disk; above it,
memory stays where it is and each further record costs one write and one
read of ~60 bytes and a step of the merge: 4 % of a scan of 20,000 small files
(``bench/tar_wares.py``)."""

SPILL_KEY_BYTES = 8 << 20
"""Bytes of record names held in memory before a spill, whatever their count (deep trees have long names)."""

# Record kinds, in memory and in the spilled runs: a directory (its encoded metadata), a leaf digest, nothing.
_DIR, _LEAF, _NONE = 0, 1, 2
_RUN_HEAD = struct.Struct("<IBI")  # key length, kind, payload length

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
    #: Whether a ware may be one regular file named ``.`` (rio's pack of a file path).
    file_root = True

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
        self._key_bytes = 0  # names in the batch in memory
        self._runs: list[IO[bytes]] = []  # sorted batches spilled to unnamed temporary files, oldest first
        self._spilled = 0

    #: Records per spilled batch (None: never spill); a class attribute so tests can make it small.
    spill_records: int | None = SPILL_RECORDS
    spill_key_bytes: int = SPILL_KEY_BYTES

    def __len__(self) -> int:
        """Records collected so far (a path listed again counts again once its batch was spilled)."""
        return len(self._records) + self._spilled

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
        # Only a directory replaces a directory (a file root is never turned into one).
        if key in self._records and not (self._may_replace(meta) and isinstance(self._records[key], Metadata)):
            raise ware_corrupt(f"corrupt {self._archive}: repeated path {meta.name!r}")
        if meta.type == DIR:
            self._records[key] = meta
            self._dirs.add(meta.name)
        else:
            self._records[key] = self.leaf_hash(meta, content_hash) if self.feeds_parent(meta) else None
        self._key_bytes += len(key)
        limit = self.spill_records
        if limit is not None and (len(self._records) >= limit or self._key_bytes >= self.spill_key_bytes):
            self._spill()

    def _spill(self) -> None:
        """Write the batch in memory, sorted, to an unnamed temporary file, and start a new batch.

        A path repeated across batches is found when the runs are merged
        (:meth:`_merged`), by the same rule :meth:`_put` applies within one.
        """
        run = tempfile.TemporaryFile(prefix="r2k8s-treehash-")  # noqa: SIM115 - kept open until the hash is done
        try:
            buffer = bytearray()
            for key, kind, payload in self._batch():
                buffer += _RUN_HEAD.pack(len(key), kind, len(payload))
                buffer += key
                buffer += payload
                if len(buffer) >= 1 << 20:
                    run.write(buffer)
                    buffer.clear()
            run.write(buffer)
            run.seek(0)
        except BaseException:
            run.close()
            raise
        self._runs.append(run)
        self._spilled += len(self._records)
        self._records = {}
        self._key_bytes = 0

    def _batch(self) -> Iterator[tuple[bytes, int, bytes]]:
        """The batch in memory as ``(key, kind, payload)``, sorted by key."""
        encode = self.encode_metadata
        for key, record in sorted(self._records.items()):
            if isinstance(record, Metadata):
                yield key, _DIR, encode(record)
            elif record is None:
                yield key, _NONE, b""
            else:
                yield key, _LEAF, record

    def close(self) -> None:
        """Remove the spilled runs (the hash cannot be computed afterwards); harmless to call twice."""
        runs, self._runs = self._runs, []
        for run in runs:
            run.close()

    def __del__(self) -> None:
        self.close()

    def _merged(self) -> Iterator[tuple[bytes, int, bytes]]:
        """Every record, sorted by key, each path once: the runs and the batch in memory merged.

        Where one path was recorded in two batches, the later one wins if both
        are directories and repeated directories are allowed; otherwise it is
        the corrupt ware :meth:`_put` refuses within a batch.
        """
        if not self._runs:
            yield from self._batch()
            return
        latest = len(self._runs)
        streams = [_read_run(run, index) for index, run in enumerate(self._runs)]
        streams.append((key, latest, kind, payload) for key, kind, payload in self._batch())
        pending: tuple[bytes, int, bytes] | None = None
        for key, _, kind, payload in heapq.merge(*streams):
            if pending is not None and pending[0] == key:
                if not (self._repeated_dirs and kind == _DIR and pending[1] == _DIR):
                    raise ware_corrupt(f"corrupt {self._archive}: repeated path {_key_name(key)!r}")
            elif pending is not None:
                yield pending
            pending = key, kind, payload
        if pending is not None:
            yield pending

    def _may_replace(self, meta: Metadata) -> bool:
        return self._repeated_dirs and meta.type == DIR

    # -- hashing ------------------------------------------------------------

    def encode_metadata(self, meta: Metadata) -> bytes:
        """rio ``marshalMetadata``: fixed key order n t p u g [l] [dM dm] m mn [x].

        Written out field by field rather than through :func:`cbor.encode`: this
        runs once per entry and dominates scanning trees of small files. The
        common entry (no link, not a device, no xattrs) is one join of cached
        pieces: a tree's perms, owners and times repeat.
        """
        if not (meta.linkname or meta.xattrs or meta.type in DEVICE_TYPES):
            return b"".join(
                (
                    _MAP7_N,
                    cbor.encode_text(meta.basename),
                    _K_T,
                    _TYPE_TEXT[meta.type],
                    _K_P,
                    _int(meta.perms & 0o7777),
                    _K_U,
                    _int(meta.uid),
                    _K_G,
                    _int(meta.gid),
                    _K_M,
                    _int(meta.mtime),
                    _K_MN,
                    _int(meta.mtime_ns),
                )
            )
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
        try:
            return self._root_digest(self._merged())
        finally:
            self.close()

    def _root_digest(self, records: Iterator[tuple[bytes, int, bytes]]) -> bytes:
        first = next(records, None)
        if first is None or first[0] != b"./":
            raise ware_corrupt(f"corrupt {self._archive}: the ware has no entries (missing root)")
        second = next(records, None)
        if self.file_root and first[1] == _LEAF and second is None:
            return first[2]  # a single file packed alone (rio: the root record is a file, its hash the ware's)
        if first[1] != _DIR:
            raise ware_corrupt(f"corrupt {self._archive}: the root '.' is not a directory (or a file alone)")
        stack: list[tuple[bytes, hashlib._Hash]] = [(b"./", hashlib.sha384(_MAP2 + _M + first[2] + _L + _LIST))]
        root: bytes | None = None
        for key, kind, payload in _chain(second, records):
            while stack and not key.startswith(stack[-1][0]):
                root = self._close_dir(stack)
            if not stack:
                raise ware_corrupt(f"corrupt {self._archive}: {key!r} is outside the root")
            if b"/" in key[len(stack[-1][0]) :].rstrip(b"/"):
                raise ware_corrupt(f"corrupt {self._archive}: missing tree: {key!r} follows {stack[-1][0]!r}")
            if kind == _DIR:
                stack.append((key, hashlib.sha384(_MAP2 + _M + payload + _L + _LIST)))
            elif kind == _LEAF:
                stack[-1][1].update(_DIGEST_HEAD + payload)
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


class WalkTreeHash:
    """The modern tree hash of entries arriving in a walk's order, one directory at a time, in bounded memory.

    :func:`~r2k8s.core.ware.tree.walk` (what ``pack`` reads) lists a directory,
    then its whole subtree, then the next name: each directory is complete once
    an entry outside it arrives. Because the hash is hierarchical, a complete
    directory is hashed there and then (its children sorted by ``name`` plus
    ``/`` for directories, the order the flat sort gives siblings) and only its
    digest is kept. Memory is the open directories' children, however large
    the tree; no sort of the whole tree. Every entry's parent must have
    arrived before it (a walk lists every directory), and no path twice.
    """

    def __init__(self) -> None:
        self._encode = TreeHash().encode_metadata
        self._leaf = TreeHash().leaf_hash
        # Open directories, root first: (name, its encoded metadata, its children as (sort key, digest or None)).
        self._open: list[tuple[str, bytes, list[tuple[bytes, bytes | None]]]] = []
        self._root_file: bytes | None = None
        self._closed_root: bytes | None = None

    def add(self, meta: Metadata, content_hash: bytes | None = None) -> None:
        """Record the next entry of the walk."""
        name = meta.name
        if name == ".":
            if self._open or self._root_file is not None or self._closed_root is not None:
                raise ValueError("the root arrived twice")
            if meta.type == DIR:
                self._open.append((".", self._encode(meta), []))
            else:
                self._root_file = self._leaf(meta, content_hash)
            return
        parent, _, base = name.rpartition("/")
        parent = parent or "."
        stack = self._open
        while stack and stack[-1][0] != parent:
            self._close()
        if not stack:
            raise ValueError(f"{name!r} arrived outside the walk's open directories")
        key = base.encode("utf-8", "surrogateescape")
        if meta.type == DIR:
            stack[-1][2].append((key + b"/", None))  # its digest replaces the None when it closes
            stack.append((name, self._encode(meta), []))
        elif meta.type == FILE:
            stack[-1][2].append((key, self._leaf(meta, content_hash)))

    def _close(self) -> None:
        _, encoded, children = self._open.pop()
        hasher = hashlib.sha384(_MAP2 + _M + encoded + _L + _LIST)
        children.sort()
        hasher.update(b"".join(_DIGEST_HEAD + digest for _, digest in children if digest is not None))
        hasher.update(cbor.BREAK)
        digest = hasher.digest()
        if self._open:
            siblings = self._open[-1][2]
            siblings[-1] = (siblings[-1][0], digest)  # the directory was its parent's latest child
        else:
            self._closed_root = digest

    def root_digest(self) -> bytes:
        if self._root_file is not None:
            return self._root_file
        while self._open:
            self._close()
        if self._closed_root is None:
            raise ware_corrupt("corrupt tar: the ware has no entries (missing root)")
        return self._closed_root

    def ware_hash(self) -> str:
        return b58encode(self.root_digest())


class LegacyTreeHash(TreeHash):
    """repeatr v0.15 ``lib/fshash``: symlinks and every other entry count, base64url."""

    conjured_mtime = 0
    file_root = False
    spill_records = None  # a parent is conjured only where no entry exists: every record is looked up while adding

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
_MAP7_N = cbor.head(5, 7) + _K_N
_INTS: dict[int, bytes] = {}
_INTS_MAX = 4096


def _int(value: int) -> bytes:
    """:func:`cbor.encode_int`, remembered for the few thousand values a tree repeats (perms, owners, times)."""
    encoded = _INTS.get(value)
    if encoded is None:
        encoded = cbor.encode_int(value)
        if len(_INTS) < _INTS_MAX:
            _INTS[value] = encoded
    return encoded


_LIST = cbor.INDEFINITE_ARRAY_START
_DIGEST_HEAD = cbor.head(2, len(EMPTY_SHA384))  # every digest in a node is a 48-byte CBOR byte string


def _chain(
    first: tuple[bytes, int, bytes] | None, rest: Iterator[tuple[bytes, int, bytes]]
) -> Iterator[tuple[bytes, int, bytes]]:
    if first is not None:
        yield first
        yield from rest


def _read_run(run: IO[bytes], index: int) -> Iterator[tuple[bytes, int, int, bytes]]:
    """One spilled run back, as ``(key, run index, kind, payload)``: the index orders equal keys oldest first."""
    head_size, unpack = _RUN_HEAD.size, _RUN_HEAD.unpack
    while head := run.read(head_size):
        key_length, kind, payload_length = unpack(head)
        yield run.read(key_length), index, kind, run.read(payload_length)


def _key_name(key: bytes) -> str:
    """The entry name a record key stands for, for messages (``./a/`` -> ``a``; ``./`` -> ``.``)."""
    name = key[2:].rstrip(b"/")
    return name.decode("utf-8", "surrogateescape") if name else "."


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
