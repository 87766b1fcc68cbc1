"""Walking a directory tree in rio's order and reading its files, for packing and copying.

The walk is pre-order with names sorted byte-wise. A tree is data and may be
deeper than a path or a call stack can hold (an output nesting 5,000
directories is past Python's recursion limit and, at two bytes a level,
past ``PATH_MAX``), so the walk is iterative and never names an entry by its
whole path: it stats, reads and reads links relative to an open descriptor
of the entry's directory (a :class:`Location`), and a :class:`DirectoryCursor`
moves that descriptor from directory to directory. File contents are read in
1 MiB chunks, and a file that changes size while it is read is an error.
:func:`copy_tree` is the one copy walk (rio's copy placer, and the pod's
root takeover), with the placer that writes the copy as its parameter.
Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Protocol

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata

__all__ = [
    "DIRECTORY_FLAGS",
    "HELD_LEVELS",
    "DirectoryCursor",
    "Location",
    "Placer",
    "copy_file",
    "copy_tree",
    "file_chunks",
    "metadata_from_stat",
    "read_small_file",
    "walk",
    "walk_file",
]


CHUNK = 1 << 20

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""How a directory of a tree is opened: never through a symlink, never inherited by a program started meanwhile."""

HELD_LEVELS = 64
"""How many levels below its root a :class:`DirectoryCursor` keeps open; deeper ones are climbed out of by ``..``.

Ordinary trees are shallower, so they are walked without ``..`` (which needs
search permission on the directory being left); a deep one costs one more
``open`` per directory left, not a descriptor per level (``RLIMIT_NOFILE`` is
often 1,024).
"""


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


class DirectoryCursor:
    """One open directory of a tree, moved down by name and back up, holding few descriptors at any depth.

    Every operation on an entry goes through the descriptor of its directory
    (``dir_fd=``), so neither depth nor ``PATH_MAX`` matters and no symlink
    is ever followed on the way (each level is opened ``O_NOFOLLOW``). The
    top :data:`HELD_LEVELS` levels stay open; below them a level is closed
    when the cursor goes down, and going back up opens ``..`` (or, where the
    directory left may not be searched, goes down again from the deepest held
    level) and checks that it is the very directory the cursor came from
    (``st_dev``, ``st_ino``), so a directory moved meanwhile is an ``OSError``
    (``EXDEV``), never a walk somewhere else. Close it (or use it as a context
    manager); a cursor dropped without closing closes its descriptors when
    collected.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # One per level above the current directory: its descriptor (None once closed) and identity.
        self._above: list[tuple[int | None, tuple[int, int]]] = []
        self._relative = ""
        self._fd = -1
        fd = os.open(root, DIRECTORY_FLAGS)
        try:
            self._identity = _identity(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @property
    def fd(self) -> int:
        """The current directory's descriptor: valid until the cursor moves or is closed."""
        return self._fd

    @property
    def identity(self) -> tuple[int, int]:
        """The current directory's ``(st_dev, st_ino)``."""
        return self._identity

    @property
    def relative(self) -> str:
        """The current directory's name below the root, ``""`` for the root itself."""
        return self._relative

    def down(self, name: str, expected: tuple[int, int] | None = None) -> None:
        """Enter the subdirectory ``name``; ``expected`` is its identity as the caller saw it (``EXDEV`` if not)."""
        child = os.open(name, DIRECTORY_FLAGS, dir_fd=self._fd)
        try:
            identity = _identity(child)
            if expected is not None and identity != expected:
                raise OSError(errno.EXDEV, f"{name!r} was replaced while its tree was being read")
        except BaseException:
            os.close(child)
            raise
        held: int | None = self._fd
        if len(self._above) >= HELD_LEVELS:
            os.close(self._fd)
            held = None
        self._above.append((held, self._identity))
        self._fd, self._identity = child, identity
        self._relative = f"{self._relative}/{name}" if self._relative else name

    def up(self) -> None:
        """Go back to the directory the cursor came down from (``EXDEV`` if ``..`` leads elsewhere now)."""
        if not self._above:
            raise ValueError("the cursor is at the root of its tree")
        held, identity = self._above[-1]
        if held is None:
            held = self._reopen_parent(identity)
        self._above.pop()
        os.close(self._fd)
        self._fd, self._identity = held, identity
        self._relative = self._relative.rpartition("/")[0]

    def _reopen_parent(self, identity: tuple[int, int]) -> int:
        """The current directory's parent, no longer held: through ``..``, checked to be ``identity``.

        ``..`` needs search permission on the current directory, which a
        directory that may only be listed (``0400``, and not to root) lacks;
        then the parent is reached down from the deepest level still held,
        by the names the cursor came down through, each checked likewise.
        """
        try:
            parent = os.open("..", DIRECTORY_FLAGS, dir_fd=self._fd)
        except PermissionError:
            parent = self._reopen_from_held()
        if _identity(parent) != identity:
            os.close(parent)
            name = self._relative.rpartition("/")[2]
            raise OSError(errno.EXDEV, f"{name!r} was moved while its tree was being read")
        return parent

    def _reopen_from_held(self) -> int:
        start = HELD_LEVELS - 1  # the deepest held level: the cursor holds exactly the top ones
        held = self._above[start][0]
        assert held is not None
        names = self._relative.split("/")
        fd = held
        try:
            for depth in range(start, len(self._above) - 1):
                child = os.open(names[depth], DIRECTORY_FLAGS, dir_fd=fd)
                if fd != held:
                    os.close(fd)
                fd = child
                if _identity(fd) != self._above[depth + 1][1]:
                    raise OSError(errno.EXDEV, f"{names[depth]!r} was moved while its tree was being read")
        except BaseException:
            if fd != held:
                os.close(fd)
            raise
        return fd

    def move_to(self, directory: str) -> int:
        """Move to ``directory`` (a clean name below the root, ``.`` or ``""`` for the root); its descriptor.

        Goes up only as far as the nearest common ancestor, then down: entries
        placed in tar order mostly share or extend the last one's directory,
        so a move costs a level or two, however deep the tree.
        """
        target = "" if directory == "." else directory
        while not (target == self._relative or not self._relative or target.startswith(self._relative + "/")):
            self.up()
        if target != self._relative:
            rest = target[len(self._relative) + 1 :] if self._relative else target
            for name in rest.split("/"):
                self.down(name)
        return self._fd

    def close(self) -> None:
        """Close every descriptor the cursor holds; it cannot be used afterwards. Closing twice is harmless."""
        if self._fd < 0:
            return
        above, self._above = self._above, []
        fd, self._fd = self._fd, -1
        os.close(fd)
        for held, _ in above:
            if held is not None:
                os.close(held)

    def __enter__(self) -> DirectoryCursor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A backstop for a placer abandoned by an error half-way: its descriptors must not leak.
        if self._fd >= 0:
            self.close()


