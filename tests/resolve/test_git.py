"""A file's git work tree, asked of real git: the commit, clean or dirty (changed, untracked), none outside."""

from __future__ import annotations

from pathlib import Path

import pytest
from resolve_packages import committed, git, package, write

from r2k8s.resolve.git import WorkTrees


def test_a_committed_tree_is_clean_at_its_commit_and_a_change_makes_it_dirty(tmp_path: Path) -> None:
    formulas = package(tmp_path)
    commit = committed(tmp_path)
    state = WorkTrees().of(formulas["worker"])
    assert state is not None
    assert (state.top, state.commit, state.dirty) == (tmp_path, commit, False)
    assert len(commit) == 40
    write(tmp_path / "web" / "new.txt", "untracked\n")
    assert WorkTrees().of(formulas["web"]) == state.__class__(tmp_path, commit, True)
    (tmp_path / "web" / "new.txt").unlink()
    formulas["web"].write_text(formulas["web"].read_text() + " ")
    assert WorkTrees().of(formulas["web"]) == state.__class__(tmp_path, commit, True)
    assert git(tmp_path, "status", "--porcelain") == "M web/web.formula"  # and git left it as it was


def test_a_file_outside_any_work_tree_has_none(tmp_path: Path) -> None:
    formulas = package(tmp_path)
    assert WorkTrees().of(formulas["web"]) is None


def test_a_repository_without_a_commit_has_no_commit(tmp_path: Path) -> None:
    formulas = package(tmp_path)
    git(tmp_path, "init", "-q")
    state = WorkTrees().of(formulas["web"])
    assert state is not None and (state.commit, state.dirty) == (None, True)


def test_the_callers_git_dir_does_not_point_it_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    formulas = package(tmp_path / "pkg")
    commit = committed(tmp_path / "pkg")
    write(tmp_path / "other" / "x.txt", "x\n")
    other = committed(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "other" / ".git"))
    state = WorkTrees().of(formulas["web"])
    assert state is not None and state.commit == commit != other
