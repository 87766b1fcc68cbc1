"""Progress lines for a person watching ``up`` or ``down``: on stderr, so stdout stays the kubeconfig path."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def say(message: str) -> None:
    """Print one progress line with the seconds since this process started."""
    print(f"[cluster {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
