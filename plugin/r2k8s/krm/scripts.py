"""Formula containers whose orchestrator runs a script: Tekton's ``script:`` and Argo's ``script`` templates.

Both controllers turn the script into a file and make the container run it
(tektoncd/pipeline ``pkg/pod/script.go``; argo-workflows ``executeScript`` in
``workflow/controller/operator.go``), so the rewrite's usual "the agent is the
command" cannot simply be applied:

* **Tekton** (a step's or sidecar's string ``script``): its webhook refuses
  ``command`` beside ``script`` ("script cannot be used with command"), and it
  sets the container's command to the script file itself. So the container
  gets no ``command``; its ``script`` gets the agent's prologue in front
  (:data:`~r2k8s.core.agent.script.SCRIPT_HEADER`), which hands the file to the
  agent, which runs the user's script — unchanged below the prologue, so
  Tekton's substitutions still apply — inside the formula's filesystem. The
  step's ``args`` stay in the container (Tekton passes them to the script).
* **Argo** (a template's ``script`` with ``source``): the controller appends the
  source file's path to ``args`` and keeps ``command`` (the interpreter). The
  usual rewrite applies (the agent is the command, the interpreter moves into
  the formula spec) and ``source`` is kept; the agent appends the path it is
  given to the interpreter's argv (see :mod:`r2k8s.core.agent.service`).

What cannot work is refused, naming the field: a Tekton ``script`` beside a
``command`` (Tekton refuses it too) and a Windows (``#!win``) script, which no
formula's Linux filesystem can run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from r2k8s.core.agent.script import SCRIPT_HEADER
from r2k8s.core.jsonpath import JsonPath, pointer
from r2k8s.krm.locate import ContainerSite

__all__ = ["refusals", "script_operation", "tekton_script"]


def tekton_script(site: ContainerSite, container: Mapping[str, Any]) -> str | None:
    """The Tekton ``script`` of a standalone container, or ``None`` (Tekton ignores an empty one too)."""
    script = container.get("script")
    if site.pod_spec is None and isinstance(script, str) and script:
        return script
    return None


def refusals(site: ContainerSite, container: Mapping[str, Any]) -> list[tuple[JsonPath, str]]:
    """Why the script of this container cannot run in a formula, as (field path, reason); empty if it can."""
    script = tekton_script(site, container)
    if script is None:
        return []
    found: list[tuple[JsonPath, str]] = []
    if container.get("command"):
        found.append(
            (
                (*site.path, "script"),
                "a script beside a command, which Tekton refuses ('script cannot be used with command'): drop the"
                " command (the script's #! line names its interpreter)",
            )
        )
    if script.strip().startswith("#!win"):
        found.append(
            (
                (*site.path, "script"),
                "a Windows script (#!win), which cannot run in a formula: its filesystem is Linux",
            )
        )
    return found


def script_operation(path: JsonPath, container: Mapping[str, Any]) -> dict[str, Any]:
    """The operation putting the agent's prologue in front of the Tekton ``script`` at ``path``."""
    return {"op": "replace", "path": pointer((*path, "script")), "value": SCRIPT_HEADER + str(container["script"])}
