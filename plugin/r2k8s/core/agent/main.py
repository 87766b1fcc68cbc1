"""The agent zipapp's one entry point: the service agent's commands, else the build agent.

A service container runs ``python3 r2k8s-agent.pyz fetch|serve|run`` (see
:mod:`r2k8s.core.agent.service`); a build pod runs it with the build agent's
options (see :mod:`r2k8s.core.agent.build`). Each agent is imported only
when it is chosen, so neither pays for the other's imports at pod start.
Standard library only.
"""

from __future__ import annotations

import sys

from r2k8s.core.agent.contract import AGENT_COMMANDS

__all__ = ["dispatch"]


def dispatch(argv: list[str] | None = None) -> int:
    """Run the agent the command line names and return its exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in AGENT_COMMANDS:
        from r2k8s.core.agent import service

        return service.main(args)
    from r2k8s.core.agent import build

    return build.main(args)
