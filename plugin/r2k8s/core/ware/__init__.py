"""Wares: IDs, file metadata, filters, the tree hash, tar and zip reading and writing, scan, pack and unpack.

The first layer above the core's leaves: it imports nothing else of
:mod:`r2k8s.core`. Everything here is bit-compatible with rio (its tar
and zip transmats and ``fs`` metadata) and streams: memory does not grow with a
ware's size.
"""

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