class Location(NamedTuple):
    """Where :func:`walk` found an entry: its ``name`` in the open ``directory``.

    The descriptor is the walk's: valid only until the walk moves on, which is
    why reading a file (:func:`file_chunks`) must finish before the next entry
    is asked for. ``path`` is for messages only: it may be longer than any
    system call accepts.
    """

    directory: int
    name: str
    root: str
    relative: str

    @property
    def path(self) -> str:
        """The entry's whole path, for messages."""
        return self.root if self.relative == "." else os.path.join(self.root, self.relative)


def metadata_from_stat(name: str, st: os.stat_result, location: Location) -> Metadata:
    """What rio's pack reads from ``lstat``; sockets cannot be packed."""
    mode = st.st_mode
    meta = Metadata(
        name=name,
        type=fsmeta.FILE,
        perms=stat.S_IMODE(mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime=st.st_mtime_ns // 1_000_000_000,
        mtime_ns=st.st_mtime_ns % 1_000_000_000,
    )
    if stat.S_ISREG(mode):
        meta.size = st.st_size
    elif stat.S_ISDIR(mode):
        meta.type = fsmeta.DIR
    elif stat.S_ISLNK(mode):
        meta.type = fsmeta.SYMLINK
        try:
            meta.linkname = os.readlink(location.name, dir_fd=location.directory)
        except OSError as exc:
            exc.filename = location.path
            raise
    elif stat.S_ISFIFO(mode):
        meta.type = fsmeta.FIFO
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        meta.type = fsmeta.CHAR_DEVICE if stat.S_ISCHR(mode) else fsmeta.BLOCK_DEVICE
        meta.devmajor, meta.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise R2k8sError(
            Category.PACK_INVALID, f"cannot pack {location.path!r}: sockets and unknown file types have no tar form"
        )
    return meta


def _sorted_names(cursor: DirectoryCursor, path: str) -> list[str]:
    try:
        return sorted(os.listdir(cursor.fd), key=os.fsencode)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: str, exc: OSError) -> R2k8sError:
    if exc.errno == errno.EXDEV:  # the cursor's check: the tree changed under the walk
        return R2k8sError(Category.PACK_INVALID, f"cannot read {path!r}: {exc.strerror}")
    return R2k8sError(Category.PACK_INVALID, f"cannot read directory {path!r}: {exc.strerror}")


