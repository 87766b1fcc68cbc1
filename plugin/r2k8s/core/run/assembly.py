"""Assemble a job's root tree from its inputs, as rio's ``stitch.Assembler`` does.

Inputs are placed in order of their path strings (so ``/`` first, then
``/usr``, then ``/usr/local``...). Missing parent directories of a mount
point are created with the job's directory properties (0755, the job's
uid:gid, mtime 2010-01-01), restoring the mtime of the directory they were
created in. A parent that is a symlink is refused (it could point out of the
tree). Nothing may be placed under a ``mount:`` input.

How a cached ware is placed (the cache entry itself is never modified):

* ``overlay`` (repeatr's default through rio's overlay placer): an overlayfs
  mount with the cache entry as the lower layer and a per-job upper layer;
  the upper layer's root gets the ware root's owner, mode and mtime, or they
  would leak through.
* ``copy`` (rio's copy placer): a full copy with owners, modes and mtimes.
  Slower, but needs no mount privilege and works where overlayfs cannot
  stack (e.g. an upper layer on another overlayfs).
* ``auto``: overlay, falling back to copy (with a warning) when the kernel
  refuses the mount.

``mount:ro:/host`` and ``mount:rw:/host`` inputs are bind mounts of host paths
(read-only remounted for ``ro``), as in rio's bind placer.

Mounts made here belong to the caller's mount namespace; callers make that a
private namespace (see :mod:`r2k8s.core.run.host`), so they vanish with it even if
the process is killed. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.run import linux
from r2k8s.core.run.rootfs import DirProps, host_path, keep_mtime, place_dir, segments
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.tree import copy_file, copy_tree
from r2k8s.core.ware.unpack import DirectoryPlacer
from r2k8s.core.ware.wareid import WareID

__all__ = ["PLACERS", "Assembly", "assemble", "parse_mount"]

PLACERS = ("auto", "overlay", "copy")

_INVALID = Category.ASSEMBLY_INVALID
LogFn = Callable[[str], None]


def _invalid(message: str) -> R2k8sError:
    return R2k8sError(_INVALID, f"invalid inputs config: {message}")


def parse_mount(ware: WareID) -> tuple[str, bool]:
    """``mount:ro:/p`` -> ``("/p", False)``; ``mount:rw:/p`` -> ``("/p", True)``."""
    mode, sep, source = ware.hash.partition(":")
    if not sep or mode not in ("ro", "rw"):
        raise _invalid('mounts must specify mode (e.g. "ro:/path" or "rw:/path")')
    if not source.startswith("/"):
        raise _invalid(f"mount source {_q(source)} must be an absolute path")
    return source, mode == "rw"


def _under(path: str, parent: str) -> bool:
    if parent == "/":
        return True
    return path == parent or path.startswith(parent.rstrip("/") + "/")


@dataclasses.dataclass
class Assembly:
    """A placed root tree; :meth:`teardown` undoes its mounts (newest first)."""

    root: str
    mounts: list[str] = dataclasses.field(default_factory=list)
    placements: dict[str, str] = dataclasses.field(default_factory=dict)
    """Formula path -> how it was placed (``overlay``, ``copy``, ``bind-ro``, ``bind-rw``)."""

    def teardown(self) -> None:
        first: OSError | None = None
        while self.mounts:
            target = self.mounts.pop()
            try:
                linux.umount2(target)
            except OSError:
                try:
                    linux.umount2(target, linux.MNT_DETACH)
                except OSError as exc:
                    first = first or exc
        if first is not None:
            raise R2k8sError(Category.LOCAL_CACHE_PROBLEM, f"cannot unmount job inputs: {first}")


class _Assembler:
    def __init__(self, root: str, layers: str, props: DirProps, placer: str, log: LogFn) -> None:
        if placer not in PLACERS:
            raise R2k8sError(Category.USAGE, f"unknown placer {_q(placer)} (use one of: {', '.join(PLACERS)})")
        self.assembly = Assembly(root)
        self.layers = layers
        self.props = props
        self.placer = placer
        self.log = log

    # -- the tree ---------------------------------------------------------------------

    def make_parents(self, path: str) -> None:
        root = self.assembly.root
        for rel in segments(path)[:-1]:
            here = host_path(root, rel)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                parent = os.path.dirname(here)
                with keep_mtime(parent):
                    try:
                        place_dir(here, self.props)
                    except OSError as exc:
                        raise _invalid_io(f"error creating parent dirs in tree unpack: /{rel}", exc) from None
                continue
            if stat.S_ISLNK(st.st_mode):
                raise R2k8sError(
                    _INVALID,
                    f"cannot place input {_q(path)}: its parent /{rel} is a symlink"
                    f" (to {_q(os.readlink(here))}), which could lead out of the job's tree",
                )
            if not stat.S_ISDIR(st.st_mode):
                raise R2k8sError(_INVALID, f"cannot place input {_q(path)}: its parent /{rel} is not a directory")

    def make_dest(self, target: str, want_dir: bool) -> None:
        """rio ``mkDest``: the mount point must exist with the source's type."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            with keep_mtime(os.path.dirname(target)):
                try:
                    if want_dir:
                        os.mkdir(target, 0o755)
                    else:
                        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644))
                except OSError as exc:
                    raise _invalid_io("placer: destination unusable", exc) from None
            return
        if stat.S_ISDIR(st.st_mode) != want_dir or stat.S_ISLNK(st.st_mode):
            raise R2k8sError(
                _INVALID, f"placer: destination {target} already exists and is a different type than the source"
            )

    # -- placers ----------------------------------------------------------------------

    def place_ware(self, path: str, source: str) -> None:
        target = host_path(self.assembly.root, segments(path)[-1] if path != "/" else "")
        if stat.S_ISREG(os.lstat(source).st_mode):
            self._copy_file(path, source, target)
            return
        if self.placer in ("overlay", "auto"):
            try:
                self._overlay(path, source, target)
                return
            except OSError as exc:
                if self.placer == "overlay":
                    raise _invalid_io(f"error placing {_q(path)} with an overlay mount", exc) from None
                self.log(f"warn: overlay mounts are not available here ({exc.strerror or exc}); copying inputs instead")
                self.placer = "copy"
        self._copy(path, source, target)

    def _overlay(self, path: str, source: str, target: str) -> None:
        self.make_dest(target, want_dir=True)
        layer = os.path.join(self.layers, str(len(self.assembly.placements)))
        upper, work = os.path.join(layer, "upper"), os.path.join(layer, "work")
        os.makedirs(work, mode=0o700)
        src = os.lstat(source)
        os.mkdir(upper, 0o700)
        os.chown(upper, src.st_uid, src.st_gid)
        os.chmod(upper, stat.S_IMODE(src.st_mode))
        os.utime(upper, ns=(src.st_atime_ns, src.st_mtime_ns))
        options = f"lowerdir={_escape(source)},upperdir={_escape(upper)},workdir={_escape(work)}"
        linux.mount("overlay", target, "overlay", 0, options)
        self.assembly.mounts.append(target)
        self.assembly.placements[path] = "overlay"

    def _copy(self, path: str, source: str, target: str) -> None:
        with keep_mtime(os.path.dirname(target)):
            try:
                if os.path.lexists(target):
                    _empty_dir(target) if target == self.assembly.root else remove_tree(Path(target))
                if not os.path.lexists(target):
                    os.mkdir(target, 0o700)
                placer = DirectoryPlacer(Path(target))
                try:
                    copy_tree(Path(source), placer)
                finally:
                    placer.close()  # finish() closes it too; this is for a copy that failed half-way
            except OSError as exc:
                raise _invalid_io(f"error placing {_q(path)} with the copy placer", exc) from None
        self.assembly.placements[path] = "copy"

    def _copy_file(self, path: str, source: str, target: str) -> None:
        """A ware that is one file is copied whatever the placer, as rio's overlay placer hands files to its copy
        placer (overlayfs mounts only directories); what was at the path before goes, as under a mount."""
        if path == "/":
            raise R2k8sError(
                _INVALID, f"cannot place {_q(path)}: the ware is one file, and the root must be a directory"
            )
        with keep_mtime(os.path.dirname(target)):
            try:
                remove_tree(Path(target))
                copy_file(source, target)
            except OSError as exc:
                raise _invalid_io(
                    f"error placing {_q(path)} (a ware that is one file) with the copy placer", exc
                ) from None
        self.assembly.placements[path] = "copy"

    def place_mount(self, path: str, source: str, writable: bool) -> None:
        target = host_path(self.assembly.root, segments(path)[-1] if path != "/" else "")
        try:
            src = os.stat(source)
        except OSError as exc:
            raise R2k8sError(
                Category.LOCAL_CACHE_PROBLEM, f"error placing with bind mount: {source}: {exc.strerror}"
            ) from None
        self.make_dest(target, want_dir=stat.S_ISDIR(src.st_mode))
        try:
            linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
            self.assembly.mounts.append(target)
            if not writable:
                linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC | linux.MS_RDONLY | linux.MS_REMOUNT)
        except OSError as exc:
            raise _invalid_io(f"error placing {_q(path)} with a bind mount of {source}", exc) from None
        self.assembly.placements[path] = "bind-rw" if writable else "bind-ro"


