"""The git work tree a file is in: its commit and whether it has uncommitted changes, as a record says.

Asked of the ``git`` program (``rev-parse``, ``status --porcelain``): it knows every layout (worktrees,
submodules, ``.git`` files) and every index format. It is asked to change and run nothing: no optional
locks (``status`` would otherwise refresh the index, writing into the repository it records), no
``core.fsmonitor`` hook (a repository's own config could name a program that ``status`` runs), and none of
the caller's ``GIT_DIR``-like variables, which would point it at another repository. A folder git does not
call a work tree (none, ``git`` missing, a repository git refuses as another user's) has no state: the
record then says nothing of git. Each work tree is asked once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

__all__ = ["WorkTree", "WorkTrees"]

_ISOLATING = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES")
_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class WorkTree:
    top: Path
    commit: str | None
    """``HEAD``'s commit (40 hex digits; 64 in a SHA-256 repository), ``None`` before the first commit."""
    dirty: bool
    """Whether ``git status --porcelain`` lists anything: changed, staged or untracked files."""


class WorkTrees:
    """Work trees as they are now: one per resolve, each folder and work tree asked once."""

    def __init__(self) -> None:
        self._tops: dict[str, str | None] = {}
        self._states: dict[str, WorkTree | None] = {}

    def of(self, file: Path) -> WorkTree | None:
        """The work tree holding ``file`` (an absolute path), or ``None``."""
        folder = str(Path(os.path.realpath(file)).parent)
        if folder not in self._tops:
            out = _git(folder, "rev-parse", "--show-toplevel")
            self._tops[folder] = (out.strip() or None) if out is not None else None
        top = self._tops[folder]
        if top is None:
            return None
        if top not in self._states:
            self._states[top] = _state(top)
        return self._states[top]


def _state(top: str) -> WorkTree | None:
    status = _git(top, "status", "--porcelain", "--untracked-files=normal")
    if status is None:
        return None
    head = _git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return WorkTree(Path(top), (head or "").strip() or None, bool(status.strip()))


def _git(folder: str, *args: str) -> str | None:
    """``git -C folder ARGS``'s stdout, or ``None`` when it fails or is not installed."""
    env = {key: value for key, value in os.environ.items() if key not in _ISOLATING}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["LC_ALL"] = "C"
    try:
        done = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "-C", folder, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None
