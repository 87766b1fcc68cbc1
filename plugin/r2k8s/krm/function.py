"""The KRM function: a filter over a resource list, in the shape of kustomize's kyaml ``fn/framework``.

``run(text) -> (output, exit code, messages)``: read the input
(:mod:`.resource_list`), read the function config (:mod:`.config`), find every
container in every item (:mod:`.locate`), and for those whose ``image`` names
a formula (:mod:`.references`) compute JSON-patch operations
(:mod:`.rewrite`) and apply them with ``jsonpatch``. One ConfigMap carrying
the agent zipapp is added per namespace that needs it, unless the input has
it already — so running the function on its own output changes nothing.

Failure discipline (kustomize and kpt read "exit 0, empty output" as
"delete everything"): any problem gives a non-zero exit, a message on stderr
naming the file, the resource and the container, and — when the input was a
ResourceList — the unchanged list back with an error ``result`` carrying
``resourceRef``, ``field`` and ``file``. Output is never empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from r2k8s.core.agent.contract import AGENT_ZIPAPP
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.config import FunctionConfig, parse_function_config
from r2k8s.krm.locate import dotted, find_containers
from r2k8s.krm.references import FormulaResolver, is_reference
from r2k8s.krm.resource_list import (
    FunctionInput,
    annotations_of,
    display_file,
    file_index,
    metadata_of,
    namespace_of,
    read_input,
    resource_name,
    resource_ref,
    source_file,
    write_output,
)

__all__ = ["Outcome", "run"]

LOCAL_CONFIG = "config.kubernetes.io/local-config"
PASSED_THROUGH_KINDS = frozenset({"Kptfile"})


@dataclasses.dataclass
class Outcome:
    output: str
    exit_code: int
    messages: list[str]


@dataclasses.dataclass
class _Problem:
    message: str
    item: Mapping[str, Any] | None = None
    field: str | None = None
    file: str | None = None

    def text(self) -> str:
        where = [part for part in (self.file, resource_name(self.item) if self.item is not None else None) if part]
        return ": ".join([*where, *(([f"{self.field}"]) if self.field else []), self.message])

    def result(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"message": self.message, "severity": "error"}
        if self.item is not None:
            entry["resourceRef"] = resource_ref(self.item)
            if self.field:
                entry["field"] = {"path": self.field}
        if self.file:
            entry["file"] = {"path": self.file, "index": file_index(self.item) if self.item is not None else 0}
        return entry


def _skipped(item: Mapping[str, Any], function_config: Any) -> bool:
    if str(annotations_of(item).get(LOCAL_CONFIG, "")).lower() == "true" or item.get("kind") in PASSED_THROUGH_KINDS:
        return True
    if isinstance(function_config, Mapping):  # kpt sends the function config's own file as an item too
        return (item.get("kind"), item.get("apiVersion"), metadata_of(item).get("name")) == (
            function_config.get("kind"),
            function_config.get("apiVersion"),
            metadata_of(function_config).get("name"),
        )
    return False


class _Expander:
    """Plans and applies the changes for one input."""

    def __init__(self, given: FunctionInput, config: FunctionConfig) -> None:
        self.given = given
        self.config = config
        self.resolver = FormulaResolver(config)
        self.problems: list[_Problem] = []
        self.patches: list[tuple[int, list[dict[str, Any]]]] = []
        self.namespaces: set[str | None] = set()

    def plan(self) -> None:
        for index, item in enumerate(self.given.items):
            if _skipped(item, self.given.function_config):
                continue
            sites = [
                s
                for s in find_containers(item, self.config.field_paths)
                if is_reference(str(_node(item, s.path).get("image")))
            ]
            if not sites:
                continue
            from r2k8s.agent_bundle import configmap_name  # imported only when there is work: start-up stays fast
            from r2k8s.krm.rewrite import PodChanges, container_operations, fetch_container, volume_owner

            fallback = self.given.sources[index] if index < len(self.given.sources) else None
            shown = display_file(item, fallback)
            operations: list[dict[str, Any]] = []
            pods: dict[tuple[Any, ...], PodChanges] = {}
            for site in sites:
                container = _node(item, site.path)
                field = dotted((*site.path, "image"))
                try:
                    ref = self.resolver.resolve(str(container["image"]), source_file(item))
                except R2k8sError as exc:
                    self.problems.append(
                        _Problem(f"container {container.get('name', '?')!r}: {exc.message}", item, field, shown)
                    )
                    continue
                ops, spec_json = container_operations(item, site, ref, self.config)
                operations += ops
                owner = site.pod_spec if site.pod_spec is not None else volume_owner(item, site.path)
                if owner is None:
                    self.problems.append(
                        _Problem(
                            f"container {container.get('name', '?')!r}: found no pod spec, 'volumes' list"
                            " or 'spec' around it to hold the agent's volumes",
                            item,
                            field,
                            shown,
                        )
                    )
                    continue
                changes = pods.setdefault(owner, PodChanges(owner, standalone=site.pod_spec is None))
                name = str(container.get("name") or f"container-{len(changes.formulas)}")
                changes.formulas[name] = ref.formula_id
                if site.pod_spec is not None:
                    changes.fetches.append(fetch_container(name, self.config, spec_json))
            for changes in pods.values():
                operations += changes.operations(item, self.config, configmap_name())  # built only when needed
            if operations:
                self.patches.append((index, operations))
                self.namespaces.add(namespace_of(item))

    def apply(self) -> None:
        import jsonpatch

        from r2k8s.krm import yamlio

        for index, operations in self.patches:
            converted = [{**op, "value": yamlio.block(op["value"])} if "value" in op else op for op in operations]
            jsonpatch.apply_patch(self.given.items[index], converted, in_place=True)
        self.given.items.extend(self._agent_configmaps())

    def _agent_configmaps(self) -> list[Any]:
        from r2k8s.agent_bundle import agent_zipapp, configmap_manifest, configmap_name
        from r2k8s.krm import yamlio

        if not self.namespaces:
            return []
        name = configmap_name()
        present = {(item.get("kind"), namespace_of(item), metadata_of(item).get("name")) for item in self.given.items}
        added = []
        for namespace in sorted(self.namespaces, key=lambda n: n or ""):
            if ("ConfigMap", namespace, name) in present:
                continue
            manifest = configmap_manifest(name, agent_zipapp())
            if namespace:
                manifest["metadata"]["namespace"] = namespace
            added.append(yamlio.block(manifest))
        return added

    def explanation(self) -> str:
        from r2k8s.krm import yamlio

        documents: list[Any] = []
        for index, operations in self.patches:
            item = self.given.items[index]
            fallback = self.given.sources[index] if index < len(self.given.sources) else None
            entry: dict[str, Any] = {"resource": resource_ref(item)}
            if display_file(item, fallback):
                entry["file"] = display_file(item, fallback)
            entry["operations"] = operations
            documents.append(yamlio.block(entry))
        for configmap in self._agent_configmaps():
            documents.append(
                yamlio.block(
                    {
                        "resource": resource_ref(configmap),
                        "operations": [
                            {
                                "op": "create",
                                "value": "ConfigMap with the agent zipapp"
                                f" ({len(configmap['binaryData'][AGENT_ZIPAPP])} base64 characters)",
                            }
                        ],
                    }
                )
            )
        if not documents:
            documents.append(yamlio.block({"message": "no container refers to a formula: nothing to change"}))
        return yamlio.dump_documents(documents, explicit_start=True)


def _node(item: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        item = item[part]
    return item


def run(text: str, *, explain: bool = False, config_override: Any = None, origin: str = "stdin") -> Outcome:
    """Run the function on ``text``; never returns empty output with exit code 0.

    The fast path (:mod:`.splice`) answers most inputs: libyaml reads them,
    only changed items are round-tripped, everything else is copied as text.
    Inputs it does not handle, and every failure, take the full round-trip
    path, which is also the one that writes error results.
    """
    fast = _fast(text, explain, config_override)
    if fast is not None:
        return fast
    return _full(text, explain=explain, config_override=config_override, origin=origin)


def _fast(text: str, explain: bool, config_override: Any) -> Outcome | None:
    from r2k8s.krm import splice
    from r2k8s.krm.resource_list import stream_sources

    if not text.strip():
        return None
    plan = splice.layout(text)
    if plan is None or not plan.documents:
        return None
    if plan.mode == "list":
        document = plan.documents[0]
        items = document.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return None
        function_config = document.get("functionConfig")
        sources: list[str | None] = []
    else:
        items = plan.documents
        if not all(isinstance(i, dict) for i in items):
            return None
        function_config = None
        sources = [source for _, source in stream_sources(text)]
        sources = sources if len(sources) == len(items) else []
    try:
        config = parse_function_config(config_override if config_override is not None else function_config)
    except R2k8sError:
        return None
    from r2k8s.krm.config import environment_overrides

    config = environment_overrides(config)
    from r2k8s.krm.quick import maybe_formula_reference

    if not maybe_formula_reference(text) and not (explain or config.explain):
        return Outcome(text, 0, [])  # nothing can change: the input is the answer, byte for byte
    given = FunctionInput(plan.mode, items, function_config, None, sources)
    expander = _Expander(given, config)
    try:
        expander.plan()
    except R2k8sError:
        return None
    if expander.problems:
        return None
    if explain or config.explain:
        return Outcome(expander.explanation(), 0, [])
    if not expander.patches:
        return Outcome(text, 0, [])
    changes = {index: operations for index, operations in expander.patches}
    output = splice.splice(text, plan, changes, expander._agent_configmaps())
    return None if output is None else Outcome(output, 0, [])


def _full(text: str, *, explain: bool, config_override: Any, origin: str) -> Outcome:
    from r2k8s.krm import yamlio

    try:
        given = read_input(text, origin)
    except R2k8sError as exc:
        return Outcome("", exc.category.exit_code or 1, [exc.message])
    raw_config = config_override if config_override is not None else given.function_config
    try:
        config = parse_function_config(
            yamlio.to_plain(raw_config) if raw_config is not None else None,
            "functionConfig" if config_override is None else "--config",
        )
    except R2k8sError as exc:
        return _failed(given, [_Problem(exc.message)])
    from r2k8s.krm.config import environment_overrides

    config = environment_overrides(config)
    expander = _Expander(given, config)
    try:
        expander.plan()
    except R2k8sError as exc:
        expander.problems.append(_Problem(exc.message))
    if expander.problems:
        return _failed(given, expander.problems)
    if explain or config.explain:
        return Outcome(expander.explanation(), 0, [])
    expander.apply()
    output = write_output(given)
    if not output.strip():
        return Outcome("", Category.USAGE.exit_code, ["the input held no resources: refusing to print nothing"])
    return Outcome(output, 0, [])


def _failed(given: FunctionInput, problems: list[_Problem]) -> Outcome:
    messages = [problem.text() for problem in problems]
    if given.mode == "list":
        return Outcome(write_output(given, [p.result() for p in problems]), Category.USAGE.exit_code, messages)
    return Outcome("", Category.USAGE.exit_code, messages)
