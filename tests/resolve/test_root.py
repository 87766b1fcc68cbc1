"""The root: the current folder when every local source is inside it, else the deepest folder holding them."""

from __future__ import annotations

from pathlib import Path

from resolve_packages import package

from r2k8s.resolve.root import choose_root


def test_sources_inside_the_current_folder_give_the_current_folder(tmp_path: Path) -> None:
    package(tmp_path)
    assert choose_root(["web/deploy.yaml", "jobs", "-"], cwd=tmp_path) == tmp_path
    assert choose_root(["http://127.0.0.1:1/x.yaml"], cwd=tmp_path) == tmp_path


def test_sources_elsewhere_give_the_deepest_folder_holding_them_all(tmp_path: Path) -> None:
    package(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert choose_root([str(tmp_path / "web" / "deploy.yaml")], cwd=elsewhere) == tmp_path / "web"
    assert choose_root(["../web/deploy.yaml", "../jobs/batch"], cwd=elsewhere) == tmp_path
    assert choose_root(["../web/deploy.yaml", "-"], cwd=elsewhere) == tmp_path
