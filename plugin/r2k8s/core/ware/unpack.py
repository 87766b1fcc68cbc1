"""Unpack a tar or zip ware into a directory, safely and all-or-nothing.

Entries are placed into a fresh staging directory beside the target; only
when the whole ware has been read and its prefilter hash equals the
requested ware ID is the staging directory renamed onto the target. On any
error (hash mismatch, corrupt archive, filter rejection, I/O) the staging
directory is removed and the target is exactly as it was.

Nothing is ever written outside the staging directory: names are cleaned and
``..``/absolute names refused (see :func:`fsmeta.clean_relpath`), every parent
of an entry must be a directory this unpack created (so nothing is written
through a symlink), files are opened ``O_EXCL|O_NOFOLLOW``, and hardlinks
are refused outright (rio refuses them, and the tree hash would not cover them).

Entries are created relative to a descriptor of their directory
(:class:`~r2k8s.core.ware.tree.DirectoryCursor`), never by whole path: a ware
may nest thousands of directories, past ``PATH_MAX``, and each level is
opened ``O_NOFOLLOW`` on the way.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError, ware_corrupt
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, Metadata
from r2k8s.core.ware.ingest import IngestResult, ingest_tar, ingest_zip
from r2k8s.core.ware.tar.compression import ByteSource
from r2k8s.core.ware.tree import DirectoryCursor
from r2k8s.core.ware.wareid import WareID

__all__ = [
    "FULL_ERRNOS",
    "DirectoryPlacer",
    "PlacementError",
    "place_staged",
    "unpack_tar",
    "unpack_ware",
    "unpack_zip",
]


_KIND_WORDS = {fsmeta.SYMLINK: "a symlink", fsmeta.FILE: "a file"}


def _times_ns(meta: Metadata) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds: atime is rio's fixed 2010-01-01, mtime the entry's."""
    return DEFAULT_TIME * 10**9, meta.mtime * 10**9 + meta.mtime_ns


class PlacementError(R2k8sError):
    """Writing into the target failed (``rio-inoperable-path``); ``errno`` says why.

    Callers that own the target give some causes their own meaning: the ware
    cache reports ``ENOSPC``/``EDQUOT`` as *the cache* being full.
    """

    def __init__(self, message: str, errno_: int | None) -> None:
        super().__init__(Category.INOPERABLE_PATH, message)
        self.errno = errno_


#: Errors that mean "the filesystem is full", not "this path is wrong".
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _inoperable(name: str, exc: OSError) -> PlacementError:
    return PlacementError(f"error while unpacking {name!r}: {_reason(exc)}", exc.errno)


