"""The real ``git`` as a test oracle: making repositories and asking git what it thinks of our packs.

The package itself never runs git (it must work in stock Python images);
tests use it to make realistic repositories (deltas, submodules) and to
check that what the package writes is what git would accept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GIT = shutil.which("git")
requires_git = pytest.mark.skipif(GIT is None, reason="needs the git binary as an oracle")

_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run git in ``repo`` with a fixed identity and dates; its stdout (an error fails the test)."""
    env = {**os.environ, **_ENV}
    done = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main", *args],
        cwd=repo,
        input=input,
        capture_output=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def init(path: Path, bare: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", *(["--bare"] if bare else []))
    return path


def commit_all(repo: Path, message: str = "c") -> str:
    """Stage everything and commit; the commit ID."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").decode().strip()


def all_objects(repo: Path) -> dict[str, str]:
    """Every object git sees in ``repo``: ID -> type."""
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check")
    return {oid: kind for oid, kind, _ in (line.split() for line in out.decode().splitlines())}


def pack_stream(repo: Path, delta_base_offset: bool = True, revs: str = "--all") -> bytes:
    """``git pack-objects --stdout`` of every object reachable from ``revs``."""
    listed = git(repo, "rev-list", "--objects", *revs.split())
    args = ["pack-objects", "--stdout", "-q"] + (["--delta-base-offset"] if delta_base_offset else [])
    return git(repo, *args, input=listed)


def write_tree_files(root: Path, files: dict[str, bytes | str], executable: frozenset[str] = frozenset()) -> None:
    """Write ``files`` (a ``str`` value is a symlink target) under ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.symlink_to(content)
        else:
            path.write_bytes(content)
            path.chmod(0o755 if name in executable else 0o644)
