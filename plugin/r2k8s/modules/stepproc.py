"""The child process of one step: ``r2k8s run``, bound to die with the ``emerge`` that started it.

``python -m r2k8s.modules.stepproc PARENT_PID run …`` asks the kernel for
SIGTERM when its parent (the thread of ``emerge`` waiting on it) dies, then
runs the ``r2k8s`` command line in this process. So a killed ``emerge``
stops its steps as SIGTERM stops a run: a cluster step deletes its Job, a
local one stops its action and removes its job tree, each exiting 8. Spawning
the child with that setting (``preexec_fn``) is unsafe from a threaded parent;
setting it here, first thing, is not. If the parent is already gone, the child
exits 8 before doing anything.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

__all__ = ["main"]

CANCELLED = 8


def main(argv: Sequence[str]) -> int:
    from r2k8s.core.run.linux import set_parent_death_signal

    parent = int(argv[0])
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return CANCELLED
    from r2k8s.cli import main as r2k8s_main

    return r2k8s_main(list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
