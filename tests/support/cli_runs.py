"""Running ``python -m r2k8s COMMAND …`` from a test as a user runs it (this checkout: tests/conftest.py sets
``PYTHONPATH``): text out, stdin given or closed (a command must never wait on a terminal), and no traceback,
ever: a crash is a bug whatever the exit status the test expects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["r2k8s"]


def r2k8s(
    *args: str | Path,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    stdout: Any = subprocess.PIPE,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``r2k8s ARGS…`` in ``cwd``; stdin is ``stdin``'s text, or ``/dev/null`` when it is ``None``."""
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", *map(str, args)],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done
