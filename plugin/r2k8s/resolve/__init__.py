"""``r2k8s resolve``: the seed's one interface, ``r2k8s manifests.yaml > ready.yaml``, over files, folders and URLs.

:func:`resolve` reads sources (:mod:`.sources`), joins them into the stream the function reads
(:mod:`.stream`), chooses the root (:mod:`.root`) and runs the function's processor on it, which writes
the record of each formula's origin (:mod:`.record`, with :mod:`.git`): :mod:`.resolver`. The result,
:class:`Resolved`, holds the stream and its documents as plain data.
"""

from r2k8s.krm.manifests import Source
from r2k8s.resolve.resolver import URL_REFUSAL, Resolved, ResolveFailed, resolve, resolve_files
from r2k8s.resolve.sources import read_sources

__all__ = ["URL_REFUSAL", "ResolveFailed", "Resolved", "Source", "read_sources", "resolve", "resolve_files"]
