"""Warehouses: URLs and schemes, fetching with rio's fallback, saving atomically, and the ware cache.

May import :mod:`r2k8s.core.ware` and the core's leaves, never
:mod:`r2k8s.core.formula` (its peer) nor anything above.
"""

import typing

from r2k8s.core import lazy

if typing.TYPE_CHECKING:
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

_MODULE_OF = {
    "ProgressRule": "fetch",
    "WareCache": "cache",
    "WareSink": "save",
    "WarehouseURL": "urls",
    "begin_save": "save",
    "check_writable": "save",
    "open_url": "fetch",
    "open_ware": "fetch",
    "verify_cache": "verify",
}
"""Where each name of :data:`__all__` is defined: imported on first use (PEP 562), not with the package."""


# A name of :data:`__all__`, imported from its module when first asked for: importing one module of the package
# (``cache``'s packtypes, ``git.remotes``) must not load the HTTP client, TLS and git's fetching (25 ms of a KRM
# function's run).
__getattr__ = lazy.first_use(__name__, _MODULE_OF, globals())
