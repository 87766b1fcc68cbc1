"""The JSON-patch operations that turn a formula container into one that fetches, verifies and runs it.

For a container in a pod spec (``P`` the container, ``S`` its pod spec, ``T``
the mapping holding ``S`` and its ``metadata`` — the pod template, or the Pod):

* ``P/image`` becomes the empty image (the pause image: nothing for the root
  takeover to delete), ``P/command`` the agent's ``serve`` with the interpreter
  its fetch init container staged in the cache (without an empty image, or
  without an init container: the agent image, a stock Python image, and
  ``python3``); the user's ``args``/``command``/``workingDir`` move
  into the formula spec, where they replace the formula's exec and cwd as
  they would replace an image's entrypoint and workdir;
* ``P/env`` gains the formula's environment (repeatr's defaults applied)
  *before* the user's entries, which therefore override it, and the spec
  ``R2K8S_FORMULA`` at the end; the user's entries are not touched;
* ``P/securityContext``: root with the baseline capabilities the takeover
  needs, root filesystem writable — the rest of what the user wrote stays;
* ``P/volumeMounts`` gains the agent and the ware cache, read-only where the
  init container filled it (the action never writes to what other pods of a
  node cache run);
* ``S/volumes`` gains the two volumes, ``S/initContainers`` a fetch init
  container per formula container (first, so a formula init container's
  wares are there before it starts);
* ``T/metadata/annotations`` gains ``r2k8s.io/formulas`` (container → formula
  ID), so a changed formula changes the pod template and rolls the workload.

Everything else — ports, probes, resources, lifecycle, labels, comments —
is never named by an operation and so survives as written. A standalone
container (Argo, Tekton) gets the same container changes with the agent's
``run`` command (fetch and serve in one process) and its volumes go to the
nearest enclosing ``volumes`` list or ``spec``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from r2k8s.core.agent.contract import (
    AGENT_DIR,
    CACHE_DIR,
    FETCH_CAPABILITIES,
    SERVE_CAPABILITIES,
    SERVICE_SPEC_ENV,
    STAGE_RUNTIME_FLAG,
    agent_argv,
    runtime_argv,
)
from r2k8s.core.agent.service_spec import ServiceSpec
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.model import FormulaContext
from r2k8s.core.jsonpath import JsonPath, pointer, value_at
from r2k8s.krm.config import FunctionConfig
from r2k8s.krm.locate import ContainerSite
from r2k8s.krm.owners import PodRules
from r2k8s.krm.references import FormulaRef
from r2k8s.krm.scripts import refusals, script_operation, tekton_script

__all__ = [
    "AGENT_VOLUME",
    "CACHE_VOLUME",
    "FORMULAS_ANNOTATION",
    "PodChanges",
    "annotation_operations",
    "container_operations",
    "described",
    "formulas_value",
    "malformed_fields",
    "pod_fetch_urls",
]

AGENT_VOLUME = "r2k8s-agent"
CACHE_VOLUME = "r2k8s-cache"
FORMULAS_ANNOTATION = "r2k8s.io/formulas"

Operation = dict[str, Any]


def _set(path: JsonPath, key: str, value: Any, node: Mapping[str, Any]) -> Operation:
    return {"op": "replace" if key in node else "add", "path": pointer((*path, key)), "value": value}


def _append(path: JsonPath, key: str, values: Sequence[Any], node: Mapping[str, Any]) -> list[Operation]:
    existing = node.get(key)
    if isinstance(existing, list):
        return [{"op": "add", "path": pointer((*path, key, "-")), "value": value} for value in values]
    return [_set(path, key, list(values), node)]


def pod_fetch_urls(ref: FormulaRef, config: FunctionConfig) -> dict[str, tuple[str, ...]]:
    """Input path → the URLs the pod tries for it: the formula's, after the function config's warehouses."""
    inputs = ref.loaded.formula.inputs or {}
    fetch = {
        path: config.fetch_urls(str(inputs[path]), urls)
        for path, urls in ref.loaded.context.fetch_urls.items()
        if path in inputs
    }
    for path in inputs:
        fetch.setdefault(path, config.fetch_urls(str(inputs[path]), ()))
    return fetch


def _spec_for(
    ref: FormulaRef, container: Mapping[str, Any], config: FunctionConfig, env_names: Sequence[str]
) -> ServiceSpec:
    command, args = container.get("command"), container.get("args")
    argv: tuple[str, ...] | None = None
    if command:
        argv = tuple(str(a) for a in [*command, *(args or [])])
    elif args:
        argv = tuple(str(a) for a in [*(ref.loaded.formula.action.exec or ())[:1], *args])
    return ServiceSpec(
        formula=ref.loaded.formula,
        context=FormulaContext(fetch_urls=pod_fetch_urls(ref, config), save_urls={}),
        formula_id=ref.formula_id,
        legacy_inputs=tuple(sorted(ref.loaded.legacy_inputs)),
        argv=argv,
        cwd=str(container["workingDir"]) if container.get("workingDir") else None,
        keep_env=tuple(sorted(env_names)),
        drop_env=tuple(config.image_env),
        cache=CACHE_DIR,
    )


def _user_env_names(container: Mapping[str, Any]) -> set[str]:
    return {str(e.get("name")) for e in container.get("env") or () if isinstance(e, Mapping)}


def _env_operations(
    path: JsonPath, container: Mapping[str, Any], formula_env: Mapping[str, str], spec_json: str
) -> list[Operation]:
    user_names = _user_env_names(container)
    inherited = [
        {"name": name, "value": value} for name, value in sorted(formula_env.items()) if name not in user_names
    ]
    spec_entry = {"name": SERVICE_SPEC_ENV, "value": spec_json}
    if not isinstance(container.get("env"), list):
        return [_set(path, "env", [*inherited, spec_entry], container)]
    ops = [
        {"op": "add", "path": pointer((*path, "env", index)), "value": entry} for index, entry in enumerate(inherited)
    ]
    ops.append({"op": "add", "path": pointer((*path, "env", "-")), "value": spec_entry})
    return ops


def _security_operations(path: JsonPath, container: Mapping[str, Any], capabilities: Sequence[str]) -> list[Operation]:
    """Root, a writable root, and ``capabilities`` added (none: an owner that refuses ``add``; the runtime's
    default set must then hold them) with no ``drop`` of them."""
    wanted = {"runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False, "readOnlyRootFilesystem": False}
    added = {"capabilities": {"add": list(capabilities)}} if capabilities else {}
    current = container.get("securityContext")
    if not isinstance(current, Mapping):
        return [_set(path, "securityContext", {**wanted, **added}, container)]
    here = (*path, "securityContext")
    ops = [_set(here, key, value, current) for key, value in wanted.items() if current.get(key) != value]
    caps = current.get("capabilities")
    if not isinstance(caps, Mapping):
        if capabilities:
            ops.append(_set(here, "capabilities", {"add": list(capabilities)}, current))
    else:
        have = {str(c) for c in caps.get("add") or ()}
        missing = [c for c in capabilities if c not in have]
        if missing:
            ops += _append((*here, "capabilities"), "add", missing, caps)
        dropped = [str(c) for c in caps.get("drop") or ()]
        if dropped:  # a drop list (often [ALL]) would take away what the takeover needs; keep drops of others
            kept = [c for c in dropped if c != "ALL" and c not in capabilities]
            ops.append(_set((*here, "capabilities"), "drop", kept, caps))
    return ops


def _mounts(cache_read_only: bool) -> list[dict[str, Any]]:
    cache: dict[str, Any] = {"name": CACHE_VOLUME, "mountPath": CACHE_DIR}
    if cache_read_only:
        cache["readOnly"] = True
    return [{"name": AGENT_VOLUME, "mountPath": AGENT_DIR, "readOnly": True}, cache]


def container_operations(
    resource: Any, site: ContainerSite, ref: FormulaRef, config: FunctionConfig, rules: PodRules | None = None
) -> tuple[list[Operation], str]:
    """Operations on the container itself; returns them and the spec JSON (for the fetch init container).

    ``rules`` are its pod owner's (:mod:`.owners`; ``None`` for a standalone container): without init
    containers the container fetches its own wares (``run``), as a standalone one does."""
    fetched_before = site.pod_spec is not None and (rules is None or rules.init_containers)
    capabilities = SERVE_CAPABILITIES if rules is None or rules.add_capabilities else ()
    path = site.path
    container = value_at(resource, path)
    formula_env = dict(apply_defaults(ref.loaded.formula).action.env or {})
    spec = _spec_for(ref, container, config, sorted(_user_env_names(container) | set(formula_env)))
    script = tekton_script(site, container)  # Tekton runs the script (with the args), the agent from its prologue
    spec_json = (spec if script is None else dataclasses.replace(spec, argv=None)).to_json()
    empty = fetched_before and script is None and config.empty_image is not None
    if script is not None:
        command = script_operation(path, container)
    elif empty:
        from r2k8s.agent_bundle import agent_digest  # the zipapp is built once per run, when there is work

        command = _set(path, "command", runtime_argv(agent_digest(), "serve"), container)
    else:
        command = _set(path, "command", agent_argv("serve" if fetched_before else "run"), container)
    ops: list[Operation] = [
        _set(path, "image", config.empty_image if empty else config.agent_image, container),
        _set(path, "imagePullPolicy", config.image_pull_policy, container),
        command,
    ]
    for key in ("args", "workingDir"):
        if key in container and not (script is not None and key == "args"):
            ops.append({"op": "remove", "path": pointer((*path, key))})
    ops += _env_operations(path, container, formula_env, spec_json)
    ops += _security_operations(path, container, capabilities)
    if "terminationMessagePolicy" not in container:
        ops.append(_set(path, "terminationMessagePolicy", "FallbackToLogsOnError", container))
    ops += _append(path, "volumeMounts", _mounts(fetched_before), container)
    return ops, spec_json


def fetch_container(name: str, config: FunctionConfig, spec_json: str, rules: PodRules) -> dict[str, Any]:
    """The init container that fetches and verifies ``name``'s wares before it starts."""
    container: dict[str, Any] = {
        "name": _fetch_name(name),
        "image": config.agent_image,
        "imagePullPolicy": config.image_pull_policy,
        "command": agent_argv("fetch", STAGE_RUNTIME_FLAG) if config.empty_image else agent_argv("fetch"),
        "env": [{"name": SERVICE_SPEC_ENV, "value": spec_json}],
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,
            "capabilities": {"drop": ["ALL"], "add": list(FETCH_CAPABILITIES)},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": AGENT_VOLUME, "mountPath": AGENT_DIR, "readOnly": True},
            {"name": CACHE_VOLUME, "mountPath": CACHE_DIR},
        ],
    }
    if not rules.escalation_field:
        del container["securityContext"]["allowPrivilegeEscalation"]
    return container


