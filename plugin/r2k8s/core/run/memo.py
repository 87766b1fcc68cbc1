"""The memo store: run records kept by the formula's setup hash, in repeatr's ``REPEATR_MEMODIR`` layout.

repeatr (``executor/impl/memo``) keeps one file per formula,
``$REPEATR_MEMODIR/<setupHash>``, holding the run record as compact JSON; the
key is the setup hash of the formula *as parsed* (no defaults: ``r2k8s
formula-id --raw``), not the record's ``formulaID``. A hit skips the run: the
stored record is printed as the run would have printed it. This module reads
and writes that layout, so a memo directory can be shared with repeatr and
reach (whose ``emerge`` points ``REPEATR_MEMODIR`` at ``.timeless/memo``).

Where r2k8s differs, on purpose (the issue asks for it):

* only a run whose action exited 0 is kept (repeatr also keeps a non-zero
  ``exitCode``), and a stored record with a non-zero ``exitCode`` (written by
  repeatr) is passed over: a failed build is run again, never replayed;
* a hit is used only while its outputs are still where the formula saves
  them: a ``ca+file://`` warehouse must still hold the ware (by name, as rio
  trusts a content-addressed warehouse), a plain ``file://`` target must still
  hash to it. Otherwise the memo is passed over and the formula runs again,
  so whatever reads those warehouses next finds the wares. Outputs saved
  nowhere (no ``saveUrls`` entry) need nothing.

Writes go to a temporary file in the memo directory, then ``os.replace``:
readers never see half a record, and concurrent runs of one formula each write
a whole record (the last rename wins; both are valid). Standard library only:
it serves ``run --local``, the cluster client and ``emerge`` alike.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula.ids import raw_setup_hash
from r2k8s.core.formula.model import Formula
from r2k8s.core.run.record import RunRecord, from_json, to_compact_json
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import WarehouseURL

__all__ = ["MEMODIR_ENV", "MemoStore", "memo_key", "missing_output"]

MEMODIR_ENV = "REPEATR_MEMODIR"
"""repeatr's switch: set, it names the memo directory (relative to the current directory); unset, no memo."""

ELIDED = "memoized runRecord found for formula setupHash; eliding run"
"""repeatr's log message on a hit (``memoExecutor.go``), printed with the hash as its ``setupHash`` detail."""


def memo_key(formula: Formula) -> str:
    """repeatr's memo key: ``SetupHash()`` of the formula as parsed, without defaults (``formula-id --raw``)."""
    return raw_setup_hash(formula)


class MemoStore:
    """One memo directory; made (with its parents) on the first save."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(os.path.abspath(directory))

    def path_for(self, key: str) -> Path:
        if not key or "/" in key or key in (".", "..") or "\0" in key:
            raise R2k8sError(Category.PANIC, f"not a setup hash: {_q(key)}")
        return self.directory / key

    def load(self, key: str) -> RunRecord | None:
        """The stored record, or ``None``; an unreadable or garbled file is repeatr's local cache problem (41)."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise R2k8sError(
                Category.LOCAL_CACHE_PROBLEM, f"error reading memodir: {path}: {exc.strerror or exc}"
            ) from None
        try:
            return from_json(data)
        except ValueError as exc:
            raise R2k8sError(
                Category.LOCAL_CACHE_PROBLEM, f"error parsing memo for setupHash {_q(key)}: {path}: {exc}"
            ) from None

    def recall(self, key: str, save_urls: Mapping[str, str], base_dir: Path | None, log: LogFn) -> RunRecord | None:
        """The record to print instead of running, or ``None`` to run (see the module docstring for when)."""
        record = self.load(key)
        if record is None:
            return None
        if record.exit_code != 0:
            log(f"info: memo {self.path_for(key)} holds a run that exited {record.exit_code}; running again")
            return None
        missing = missing_output(record, save_urls, base_dir)
        if missing is not None:
            log(f"info: memo {self.path_for(key)} is passed over: {missing}; running again")
            return None
        log(f"info: {ELIDED} --- setupHash: {key}")
        return record

    def save(self, key: str, record: RunRecord, log: LogFn) -> bool:
        """Keep ``record`` if its action exited 0; atomic. A failure to save is a warning, as in repeatr."""
        if record.exit_code != 0:
            return False
        path = self.path_for(key)
        temp: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as out:
                out.write(to_compact_json(record))
            os.chmod(temp, 0o644)  # repeatr's mode; mkstemp makes 0600
            os.replace(temp, path)
            temp = None
        except OSError as exc:
            log(f"warn: saving memoized runRecord failed --- err: could not save memo: {path}: {exc.strerror or exc}")
            return False
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        return True


def missing_output(record: RunRecord, save_urls: Mapping[str, str], base_dir: Path | None) -> str | None:
    """Why a recorded output is no longer where the formula saves it, or ``None`` when every one is there."""
    for path, ware_text in sorted((record.results or {}).items()):
        url = save_urls.get(path, "")
        ware = WareID.parse(ware_text) if ":" in ware_text else None
        if not url or ware is None or not ware.hash or ware.hash == "-":
            continue
        try:
            warehouse = WarehouseURL.parse(url, base_dir)
        except R2k8sError:
            return f"output {_q(path)}: save URL {_q(url)} cannot be read"
        if not warehouse.is_file:
            continue  # http warehouses are read-only: nothing was saved there
        location = Path(warehouse.location_for(ware))
        if not location.is_file():
            return f"output {_q(path)}: {ware} is not in warehouse {_q(url)} ({location})"
        if not warehouse.content_addressed and not _holds(location, ware):
            return f"output {_q(path)}: {location} no longer holds {ware}"
    return None


def _holds(location: Path, ware: WareID) -> bool:
    """A plain ``file://`` target is overwritten by every save to it: hash what is there now."""
    if ware.packtype != "tar":
        return False
    try:
        with open(location, "rb") as stream:
            return ingest_tar(stream, UNPACK_LOSSLESS).prefilter_id == ware
    except (OSError, R2k8sError):
        return False
