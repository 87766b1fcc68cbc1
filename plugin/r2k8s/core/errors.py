"""Error categories and exit codes shared with repeatr and rio.

Repeatr and rio report failures as a *category* string plus a message, and map
each category to a process exit code (go-timeless-api ``repeatrErrors.go``).
r2k8s keeps the same categories and codes so scripts written against
``repeatr run`` / ``rio`` keep working, and adds none of its own for the same
situations.
"""

from __future__ import annotations

import enum
import json

__all__ = ["Category", "R2k8sError", "quote", "usage_error", "ware_corrupt"]


class Category(enum.Enum):
    """A failure category: its wire name (as repeatr/rio print it) and exit code."""

    USAGE = ("repeatr-usage-error", 1)
    PANIC = ("repeatr-panic", 2)
    WAREHOUSE_UNAVAILABLE = ("rio-warehouse-unavailable", 3)
    WAREHOUSE_UNWRITABLE = ("rio-warehouse-unwritable", 4)
    WARE_NOT_FOUND = ("rio-ware-not-found", 5)
    WARE_CORRUPT = ("rio-ware-corrupt", 6)
    HASH_MISMATCH = ("rio-hash-mismatch", 7)
    CANCELLED = ("rio-cancelled", 8)
    CACHE_PROBLEM = ("rio-cache-problem", 9)
    ASSEMBLY_INVALID = ("rio-assembly-invalid", 10)
    PACK_INVALID = ("rio-pack-invalid", 11)
    INOPERABLE_PATH = ("rio-inoperable-path", 12)
    FILTER_REJECTION = ("rio-filter-rejection", 13)
    JOB_UNSUCCESSFUL = ("repeatr-job-unsuccessful", 32)
    """Not r2k8s's failure: the action exited non-zero. ``run`` reports that in ``exitCode`` and exits 0, as
    repeatr does; ``emerge`` stops the step's dependants and exits 32, repeatr's code for it."""
    JOB_INVALID = ("repeatr-job-invalid", 40)
    LOCAL_CACHE_PROBLEM = ("repeatr-local-cache-problem", 41)
    EXECUTOR_FAILED = ("repeatr-executor-failed", 42)

    def __init__(self, wire_name: str, exit_code: int) -> None:
        self.wire_name = wire_name
        self.exit_code = exit_code


class R2k8sError(Exception):
    """A failure with a category; its message is meant for a human to act on."""

    def __init__(self, category: Category, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message

    def __str__(self) -> str:
        return self.message


def quote(text: object) -> str:
    """Quote a value for a message like Go's ``%q`` closely enough: rio's messages use it."""
    return json.dumps(str(text), ensure_ascii=False)


def usage_error(message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, message)


def ware_corrupt(message: str) -> R2k8sError:
    return R2k8sError(Category.WARE_CORRUPT, message)