def _fetch_name(container: str) -> str:
    name = f"r2k8s-fetch-{container}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(container.encode()).hexdigest()[:8]
    return f"{name[:54]}-{digest}"


def volumes(config: FunctionConfig, agent_configmap: str) -> list[dict[str, Any]]:
    return [{"name": AGENT_VOLUME, "configMap": {"name": agent_configmap}}, config.cache.volume(CACHE_VOLUME)]


class PodChanges:
    """What one pod spec (or standalone volume owner) collects from its formula containers, emitted last."""

    def __init__(self, spec_path: JsonPath, rules: PodRules | None) -> None:
        self.spec_path = spec_path
        self.rules = rules
        """The pod owner's rules (:mod:`.owners`); ``None`` for a standalone container's volume owner."""
        self.fetches: list[dict[str, Any]] = []
        self.formulas: dict[str, str] = {}

    def operations(self, resource: Any, config: FunctionConfig, agent_configmap: str) -> list[Operation]:
        """The volumes and fetch init containers (the formula annotation: :func:`annotation_operations`)."""
        spec = value_at(resource, self.spec_path)
        ops: list[Operation] = []
        existing = {str(v.get("name")) for v in spec.get("volumes") or () if isinstance(v, Mapping)}
        new_volumes = [v for v in volumes(config, agent_configmap) if v["name"] not in existing]
        if new_volumes:
            ops += _append(self.spec_path, "volumes", new_volumes, spec)
        if not self.fetches:
            return ops
        if isinstance(spec.get("initContainers"), list):
            ops += [
                {"op": "add", "path": pointer((*self.spec_path, "initContainers", index)), "value": fetch}
                for index, fetch in enumerate(self.fetches)
            ]
        else:
            ops.append(_set(self.spec_path, "initContainers", list(self.fetches), spec))
        return ops


