"""Unpacking a ``git:`` ware onto a directory, all or nothing, as :func:`r2k8s.core.ware.unpack.unpack_tar` does.

The checkout (:func:`.checkout.checkout_commit`) places into a staging
directory beside the target through the same :class:`DirectoryPlacer` as tar
wares (so the same safety: nothing written outside it, no following of
symlinks, deep trees by descriptor), and the staging directory replaces the
target only when every object has been read and verified. Standard library
only.
"""

from __future__ import annotations

from pathlib import Path

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import Filters
from r2k8s.core.ware.git.checkout import GitCheckout, ObjectStore, SubmoduleObjects, checkout_commit
from r2k8s.core.ware.git.objects import check_commit_hash
from r2k8s.core.ware.unpack import DirectoryPlacer, place_staged
from r2k8s.core.ware.wareid import WareID

__all__ = ["unpack_git"]


def unpack_git(
    ware_id: WareID,
    objects: ObjectStore,
    target: Path,
    filters: Filters,
    submodule_objects: SubmoduleObjects | None = None,
    log: LogFn | None = None,
) -> GitCheckout:
    """Check out the commit ``ware_id`` names from ``objects`` onto ``target`` (absent or an empty directory).

    ``ware_id`` must be ``git:<40 lowercase hex>`` (a usage error otherwise:
    the caller resolves names first). ``submodule_objects`` fetches
    submodules (see :data:`.checkout.SubmoduleObjects`). Returns what was
    placed; its ``filtered_id`` is the tar-style ID of the tree on disk.
    """
    if ware_id.packtype != "git":
        raise R2k8sError(Category.USAGE, f"cannot unpack {ware_id} as a git ware")
    check_commit_hash(ware_id.hash)

    def fill(placer: DirectoryPlacer) -> GitCheckout:
        return checkout_commit(objects, ware_id.hash, placer, filters, submodule_objects, log)

    return place_staged(target, fill, log)
