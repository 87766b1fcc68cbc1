"""Root takeover: turn the running container's own root filesystem into the formula's inputs.

This is kaniko's approach (``pkg/util/fs_util.go``), the reference's
recommended default for Pod Security *baseline*: no mounts, no namespaces,
no ``CAP_SYS_ADMIN``. Everything the container runtime mounted stays exactly
as it is — ``/proc``, ``/dev``, ``/sys``, ``/etc/hosts``, ``/etc/resolv.conf``,
``/etc/hostname``, ``/dev/termination-log``, every volume (the ware cache and
the agent itself among them) — and everything else of the image is deleted
and replaced by the wares, so ``kubectl exec``, exec probes and lifecycle
hooks all see the formula's filesystem.

Rules, each learned the hard way by kaniko or in the reference's experiment:

* the mountpoints come from ``/proc/self/mountinfo``; a mountpoint is never
  deleted, replaced or written through, and a directory holding one is kept
  (its other contents go);
* a ware's entry at or below a mountpoint is skipped (the runtime's file
  wins, as Docker's bind-mounted ``/etc/hosts`` wins over an image's);
* a directory the ware has where a kept directory is gets the ware's owner,
  mode and mtime; any other existing path is unlinked before it is created;
* the caller imports every module it needs *before* calling
  :func:`take_over`: the image's Python standard library is deleted too.

Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from r2k8s.core.agent.timings import Timings
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware import fsmeta
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.tree import Location, copy_file, metadata_from_stat, walk
from r2k8s.core.ware.unpack import DirectoryPlacer

__all__ = ["ALWAYS_KEPT", "clear_root", "mountpoints", "place_over", "take_over"]

ALWAYS_KEPT = ("/proc", "/sys", "/dev")
"""Kept even if mountinfo cannot be read (a runtime always mounts them)."""

LogFn = Callable[[str], None]


def _unescape(field: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as ``\ooo``."""
    out, index = [], 0
    while index < len(field):
        digits = field[index + 1 : index + 4]
        if field[index] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(digits, 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def mountpoints(mountinfo: str) -> set[str]:
    """The mount points listed in a ``/proc/self/mountinfo`` text (field 5), ``/`` left out."""
    points = set()
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            point = os.path.normpath(_unescape(fields[4]))
            if point != "/":
                points.add(point)
    return points


def _ancestors(paths: Iterable[str]) -> set[str]:
    kept: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            kept.add(parent)
            parent = os.path.dirname(parent)
    return kept


def clear_root(root: str, protected: set[str], keep: set[str]) -> int:
    """Delete everything under ``root`` except ``protected`` paths and the ``keep`` directories above them.

    Paths are absolute and relative to ``root`` (``root`` is ``/`` in a pod).
    Returns how many top-level entries were removed (for the log).
    """
    removed = 0
    stack = [("/", root)]
    while stack:
        logical, real = stack.pop()
        for name in sorted(os.listdir(real)):
            child_logical = os.path.join(logical, name)
            child_real = os.path.join(real, name)
            if child_logical in protected:
                continue
            if child_logical in keep and os.path.isdir(child_real) and not os.path.islink(child_real):
                stack.append((child_logical, child_real))
                continue
            remove_tree(Path(child_real)) if os.path.isdir(child_real) and not os.path.islink(
                child_real
            ) else os.unlink(child_real)
            removed += 1
    return removed


class _OverPlacer(DirectoryPlacer):
    """A :class:`DirectoryPlacer` for a target that is not empty: skips protected paths, reuses kept dirs."""

    def __init__(self, target: Path, logical: str, protected: set[str], keep: set[str], log: LogFn) -> None:
        super().__init__(target)
        self.logical = logical
        self.protected = protected
        self.keep = keep
        self.log = log
        self.skipped: set[str] = set()

    def _logical(self, name: str) -> str:
        return self.logical if name == "." else os.path.normpath(os.path.join(self.logical, name))

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        logical = self._logical(meta.name)
        parent = meta.name.rsplit("/", 1)[0] if "/" in meta.name else None
        if logical in self.protected or (parent is not None and parent in self.skipped):
            self.skipped.add(meta.name)
            if logical in self.protected:
                self.log(f"kept {logical}: the container runtime mounted it")
            return
        if meta.name == "." or logical in self.keep:
            if meta.type != fsmeta.DIR:
                self.skipped.add(meta.name)
                self.log(f"kept directory {logical}: the ware has {meta.type} there, but it holds mounts")
                return
            self._dirs[meta.name] = meta  # a directory kept, as if this placer had made it
            return
        super().place(meta, content)

    def _fill(self, fd: int, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        if not isinstance(content, _CachedFile):
            super()._fill(fd, meta, content)
            return
        # The kernel copies the bytes (sendfile between files): no buffer in Python, whose fresh megabyte
        # buffers cost page faults on every chunk and doubled the copy's time for a Debian tree.
        source = os.open(
            content.location.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=content.location.directory
        )
        try:
            remaining = meta.size
            while remaining:
                sent = os.sendfile(fd, source, None, min(remaining, 1 << 30))
                if sent == 0:
                    raise OSError(errno.EIO, f"{content.location.path} shrank in the ware cache")
                remaining -= sent
        finally:
            os.close(source)


class _CachedFile(Iterator[memoryview]):
    """A regular file of the cached tree, copied by :meth:`_OverPlacer._fill` (never iterated)."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def __next__(self) -> memoryview:
        raise StopIteration


def place_over(target: str, logical: str, source: Path, protected: set[str], keep: set[str], log: LogFn) -> None:
    """Copy the cached tree ``source`` onto ``target`` (whose path in the new root is ``logical``).

    As :func:`~r2k8s.core.ware.tree.copy_tree` does, with each regular file's bytes copied by the kernel."""
    placer = _OverPlacer(Path(target), logical, protected, keep, log)
    for name, location, st in walk(source):
        placer.place(
            metadata_from_stat(name, st, location), _CachedFile(location) if stat.S_ISREG(st.st_mode) else None
        )
    placer.finish()


def take_over(
    root: str, inputs: Mapping[str, Path], mountinfo: str, log: LogFn, timings: Timings | None = None
) -> None:
    """Replace the tree at ``root`` by the inputs (path in the new root → cached tree), in path order.

    ``root`` is ``/`` in a pod; tests pass a directory and a made-up mountinfo.
    """
    protected = mountpoints(mountinfo) | set(ALWAYS_KEPT)
    keep = _ancestors(protected)
    try:
        removed = clear_root(root, protected, keep)
        log(f"cleared the image's root filesystem ({removed} entries; kept {len(protected)} mounts)")
        if timings is not None:
            timings.mark("cleared")
        for path in sorted(inputs):
            logical = os.path.normpath(path)
            if logical in protected:
                raise R2k8sError(
                    Category.ASSEMBLY_INVALID,
                    f"input {_q(path)} is a mount point of the container (a volume or a runtime"
                    " mount); move the volume or the input",
                )
            target = os.path.join(root, logical.lstrip("/")) if logical != "/" else root
            if inputs[path].is_file() and not inputs[path].is_symlink():
                _place_file(root, logical, target, inputs[path], keep)
                continue
            if logical != "/":
                _make_parents(root, logical)
                if os.path.lexists(target) and logical not in keep:
                    remove_tree(Path(target)) if os.path.isdir(target) and not os.path.islink(target) else os.unlink(
                        target
                    )
                if not os.path.lexists(target):
                    os.mkdir(target, 0o700)
            place_over(target, logical, inputs[path], protected, keep, log)
        if timings is not None:
            timings.mark("placed")
    except OSError as exc:
        raise R2k8sError(
            Category.ASSEMBLY_INVALID, f"root takeover failed: {exc.filename or ''}: {exc.strerror or exc}"
        ) from None


def _place_file(root: str, logical: str, target: str, source: Path, keep: set[str]) -> None:
    """A ware that is one file (rio packs a file as ``.``) becomes that file at its path, as rio's copy placer
    places it; what the image had there goes."""
    if logical == "/" or logical in keep:
        where = "the root must be a directory" if logical == "/" else "a directory holding mounts is there"
        raise R2k8sError(
            Category.ASSEMBLY_INVALID, f"cannot place input {_q(logical)}: the ware is one file, and {where}"
        )
    _make_parents(root, logical)
    if os.path.lexists(target):
        remove_tree(Path(target))
    copy_file(str(source), target)


def _make_parents(root: str, logical: str) -> None:
    """Parents of a nested input must be real directories of the new root (never symlinks out of it)."""
    current = root
    for part in logical.strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise R2k8sError(
                Category.ASSEMBLY_INVALID,
                f"cannot place input {_q(logical)}: its parent {current[len(root) :] or '/'} is not a directory",
            )
