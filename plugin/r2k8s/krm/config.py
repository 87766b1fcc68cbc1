"""The function config: what users can set, read from whichever object the orchestrator hands over.

Three shapes are accepted, because three orchestrators pass configs three ways:

* ``apiVersion: fn.r2k8s.io/v1alpha1, kind: R2k8sFunction`` with a ``spec``
  (schema: ``schemas/function-config.schema.json``) — the kustomize
  transformer object itself, a kpt ``--fn-config``/Kptfile ``configPath``;
* a ``ConfigMap`` whose ``data`` holds flat keys (``image``, ``imagePullPolicy``,
  ``cache``, ``isolation``, ``explain``, ``root``) — what
  ``kpt fn eval --exec r2k8s -- image=…`` and a Kptfile ``configMap:`` produce;
* nothing at all — the defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from r2k8s.core.agent.contract import DEFAULT_EMPTY_IMAGE, DEFAULT_IMAGE
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.locate import FieldPath, dotted
from r2k8s.krm.resource_list import metadata_of

__all__ = ["API_VERSION", "KIND", "CacheConfig", "FunctionConfig", "parse_function_config"]

API_VERSION = "fn.r2k8s.io/v1alpha1"
KIND = "R2k8sFunction"
PYTHON_IMAGE_ENV = (
    "PATH",
    "LANG",
    "GPG_KEY",
    "PYTHON_VERSION",
    "PYTHON_SHA256",
    "PYTHON_PIP_VERSION",
    "PYTHON_SETUPTOOLS_VERSION",
    "PYTHON_GET_PIP_URL",
    "PYTHON_GET_PIP_SHA256",
    "PYTHONDONTWRITEBYTECODE",
)
"""What the official ``python`` images set; the action does not inherit them (unless the manifest sets them)."""
CONFIGMAP_KEYS = ("image", "emptyImage", "imagePullPolicy", "cache", "isolation", "explain", "root")


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    type: str = "emptyDir"
    size_limit: str | None = None
    medium: str | None = None
    path: str | None = None
    claim_name: str | None = None

    def volume(self, name: str) -> dict[str, Any]:
        """The pod volume that holds the ware cache."""
        if self.type == "hostPath":
            return {"name": name, "hostPath": {"path": self.path, "type": "DirectoryOrCreate"}}
        if self.type == "persistentVolumeClaim":
            return {"name": name, "persistentVolumeClaim": {"claimName": self.claim_name}}
        source: dict[str, Any] = {}
        if self.medium:
            source["medium"] = self.medium
        if self.size_limit:
            source["sizeLimit"] = self.size_limit
        return {"name": name, "emptyDir": source}


@dataclasses.dataclass(frozen=True)
class Rewrite:
    prefix: str
    replacement: str


REPOSITORY_PACKTYPE_PREFIXES = ("git:",)
"""Wares whose warehouses are repositories (remotes), not folders of wares: mirrors do not serve them."""


@dataclasses.dataclass(frozen=True)
class FunctionConfig:
    agent_image: str = DEFAULT_IMAGE
    empty_image: str | None = DEFAULT_EMPTY_IMAGE
    """What a formula container with a fetch init container starts from (``None``: the agent image)."""
    image_pull_policy: str = "IfNotPresent"
    image_env: tuple[str, ...] = PYTHON_IMAGE_ENV
    cache: CacheConfig = CacheConfig()
    by_ware: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    field_paths: tuple[FieldPath, ...] = ()
    isolation: str = "takeover"
    root: Path | None = None
    explain: bool = False
    formulas: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Inline formula documents by name (plain JSON-like data)."""
    agent_namespaces: tuple[str, ...] = ()
    """Namespaces that get the agent ConfigMap for cluster-scoped resources (their pods' namespaces)."""
    knative_features: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The cluster's Knative ``config-features`` flags the user gave, lower-cased values; the rest are defaults."""
    source: str = "the default function config"

    def fetch_urls(self, ware: str, urls: tuple[str, ...]) -> tuple[str, ...]:
        """The URLs a pod tries for ``ware``: per-ware ones, mirrors, then the formula's, rewritten.

        Mirrors are ware warehouses (a folder of wares by ID), so a ``git:`` ware, whose warehouses are
        repositories, never gets them: a mirror URL in its list would be a remote that is not a repository.
        """
        rewritten = []
        for url in urls:
            for rule in self.rewrites:
                if url.startswith(rule.prefix):
                    url = rule.replacement + url[len(rule.prefix) :]
                    break
            rewritten.append(url)
        merged: list[str] = []
        mirrors = () if ware.startswith(REPOSITORY_PACKTYPE_PREFIXES) else self.mirrors
        for url in (*self.by_ware.get(ware, ()), *mirrors, *rewritten):
            if url not in merged:
                merged.append(url)
        return tuple(merged)

    @property
    def root_dir(self) -> Path:
        return (self.root if self.root is not None else Path(".")).absolute()


@functools.cache
def _validator() -> Any:
    import importlib.resources
    import json

    import jsonschema

    text = importlib.resources.files("r2k8s").joinpath("schemas", "function-config.schema.json").read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def _plainly_valid(config: Mapping[str, Any]) -> bool:
    """True for the config most packages give (at most ``spec.agent.image`` and ``imagePullPolicy``), which the
    schema accepts: importing jsonschema and building its validator costs more than the function's work on a
    package of a thousand resources. Anything else, valid or not, goes to the schema, which names what is wrong."""
    if not set(config) <= {"apiVersion", "kind", "metadata", "spec"} or not isinstance(
        config.get("metadata", {}), dict
    ):
        return False
    spec = config.get("spec", {})
    if not isinstance(spec, dict) or not set(spec) <= {"agent"}:
        return False
    agent = spec.get("agent", {})
    if not isinstance(agent, dict) or not set(agent) <= {"image", "imagePullPolicy"}:
        return False
    image = agent.get("image", "x")
    return isinstance(image, str) and len(image) >= 1 and agent.get("imagePullPolicy", "Always") in _PULL_POLICIES


