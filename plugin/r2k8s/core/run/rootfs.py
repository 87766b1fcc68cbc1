"""Filesystem operations on a job's root tree, from outside it, without escaping it.

A job's root is an ordinary directory on the host (``<job>/root``) that will
become ``/`` for the action. Symlinks inside it were written by wares and
mean paths *inside* the root: ``/bin/echo -> /bin/busybox`` must be read as
``<root>/bin/busybox``, never as the host's ``/bin/busybox``. Everything here
either refuses to follow symlinks (rio's ``LStat``-based operations) or
resolves them the way the kernel will after ``chroot`` (:func:`resolve`).

The mtime discipline is rio's: an operation that disturbs a directory's
mtime (creating an entry in it) restores it afterwards (``fsOp.RepairMtime``),
so assembling and tidying a root does not change the hash of an output packed
from it. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from collections.abc import Iterator

from r2k8s.core.ware.fsmeta import DEFAULT_TIME

__all__ = ["MAX_SYMLINKS", "DirProps", "host_path", "keep_mtime", "mkdir_usable", "place_dir", "resolve", "segments"]

MAX_SYMLINKS = 40
"""Linux's limit on symlinks followed while resolving one path (ELOOP beyond)."""


@dataclasses.dataclass(frozen=True)
class DirProps:
    """Properties for directories created on a job's behalf (repeatr ``DirpropsForUserinfo``)."""

    uid: int
    gid: int
    perms: int = 0o755
    mtime: int = DEFAULT_TIME


def segments(path: str) -> list[str]:
    """``"/a/b/c"`` -> ``["a", "a/b", "a/b/c"]``: each prefix, relative to the root."""
    parts = [p for p in path.split("/") if p and p != "."]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def host_path(root: str, rel: str) -> str:
    """The host path of ``rel`` (relative, already cleaned) under ``root``, no resolution."""
    return root if rel in ("", ".") else os.path.join(root, rel)


@contextlib.contextmanager
def keep_mtime(path: str) -> Iterator[None]:
    """Restore ``path``'s mtime (and set rio's fixed atime) after the block, if it existed."""
    try:
        before = os.lstat(path).st_mtime_ns
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.utime(path, ns=(DEFAULT_TIME * 10**9, before), follow_symlinks=False)


def place_dir(path: str, props: DirProps) -> None:
    """Create one directory with exactly ``props`` (rio ``PlaceFile`` for a dir)."""
    os.mkdir(path, 0o700)
    os.chown(path, props.uid, props.gid, follow_symlinks=False)
    os.chmod(path, props.perms)
    os.utime(path, ns=(DEFAULT_TIME * 10**9, props.mtime * 10**9), follow_symlinks=False)


def resolve(root: str, path: str, *, follow_last: bool = True) -> str:
    """The host path that ``path`` names once ``root`` is ``/``, symlinks resolved inside ``root``.

    Components that do not exist are kept as they are (so the result can be
    created); ``..`` never climbs above ``root``. Raises ``OSError(ELOOP)``
    after :data:`MAX_SYMLINKS` links and ``OSError(ENOTDIR)`` when a middle
    component is not a directory.
    """
    pending = [p for p in path.split("/") if p and p != "."]
    pending.reverse()
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (pending or follow_last):
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(40, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            more = [p for p in target.split("/") if p and p != "."]
            pending.extend(reversed(more))
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            raise OSError(20, "not a directory", "/" + "/".join(done + [part]))
        done.append(part)
    return os.path.join(root, *done) if done else root


def mkdir_usable(root: str, path: str, props: DirProps) -> None:
    """rio ``fsOp.MkdirUsable``: make ``path`` (absolute, inside ``root``) usable by ``props.uid``.

    Missing segments are created with ``props``; existing directory segments
    get ``o+x`` (the last one ``u+rwx`` instead); the last is chowned to
    ``props.uid:gid``. A segment that exists but is not a directory (a symlink
    included: rio does not follow them here) is an error. Parent mtimes are
    restored.
    """
    rels = segments(path)
    with contextlib.ExitStack() as repairs:
        for rel in rels:
            parent = host_path(root, rel.rsplit("/", 1)[0] if "/" in rel else "")
            repairs.enter_context(keep_mtime(parent))
            merge = 0o700 if rel == rels[-1] else 0o001
            here = host_path(root, rel)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                place_dir(here, props)
                continue
            if not stat.S_ISDIR(st.st_mode):
                kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
                raise NotADirectoryError(20, f"/{rel} already exists and is a {kind}, not a directory")
            mode = stat.S_IMODE(st.st_mode)
            if mode | merge != mode:
                os.chmod(here, mode | merge)
        final = host_path(root, rels[-1]) if rels else root
        repairs.enter_context(keep_mtime(final))
        os.chown(final, props.uid, props.gid, follow_symlinks=False)
