"""Decide, before anything is created on the cluster, who moves which ware, and refuse what cannot work.

The build pod fetches from warehouses it can reach itself: ``http(s)``
ones. ``file://`` and ``ca+file://`` warehouses live on the client's machine
(relative ones beside the formula), so:

* an input with any file URL among its fetch URLs is opened **here**, trying
  its URLs in rio's order exactly as a local run would (same messages, same
  exit codes for a missing warehouse or ware), and its bytes are streamed to
  the pod, which verifies them against the ware ID like any fetch;
* a ``git:`` input with a ``file://`` repository among its URLs is checked out
  **here**, into this machine's ware cache as a local run does (every object
  verified by git's hashes, submodules included, whatever their URLs), and
  the pod gets that tree as a tar (a repository is not one file to stream),
  verified there against the tar's ID, which the run spec carries;
* an output whose save URL is a file URL is packed in the pod, streamed back
  and saved **here** (atomically, :func:`r2k8s.core.warehouse.save.begin_save`);
  its warehouse is checked to exist before the run starts. ``http`` save URLs
  go to the pod unchanged, which refuses them as a local run does.

``mount:`` inputs name paths on the machine that runs the formula; a pod
cannot mount the client's files, so they are refused with a clear error.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import BinaryIO

from r2k8s.core.agent.run_spec import RunSpec
from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula.model import FormulaContext
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.fetch import open_ware
from r2k8s.core.warehouse.save import check_writable
from r2k8s.core.warehouse.urls import WarehouseURL
from r2k8s.formula_files import LoadedFormula

__all__ = ["Plan", "StreamedWare", "plan_run"]


@dataclasses.dataclass
class StreamedWare:
    """A ware the client reads from its own warehouses and streams into the pod."""

    ware: WareID
    paths: list[str]
    urls: list[str]
    tree: tuple[WareID, BinaryIO] | None = None
    """For a ``git:`` ware: the ``tar:`` ID of its checkout and that tar, spooled (sent instead of the ware)."""

    def open(self, base_dir: Path, log: LogFn) -> tuple[BinaryIO, str]:
        if self.tree is not None:
            return self.tree[1], f"this machine's checkout of {self.ware}"
        return open_ware(self.ware, self.urls, base_dir, log)

    def close(self) -> None:
        """Drop the spooled checkout of a plan that will not run."""
        if self.tree is not None:
            self.tree[1].close()


def _checkout_for_pod(ware: WareID, urls: list[str], base_dir: Path, log: LogFn | None) -> tuple[WareID, BinaryIO]:
    """Check ``ware`` out into this machine's ware cache, as ``run --local`` would, and pack that tree losslessly
    into an anonymous spool: its ``tar:`` ID and the spool, rewound."""
    from r2k8s.core.ware.filters import PACK_LOSSLESS
    from r2k8s.core.ware.pack import pack_tree
    from r2k8s.core.warehouse.cache import WareCache

    entry = WareCache().ensure(ware, urls, base_dir, log)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - it outlives this call: the conversation sends and closes it
    try:
        tree = pack_tree(entry, PACK_LOSSLESS, spool, compression="gzip")
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return tree, spool


@dataclasses.dataclass
class Plan:
    spec: RunSpec
    base_dir: Path
    streamed: dict[str, StreamedWare]
    """Ware ID string -> what to stream; the keys are the spec's ``streamed`` keys."""
    saves: dict[str, str]
    """Output path -> its (client-local) save URL, for the outputs the pod sends back."""


def _is_local(url: str, base_dir: Path) -> bool:
    return WarehouseURL.parse(url, base_dir).is_file


def plan_run(
    loaded: LoadedFormula,
    *,
    heartbeat_timeout: float = 20.0,
    first_contact_timeout: float = 120.0,
    log: LogFn | None = None,
) -> Plan:
    """Split the formula's context between client and pod; check client-side warehouses up front."""
    base_dir = loaded.path.absolute().parent
    formula, context = loaded.formula, loaded.context
    inputs = formula.inputs or {}
    for path, ware in sorted(inputs.items()):
        if ware.is_mount:
            raise R2k8sError(
                Category.ASSEMBLY_INVALID,
                f"input {_q(path)} is a host mount ({ware}): a build pod cannot mount paths of the machine running"
                " 'r2k8s run'; use 'r2k8s run --local', or pack the directory into a ware ('r2k8s pack')",
            )
    pod_fetch: dict[str, tuple[str, ...]] = {}
    streamed: dict[str, StreamedWare] = {}
    for path in sorted(inputs):
        urls = context.fetch_urls.get(path, ())
        if any(_is_local(url, base_dir) for url in urls):
            key = str(inputs[path])
            entry = streamed.setdefault(key, StreamedWare(inputs[path], [], []))
            entry.paths.append(path)
            entry.urls.extend(url for url in urls if url not in entry.urls)
        elif urls:
            pod_fetch[path] = tuple(urls)
    try:
        for entry in sorted(streamed.values(), key=lambda entry: entry.paths[0]):
            if entry.ware.packtype == "git":
                users = ", ".join(_q(p) for p in entry.paths)
                try:
                    entry.tree = _checkout_for_pod(entry.ware, entry.urls, base_dir, log)
                except R2k8sError as exc:
                    raise R2k8sError(exc.category, f"input {users} ({entry.ware}): {exc.message}") from None
    except BaseException:
        for entry in streamed.values():
            entry.close()
        raise
    pod_save: dict[str, str] = {}
    saves: dict[str, str] = {}
    for path, url in sorted(context.save_urls.items()):
        if formula.outputs is None or path not in formula.outputs or not url:
            continue
        warehouse = WarehouseURL.parse(url, base_dir)
        if not warehouse.is_file:
            pod_save[path] = url
            continue
        check_writable(warehouse, log)  # fail before any Job exists, as --local fails before running
        saves[path] = url
    spec = RunSpec(
        formula=formula,
        context=FormulaContext(fetch_urls=pod_fetch, save_urls=pod_save),
        formula_id=loaded.formula_id,
        legacy_inputs=tuple(sorted(loaded.legacy_inputs)),
        streamed={key: tuple(entry.paths) for key, entry in streamed.items()},
        trees={key: str(entry.tree[0]) for key, entry in streamed.items() if entry.tree is not None},
        returned=tuple(sorted(saves)),
        heartbeat_timeout=heartbeat_timeout,
        first_contact_timeout=first_contact_timeout,
    )
    return Plan(spec=spec, base_dir=base_dir, streamed=streamed, saves=saves)
