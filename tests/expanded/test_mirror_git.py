"""``git:`` wares in ``r2k8s mirror``: a commit lives in its repository, so it fails saying what to do instead."""

from __future__ import annotations

from pathlib import Path

from r2k8s.core.errors import Category
from r2k8s.core.warehouse.urls import WarehouseURL
from r2k8s.expanded.mirror import FAILED, MirrorResult, WareNeed, mirror_wares


def test_a_git_ware_fails_with_a_usage_error_naming_the_fix_and_nothing_is_written(tmp_path: Path) -> None:
    need = WareNeed("git:" + "a" * 40, False, ["https://git.example/app.git"], ["web.formula"])
    reported: list[MirrorResult] = []
    target = WarehouseURL.parse(f"ca+file://{tmp_path / 'offline'}")
    [result] = mirror_wares([need], target, lambda _line: None, reported.append)
    assert result.status == FAILED and result.category is Category.USAGE
    assert "git clone --mirror" in result.detail and "needed by web.formula" in result.detail
    assert reported == [result]
    assert not (tmp_path / "offline").exists()