class DirectoryPlacer:
    """Places filtered entries under ``root`` (a directory this unpack owns).

    :meth:`finish` closes the descriptors it holds; :meth:`close` does so
    for a placement abandoned half-way.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        # Only directories are remembered (their metadata is applied last): what else was placed is on disk, in
        # a staging directory no one else writes, so a repeated name is found by the O_EXCL create failing.
        # Memory grows with the ware's directories, not its files.
        self._dirs: dict[str, Metadata] = {}
        self._placed_any = False
        self._uid, self._gid = os.getuid(), os.getgid()
        # Opened at the first entry; the second only for hardlinks, whose target may be in another directory.
        self._cursor: DirectoryCursor | None = None
        self._link_cursor: DirectoryCursor | None = None
        self.root_is_file = False

    def _at(self, name: str) -> tuple[int, str]:
        """The open directory that holds ``name`` and its name there (the root is ``"."`` in itself)."""
        if self._cursor is None:
            self._cursor = DirectoryCursor(self.root)
        if name == ".":
            return self._cursor.move_to("."), "."
        parent, _, base = name.rpartition("/")
        return self._cursor.move_to(parent), base

    def close(self) -> None:
        """Release the directory descriptors; the placer cannot place anything afterwards."""
        for cursor in (self._cursor, self._link_cursor):
            if cursor is not None:
                cursor.close()

    def _is_placed_dir(self, name: str) -> bool:
        return name in self._dirs or (name == "." and not self.root_is_file)

    def _kind_at(self, name: str) -> str:
        """What the unpack already placed at ``name``, in words (for messages; only on the error path)."""
        try:
            directory, base = self._at(name)
            mode = os.lstat(base, dir_fd=directory).st_mode
        except OSError:
            return "not a directory"
        if stat.S_ISDIR(mode):
            return "a directory"
        return "a symlink" if stat.S_ISLNK(mode) else "a file" if stat.S_ISREG(mode) else "not a directory"

    def _check_parent(self, name: str) -> None:
        parent = name.rsplit("/", 1)[0] if "/" in name else "."
        if not self._is_placed_dir(parent):
            what = "a file" if parent == "." else self._kind_at(parent)
            raise ware_corrupt(
                f"refusing to unpack {name!r}: its parent {parent!r} is {what}"
                " (writing through it could escape the target)"
            )

    #: Where a ware that is one file (named ``.``) is placed in the staging directory, before it becomes the target.
    ROOT_FILE = "file"

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        name = meta.name
        if "\0" in name or "\0" in meta.linkname:
            # A zip name (or symlink target) may hold a NUL, which no filesystem can; rio's placement fails too.
            raise R2k8sError(
                Category.INOPERABLE_PATH, f"cannot unpack {name!r}: its name or link target contains a NUL byte"
            )
        if name == "." and meta.type != fsmeta.DIR:
            self._place_root_file(meta, content)
            return
        if meta.type == fsmeta.DIR and self._is_placed_dir(name):
            self._dirs[name] = meta  # a repeated directory takes the later metadata (rio HEAD)
            return
        if name == ".":
            raise ware_corrupt("refusing to unpack '.': the ware already placed a file there")
        self._check_parent(name)
        try:
            directory, base = self._at(name)
            self._place_new(meta, directory, base, content)
        except FileExistsError:
            raise ware_corrupt(
                f"refusing to unpack {name!r}: the ware already placed {self._kind_at(name)} there"
            ) from None
        except OSError as exc:
            raise _inoperable(name, exc) from None
        self._placed_any = True

    def _place_root_file(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        """rio places a ware that is a single file (``.``) at the target path itself; anything else there is corrupt."""
        if meta.type != fsmeta.FILE or self._dirs or self._placed_any or self.root_is_file:
            raise ware_corrupt(f"refusing to unpack '.': it is {_KIND_WORDS.get(meta.type, 'not a file')} among others")
        try:
            directory, _ = self._at(".")
            self._place_new(meta, directory, self.ROOT_FILE, content)
        except OSError as exc:
            raise _inoperable(".", exc) from None
        self.root_is_file = True  # so no entry can be placed under it

    def _place_new(self, meta: Metadata, directory: int, base: str, content: Iterator[memoryview] | None) -> None:
        """Create ``base`` in the open ``directory`` as ``meta`` says."""
        kind = meta.type
        if kind == fsmeta.DIR:
            os.mkdir(base, 0o700, dir_fd=directory)
            self._dirs[meta.name] = meta
            return
        if kind == fsmeta.FILE:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(base, flags, 0o600, dir_fd=directory)
            try:
                self._fill(fd, meta, content)
                self._chown(meta, fd)
                os.fchmod(fd, meta.perms)
                os.utime(fd, ns=_times_ns(meta))
            finally:
                os.close(fd)
            return
        if kind == fsmeta.HARDLINK:
            self._link(meta, directory, base)
            return
        if kind == fsmeta.SYMLINK:
            os.symlink(meta.linkname, base, dir_fd=directory)
        elif kind == fsmeta.FIFO:
            os.mkfifo(base, 0o600, dir_fd=directory)
        elif kind in fsmeta.DEVICE_TYPES:
            type_bits = stat.S_IFCHR if kind == fsmeta.CHAR_DEVICE else stat.S_IFBLK
            try:
                os.mknod(base, type_bits | 0o600, os.makedev(meta.devmajor, meta.devminor), dir_fd=directory)
            except (OverflowError, ValueError):  # numbers no dev_t can hold; report like mknod's EINVAL
                raise OSError(errno.EINVAL, f"device number {meta.devmajor},{meta.devminor} is out of range") from None
        self._finish_entry(meta, directory, base)

    def _fill(self, fd: int, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        """Write a new regular file's bytes (a placer that can copy them in the kernel overrides this)."""
        for chunk in content or ():
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]

    def _link(self, meta: Metadata, directory: int, base: str) -> None:
        """A hardlink (legacy wares only) may only name a regular file this unpack placed."""
        target = fsmeta.clean_relpath(meta.linkname)
        target_parent, _, target_base = target.rpartition("/")
        if self._link_cursor is None:
            self._link_cursor = DirectoryCursor(self.root)
        try:
            # A directory this unpack placed (so no symlink on the way), holding a regular file: placed earlier.
            if not self._is_placed_dir(target_parent or ".") or target == ".":
                raise FileNotFoundError
            source = self._link_cursor.move_to(target_parent)
            if not stat.S_ISREG(os.lstat(target_base, dir_fd=source).st_mode):
                raise FileNotFoundError
        except OSError:
            raise ware_corrupt(
                f"refusing to unpack hardlink {meta.name!r}: its target {meta.linkname!r} is not a file placed earlier"
            ) from None
        os.link(target_base, base, src_dir_fd=source, dst_dir_fd=directory, follow_symlinks=False)

    def _chown(self, meta: Metadata, target: int, name: str | None = None) -> None:
        """Like rio: change ownership only when it differs from this process's.

        ``target`` is an open file descriptor, or with ``name`` the directory
        holding the entry ``name`` (not followed if a symlink).
        """
        if (meta.uid, meta.gid) == (self._uid, self._gid):
            return
        try:
            if name is None:
                os.fchown(target, meta.uid, meta.gid)
            else:
                os.chown(name, meta.uid, meta.gid, dir_fd=target, follow_symlinks=False)
        except PermissionError:
            raise R2k8sError(
                Category.INOPERABLE_PATH,
                f"cannot give {meta.name!r} owner {meta.uid}:{meta.gid}: not permitted "
                "(unpack as root, or with the filters uid=mine,gid=mine)",
            ) from None

    def _finish_entry(self, meta: Metadata, directory: int, base: str) -> None:
        self._chown(meta, directory, base)
        if meta.type != fsmeta.SYMLINK:
            os.chmod(base, meta.perms, dir_fd=directory, follow_symlinks=False)
        os.utime(base, ns=_times_ns(meta), dir_fd=directory, follow_symlinks=False)

    def finish(self) -> None:
        """Apply directory owners, modes and mtimes deepest-first, after all children exist; then :meth:`close`.

        The root comes last: its mode may forbid reaching anything below it.
        """
        try:
            for name in sorted(self._dirs, key=_deepest_last, reverse=True):
                try:
                    directory, base = self._at(name)
                    self._finish_entry(self._dirs[name], directory, base)
                except OSError as exc:
                    raise _inoperable(name, exc) from None
        finally:
            self.close()


