"""What expanded manifests run: reading them (every expanded container, checked), the formula lock, the mirror."""

from r2k8s.expanded.entries import ExpandedContainer, Origin, ResourceId, WareInput
from r2k8s.expanded.reader import Expanded, Reference, expanded_in, read_expanded

__all__ = [
    "Expanded",
    "ExpandedContainer",
    "Origin",
    "Reference",
    "ResourceId",
    "WareInput",
    "expanded_in",
    "read_expanded",
]
