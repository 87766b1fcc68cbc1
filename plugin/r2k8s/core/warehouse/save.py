"""Saving wares into file warehouses atomically, as rio does.

Bytes are staged in the warehouse directory (same filesystem) and renamed
into place on commit, so a reader never sees a partial ware at its final
path. http(s) warehouses are read-only. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import WarehouseURL

__all__ = ["WareSink", "begin_save", "check_writable"]


_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE


_UNWRITABLE = Category.WAREHOUSE_UNWRITABLE


_NOT_FOUND = Category.WARE_NOT_FOUND


def _guid() -> str:
    return secrets.token_hex(12)


class WareSink:
    """A ware being saved: write to :attr:`file`, then :meth:`commit` or :meth:`abort`.

    The bytes go to ``.tmp.upload.*`` in the destination directory (same
    filesystem, so the final rename is atomic); the ware appears at its final
    path only on commit. As a context manager it aborts unless committed.
    """

    def __init__(self, url: str, warehouse: WarehouseURL | None, staging: Path | None, file: BinaryIO) -> None:
        self.url = url
        self.file = file
        self.staging_path = staging
        self._warehouse = warehouse
        self._done = False

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def commit(self, ware_id: WareID) -> str:
        """Flush and fsync, move the ware to its final path and return that path.

        CA warehouses get the two shard directories (0755) created as needed.
        Failures are WAREHOUSE_UNWRITABLE and leave no staging file behind. A sink
        for the empty URL (pack without saving) just discards and returns "".
        """
        if self._done:
            raise RuntimeError("this ware sink was already committed or aborted")
        if self._warehouse is None or self.staging_path is None:
            self._done = True
            self.file.close()
            return ""
        try:
            final = self._warehouse._file_location(ware_id)
        except R2k8sError:
            self.abort()
            raise
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            if self._warehouse.content_addressed and not self._warehouse.legacy_flat:
                for shard in (final.parent.parent, final.parent):
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(shard, 0o755)
            os.rename(self.staging_path, final)
        except OSError as exc:
            self.abort()
            raise R2k8sError(
                _UNWRITABLE, f"failed to commit ware {ware_id} to warehouse {self.url}: {exc.strerror or exc}"
            ) from None
        self._done = True
        _fsync_dir(final.parent)
        return str(final)

    def abort(self) -> None:
        """Drop the staged bytes. Safe to call more than once, and after a failed commit."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self.file.close()
        if self.staging_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.staging_path)

    def __enter__(self) -> WareSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; best effort, since the ware is already in place."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(warehouse: WarehouseURL, log: LogFn | None = None) -> None:
    """Dial a file warehouse for writing as rio does: WAREHOUSE_UNAVAILABLE (logged) if it is missing."""
    try:
        warehouse._dial("write")
    except R2k8sError as exc:
        if log is not None:
            log(f"warn: {exc.category.wire_name} while dialing warehouse {_q(warehouse.raw)} for write: {exc}")
        raise


def begin_save(url: str, base_dir: Path | None = None, log: LogFn | None = None) -> WareSink:
    """Reserve staging space in a file warehouse and return the sink to write the ware to.

    Like rio: a missing warehouse (CA base dir, or the target's parent dir) is
    WAREHOUSE_UNAVAILABLE and is never created; failing to create the staging
    file is WAREHOUSE_UNWRITABLE. The empty URL means "pack but don't save" (rio's null
    write controller): the sink discards everything.

    Any scheme but ``file``/``ca+file`` (and the legacy ``file+ca``) is a usage
    error, exit 1, as rio's ``OpenWriteController`` says for ``rio pack --target``
    and ``rio mirror``: "this save operation doesn't support ... scheme".
    """
    if url == "":
        return WareSink(url, None, None, cast(BinaryIO, open(os.devnull, "wb")))
    warehouse = WarehouseURL.parse(url, base_dir)
    if warehouse.kind != "file":
        raise R2k8sError(
            Category.USAGE,
            f"cannot save to warehouse {url}: this save operation doesn't support {warehouse.scheme!r} scheme"
            " (valid options are 'file' or 'ca+file'; http warehouses are readonly)",
        )
    check_writable(warehouse, log)
    assert warehouse.path is not None
    if warehouse.content_addressed:
        staging = warehouse.path / f".tmp.upload.{_guid()}"
    else:
        staging = warehouse.path.parent / f".tmp.upload.{warehouse.path.name}.{_guid()}"
    try:
        fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise R2k8sError(
            _UNWRITABLE, f"failed to reserve temp space in warehouse {url}: {staging}: {exc.strerror or exc}"
        ) from None
    return WareSink(url, warehouse, staging, os.fdopen(fd, "wb"))
