"""What expanded manifests run: reading them (every expanded container, checked), the formula lock, the mirror.

The lock's API is what ``r2k8s resolve --lock-output``/``--lock`` need: :func:`read_expanded` (or
:func:`expanded_in` on one text) gives the entries, :func:`write_lock` and :func:`lock_differences` the rest.
"""

from r2k8s.expanded.entries import ExpandedContainer, Origin, ResourceId, WareInput
from r2k8s.expanded.lock import Lock, lock_differences, lock_document, read_lock, write_lock
from r2k8s.expanded.reader import Expanded, Reference, expanded_in, read_expanded

__all__ = [
    "Expanded",
    "ExpandedContainer",
    "Lock",
    "Origin",
    "Reference",
    "ResourceId",
    "WareInput",
    "expanded_in",
    "lock_differences",
    "lock_document",
    "read_expanded",
    "read_lock",
    "write_lock",
]
