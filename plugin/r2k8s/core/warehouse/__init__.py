"""Warehouses: URLs and schemes, fetching with rio's fallback, saving atomically, and the ware cache.

May import :mod:`r2k8s.core.ware` and the core's leaves, never
:mod:`r2k8s.core.formula` (its peer) nor anything above.
"""

from r2k8s.core.warehouse.cache import WareCache
from r2k8s.core.warehouse.fetch import ProgressRule, open_url, open_ware
from r2k8s.core.warehouse.save import WareSink, begin_save, check_writable
from r2k8s.core.warehouse.urls import WarehouseURL
from r2k8s.core.warehouse.verify import verify_cache

__all__ = [
    "ProgressRule",
    "WareCache",
    "WareSink",
    "WarehouseURL",
    "begin_save",
    "check_writable",
    "open_url",
    "open_ware",
    "verify_cache",
]
