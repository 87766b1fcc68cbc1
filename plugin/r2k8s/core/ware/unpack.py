"""Unpack a tar ware into a directory, safely and all-or-nothing.

Entries are placed into a fresh staging directory beside the target; only
when the whole stream has been read and its prefilter hash equals the
requested ware ID is the staging directory renamed onto the target. On any
error (hash mismatch, corrupt tar, filter rejection, I/O) the staging
directory is removed and the target is exactly as it was.

Nothing is ever written outside the staging directory: names are cleaned and
``..``/absolute names refused (see :func:`fsmeta.clean_relpath`), every parent
of an entry must be a directory this unpack created (so nothing is written
through a symlink), files are opened ``O_EXCL|O_NOFOLLOW``, and hardlinks
are refused outright (rio refuses them, and the tree hash would not cover them).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from r2k8s.core.errors import Category, R2k8sError, ware_corrupt
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.fsmeta import DEFAULT_TIME, Metadata
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.tar.compression import ByteSource
from r2k8s.core.ware.wareid import WareID

__all__ = ["DirectoryPlacer", "unpack_tar"]


_KIND_WORDS = {fsmeta.SYMLINK: "a symlink", fsmeta.FILE: "a file"}


def _times_ns(meta: Metadata) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds: atime is rio's fixed 2010-01-01, mtime the entry's."""
    return DEFAULT_TIME * 10**9, meta.mtime * 10**9 + meta.mtime_ns


def _inoperable(name: str, exc: OSError) -> R2k8sError:
    return R2k8sError(Category.INOPERABLE_PATH, f"error while unpacking {name!r}: {exc.strerror or exc}")


class DirectoryPlacer:
    """Places filtered entries under ``root`` (a directory this unpack owns)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._kinds: dict[str, str] = {".": fsmeta.DIR}
        self._dirs: dict[str, Metadata] = {}
        self._uid, self._gid = os.getuid(), os.getgid()

    def _path(self, name: str) -> str:
        return str(self.root) if name == "." else os.path.join(self.root, name)

    def _check_parent(self, name: str) -> None:
        parent = name.rsplit("/", 1)[0] if "/" in name else "."
        kind = self._kinds.get(parent)
        if kind != fsmeta.DIR:
            what = _KIND_WORDS.get(kind or "", "not a directory")
            raise ware_corrupt(
                f"refusing to unpack {name!r}: its parent {parent!r} is {what}"
                " (writing through it could escape the target)"
            )

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        name = meta.name
        existing = self._kinds.get(name)
        if existing is not None:
            if existing == fsmeta.DIR and meta.type == fsmeta.DIR:
                self._dirs[name] = meta  # a repeated directory takes the later metadata (rio HEAD)
                return
            raise ware_corrupt(
                f"refusing to unpack {name!r}: the ware already placed {_KIND_WORDS.get(existing, 'a directory')} there"
            )
        self._check_parent(name)
        path = self._path(name)
        try:
            self._place_new(meta, path, content)
        except OSError as exc:
            raise _inoperable(name, exc) from None
        self._kinds[name] = meta.type

    def _place_new(self, meta: Metadata, path: str, content: Iterator[memoryview] | None) -> None:
        kind = meta.type
        if kind == fsmeta.DIR:
            os.mkdir(path, 0o700)
            self._dirs[meta.name] = meta
            return
        if kind == fsmeta.FILE:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                for chunk in content or ():
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                self._chown(meta, fd)
                os.fchmod(fd, meta.perms)
                os.utime(fd, ns=_times_ns(meta))
            finally:
                os.close(fd)
            return
        if kind == fsmeta.HARDLINK:
            self._link(meta, path)
            return
        if kind == fsmeta.SYMLINK:
            os.symlink(meta.linkname, path)
        elif kind == fsmeta.FIFO:
            os.mkfifo(path, 0o600)
        elif kind in fsmeta.DEVICE_TYPES:
            type_bits = stat.S_IFCHR if kind == fsmeta.CHAR_DEVICE else stat.S_IFBLK
            try:
                os.mknod(path, type_bits | 0o600, os.makedev(meta.devmajor, meta.devminor))
            except (OverflowError, ValueError):  # numbers no dev_t can hold; report like mknod's EINVAL
                raise OSError(errno.EINVAL, f"device number {meta.devmajor},{meta.devminor} is out of range") from None
        self._finish_entry(meta, path)

    def _link(self, meta: Metadata, path: str) -> None:
        """A hardlink (legacy wares only) may only name a regular file this unpack placed."""
        target = fsmeta.clean_relpath(meta.linkname)
        if self._kinds.get(target) != fsmeta.FILE:
            raise ware_corrupt(
                f"refusing to unpack hardlink {meta.name!r}: its target {meta.linkname!r} is not a file placed earlier"
            )
        os.link(self._path(target), path, follow_symlinks=False)

    def _chown(self, meta: Metadata, target: int | str) -> None:
        """Like rio: change ownership only when it differs from this process's.

        ``target`` is an open file descriptor, or a path (not followed if a symlink).
        """
        if (meta.uid, meta.gid) == (self._uid, self._gid):
            return
        try:
            if isinstance(target, int):
                os.fchown(target, meta.uid, meta.gid)
            else:
                os.chown(target, meta.uid, meta.gid, follow_symlinks=False)
        except PermissionError:
            raise R2k8sError(
                Category.INOPERABLE_PATH,
                f"cannot give {meta.name!r} owner {meta.uid}:{meta.gid}: not permitted "
                "(unpack as root, or with the filters uid=mine,gid=mine)",
            ) from None

    def _finish_entry(self, meta: Metadata, path: str) -> None:
        self._chown(meta, path)
        if meta.type != fsmeta.SYMLINK:
            os.chmod(path, meta.perms, follow_symlinks=False)
        os.utime(path, ns=_times_ns(meta), follow_symlinks=False)

    def finish(self) -> None:
        """Apply directory owners, modes and mtimes deepest-first, after all children exist."""
        for name in sorted(self._dirs, key=lambda n: (n.count("/"), n), reverse=True):
            try:
                self._finish_entry(self._dirs[name], self._path(name))
            except OSError as exc:
                raise _inoperable(name, exc) from None


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

    ``target`` must not exist or be an empty directory. The stream's prefilter
    hash must equal ``ware_id`` (``rio-hash-mismatch`` otherwise). ``legacy``
    verifies against repeatr v0.15's tree hash instead, which also admits
    hardlinks (to files placed earlier by the same unpack).
    """
    if ware_id.packtype != "tar":
        raise R2k8sError(Category.USAGE, f"cannot unpack {ware_id}: only tar wares are supported")
    target = Path(os.path.abspath(target))
    _check_target(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpack-", dir=target.parent))
    try:
        placer = DirectoryPlacer(staging)
        result = ingest_tar(stream, filters, placer, log, legacy=legacy)
        if result.prefilter_id != ware_id:
            raise R2k8sError(
                Category.HASH_MISMATCH,
                f"hash mismatch: expected {ware_id}, the data hashes to {result.prefilter_id}",
            )
        placer.finish()
        _move_into_place(staging, target)
    except BaseException:
        remove_tree(staging)
        raise
    return result.filtered_id
