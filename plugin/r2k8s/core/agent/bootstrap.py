"""The zipapp's ``__main__``: run the agent from byte code compiled into the cache when there is some.

Why: Python cannot cache byte code inside a zip, so every agent start compiled
each of the ~75 modules it imports from source again: 0.17-0.26 s of a pod's
start, paid twice (the fetch init container, then the serving agent), more than
placing a small tree. The fetch container that stages the serving agent's
interpreter (:mod:`r2k8s.core.agent.runtime`) also unpacks this zipapp's
modules beside it and compiles them; the next agent to start — the serving one,
a restarted one, the next pod's fetch on a node cache — finds them under the
runtime link named by the zipapp's own SHA-256 and imports them from there.
Python's own check (each ``.pyc`` names its source's mtime and size) and the
link's name (only this zipapp's modules are behind it) keep it honest; when
anything is missing the agent runs from the zip as before.

This module's source *is* the zipapp's ``__main__.py`` (``agent_bundle`` adds
the call to :func:`main`), so it imports nothing of r2k8s before choosing where
r2k8s comes from: its constants repeat :mod:`r2k8s.core.agent.contract`'s (a
test holds them equal). Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import sys

__all__ = ["COMPILED_AGENT", "compiled_agent", "main"]

CACHE_DIR = "/r2k8s/cache"
RUNTIME_LINK = "runtime/agent-"
COMPILED_AGENT = "agent"
"""Inside a staged runtime: the zipapp's files, each ``.py`` with its byte code in ``__pycache__``."""


def compiled_agent(zipapp: str, cache: str = CACHE_DIR) -> str | None:
    """The directory holding ``zipapp``'s modules compiled in ``cache``, or ``None`` if there is none."""
    try:
        with open(zipapp, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()[:12]
    except OSError:
        return None
    found = os.path.join(cache, RUNTIME_LINK + digest, COMPILED_AGENT)
    return found if os.path.isfile(os.path.join(found, "r2k8s", "__init__.py")) else None


def main() -> int:
    """Put the compiled modules first on the path (if any), then start the agent the command line names."""
    found = compiled_agent(sys.argv[0])
    if found is not None:
        sys.path.insert(0, found)
        # Another Python (a second agent image on the same node cache) compiles the sources for itself in
        # memory, and never writes its byte code into a runtime that is staged whole, once.
        sys.dont_write_bytecode = True
    from r2k8s.core.agent import dispatch

    return dispatch()
