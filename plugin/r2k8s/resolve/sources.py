"""Reading what ``r2k8s resolve -f`` names, all or nothing: :mod:`r2k8s.krm.manifests` reads each source.

As ``kubectl apply -f`` (and ``ko resolve -f``, ``kbld -f``) take them: files, folders in file-name order
(``-R``: their subfolders too), ``-`` for stdin, http(s) URLs; every command reading manifests reads them the
same way. A resolver differs from ``r2k8s check`` in one thing: nothing is resolved from a partial set of
sources, so the first source that cannot be read stops it, as a usage error (exit 1) naming that source.
"""

from __future__ import annotations

from collections.abc import Sequence

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.manifests import Source
from r2k8s.krm.manifests import read_sources as read_each

__all__ = ["read_sources"]


def read_sources(given: Sequence[str], *, recursive: bool = False) -> list[Source]:
    """Every file ``given`` names, read, in order; the first that cannot be read raises its error."""
    if not given:
        raise R2k8sError(Category.USAGE, "nothing to resolve: name files, folders or URLs with -f (- for stdin)")
    read: list[Source] = []
    for source in read_each(given, recursive):
        if isinstance(source, R2k8sError):
            raise source
        read.append(source)
    return read