def _config_error(source: str, message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, f"{source}: {message}")


def _name_of(config: Mapping[str, Any]) -> str:
    return f"{config.get('kind')}/{metadata_of(config).get('name', '?')}"


def _truthy(text: str, source: str, key: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off", ""):
        return False
    raise _config_error(source, f"data.{key}: expected true or false, got {text!r}")


def parse_function_config(config: Any, source: str = "functionConfig") -> FunctionConfig:
    """Read ``config`` (plain data: a ResourceList's ``functionConfig``, or ``None``)."""
    if config is None or config == {}:
        return FunctionConfig()
    if not isinstance(config, Mapping):
        raise _config_error(source, f"expected an object, got {type(config).__name__}")
    where = f"{source} ({_name_of(config)})"
    if config.get("kind") == "ConfigMap" and config.get("apiVersion", "v1") == "v1":
        return _from_configmap(config, where)
    if config.get("kind") != KIND or config.get("apiVersion") != API_VERSION:
        raise _config_error(
            where,
            f"unsupported function config kind {config.get('apiVersion')}/{config.get('kind')};"
            f" use apiVersion {API_VERSION}, kind {KIND} (or a ConfigMap with data keys"
            f" {', '.join(CONFIGMAP_KEYS)})",
        )
    errors = (
        [] if _plainly_valid(config) else sorted(_validator().iter_errors(config), key=lambda e: list(e.absolute_path))
    )
    if errors:
        lines = [f"{dotted(list(e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:20]]
        raise _config_error(where, "invalid function config:\n  " + "\n  ".join(lines))
    spec = config.get("spec") or {}
    agent = spec.get("agent") or {}
    cache = spec.get("cache") or {}
    warehouses = spec.get("warehouses") or {}
    root = spec.get("root")
    return FunctionConfig(
        agent_image=agent.get("image", DEFAULT_IMAGE),
        empty_image=agent.get("emptyImage", DEFAULT_EMPTY_IMAGE),
        image_pull_policy=agent.get("imagePullPolicy", "IfNotPresent"),
        image_env=tuple(agent.get("imageEnv", PYTHON_IMAGE_ENV)),
        cache=CacheConfig(
            type=cache.get("type", "emptyDir"),
            size_limit=cache.get("sizeLimit"),
            medium=cache.get("medium") or None,
            path=cache.get("path"),
            claim_name=cache.get("claimName"),
        ),
        by_ware={ware: tuple(urls) for ware, urls in (warehouses.get("byWare") or {}).items()},
        mirrors=tuple(warehouses.get("mirrors") or ()),
        rewrites=tuple(Rewrite(r["from"], r["to"]) for r in warehouses.get("rewrite") or ()),
        field_paths=tuple(
            FieldPath(p["path"], p.get("kind"), p.get("apiVersion")) for p in spec.get("fieldPaths") or ()
        ),
        isolation=spec.get("isolation", "takeover"),
        root=Path(root) if root else None,
        explain=bool(spec.get("explain", False)),
        formulas=dict(spec.get("formulas") or {}),
        agent_namespaces=tuple(agent.get("namespaces") or ()),
        knative_features={
            str(flag): str(value).lower() for flag, value in ((spec.get("knative") or {}).get("features") or {}).items()
        },
        source=where,
    )


def _from_configmap(config: Mapping[str, Any], where: str) -> FunctionConfig:
    data = config.get("data") or {}
    if not isinstance(data, Mapping):
        raise _config_error(where, "data: expected a map of strings")
    unknown = sorted(set(data) - set(CONFIGMAP_KEYS))
    if unknown:
        raise _config_error(where, f"unknown key(s) in data: {', '.join(unknown)} (known: {', '.join(CONFIGMAP_KEYS)})")
    values = {key: str(value) for key, value in data.items()}
    cache_type = values.get("cache", "emptyDir")
    if cache_type not in ("emptyDir",):
        raise _config_error(
            where,
            f"data.cache: {cache_type!r}; a ConfigMap config can only choose emptyDir"
            f" (use a {KIND} config for hostPath or persistentVolumeClaim)",
        )
    isolation = values.get("isolation", "takeover")
    if isolation != "takeover":
        raise _config_error(where, f"data.isolation: {isolation!r}; supported: takeover")
    policy = values.get("imagePullPolicy", "IfNotPresent")
    if policy not in ("Always", "IfNotPresent", "Never"):
        raise _config_error(where, f"data.imagePullPolicy: {policy!r}; use Always, IfNotPresent or Never")
    return FunctionConfig(
        agent_image=values.get("image") or DEFAULT_IMAGE,
        empty_image=values.get("emptyImage", DEFAULT_EMPTY_IMAGE) or None,
        image_pull_policy=policy,
        explain=_truthy(values.get("explain", "false"), where, "explain"),
        root=Path(values["root"]) if values.get("root") else None,
        source=where,
    )


def environment_overrides(config: FunctionConfig) -> FunctionConfig:
    """``R2K8S_EXPLAIN=1`` turns explain mode on (for orchestrators that pass no arguments)."""
    if os.environ.get("R2K8S_EXPLAIN", "").strip().lower() in ("1", "true", "yes"):
        return dataclasses.replace(config, explain=True)
    return config
