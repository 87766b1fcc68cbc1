"""Timeless modules (``module.tl``) for the ``emerge`` tests: steps as reach writes them, and the diamond.

The diamond is the issue's proof shape: two independent steps (``left``,
``right``) that record when they started and ended (``out/start``,
``out/end``, seconds) and a third (``join``) that needs both.
"""

from __future__ import annotations

from typing import Any

from busybox_rootfs import rootfs_ware_id

__all__ = ["STAMPED", "diamond", "step"]

STAMPED = "mkdir out; date +%s > out/start; echo started; sleep {sleep}; echo {name} > out/name; date +%s > out/end"
"""A step's script that stamps its start and end, sleeping ``sleep`` seconds between."""


def step(script: str, inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    """A step whose operation runs ``script`` with ``sh -c`` on the import ``base`` (plus ``inputs``)."""
    body: dict[str, Any] = {"inputs": {"/": "base", **(inputs or {})}, "action": {"exec": ["/bin/sh", "-c", script]}}
    if outputs is not None:
        body["outputs"] = outputs
    return {"operation": body}


def diamond(sleep: int = 3, left_exit: int = 0) -> dict[str, Any]:
    """``left`` and ``right`` (each ``sleep`` seconds; ``left`` exits ``left_exit``) feeding ``join``."""
    left = STAMPED.format(sleep=sleep, name="left") + (f"; exit {left_exit}" if left_exit else "")
    return {
        "imports": {"base": f"ingest:literal:{rootfs_ware_id()}"},
        "steps": {
            "left": step(left, outputs={"out": "/task/out"}),
            "right": step(STAMPED.format(sleep=sleep, name="right"), outputs={"out": "/task/out"}),
            "join": step(
                "mkdir out; cat /in/l/name /in/r/name > out/both",
                {"/in/l": "left.out", "/in/r": "right.out"},
                {"both": "/task/out"},
            ),
        },
        "exports": {"both": "join.both", "left": "left.out", "right": "right.out"},
    }
