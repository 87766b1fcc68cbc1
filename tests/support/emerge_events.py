"""Reading ``r2k8s emerge --format json``'s stdout as a tool driving it would: event by event, by step.

:func:`events_of` takes the stream apart strictly (every byte in an event that
parses, each a one-key union), so a split or interleaved event fails the test
that reads it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["events_of", "statuses", "step_events"]


def events_of(stdout: str) -> list[dict[str, Any]]:
    """The stream split as a reader would: compact lines, and each pretty result up to its ``}\\n\\n``.

    Every byte must belong to an event that parses: an event split or interleaved fails here.
    """
    events: list[dict[str, Any]] = []
    rest = stdout
    while rest:
        if rest.startswith("{\n"):
            end = rest.index("\n}\n\n") + len("\n}\n\n")
            block, rest = rest[:end], rest[end:]
        else:
            line, newline, rest = rest.partition("\n")
            assert newline and not line.startswith("{\n"), repr(line)
            block = line
        event = json.loads(block)
        assert isinstance(event, dict) and len(event) == 1, block  # a keyed union: exactly one key
        events.append(event)
    return events


def step_events(events: list[dict[str, Any]], name: str, kind: str) -> list[dict[str, Any]]:
    """The bodies of the ``kind`` events (``log``, ``txt``, ``result``) tagged with step ``name``, in order."""
    return [body for event in events for key, body in event.items() if key == kind and body.get("step") == name]


def statuses(events: list[dict[str, Any]], name: str) -> list[str]:
    """What emerge said of step ``name`` (its ``["status", …]`` details), in order."""
    details = [body.get("detail", []) for body in step_events(events, name, "log")]
    return [detail[0][1] for detail in details if detail and detail[0][0] == "status"]