def _deepest_last(name: str) -> tuple[int, str]:
    """Sorted in reverse, deepest directories first and the root after everything."""
    return (-1, "") if name == "." else (name.count("/"), name)


def _check_target(target: Path) -> None:
    if not os.path.lexists(target):
        if not target.parent.is_dir():
            raise R2k8sError(
                Category.INOPERABLE_PATH, f"cannot unpack into {str(target)!r}: its parent directory does not exist"
            )
        return
    if target.is_symlink() or not target.is_dir() or any(target.iterdir()):
        raise R2k8sError(
            Category.INOPERABLE_PATH, f"cannot unpack into {str(target)!r}: it exists and is not an empty directory"
        )


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the verified staging tree onto ``target`` (absent or an empty directory) in one step.

    Another process may have filled or replaced ``target`` since it was checked
    (two unpacks racing for it): that is an inoperable target, not a crash.
    """
    try:
        if os.path.lexists(target):
            os.rmdir(target)
        os.rename(staging, target)
    except OSError as exc:
        raise R2k8sError(
            Category.INOPERABLE_PATH,
            f"cannot unpack into {str(target)!r}: {exc.strerror or exc} (something else filled or replaced it"
            " while this ware was unpacked)",
        ) from None


T = TypeVar("T")


def place_staged(target: Path, fill: Callable[[DirectoryPlacer], T], log: LogFn | None = None) -> T:
    """Run ``fill`` with a placer into a fresh staging directory beside ``target``; move it onto ``target``.

    The one all-or-nothing step of every unpack: ``target`` must not exist or
    be an empty directory; whatever ``fill`` raises (a corrupt ware, a hash
    mismatch it checks, I/O) removes the staging directory and leaves the
    target as it was. On success directory metadata is applied
    (:meth:`DirectoryPlacer.finish`) and the tree renamed into place (a ware
    that is one file: that file); ``fill``'s result is returned.
    """
    target = Path(os.path.abspath(target))
    _check_target(target)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpack-", dir=target.parent))
    except OSError as exc:
        raise PlacementError(
            f"cannot make a staging directory beside {str(target)!r}: {_reason(exc)}", exc.errno
        ) from None
    placer = DirectoryPlacer(staging)
    try:
        result = fill(placer)
        placer.finish()
        if placer.root_is_file:  # a ware that is one file: the file becomes the target
            _move_into_place(staging / DirectoryPlacer.ROOT_FILE, target)
            os.rmdir(staging)
        else:
            _move_into_place(staging, target)
    except BaseException:
        placer.close()
        _discard(staging, log)
        raise
    return result


def unpack_tar(
    ware_id: WareID,
    stream: ByteSource,
    target: Path,
    filters: Filters,
    log: Callable[[str], None] | None = None,
    *,
    legacy: bool = False,
) -> WareID:
    """Unpack the tar ware read from ``stream`` onto ``target``; return the filtered ware ID.

    ``target`` must not exist or be an empty directory. A ware that is one file
    (named ``.``, as ``rio pack`` of a file writes it) becomes the file ``target``. The stream's prefilter
    hash must equal ``ware_id`` (``rio-hash-mismatch`` otherwise). ``legacy``
    verifies against repeatr v0.15's tree hash instead, which also admits
    hardlinks (to files placed earlier by the same unpack).
    """
    if ware_id.packtype != "tar":
        raise R2k8sError(Category.USAGE, f"cannot unpack {ware_id} as a tar ware")
    return place_staged(
        target, lambda placer: _verified(ware_id, ingest_tar(stream, filters, placer, log, legacy=legacy)), log
    )


def unpack_zip(
    ware_id: WareID,
    source: BinaryIO,
    target: Path,
    filters: Filters,
    log: Callable[[str], None] | None = None,
) -> WareID:
    """Unpack the zip ware read from ``source`` onto ``target``; return the filtered ware ID.

    As :func:`unpack_tar`, all-or-nothing and verified against ``ware_id``.
    A ``source`` that cannot seek (an HTTP body) is first spooled to an
    anonymous temporary file beside the staging directory, on the target's
    filesystem, and is gone when the unpack ends.
    """
    if ware_id.packtype != "zip":
        raise R2k8sError(Category.USAGE, f"cannot unpack {ware_id} as a zip ware")
    spool_dir = Path(os.path.abspath(target)).parent
    return place_staged(
        target, lambda placer: _verified(ware_id, ingest_zip(source, filters, placer, log, spool_dir=spool_dir)), log
    )


def unpack_ware(
    ware_id: WareID,
    source: BinaryIO,
    target: Path,
    filters: Filters,
    log: Callable[[str], None] | None = None,
    *,
    legacy: bool = False,
) -> WareID:
    """:func:`unpack_tar` or :func:`unpack_zip`, as ``ware_id``'s packtype says (``legacy`` is for tar only)."""
    if ware_id.packtype == "zip":
        if legacy:
            raise R2k8sError(Category.USAGE, f"cannot unpack {ware_id}: legacy hashes exist only for tar wares")
        return unpack_zip(ware_id, source, target, filters, log)
    if ware_id.packtype == "tar":
        return unpack_tar(ware_id, source, target, filters, log, legacy=legacy)
    raise R2k8sError(Category.USAGE, f"cannot unpack {ware_id} from a stream: only tar and zip wares are")


def _verified(ware_id: WareID, result: IngestResult) -> WareID:
    """The filtered ID of what was placed, once the ware's own hash proved to be ``ware_id``."""
    if result.prefilter_id != ware_id:
        raise R2k8sError(
            Category.HASH_MISMATCH,
            f"hash mismatch: expected {ware_id}, the data hashes to {result.prefilter_id}",
        )
    return result.filtered_id


def _discard(staging: Path, log: Callable[[str], None] | None) -> None:
    """Remove a failed unpack's staging tree; a failure to do so is logged, never allowed to hide the cause."""
    try:
        remove_tree(staging)
    except OSError as exc:
        if log is not None:
            log(f"warn: cannot remove the staging directory {staging}: {exc.strerror or exc}")
