"""The workspace: the nearest folder at or above the module's holding ``.timeless/``, as reach lays it out.

reach keeps a workspace's catalog in ``.timeless/catalog``, the wares its
steps make in ``.timeless/warehouse`` and its memo in ``.timeless/memo``
(``gadgets/layout``). r2k8s uses the same places, so a workspace serves
both tools. reach searches from the current folder; r2k8s from the module's
folder, so ``emerge path/to/module.tl`` means the same from anywhere. A
module with no workspace above it is its own: its folder takes the role.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["TIMELESS", "Workspace"]

TIMELESS = ".timeless"


@dataclass(frozen=True)
class Workspace:
    root: Path
    """The folder holding ``.timeless`` (made there when first written, if it is the module's own folder)."""

    @classmethod
    def of_module(cls, module_dir: Path) -> Workspace:
        start = module_dir.absolute()
        for folder in (start, *start.parents):
            if (folder / TIMELESS).is_dir():
                return cls(folder)
        return cls(start)

    @property
    def catalog(self) -> Path:
        return self.root / TIMELESS / "catalog"

    @property
    def warehouse(self) -> Path:
        return self.root / TIMELESS / "warehouse"

    @property
    def memo(self) -> Path:
        return self.root / TIMELESS / "memo"
