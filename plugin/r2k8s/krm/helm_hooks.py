"""Helm hooks with formula images: their own agent ConfigMap, itself a hook that helm creates first.

A hook is a resource helm creates outside the release, at an event (``pre-install``, ``test``, …), in
weight order. The release's agent ConfigMap is an ordinary manifest, created after the ``pre-install``
hooks ran, and a hook pod mounting it would wait for it until helm timed out. helm 4's SDK strategy
``separate`` (helm-controller's) also post-renders hooks and manifests in two runs, each of which
would otherwise add the same ConfigMap to one release. So a hook pod mounts ``r2k8s-agent-<hash>-hooks``,
added only when hooks need it, as a hook of every event those hooks run at, one weight below the
lightest of them (helm orders hooks of equal weight by name, not kind) and deleted once the event's
hooks succeeded or one failed (``hook-succeeded``: helm deletes the hooks that ran before a failed
one by that policy), or before it is made again: nothing of it is left after the event, an upgrade
or ``helm uninstall``. Every non-hook resource keeps the release's ConfigMap, so a run on the manifests
alone, the hooks alone, or both gives each ConfigMap once; helm 3, which never post-renders hooks,
never sees a hook here. The rules mirror helm's (``pkg/release/v1/util/manifest_sorter.go``): a hook
is a resource with a ``helm.sh/hook`` annotation, whose comma-separated events, trimmed and lower-cased,
must all be known (helm drops the resource otherwise); a weight that is no integer counts as 0.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from r2k8s.krm.resource_list import annotations_of

__all__ = ["HOOK", "HOOK_DELETE_POLICY", "HOOK_WEIGHT", "HookNeeds", "hook_configmap_name", "hook_events"]

HOOK = "helm.sh/hook"
HOOK_WEIGHT = "helm.sh/hook-weight"
HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"

_EVENTS = {
    "pre-install": "pre-install",
    "post-install": "post-install",
    "pre-delete": "pre-delete",
    "post-delete": "post-delete",
    "pre-upgrade": "pre-upgrade",
    "post-upgrade": "post-upgrade",
    "pre-rollback": "pre-rollback",
    "post-rollback": "post-rollback",
    "test": "test",
    "test-success": "test",  # helm 2's name, still read as test
}
_INTEGER = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi takes


def hook_events(item: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The events ``item`` is a helm hook of (none when one is unknown: helm drops such a resource),
    or None when it is no hook."""
    value = annotations_of(item).get(HOOK)
    if not isinstance(value, str):
        return None
    events = [_EVENTS.get(word.strip().lower()) for word in value.split(",")]
    return tuple(event for event in events if event is not None) if all(events) else ()


def hook_configmap_name(agent_configmap: str) -> str:
    """The name of the agent ConfigMap the hooks mount: never the release's own, which a hook's
    ``before-hook-creation`` would delete on an upgrade."""
    return f"{agent_configmap}-hooks"


def _weight(item: Mapping[str, Any]) -> int:
    value = annotations_of(item).get(HOOK_WEIGHT)
    return int(value) if isinstance(value, str) and _INTEGER.fullmatch(value) else 0


@dataclasses.dataclass
class HookNeeds:
    """What the hooks of one namespace that mount the agent need of their ConfigMap: when, and how early."""

    events: set[str] = dataclasses.field(default_factory=set)
    lightest: int | None = None

    def add(self, item: Mapping[str, Any], events: tuple[str, ...]) -> None:
        """Count ``item``, a hook of ``events`` that mounts the agent."""
        if not events:
            return  # helm drops it: nothing runs it
        self.events.update(events)
        weight = _weight(item)
        self.lightest = weight if self.lightest is None else min(self.lightest, weight)

    def annotations(self) -> dict[str, str] | None:
        """The ConfigMap's hook annotations; None when no hook helm runs needs it."""
        if not self.events or self.lightest is None:
            return None
        return {
            HOOK: ",".join(sorted(self.events)),
            HOOK_WEIGHT: str(self.lightest - 1),
            HOOK_DELETE_POLICY: "before-hook-creation,hook-succeeded",
        }
