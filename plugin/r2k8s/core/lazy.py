"""Names of a package imported from their modules on first use (PEP 562), written once for every package that does.

Why: a KRM function's run imports one module of ``core/ware`` or ``core/warehouse`` (a formula's ware IDs,
the cache's packtypes, git remotes) and must not load tar, zip, HTTP, TLS and git's fetching with it; those
packages still offer every name of their ``__all__``. Standard library only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["first_use"]


def first_use(package: str, module_of: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], object]:
    """The package's module ``__getattr__``: a name of ``module_of`` (name → module in ``package``) imported from
    its module when first asked for, and kept in ``namespace`` (the package's globals) for the next time."""

    def __getattr__(name: str) -> object:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
