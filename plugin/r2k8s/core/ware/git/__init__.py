"""Git wares (``git:<commit>``) without a git binary: objects, packs, object directories and checkout.

The *format* half of rio's git transmat: what a commit's tree is and how it is
placed. Fetching (smart HTTP, the per-URL object cache, local repositories
as warehouses) is :mod:`r2k8s.core.warehouse.git`, built on this. Part of the
``ware`` layer: it imports only the core's leaves and :mod:`r2k8s.core.ware`.
"""

import typing

from r2k8s.core import lazy

if typing.TYPE_CHECKING:
    from r2k8s.core.ware.git.checkout import GitCheckout, ObjectStore, SubmoduleObjects, checkout_commit
    from r2k8s.core.ware.git.gitmodules import Submodule, parse_gitmodules
    from r2k8s.core.ware.git.indexpack import IndexedPack, index_pack
    from r2k8s.core.ware.git.objects import check_commit_hash, object_id
    from r2k8s.core.ware.git.odb import ObjectDirectory, ObjectStream, find_objects_dir
    from r2k8s.core.ware.git.unpack import unpack_git

__all__ = [
    "GitCheckout",
    "IndexedPack",
    "ObjectDirectory",
    "ObjectStore",
    "ObjectStream",
    "Submodule",
    "SubmoduleObjects",
    "check_commit_hash",
    "checkout_commit",
    "find_objects_dir",
    "index_pack",
    "object_id",
    "parse_gitmodules",
    "unpack_git",
]

_MODULE_OF = {
    "GitCheckout": "checkout",
    "IndexedPack": "indexpack",
    "ObjectDirectory": "odb",
    "ObjectStore": "checkout",
    "ObjectStream": "odb",
    "Submodule": "gitmodules",
    "SubmoduleObjects": "checkout",
    "check_commit_hash": "objects",
    "checkout_commit": "checkout",
    "find_objects_dir": "odb",
    "index_pack": "indexpack",
    "object_id": "objects",
    "parse_gitmodules": "gitmodules",
    "unpack_git": "unpack",
}
"""Where each name of :data:`__all__` is defined: imported on first use (PEP 562), not with the package."""


# A name of :data:`__all__`, imported from its module when first asked for: importing one module of the package must
# not load the others (indexing packs, checkout).
__getattr__ = lazy.first_use(__name__, _MODULE_OF, globals())
