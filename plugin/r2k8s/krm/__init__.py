"""The service path: r2k8s as a KRM function, kustomize transformer, kpt function and helm post-renderer.

:mod:`.function` is the filter; the other modules each do one part of it.
"""

__all__: list[str] = []
