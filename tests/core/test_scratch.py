"""Removing trees a ware may hold: any depth, hostile modes, links never followed (issue 12, deep trees)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo import PLUGIN_DIR

from r2k8s.core.scratch import remove_tree

NOBODY = 65534

DEPTH = 5_000
"""Well past Python's recursion limit (1,000) and, at two bytes a level, past PATH_MAX (4,096)."""


def deep_tree(top: Path, depth: int, outside: Path, owner: int | None = None) -> None:
    """``top/a/a/…`` ``depth`` levels, each level with a file, a link to ``outside`` and a fan of empty dirs."""
    top.mkdir()
    current = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            os.mkdir("a", dir_fd=current)
            os.symlink(outside, "link", dir_fd=current)
            os.close(os.open("file", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=current))
            names = ["a", "link", "file"]
            if level % 1000 == 0:
                for i in range(50):
                    os.mkdir(f"fan{i}", dir_fd=current)
                    names.append(f"fan{i}")
            if owner is not None:
                os.fchown(current, owner, owner)
                for name in names:
                    os.chown(name, owner, owner, dir_fd=current, follow_symlinks=False)
            below = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=current)
            os.close(current)
            current = below
    finally:
        os.close(current)


@pytest.fixture(autouse=True)
def _no_deep_leftovers(tmp_path: Path) -> Iterator[None]:
    """pytest's own clean-up of old temporary folders is recursive: never leave it a deep tree, pass or fail."""
    yield
    for child in tmp_path.iterdir():
        remove_tree(child)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    kept = tmp_path / "outside"
    kept.mkdir()
    (kept / "keep").write_text("must survive")
    return kept


def test_a_tree_deeper_than_the_recursion_limit_and_path_max_is_removed(tmp_path: Path, outside: Path) -> None:
    deep_tree(tmp_path / "tree", DEPTH, outside)
    remove_tree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()
    assert (outside / "keep").read_text() == "must survive"  # links were removed, not followed


def test_directories_without_permissions_are_removed(tmp_path: Path, outside: Path) -> None:
    deep_tree(tmp_path / "tree", 20, outside)
    for mode, path in ((0o500, tmp_path / "tree" / "a"), (0o000, tmp_path / "tree" / "a" / "a" / "a")):
        path.chmod(mode)
    remove_tree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()


def test_a_link_or_file_or_nothing_at_the_top_is_handled(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "link").symlink_to(outside)
    remove_tree(tmp_path / "link")
    assert not (tmp_path / "link").is_symlink() and (outside / "keep").exists()
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()
    remove_tree(tmp_path / "never-was")  # no error


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the tree to another user")
def test_an_unprivileged_owner_removes_its_own_read_only_tree(outside: Path) -> None:
    """Without CAP_DAC_OVERRIDE the 0000 and 0500 directories really are closed: removal must open them."""
    base = Path(tempfile.mkdtemp(prefix="r2k8s-scratch-", dir="/tmp"))  # pytest's folders are closed to others
    try:
        base.chmod(0o755)
        os.chown(base, NOBODY, NOBODY)
        deep_tree(base / "tree", 1_500, outside, owner=NOBODY)
        (base / "tree" / "a" / "a").chmod(0o000)
        (base / "tree" / "a").chmod(0o500)
        probe = "; ".join(
            [
                f"import sys; sys.path.insert(0, {str(PLUGIN_DIR)!r})",
                "from pathlib import Path",
                "from r2k8s.core.scratch import remove_tree",
                f"remove_tree(Path({str(base / 'tree')!r}))",
            ]
        )
        user = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        done = subprocess.run(
            ["setpriv", *user, sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert not (base / "tree").exists()
    finally:
        remove_tree(base)
