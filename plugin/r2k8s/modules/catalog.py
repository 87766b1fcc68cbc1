"""``catalog:MODULE:RELEASE:ITEM`` imports, read from the workspace's catalog as reach reads it.

The catalog is ``.timeless/catalog/<MODULE>/lineage.tl`` (go-timeless-api
``Lineage``: ``{"name": MODULE, "releases": [{"name", "items": {ITEM: WARE},
…}]}``) with an optional ``mirrors.tl`` beside it (``WareSourcing``:
``byWare``, ``byModule``, ``byPackType``, each mapping to warehouse URLs),
whose URLs become the import's fetch warehouses (relative ``file://`` ones
from the ``mirrors.tl`` folder). Every problem is reported at the import, in
the module's own error list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from r2k8s.core.errors import R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula import lenient_json
from r2k8s.core.jsonpath import JsonPath
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import WarehouseURL
from r2k8s.modules.model import Import
from r2k8s.modules.workspace import Workspace

__all__ = ["Catalog", "absolute_url"]

Report = Callable[[JsonPath, str], None]


def absolute_url(url: str, base_dir: Path) -> str:
    """``url`` with a relative file path made absolute against ``base_dir``, so it means the same anywhere."""
    warehouse = WarehouseURL.parse(url, base_dir)
    if not warehouse.is_file or warehouse.path is None:
        return url
    return f"{warehouse.scheme}://{warehouse.path}"


class Catalog:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_module(cls, module_dir: Path) -> Catalog:
        return cls(Workspace.of_module(module_dir).catalog)

    def resolve(self, name: str, text: str, item_ref: str, path: JsonPath, report: Report) -> Import | None:
        parts = item_ref.split(":")
        if len(parts) != 3 or not all(parts):
            report(path, f"{_q(text)}: a catalog reference is catalog:MODULE:RELEASE:ITEM")
            return None
        module, release, item = parts
        folder = self.root / module
        lineage = self._read(folder / "lineage.tl", path, text, report, required=True)
        if lineage is None:
            return None
        releases = lineage.get("releases") if isinstance(lineage, dict) else None
        for entry in releases if isinstance(releases, list) else []:
            if isinstance(entry, dict) and entry.get("name") == release:
                items = entry.get("items")
                ware_text = items.get(item) if isinstance(items, dict) else None
                if not isinstance(ware_text, str):
                    known = ", ".join(sorted(items)) if isinstance(items, dict) else "none"
                    report(path, f"{_q(text)}: release {_q(release)} of {_q(module)} has no item {_q(item)} ({known})")
                    return None
                try:
                    ware = WareID.parse(ware_text)
                except R2k8sError as exc:
                    report(path, f"{_q(text)}: {folder / 'lineage.tl'}: {exc.message}")
                    return None
                return Import(name, text, ware, self._mirrors(folder, module, ware, path, text, report))
        report(path, f"{_q(text)}: {folder / 'lineage.tl'} has no release {_q(release)}")
        return None

    def _mirrors(
        self, folder: Path, module: str, ware: WareID, path: JsonPath, text: str, report: Report
    ) -> tuple[str, ...]:
        sourcing = self._read(folder / "mirrors.tl", path, text, report, required=False)
        if not isinstance(sourcing, dict):
            return ()
        urls: list[str] = []
        by_ware = sourcing.get("byWare")
        by_module = sourcing.get("byModule")
        by_packtype = sourcing.get("byPackType")
        for found in (
            by_ware.get(str(ware)) if isinstance(by_ware, dict) else None,
            (by_module.get(module) or {}).get(ware.packtype) if isinstance(by_module, dict) else None,
            by_packtype.get(ware.packtype) if isinstance(by_packtype, dict) else None,
        ):
            for url in found if isinstance(found, list) else []:
                if isinstance(url, str):
                    try:
                        urls.append(absolute_url(url, folder))
                    except R2k8sError as exc:
                        report(path, f"{_q(text)}: {folder / 'mirrors.tl'}: {exc.message}")
        return tuple(dict.fromkeys(urls))

    def _read(self, file: Path, path: JsonPath, text: str, report: Report, *, required: bool) -> Any:
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            if required:
                report(path, f"{_q(text)}: the catalog has no {file}")
            return None
        except OSError as exc:
            report(path, f"{_q(text)}: cannot read {file}: {exc.strerror or exc}")
            return None
        try:
            return lenient_json.loads(data, source=str(file)).value
        except R2k8sError as exc:
            report(path, f"{_q(text)}: {exc.message}")
            return None
