"""``r2k8s mirror``: every ware some manifests need, copied from its warehouses into one the user serves.

For an offline or air-gapped cluster: gather the wares of every expanded
container (the URLs the expansion recorded, i.e. what its pods would try),
of a formula lock, or of the formulas unexpanded manifests name (files
relative to the manifest naming them, ``formula:NAME`` from Formula resources
beside), and copy each into one content-addressed file warehouse. Serve that
folder inside the cluster and point ``warehouses.mirrors``/``rewrite`` at it.

Each ware is read from its URLs in order (passing over any warehouse that
does not serve it, where a pod passes over only missing ones: :func:`_open`),
streamed into the target's
staging file while its tree hash is computed, and renamed into place only
when the hash is the ware's ID: a mismatch or a cut transfer leaves nothing
behind, and no ware is ever held in memory. A ware already in the target is
hashed too; only a verified copy is skipped (a bad one is replaced).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import WarehouseURL
from r2k8s.expanded.entries import ExpandedContainer
from r2k8s.expanded.reader import Expanded, Reference

__all__ = ["COPIED", "FAILED", "PRESENT", "MirrorResult", "WareNeed", "mirror_wares", "needs_of", "target_warehouse"]

COPIED = "copied"
PRESENT = "present"
FAILED = "failed"
_CHUNK = 1 << 20


@dataclasses.dataclass
class WareNeed:
    """One ware to mirror: the URLs to try (every container's, first seen first) and who needs it."""

    ware: str
    legacy: bool
    urls: list[str] = dataclasses.field(default_factory=list)
    needed_by: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class MirrorResult:
    """What became of one ware: copied (and from where), already present (verified), or failed (why)."""

    need: WareNeed
    status: str
    detail: str
    category: Category | None = None

    def line(self) -> str:
        """``copied tar:… from URL``, ``present tar:… (verified)``, ``failed tar:…: why``."""
        separator = ": " if self.status == FAILED else " "
        return f"{self.status} {self.need.ware}{separator}{self.detail}"


def _absolute(url: str, base_dir: Path | None) -> str:
    """A relative ``file://./x`` URL made absolute against ``base_dir`` (the formula's folder, else the cwd),
    so that URLs from formulas in different folders can be tried together."""
    warehouse = WarehouseURL.parse(url, base_dir)
    return f"{warehouse.scheme}://{warehouse.path}" if warehouse.path is not None else url


def _add(
    needs: dict[tuple[str, bool], WareNeed], ware: str, legacy: bool, urls: Iterable[str], who: str, base: Path | None
) -> None:
    need = needs.setdefault((ware, legacy), WareNeed(ware, legacy))
    for url in urls:
        absolute = _absolute(url, base)
        if absolute not in need.urls:
            need.urls.append(absolute)
    if who not in need.needed_by:
        need.needed_by.append(who)


def needs_of(
    containers: Sequence[ExpandedContainer], references: Sequence[Reference], found: Expanded
) -> tuple[list[WareNeed], list[str]]:
    """Every ware the containers, and the formulas the references name, need, in the order first needed; and
    one error for each reference whose formula cannot be loaded (named by its manifest, resource, container)."""
    needs: dict[tuple[str, bool], WareNeed] = {}
    errors = []
    for entry in containers:
        for ware in entry.inputs:
            _add(needs, ware.ware, ware.legacy, ware.urls, entry.where(), None)
    for reference in references:
        try:
            loaded, base = _load(reference, found)
        except R2k8sError as exc:
            errors.append(exc.message)
            continue
        inputs = loaded.formula.inputs or {}
        for path in sorted(inputs):
            urls = loaded.context.fetch_urls.get(path, ())
            _add(needs, str(inputs[path]), path in loaded.legacy_inputs, urls, reference.where(), base)
    return list(needs.values()), errors


def _load(reference: Reference, found: Expanded) -> tuple[Any, Path]:
    """The formula ``reference`` names, and the folder its relative ``file://`` URLs start from."""
    from r2k8s.formula_files import load_formula_data, load_formula_file

    image = reference.image
    if image.startswith("formula:"):
        name = image[len("formula:") :]
        item = found.formula_items.get(name)
        if item is None:
            known = ", ".join(sorted(found.formula_items)) or "none"
            raise R2k8sError(
                Category.USAGE,
                f"{reference.where()}: image {image!r} names no Formula resource or function config formula of the"
                f" inputs (known: {known}); give the file holding it with -f",
            )
        file, path, spec = item
        base = path.parent if path is not None else Path.cwd()
        try:
            return load_formula_data(spec, f"{file}: formula {name!r}", path=base / name), base
        except R2k8sError as exc:
            raise R2k8sError(exc.category, f"{reference.where()}: {exc.message}") from None
    folder = reference.path.parent if reference.path is not None else Path.cwd()
    formula = (folder / image).resolve()
    try:
        return load_formula_file(formula), formula.parent
    except R2k8sError as exc:
        raise R2k8sError(exc.category, f"{reference.where()}: image {image!r}: {exc.message}") from None


def target_warehouse(url: str, log: LogFn) -> WarehouseURL:
    """The warehouse to fill: a content-addressed file warehouse, made if it does not exist yet."""
    warehouse = WarehouseURL.parse(url, Path.cwd())
    if warehouse.kind != "file":
        raise R2k8sError(
            Category.WAREHOUSE_UNWRITABLE,
            f"cannot mirror into {url}: http warehouses are read-only; mirror into ca+file://DIR and serve DIR",
        )
    if not warehouse.content_addressed:
        raise R2k8sError(
            Category.USAGE,
            f"cannot mirror into {url}: a file:// URL names one ware's file, and a mirror holds many; use"
            " ca+file://DIR (or the legacy flat file+ca://DIR)",
        )
    assert warehouse.path is not None
    if not warehouse.path.is_dir():
        try:
            warehouse.path.mkdir(parents=True)
        except OSError as exc:
            raise R2k8sError(
                Category.WAREHOUSE_UNAVAILABLE, f"cannot make the warehouse {url} ({warehouse.path}): {exc.strerror}"
            ) from None
        log(f"made the warehouse folder {warehouse.path}")
    return warehouse


class _Tee(io.RawIOBase):
    """Reads ``source``, writing every byte read to ``sink`` as it passes (the hash and the copy, one read)."""

    def __init__(self, source: BinaryIO, sink: BinaryIO) -> None:
        self._source = source
        self._sink = sink

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        if data:
            self._sink.write(data)
            buffer[: len(data)] = data
        return len(data)


def _tree_id(stream: BinaryIO, ware: WareID, legacy: bool) -> WareID:
    """The ware ID of the tar or zip ``stream`` (rio's tree hash, or v0.15's for legacy wares), read to its end.

    A zip that is not a seekable file is read whole into a temporary spool first (its directory is at its end).
    """
    from r2k8s.core.ware.filters import UNPACK_LOSSLESS
    from r2k8s.core.ware.ingest import ingest_tar, ingest_zip

    if ware.packtype == "zip" and not legacy:
        result = ingest_zip(stream, UNPACK_LOSSLESS)
    else:
        result = ingest_tar(stream, UNPACK_LOSSLESS, packtype=ware.packtype, legacy=legacy)
    while stream.read(_CHUNK):  # what follows the tar's end (padding, a compressor's trailer) is copied too
        pass
    return result.prefilter_id


def _present(warehouse: WarehouseURL, ware: WareID, legacy: bool, log: LogFn) -> bool:
    """Whether the target holds ``ware`` and it verifies (a copy that does not is replaced, with a warning)."""
    location = Path(warehouse.location_for(ware))
    try:
        with open(location, "rb") as stream:
            hashed = _tree_id(stream, ware, legacy)
    except FileNotFoundError:
        return False
    except (OSError, R2k8sError) as exc:
        log(f"warn: {location} does not verify ({getattr(exc, 'message', exc)}); copying {ware} again")
        return False
    if hashed != ware:
        log(f"warn: {location} hashes to {hashed}, not {ware}; copying it again")
    return hashed == ware


def _open(need: WareNeed, ware: WareID, log: LogFn) -> tuple[BinaryIO, str]:
    """The first of the need's warehouses that serves ``ware``, in their order. Unlike a pod (rio's
    ``PickReader``, which moves on only from a missing warehouse or ware), any warehouse that does not serve it
    (unreachable, refusing, missing, lacking it) is passed over: the machine mirroring usually cannot reach the
    in-cluster mirror an expansion lists first, and every byte is verified anyway. A ware that arrives wrong
    (its hash, a corrupt tar) stops the search, as for a pod: a broken warehouse is never hidden."""
    from r2k8s.core.warehouse.fetch import open_ware

    tried = []
    reachable = False
    for url in need.urls:
        try:
            return open_ware(ware, [url], Path.cwd(), log)
        except R2k8sError as exc:
            if exc.category not in (Category.WAREHOUSE_UNAVAILABLE, Category.WARE_NOT_FOUND):
                raise
            reachable = reachable or exc.category is Category.WARE_NOT_FOUND
            tried.append(f"{url}: {exc.message}")
    if not need.urls:
        raise R2k8sError(Category.WARE_NOT_FOUND, "no warehouse URL names it")
    category = Category.WARE_NOT_FOUND if reachable else Category.WAREHOUSE_UNAVAILABLE
    raise R2k8sError(category, f"no warehouse served it (tried: {'; '.join(tried)})")


def _copy(need: WareNeed, ware: WareID, warehouse: WarehouseURL, log: LogFn) -> str:
    """Copy ``ware`` into ``warehouse``; returns where it came from. Raises what stopped it (nothing is left)."""
    from r2k8s.core.warehouse.save import begin_save

    stream, location = _open(need, ware, log)
    with stream, begin_save(warehouse.raw, Path.cwd(), log) as sink:
        hashed = _tree_id(io.BufferedReader(_Tee(stream, sink.file), _CHUNK), ware, need.legacy)
        if hashed != ware:
            raise R2k8sError(
                Category.HASH_MISMATCH, f"hash mismatch: {location} holds {hashed}, not {ware}; nothing was saved"
            )
        sink.commit(ware)
    return location


def mirror_wares(
    needs: Sequence[WareNeed], warehouse: WarehouseURL, log: LogFn, report: Callable[[MirrorResult], None]
) -> list[MirrorResult]:
    """Mirror each of ``needs`` into ``warehouse``, reporting each result as it is known; all results."""
    results = []
    for need in needs:
        try:
            ware = WareID.parse(need.ware)
            if _present(warehouse, ware, need.legacy, log):
                result = MirrorResult(need, PRESENT, "(already there, verified)")
            else:
                result = MirrorResult(need, COPIED, f"from {_copy(need, ware, warehouse, log)}")
        except R2k8sError as exc:
            result = MirrorResult(need, FAILED, f"{exc.message}; needed by {need.needed_by[0]}", exc.category)
        report(result)
        results.append(result)
    return results
