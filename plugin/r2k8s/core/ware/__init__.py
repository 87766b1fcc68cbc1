"""Wares: IDs, file metadata, filters, the tree hash, tar reading and writing, scan, pack and unpack.

The first layer above the core's leaves: it imports nothing else of
:mod:`r2k8s.core`. Everything here is bit-compatible with rio (its tar
transmat and ``fs`` metadata) and streams: memory does not grow with a
ware's size.
"""

from r2k8s.core.ware.filters import FLATTEN, PACK, UNPACK_LOSSLESS, Filters, FilterValueError
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.ingest import IngestResult, ingest_tar
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.treehash import TreeHash
from r2k8s.core.ware.unpack import unpack_tar
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
    "pack_tree",
    "unpack_tar",
]