def walk(root: Path) -> Iterator[tuple[str, Location, os.stat_result]]:
    """``(relative name, location, lstat)`` in rio's order: pre-order, names sorted byte-wise.

    Iterative and descriptor-relative (see the module docstring), so neither
    depth nor path length matters; memory is the sorted names of the
    directories on the way down, nothing more.
    """
    root_path = str(root)
    st = os.lstat(root_path)
    try:
        cursor = DirectoryCursor(root_path)
        if cursor.identity != (st.st_dev, st.st_ino):
            cursor.close()
            raise OSError(errno.EXDEV, "it was replaced while it was being read")
    except OSError as exc:
        raise _unreadable(root_path, exc) from None
    with cursor:
        yield ".", Location(cursor.fd, ".", root_path, "."), st
        stack: list[tuple[Iterator[str], str]] = [(iter(_sorted_names(cursor, root_path)), "")]
        while stack:
            names, prefix = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if stack:
                    _climb(cursor, root_path)
                continue
            location = Location(cursor.fd, name, root_path, prefix + name)
            try:
                st = os.stat(name, dir_fd=cursor.fd, follow_symlinks=False)
            except OSError as exc:
                exc.filename = location.path
                raise
            yield location.relative, location, st
            if stat.S_ISDIR(st.st_mode):
                try:
                    cursor.down(name, (st.st_dev, st.st_ino))
                except OSError as exc:
                    raise _unreadable(location.path, exc) from None
                stack.append((iter(_sorted_names(cursor, location.path)), location.relative + "/"))


def _climb(cursor: DirectoryCursor, root_path: str) -> None:
    try:
        cursor.up()
    except OSError as exc:  # the cursor has not moved: it still names the directory it could not leave
        raise _unreadable(os.path.join(root_path, cursor.relative), exc) from None


def read_small_file(location: Location, size: int) -> bytes:
    """All ``size`` bytes of a small regular file in one read (what :func:`file_chunks` yields, without a generator)."""
    try:
        fd = os.open(location.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=location.directory)
    except OSError as exc:
        raise R2k8sError(Category.PACK_INVALID, f"cannot read {location.path!r}: {exc.strerror}") from None
    try:
        data = os.read(fd, size) if size else b""
        while len(data) < size:  # a short read: only on odd filesystems, never an error by itself
            more = os.read(fd, size - len(data))
            if not more:
                raise R2k8sError(Category.PACK_INVALID, f"{location.path!r} shrank while it was being packed")
            data += more
        return data
    finally:
        os.close(fd)


def file_chunks(location: Location, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of a regular file; a file that changes size mid-pack is an error."""
    try:
        fd = os.open(location.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=location.directory)
    except OSError as exc:
        raise R2k8sError(Category.PACK_INVALID, f"cannot read {location.path!r}: {exc.strerror}") from None
    try:
        remaining = size
        while remaining:
            chunk = os.read(fd, min(CHUNK, remaining))
            if not chunk:
                raise R2k8sError(Category.PACK_INVALID, f"{location.path!r} shrank while it was being packed")
            remaining -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


class Placer(Protocol):
    """Where :func:`copy_tree` writes: :class:`r2k8s.core.ware.unpack.DirectoryPlacer` or one of its kind."""

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        """Create the entry ``meta`` describes (``content``: a regular file's bytes)."""

    def finish(self) -> None:
        """Called once every entry is placed (directory metadata is applied last, deepest first)."""


def copy_file(source: str, target: str) -> None:
    """Copy the regular file ``source`` to the new ``target`` with its owner, mode (setid bits set after the
    owner) and times: how a ware that is one file is placed (rio's copy placer), by the kernel (``sendfile``)."""
    src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(src)
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            remaining = st.st_size
            while remaining > 0:
                sent = os.sendfile(dst, src, None, min(remaining, 1 << 30))
                if sent == 0:
                    raise OSError(errno.EIO, f"{source} shrank while being copied")
                remaining -= sent
            os.fchown(dst, st.st_uid, st.st_gid)
            os.fchmod(dst, stat.S_IMODE(st.st_mode))
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(dst)
    finally:
        os.close(src)


def copy_tree(source: Path, placer: Placer) -> None:
    """Copy the tree at ``source`` through ``placer``: every entry in :func:`walk`'s order, then ``finish``.

    Each entry goes with the metadata ``lstat`` gives (owner, mode, mtime,
    link target, device numbers) and, for a regular file, its bytes read by
    :func:`file_chunks`; the placer decides where and how it lands, and must
    have read them when ``place`` returns (the walk's descriptor moves on).
    Errors are the placer's, :func:`walk`'s and ``OSError``: callers word them.
    """
    for name, location, st in walk(source):
        meta = metadata_from_stat(name, st, location)
        content = _views(file_chunks(location, meta.size)) if stat.S_ISREG(st.st_mode) else None
        placer.place(meta, content)
    placer.finish()


def _views(chunks: Iterator[bytes]) -> Iterator[memoryview]:
    for chunk in chunks:
        yield memoryview(chunk)


def walk_file(path: Path) -> Iterator[tuple[str, Location, os.stat_result]]:
    """What :func:`walk` gives for a regular file standing alone (a ware rio packed from a file): the one entry
    ``.``, read through its directory like any walked file.

    ``OSError`` if its directory cannot be opened; ``rio-pack-invalid`` if it is no longer a regular file.
    """
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.stat(path.name, dir_fd=directory, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise R2k8sError(Category.PACK_INVALID, f"cannot read {str(path)!r}: it was replaced while being read")
        yield ".", Location(directory, path.name, str(path), "."), st
    finally:
        os.close(directory)
