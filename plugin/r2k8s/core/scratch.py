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
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, overload

__all__ = ["remove_tree", "scratch_dir", "sweep_stale"]


def remove_tree(path: Path) -> None:
    """Remove a tree even where unpacked modes forbid it (a ware may hold 0500 dirs)."""

    def unlock(func: Callable[[str], object], failed_path: str, _exc_info: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed_path), 0o700)
        if os.path.isdir(failed_path) and not os.path.islink(failed_path):
            with contextlib.suppress(OSError):
                os.chmod(failed_path, 0o700)
        func(failed_path)

    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)
            shutil.rmtree(path, onerror=unlock)
        else:
            os.unlink(path)


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
