"""Scratch directories that a crashed owner cannot leak forever.

A scratch directory is held open with an exclusive ``flock`` for as long as
its owner uses it. The kernel drops the lock when the owner's process dies,
however it dies (even ``SIGKILL``), so :func:`sweep_stale` can tell a
directory in use (lock held) from one left behind (lock free) without pid
files or guesses about ages, and remove only the latter. The lock file
descriptor is close-on-exec, so programs the owner starts do not hold it.

Used for the ware cache's staging directories and for job directories.
Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, overload

__all__ = ["remove_tree", "scratch_dir", "sweep_stale"]


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, however deep, even where unpacked modes forbid it.

    Wares are hostile input: a tree may be thousands of directories deep (past
    Python's recursion limit, which ``shutil.rmtree`` hits, and past
    ``PATH_MAX``) and hold ``0500`` or ``0000`` directories. So the walk is
    iterative and works relative to directory descriptors, holding two at a
    time; it never follows a symlink, and climbs back with ``..`` only after
    checking it leads to the directory it came from. A missing ``path`` is
    not an error.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    parent = os.open(os.path.dirname(os.path.abspath(path)), _DIRECTORY_FLAGS)
    try:
        _remove_directory_at(parent, os.path.basename(os.path.abspath(path)))
    finally:
        os.close(parent)


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_directory_at(parent: int, name: str) -> int:
    """Open the directory ``name`` in ``parent`` for removing its entries: made 0700 first if it is not."""
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if st.st_mode & 0o700 != 0o700:
        os.chmod(name, 0o700, dir_fd=parent)  # a directory (checked just above), so chmod cannot follow a link
    return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)


def _empty_files_of(directory: int) -> list[str]:
    """Unlink every non-directory in ``directory``; return the names of its subdirectories."""
    subdirectories = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=directory)
    return subdirectories


def _remove_directory_at(top_parent: int, top_name: str) -> None:
    # One frame per level below the top: (name in its parent, the parent's identity, subdirectories left).
    current = _open_directory_at(top_parent, top_name)
    frames: list[tuple[str, tuple[int, int], list[str]]] = []
    pending = _empty_files_of(current)
    name, parent_identity = top_name, _identity(top_parent)
    try:
        while True:
            if pending:
                child = pending.pop()
                frames.append((name, parent_identity, pending))
                parent_identity = _identity(current)
                opened = _open_directory_at(current, child)
                os.close(current)
                current, name = opened, child
                pending = _empty_files_of(current)
                continue
            if not frames:
                break
            up = os.open("..", _DIRECTORY_FLAGS, dir_fd=current)
            if _identity(up) != parent_identity:
                os.close(up)
                raise OSError(errno.EXDEV, f"{name!r} was moved while its tree was being removed")
            os.close(current)
            current = up
            os.rmdir(name, dir_fd=current)
            name, parent_identity, pending = frames.pop()
    finally:
        os.close(current)
    os.rmdir(top_name, dir_fd=top_parent)


def _identity(directory: int) -> tuple[int, int]:
    st = os.fstat(directory)
    return st.st_dev, st.st_ino


@overload
def _lock(path: str, blocking: Literal[True]) -> int: ...
@overload
def _lock(path: str, blocking: Literal[False]) -> int | None: ...
def _lock(path: str, blocking: bool) -> int | None:
    """The directory ``path`` opened and exclusively locked; ``None`` if not ``blocking`` and it is held."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def scratch_dir(parent: Path, prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A fresh, locked directory under ``parent``; removed on exit unless ``keep``."""
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        try:
            fd = _lock(str(path), blocking=True)
        except FileNotFoundError:
            continue  # a sweeper took it between mkdtemp and the lock
        try:
            same = os.path.samestat(os.fstat(fd), os.lstat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield path
    finally:
        try:
            if not keep:
                remove_tree(path)
        finally:
            os.close(fd)


def sweep_stale(
    parent: Path, log: Callable[[str], None] | None = None, remove: Callable[[Path], None] = remove_tree
) -> list[Path]:
    """Remove the directories under ``parent`` whose owner is gone; return what was removed.

    ``remove`` is how a stale directory is taken apart (a job directory may
    need mounts undone first). Entries that are not directories, and
    directories whose lock is held, are left alone.
    """
    removed: list[Path] = []
    try:
        names = sorted(os.listdir(parent))
    except FileNotFoundError:
        return removed
    for name in names:
        path = parent / name
        try:
            fd = _lock(str(path), blocking=False)
        except OSError:
            continue  # not a directory, or vanished meanwhile
        if fd is None:
            continue
        try:
            remove(path)
            removed.append(path)
            if log is not None:
                log(f"info: removed {path}, left behind by a run that did not finish")
        except OSError as exc:
            if log is not None:
                log(f"warn: cannot remove stale {path}: {exc.strerror or exc}")
        finally:
            os.close(fd)
    return removed
