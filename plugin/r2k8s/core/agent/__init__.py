"""What runs in pods: one entry point for both agents, the contract with their clients, frames, ware transfer, specs.

The top layer of the core: it may import anything in :mod:`r2k8s.core`.
The zipapp's ``__main__`` calls :func:`dispatch`; the client side
(:mod:`r2k8s.krm`, :mod:`r2k8s.cluster`) imports the shared names from
:mod:`r2k8s.core.agent.contract`. Importing this package stays cheap: each
agent imports what it needs when it starts.
"""

from r2k8s.core.agent.main import dispatch

__all__ = ["dispatch"]