def formulas_value(formulas: Mapping[str, str]) -> str:
    """The ``r2k8s.io/formulas`` annotation: ``container=formula ID`` pairs, sorted."""
    return ",".join(f"{name}={fid}" for name, fid in sorted(formulas.items()))


def annotation_operations(resource: Any, path: JsonPath, values: Mapping[str, str]) -> list[Operation]:
    """Set ``values`` in the annotations mapping at ``path``, making the mappings on the way that are absent
    (:func:`malformed_fields` refused any that is not a mapping)."""
    node = resource
    for depth, key in enumerate(path):
        if isinstance(node, list) and isinstance(key, int):  # a list index on the way (RayCluster's groups)
            node = node[key]
            continue
        child = node.get(key)
        listed = depth + 1 < len(path) and isinstance(path[depth + 1], int)
        if not isinstance(child, list if listed else Mapping):
            nested: Any = dict(values)
            for inner in reversed(path[depth + 1 :]):
                nested = {inner: nested}
            return [_set(path[:depth], str(key), nested, node)]
        node = child
    return [_set(path, key, value, node) for key, value in values.items()]


VOLUME_OWNER_KEYS = ("spec", "workflowSpec", "taskSpec")

_LIST = "a list"
_SCALARS = "a list of strings"
_MAPPING = "a mapping"
_STRING = "a string"


