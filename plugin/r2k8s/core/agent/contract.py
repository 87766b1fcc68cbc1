"""What both ends of the pod protocol must agree on, spelled once.

The client side (the KRM function's rewrite, ``r2k8s run``'s Job) and the
agents in the pods import these names from here, so an environment variable,
a mount path or the protocol version can never be spelled two ways.
Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from r2k8s.core.errors import R2k8sError

__all__ = [
    "AGENT_COMMANDS",
    "AGENT_DIR",
    "AGENT_ENV_PREFIX",
    "AGENT_ZIPAPP",
    "BUILD_CAPABILITIES",
    "BUILD_SPEC_ENV",
    "CACHE_DIR",
    "COMPILED_AGENT",
    "DEFAULT_EMPTY_IMAGE",
    "DEFAULT_IMAGE",
    "FETCH_CAPABILITIES",
    "NODE_NAME_ENV",
    "PROTOCOL_VERSION",
    "RUNTIME_LINK",
    "SERVE_CAPABILITIES",
    "SERVICE_SPEC_ENV",
    "STAGE_RUNTIME_FLAG",
    "TERMINATION_LOG",
    "WORK_DIR",
    "agent_argv",
    "decode_spec",
    "runtime_argv",
]

PROTOCOL_VERSION = 1
"""Bumped when the spec or the frames change incompatibly; client and agent must agree."""

DEFAULT_IMAGE = "docker.io/library/python:3.11-slim"
"""The stock image both agents run in when the user names none: any image with ``python3`` >= 3.11 will do."""

DEFAULT_EMPTY_IMAGE = "registry.k8s.io/pause:3.10"
"""What a formula's container starts from when it has a fetch init container: the pause image every kubelet
already holds for its pod sandboxes, one file, so the root takeover has (almost) nothing to delete; the agent
runs with the interpreter the fetch container staged (:mod:`r2k8s.core.agent.runtime`)."""

AGENT_ZIPAPP = "r2k8s-agent.pyz"
"""The zipapp's file name: the key in the agent ConfigMap, and so the file in the mounted volume."""
AGENT_DIR = "/r2k8s/agent"
"""Where the agent ConfigMap is mounted (read-only) in every container that runs an agent."""
CACHE_DIR = "/r2k8s/cache"
"""Where a service pod's ware cache volume is mounted."""
WORK_DIR = "/r2k8s/work"
"""A build pod's scratch volume: its ware cache and job trees."""
TERMINATION_LOG = "/dev/termination-log"
"""Kubernetes' default ``terminationMessagePath``: where an agent leaves its outcome for ``kubectl``."""

RUNTIME_LINK = "runtime/agent-"
"""Under the cache volume, followed by the first 12 hex digits of the agent zipapp's SHA-256 (the agent
ConfigMap's suffix): the symlink to an interpreter a fetch container staged for that agent. One per agent,
so pods of two r2k8s versions sharing a node cache never run each other's (whose standard library subset
may lack a module the other imports)."""
COMPILED_AGENT = "agent"
"""Inside a staged runtime: the agent zipapp's files, its modules compiled (:mod:`r2k8s.core.agent.bootstrap`)."""
STAGE_RUNTIME_FLAG = "--stage-runtime"
"""``fetch --stage-runtime``: also stage the interpreter for a formula container on the empty image."""

SERVICE_SPEC_ENV = "R2K8S_FORMULA"
"""Holds a service container's :class:`~r2k8s.core.agent.service_spec.ServiceSpec` JSON."""
BUILD_SPEC_ENV = "R2K8S_RUN"
"""Holds a build pod's :class:`~r2k8s.core.agent.run_spec.RunSpec` JSON."""
NODE_NAME_ENV = "R2K8S_NODE_NAME"
"""The node's name (downward API); the build's run record ``hostname``, as repeatr records the host's."""
AGENT_ENV_PREFIX = "R2K8S_"
"""r2k8s's own variables; a service action never inherits them."""

AGENT_COMMANDS = ("fetch", "serve", "run", "script")
"""The service agent's commands; any other command line is the build agent's."""

FETCH_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "MKNOD", "SETFCAP")
"""Unpacking wares as they are: owners, modes, setid bits, device nodes, file capabilities."""
SERVE_CAPABILITIES = (*FETCH_CAPABILITIES, "KILL", "SETGID", "SETUID")
"""The takeover needs the unpack set; dropping to the formula's uid/gid needs SETUID/SETGID. All in baseline."""
BUILD_CAPABILITIES = (*SERVE_CAPABILITIES, "SYS_CHROOT")
"""A build runs repeatr's chroot executor besides unpacking and switching uid/gid (CRI-O's defaults lack
``SYS_CHROOT`` and ``MKNOD``, so all are named; every one is in Pod Security baseline's list)."""


def agent_argv(*args: str) -> list[str]:
    """The container command that starts the agent zipapp from its mounted ConfigMap with ``args``."""
    return ["python3", f"{AGENT_DIR}/{AGENT_ZIPAPP}", *args]


def runtime_argv(agent_digest: str, *args: str) -> list[str]:
    """The command that starts the agent zipapp with the interpreter staged under the cache volume for the agent
    whose zipapp's SHA-256 begins with ``agent_digest`` (12 hex digits): its own dynamic loader run explicitly
    (the empty image has none), its libraries, ``-I -S`` (no site, no ``PYTHON*`` variables: the container's
    environment is the formula's)."""
    here = f"{CACHE_DIR}/{RUNTIME_LINK}{agent_digest}"
    return [f"{here}/ld.so", "--library-path", f"{here}/so", f"{here}/bin/python3", "-I", "-S"] + [
        f"{AGENT_DIR}/{AGENT_ZIPAPP}",
        *args,
    ]


def decode_spec(text: str, error: Callable[[str], R2k8sError], peer: str) -> dict[str, Any]:
    """The JSON object of a spec for the agent, checked to speak this :data:`PROTOCOL_VERSION`.

    ``peer`` names who wrote it, for the mismatch message (the client, the manifests).
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise error(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise error("not a JSON object")
    if doc.get("version") != PROTOCOL_VERSION:
        raise error(
            f"protocol version {doc.get('version')!r}; this agent speaks {PROTOCOL_VERSION}"
            f" ({peer} and the agent bundle come from different r2k8s versions)"
        )
    return doc
