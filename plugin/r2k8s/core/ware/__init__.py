"""Wares: IDs, file metadata, filters, the tree hash, tar and zip reading and writing, scan, pack and unpack.

The first layer above the core's leaves: it imports nothing else of
:mod:`r2k8s.core`. Everything here is bit-compatible with rio (its tar
and zip transmats and ``fs`` metadata) and streams: memory does not grow with a
ware's size.
"""

import typing

from r2k8s.core import lazy

if typing.TYPE_CHECKING:
    from r2k8s.core.ware.filters import FLATTEN, PACK, UNPACK_LOSSLESS, Filters, FilterValueError
    from r2k8s.core.ware.fsmeta import Metadata
    from r2k8s.core.ware.ingest import IngestResult, ingest_tar, ingest_zip
    from r2k8s.core.ware.pack import pack_tree
    from r2k8s.core.ware.treehash import TreeHash
    from r2k8s.core.ware.unpack import unpack_tar, unpack_ware, unpack_zip
    from r2k8s.core.ware.wareid import WareID

__all__ = [
    "FLATTEN",
    "PACK",
    "UNPACK_LOSSLESS",
    "FilterValueError",
    "Filters",
    "IngestResult",
    "Metadata",
    "TreeHash",
    "WareID",
    "ingest_tar",
    "ingest_zip",
    "pack_tree",
    "unpack_tar",
    "unpack_ware",
    "unpack_zip",
]

_MODULE_OF = {
    "FLATTEN": "filters",
    "PACK": "filters",
    "UNPACK_LOSSLESS": "filters",
    "FilterValueError": "filters",
    "Filters": "filters",
    "IngestResult": "ingest",
    "Metadata": "fsmeta",
    "TreeHash": "treehash",
    "WareID": "wareid",
    "ingest_tar": "ingest",
    "ingest_zip": "ingest",
    "pack_tree": "pack",
    "unpack_tar": "unpack",
    "unpack_ware": "unpack",
    "unpack_zip": "unpack",
}
"""Where each name of :data:`__all__` is defined: imported on first use (PEP 562), not with the package."""


# A name of :data:`__all__`, imported from its module when first asked for: importing one module of the package
# (``wareid``, as every formula does) must not load tar, zip, pack and unpack (20 ms of a KRM function's run).
__getattr__ = lazy.first_use(__name__, _MODULE_OF, globals())