def described(value: Any) -> str:
    """``value``'s type as a manifest's author would say it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _wrong(value: Any, expected: str) -> bool:
    """Whether ``value`` (absent or null is fine: the field is then set, not extended) is not ``expected``."""
    if value is None:
        return False
    if expected == _MAPPING:
        return not isinstance(value, Mapping)
    if expected == _STRING:
        return not isinstance(value, str)
    if not isinstance(value, list):
        return True
    if expected == _SCALARS:
        return any(isinstance(entry, (Mapping, list)) or entry is None for entry in value)
    return False


def malformed_fields(
    resource: Any, site: ContainerSite, owner: JsonPath | None, annotations: JsonPath | None = None
) -> list[tuple[JsonPath, str]]:
    """The fields the rewrite of ``site`` reads, replaces or extends that do not have their Kubernetes type.

    Each would otherwise crash the function (``env: 5``, ``initContainers: 7``) or be silently replaced or
    misread (``args: hello`` became the arguments ``h e l l o``, ``volumeMounts: x`` was dropped): refused
    instead, as (field path, what it should be and is). ``annotations`` is where the pod's formula annotation
    goes (:class:`~r2k8s.krm.owners.PodRules`). ``owner`` is where the pod's volumes go
    (:func:`volume_owner` for a standalone container)."""
    found: list[tuple[JsonPath, str]] = []

    def check(node: Any, path: JsonPath, key: str, expected: str) -> Any:
        value = node.get(key) if isinstance(node, Mapping) else None
        if _wrong(value, expected):
            found.append(((*path, key), f"expected {expected}, got {described(value)}"))
            return None
        return value

    def check_items(node: Any, path: JsonPath, key: str) -> None:
        """A list of mappings, which the rewrite extends: an item of another kind no controller would accept."""
        for index, entry in enumerate(check(node, path, key, _LIST) or ()):
            if not isinstance(entry, Mapping):
                found.append(((*path, key, index), f"expected a mapping, got {described(entry)}"))

    path = site.path
    container = value_at(resource, path)
    check(container, path, "name", _STRING)
    for key in ("command", "args"):
        check(container, path, key, _SCALARS)
    check(container, path, "workingDir", _STRING)
    if site.pod_spec is None:  # Tekton's script, Argo's script template's source (see .scripts)
        check(container, path, "script", _STRING)
        if path and path[-1] == "script":
            check(container, path, "source", _STRING)
    for index, entry in enumerate(check(container, path, "env", _LIST) or ()):
        if not isinstance(entry, Mapping):
            found.append(((*path, "env", index), f"expected a mapping with a string name, got {described(entry)}"))
        elif not isinstance(entry.get("name"), str):
            found.append(((*path, "env", index, "name"), f"expected a string, got {described(entry.get('name'))}"))
    check_items(container, path, "volumeMounts")
    security = check(container, path, "securityContext", _MAPPING)
    capabilities = check(security, (*path, "securityContext"), "capabilities", _MAPPING)
    for key in ("add", "drop"):
        check(capabilities, (*path, "securityContext", "capabilities"), key, _SCALARS)
    if not found:
        found += refusals(site, container)
    if owner is not None:
        check_items(value_at(resource, owner), owner, "volumes")
    if site.pod_spec is not None:
        check_items(value_at(resource, site.pod_spec), site.pod_spec, "initContainers")
    node: Any = resource
    steps = tuple(annotations or ())
    for depth, part in enumerate(steps):
        if isinstance(part, int):  # a list index on the way (RayCluster's worker groups)
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            listed = depth + 1 < len(steps) and isinstance(steps[depth + 1], int)
            node = check(node, steps[:depth], part, _LIST if listed else _MAPPING)
    return found


def volume_owner(resource: Any, container_path: JsonPath) -> JsonPath | None:
    """For a standalone container: the nearest enclosing mapping with ``volumes``, else the nearest ``spec``."""
    for end in range(len(container_path) - 1, -1, -1):
        candidate = container_path[:end]
        node = value_at(resource, candidate)
        if isinstance(node, Mapping) and isinstance(node.get("volumes"), list):
            return candidate
    for end in range(len(container_path) - 1, 0, -1):
        if container_path[end - 1] in VOLUME_OWNER_KEYS and isinstance(
            value_at(resource, container_path[:end]), Mapping
        ):
            return container_path[:end]
    return None