def _escape(path: str) -> str:
    """Overlayfs splits its options on ``,`` and layer lists on ``:``; backslash-escape both."""
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def _empty_dir(path: str) -> None:
    for name in os.listdir(path):
        remove_tree(Path(path) / name)


def _invalid_io(what: str, exc: OSError) -> R2k8sError:
    if exc.errno == errno.EPERM:
        return R2k8sError(Category.EXECUTOR_FAILED, f"{what}: {exc.strerror} (mounting needs root: CAP_SYS_ADMIN)")
    return R2k8sError(_INVALID, f"{what}: {exc.strerror or exc}")


def assemble(
    root: str,
    inputs: Mapping[str, WareID],
    cached: Mapping[str, Path],
    props: DirProps,
    layers: str,
    *,
    placer: str = "auto",
    log: LogFn | None = None,
) -> Assembly:
    """Place every input under ``root`` (an existing empty directory); return the assembly.

    ``cached`` maps each ware input's path to its cache entry (from
    :meth:`WareCache.ensure_all`); ``layers`` is a private directory for
    overlay upper/work layers. On failure, mounts made so far are undone.
    """
    order = sorted(inputs)
    mounts = [p for p in order if inputs[p].is_mount]
    for path in order:
        for mount in mounts:
            if mount != path and _under(path, mount):
                raise _invalid(
                    f"cannot stitch additional inputs under a mount ({_q(path)} is under mount at {_q(mount)})"
                )
    worker = _Assembler(root, layers, props, placer, log or (lambda _line: None))
    try:
        for path in order:
            ware = inputs[path]
            worker.make_parents(path)
            if ware.is_mount:
                source, writable = parse_mount(ware)
                worker.place_mount(path, source, writable)
            else:
                worker.place_ware(path, str(cached[path]))
    except BaseException:
        with contextlib.suppress(R2k8sError):
            worker.assembly.teardown()
        raise
    return worker.assembly
