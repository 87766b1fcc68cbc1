"""The KRM function: one processor over a resource list, in the shape of kustomize's kyaml ``fn/framework``.

``run(text) -> Outcome``: :class:`Processor` reads the input, reads the
function config (:mod:`.config`), finds every container in every item
(:mod:`.locate`), resolves the images that name formulas (:mod:`.references`),
plans JSON-patch operations for them (:mod:`.rewrite`), and then either
explains the plan or applies it, adding one ConfigMap carrying the agent
zipapp per namespace that needs it (unless the input has it already, so
running the function on its own output changes nothing). Problems become
typed :class:`~r2k8s.krm.results.Result` values.

That flow is written once; how text becomes items and items become text is
an I/O path (:mod:`.io_paths`): the libyaml splice first, the ruamel.yaml
round trip wherever the splice falls back (anything unusual, and every
problem). :class:`Outcome` says which path answered.

Before either path parses anything, the shape of the input is checked
(:mod:`.limits`): YAML nested deeper than the readers can take, an alias bomb
or an alias inside the node it names is refused with exit 1 and a message
naming the document or item, the resource and the field, and *no* output —
such an input cannot be read safely, so it cannot be echoed back either.

Failure discipline (kustomize and kpt read "exit 0, empty output" as
"delete everything"): any problem gives a non-zero exit, a message on stderr
naming the file, the resource and the container, and — when the input was a
ResourceList — the unchanged list back with an error ``result`` carrying
``resourceRef``, ``field`` and ``file``. Output is never empty.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from r2k8s.core.agent.contract import AGENT_ZIPAPP
from r2k8s.core.errors import R2k8sError
from r2k8s.core.jsonpath import value_at
from r2k8s.krm.config import FunctionConfig, environment_overrides, parse_function_config
from r2k8s.krm.formula_items import FormulaItems
from r2k8s.krm.helm_hooks import HookNeeds, hook_configmap_name, hook_events
from r2k8s.krm.io_paths import Fallback, IOPath, IOPathFactory, RoundTripPath, SplicePath
from r2k8s.krm.limits import Problem, might_be_hostile, shape_problem
from r2k8s.krm.locate import ContainerSite, dotted, find_containers, images_named
from r2k8s.krm.patch import Operation
from r2k8s.krm.references import FormulaRef, FormulaResolver, is_reference
from r2k8s.krm.rerender import SOURCE_ANNOTATION
from r2k8s.krm.resource_list import (
    FunctionInput,
    InputProblem,
    annotations_of,
    display_file,
    holder_namespace,
    metadata_of,
    namespace_of,
    resource_ref,
    source_annotation,
)
from r2k8s.krm.results import ResourceRef, Result, Results, Severity
from r2k8s.krm.sourced import ORIGINS_ANNOTATION, Sourcing

__all__ = ["IO_PATHS", "NO_RESOURCES", "ONLY_FORMULAS", "REFUSED", "Outcome", "Processor", "run"]

LOCAL_CONFIG = "config.kubernetes.io/local-config"
PASSED_THROUGH_KINDS = frozenset({"Kptfile"})
NO_RESOURCES = "the input held no resources: refusing to print nothing"
ONLY_FORMULAS = (
    "the input held only Formula resources, which a plain stream leaves out (they are never applied):"
    " refusing to print nothing"
)
_LONE_LF = re.compile("(?<!\r)\n")
REFUSED = "limits"
""":attr:`Outcome.path` of an input refused before any I/O path read it (:mod:`.limits`)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one run gives: the output text, the results, and which I/O path answered."""

    output: str
    results: Results = dataclasses.field(default_factory=Results)
    path: str = ""
    """``splice`` or ``round-trip`` (:mod:`.io_paths`), or :data:`REFUSED`."""

    @property
    def exit_code(self) -> int:
        return self.results.exit_code

    @property
    def messages(self) -> list[str]:
        """Each result's text (file, resource, field, message), for stderr."""
        return self.results.messages()


IO_PATHS: tuple[IOPathFactory, ...] = (SplicePath, RoundTripPath)
"""The I/O paths in the order they are tried: each but the last may fall back to the next."""


class Processor:
    """The function's flow, written once, run over an I/O path."""

    def __init__(
        self,
        *,
        explain: bool = False,
        config_override: Any = None,
        origin: str = "stdin",
        paths: Sequence[IOPathFactory] = IO_PATHS,
        sourcing: Sourcing | None = None,
    ) -> None:
        """``sourcing``: a resolver's word on where each item came from, the root and the record to write
        (:mod:`.sourced`); the function itself gives none."""
        if not paths:
            raise ValueError("a processor needs at least one I/O path")
        self.explain = explain
        self.config_override = config_override
        self.origin = origin
        self.paths = tuple(paths)
        self.sourcing = sourcing
        self._checked: tuple[str, bool, Problem | None] | None = None

    def execute(self, text: str) -> Outcome:
        """Run on ``text`` over the first path that does not fall back; never empty output with exit code 0."""
        *first, last = self.paths
        for path in first:
            try:
                return self.process(text, path)
            except Fallback:
                continue
        return self.process(text, last)

    def process(self, text: str, path: IOPathFactory) -> Outcome:
        """Run on ``text`` over ``path`` alone; raises :class:`~r2k8s.krm.io_paths.Fallback` if it cannot answer.

        An input written with ``\\r\\n`` line ends gets them in the whole answer: the writers (libyaml,
        ruamel.yaml) write ``\\n``, and an answer mixing both would change lines nobody meant to change."""
        outcome = self._process(text, path)
        if "\r\n" in text and text.count("\n") == text.count("\r\n") and "\n" in outcome.output:
            return dataclasses.replace(outcome, output=_LONE_LF.sub("\r\n", outcome.output))
        return outcome

    def _process(self, text: str, path: IOPathFactory) -> Outcome:
        problem = self._shape_problem(text, exact=not getattr(path, "libyaml_only", False))
        if problem is not None:
            return _refused(problem)
        io = path(text, self.origin)
        try:
            given = io.read()
        except InputProblem as exc:
            return self._failed(io, None, Results((_problem_result(exc.problem, exc.message),)))
        except R2k8sError as exc:
            return self._failed(io, None, Results((Result(exc.message),)))
        if self.sourcing is not None:
            if len(self.sourcing.items) != len(given.items):
                raise RuntimeError(
                    f"the resolver counted {len(self.sourcing.items)} resources, the {io.name} path read"
                    f" {len(given.items)}"
                )
            given.sources = [source.shown for source in self.sourcing.items]
        override = self.config_override is not None
        raw_config = self.config_override if override else given.function_config
        try:
            config = parse_function_config(
                io.plain(raw_config) if raw_config is not None else None, "--config" if override else "functionConfig"
            )
        except R2k8sError as exc:
            return self._failed(io, given, Results((Result(exc.message),)))
        config = environment_overrides(config)
        if self.sourcing is not None:
            config = dataclasses.replace(config, root=self.sourcing.root)
        explaining = self.explain or config.explain
        if io.as_given(explaining) and not (self.sourcing is not None and self.sourcing.left_out):
            return Outcome(text, Results(), io.name)  # nothing can change: the input is the answer, byte for byte
        planner = _Planner(given, config, self.sourcing)
        try:
            planner.plan()
        except R2k8sError as exc:
            planner.results.append(Result(exc.message))
        results = Results(planner.results)
        if results.errors:
            return self._failed(io, given, results)
        if explaining:
            return Outcome(planner.explanation(), results, io.name)
        formulas_left_out = planner.formula_items.left_out(given.mode)
        removed = planner.stale_agents() | formulas_left_out | (self.sourcing.left_out if self.sourcing else set())
        added = planner.agent_configmaps()
        results = Results((*results, *planner.summary(added)))
        output = io.write(given, planner.patches, added, results, removed)
        if not output.strip():
            return Outcome("", Results((Result(ONLY_FORMULAS if formulas_left_out else NO_RESOURCES),)), io.name)
        return Outcome(output, results, io.name)

    def _shape_problem(self, text: str, *, exact: bool) -> Problem | None:
        """:func:`~r2k8s.krm.limits.shape_problem`, once per text; without ``exact``, only if the cheap check says so.

        A path that reads with libyaml alone (``libyaml_only``: the splice) may trust the cheap check, which is
        sound for libyaml; any other (the round trip reads with ruamel.yaml, which accepts more anchor names)
        gets the walk whatever the cheap check says: beside ruamel.yaml's own reading it costs little."""
        if self._checked is not None and self._checked[0] is text and (self._checked[1] or not exact):
            return self._checked[2]
        walked = exact or might_be_hostile(text)
        problem = shape_problem(text) if walked else None
        self._checked = (text, walked, problem)
        return problem

    @staticmethod
    def _failed(io: IOPath, given: FunctionInput | None, results: Results) -> Outcome:
        return Outcome(io.failed(given, results), results, io.name)


def _refused(problem: Problem) -> Outcome:
    """The answer to an input refused by :mod:`.limits`: the error, and no output (it cannot be echoed back)."""
    message = f"{problem.message}: refused before reading it (the input cannot be read safely, nor echoed back)"
    return Outcome("", Results((_problem_result(problem, message),)), REFUSED)


def _problem_result(problem: Problem, message: str) -> Result:
    """An error about the resource and field ``problem`` names (as far as they could be read)."""
    ref = problem.resource
    resource = (
        ResourceRef(ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("namespace"))
        if ref
        else None
    )
    return Result(message, resource_ref=resource, field=problem.field)


def run(text: str, *, explain: bool = False, config_override: Any = None, origin: str = "stdin") -> Outcome:
    """Run the function on ``text``; never returns empty output with exit code 0.

    The splice path (:mod:`.splice`) answers most inputs: libyaml reads them,
    only changed items are round-tripped, everything else is copied as text.
    Inputs it does not handle, and every failure, take the full round-trip
    path, which is also the one that writes error results.
    """
    return Processor(explain=explain, config_override=config_override, origin=origin).execute(text)


def _counted(number: int, noun: str) -> str:
    """``1 container``, ``3 containers``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _ephemeral(container_path: tuple[Any, ...]) -> bool:
    """Whether the container at ``container_path`` is an item of a pod's ``ephemeralContainers``."""
    return len(container_path) >= 2 and container_path[-2] == "ephemeralContainers"


def _configmaps_named(data: Any) -> set[str]:
    """The names of the ConfigMaps ``data`` mounts (``configMap: {name: …}``, in volumes or projections)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            reference = node.get("configMap")
            if isinstance(reference, Mapping) and isinstance(reference.get("name"), str):
                found.add(reference["name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _skipped(item: Mapping[str, Any], function_config: Any) -> bool:
    kind = item.get("kind")
    if str(annotations_of(item).get(LOCAL_CONFIG, "")).lower() == "true" or (
        isinstance(kind, str) and kind in PASSED_THROUGH_KINDS
    ):
        return True
    if isinstance(function_config, Mapping):  # kpt sends the function config's own file as an item too
        return (item.get("kind"), item.get("apiVersion"), metadata_of(item).get("name")) == (
            function_config.get("kind"),
            function_config.get("apiVersion"),
            metadata_of(function_config).get("name"),
        )
    return False


class _Planner:
    """Finds the formula containers of one input and plans their operations; explains the plan."""

    def __init__(self, given: FunctionInput, config: FunctionConfig, sourcing: Sourcing | None = None) -> None:
        self.given = given
        self.config = config
        self.sourcing = sourcing
        self.formula_items = FormulaItems(given.items, given.sources, config)
        self.resolver = FormulaResolver(config, given.function_config, self.formula_items)
        self.results: list[Result] = list(self.formula_items.results)
        self.patches: list[tuple[int, list[Operation]]] = []
        self.namespaces: set[str | None] = set()
        """The namespaces whose ordinary resources mount the agent: each gets the agent ConfigMap."""
        self.hook_namespaces: dict[str | None, HookNeeds] = {}
        """The namespaces whose helm hooks mount the agent: each gets the hooks' own ConfigMap (:mod:`.helm_hooks`)."""
        self.expanded_again = False
        """Whether a resource expanded before was expanded again differently (:meth:`_plan_again`)."""
        self.containers: dict[int, int] = {}
        """How many containers each item expanded (by item index), for :meth:`summary`."""

    def plan(self) -> None:
        for index, item in enumerate(self.given.items):
            if index in self.given.partial or _skipped(item, self.given.function_config):
                continue  # a partial item holds nothing to expand (:mod:`.scan`)
            if SOURCE_ANNOTATION in annotations_of(item):
                self._plan_again(index, item)
                continue
            operations = self._plan_sites(index, item)
            if operations:
                self.patches.append((index, operations))

    def _plan_sites(self, index: int, item: Mapping[str, Any]) -> list[Operation]:
        """The operations that expand ``item``'s formula containers (none: nothing to do, or refused)."""
        sites = [
            s
            for s in find_containers(item, self.config.field_paths)
            if is_reference(str(value_at(item, s.exact).get("image")))
        ]
        sites = self._refuse_unexpandable(index, item, sites)
        return self._plan_item(index, item, sites) if sites else []

    def _plan_again(self, index: int, item: Mapping[str, Any]) -> None:
        """An item the function expanded before (:mod:`.rerender`): restore it, expand it with today's formulas,
        agent and config, and change only what differs."""
        from r2k8s.krm import rerender
        from r2k8s.krm.patch import apply

        fallback = self.given.sources[index] if index < len(self.given.sources) else None
        try:
            before = rerender.restored(item)
        except ValueError as exc:
            self.results.append(
                Result.about(
                    item,
                    f"the {SOURCE_ANNOTATION} annotation, which r2k8s writes to expand this resource again, is"
                    f" unreadable: {exc}; remove it (and expand the resource from its source)",
                    field=dotted(("metadata", "annotations", SOURCE_ANNOTATION)),
                    file=display_file(item, fallback),
                )
            )
            return
        assert before is not None  # the annotation is there
        operations = self._plan_sites(index, before)
        after = copy.deepcopy(before)
        apply(after, operations)
        changes = rerender.difference(item, after)
        if changes:
            self.patches.append((index, changes))
            self.expanded_again = True

    def _refuse_unexpandable(
        self, index: int, item: Mapping[str, Any], sites: list[ContainerSite]
    ) -> list[ContainerSite]:
        """A formula named where no pod can run it is an error (it would reach the cluster as an image name
        that can never be pulled): in ``ephemeralContainers``, or in an ``image`` field that is no container
        the function knows, with the way to make it one. Returns the sites left to expand."""
        fallback = self.given.sources[index] if index < len(self.given.sources) else None
        shown = display_file(item, fallback)
        expandable = {s.path for s in sites}

        def refuse_ephemeral(name: object, path: tuple[Any, ...]) -> None:
            self.results.append(
                Result.about(
                    item,
                    f"ephemeral container {name!r} names a formula: ephemeral containers are added to a running"
                    " pod (kubectl debug), never written in a manifest (the API server refuses them on create),"
                    " and no init container can fetch a formula for them; use an ordinary container",
                    field=dotted((*path, "image")),
                    file=shown,
                )
            )

        for site in sites:
            if _ephemeral(site.path):
                refuse_ephemeral(value_at(item, site.exact).get("name", "?"), site.path)
        kept = [s for s in sites if not _ephemeral(s.path)]
        for path in images_named(item, is_reference):
            if path not in expandable and _ephemeral(path):
                name = value_at(item, path).get("name", "?")
                refuse_ephemeral(name, path)
            elif path not in expandable:
                self.results.append(
                    Result.about(
                        item,
                        "this image names a formula, but r2k8s does not know what holds it as a container, so it"
                        " cannot expand it; if it is one, name it in the function config's"
                        " spec.fieldPaths (kustomize fieldSpec syntax, e.g. {kind: <kind>, path: <path to it>})",
                        field=dotted((*path, "image")),
                        file=shown,
                    )
                )
        return kept

    def _plan_item(self, index: int, item: Mapping[str, Any], sites: list[ContainerSite]) -> list[Operation]:
        from r2k8s.agent_bundle import configmap_name  # imported only when there is work: start-up stays fast
        from r2k8s.krm.owners import cluster_scoped, pod_rules
        from r2k8s.krm.rerender import source_value
        from r2k8s.krm.rewrite import (
            FORMULAS_ANNOTATION,
            PodChanges,
            annotation_operations,
            container_operations,
            described,
            fetch_container,
            formulas_value,
            malformed_fields,
            volume_owner,
        )

        fallback = self.given.sources[index] if index < len(self.given.sources) else None
        shown = display_file(item, fallback)

        def refuse(message: str, field: str) -> None:
            self.results.append(Result.about(item, message, field=field, file=shown))

        problems = len(self.results)
        for key in ("name", "namespace"):
            value = metadata_of(item).get(key)
            if value is not None and not isinstance(value, str):
                refuse(f"{key}: expected a string, got {described(value)}", f"metadata.{key}")
        annotation = source_annotation(item)
        if annotation is not None and "\0" in annotation[1]:
            refuse(f"the path {annotation[1]!r} holds a NUL byte", dotted(("metadata", "annotations", annotation[0])))
        if len(self.results) > problems:
            return []
        operations: list[Operation] = []
        expanded = 0
        holders: set[str | None] = set()
        """The namespaces of the resources holding the expanded containers (a ``kind: List``'s items')."""
        pods: dict[tuple[Any, ...], PodChanges] = {}
        annotated: dict[tuple[Any, ...], dict[str, str]] = {}
        recorded: dict[tuple[Any, ...], dict[str, Any]] = {}
        for site in sites:
            container = value_at(item, site.exact)
            label = f"container {container.get('name', '?')!r}"
            field = dotted((*site.path, "image"))
            if site.keys is not None:
                odd = next(key for key, part in zip(site.keys, site.path, strict=True) if key is not part)
                refuse(
                    f"{label}: the mapping key {odd!r} on the way to it is not a string, so no JSON patch can name"
                    f" it (write it quoted: '{odd}':)",
                    field,
                )
                continue
            owner = site.pod_spec if site.pod_spec is not None else volume_owner(item, site.path)
            rules = pod_rules(item, site.pod_spec, self.config) if site.pod_spec is not None else None
            malformed = malformed_fields(item, site, owner, rules.annotations if rules else None)
            for path, problem in malformed:
                inside = path[len(site.path) :] if path[: len(site.path)] == site.path else path[-1:]
                refuse(f"{label}: {dotted(inside)}: {problem}", dotted(path))  # the result's field: the full path
            if malformed:
                continue
            try:
                source = self.sourcing.items[index] if self.sourcing is not None else None
                ref = self.resolver.resolve(str(container["image"]), item, source)
            except R2k8sError as exc:
                refuse(f"{label}: {exc.message}", field)
                continue
            if owner is None:
                refuse(
                    f"{label}: found no pod spec, 'volumes' list or 'spec' around it to hold the agent's volumes", field
                )
                continue
            if rules is not None and rules.refusals:
                refuse(f"{label}: {rules.owner} would refuse the pod: {'; '.join(rules.refusals)}", field)
                continue
            if not self._feasible(item, shown, label, field, ref):
                continue
            ops, spec_json = container_operations(item, site, ref, self.config, rules)
            operations += ops
            expanded += 1
            holders.add(holder_namespace(item, site.path))
            changes = pods.setdefault(owner, PodChanges(owner, rules))
            name = str(container.get("name") or f"container-{len(changes.formulas)}")
            changes.formulas[name] = ref.formula_id
            if rules is not None:
                annotated.setdefault(rules.annotations, {})[name] = ref.formula_id
                if self.sourcing is not None and self.sourcing.record is not None:
                    recorded.setdefault(rules.annotations, {})[name] = dict(self.sourcing.record(ref))
                if rules.init_containers:
                    changes.fetches.append(fetch_container(name, self.config, spec_json, rules))
        if operations and cluster_scoped(item) and not self.config.agent_namespaces:
            refuse(
                f"{item.get('kind')} is cluster-scoped: its pods run in namespaces this manifest does not name, and"
                " each needs the agent ConfigMap; list them in the function config's spec.agent.namespaces",
                "metadata",
            )
            return []
        events = hook_events(item) or None  # a hook helm drops (an unknown event) is left as any resource
        agent = configmap_name() if events is None else hook_configmap_name(configmap_name())  # built when needed
        for changes in pods.values():
            operations += changes.operations(item, self.config, agent)
        if not operations:
            return []
        formulas = {path: {FORMULAS_ANNOTATION: formulas_value(named)} for path, named in annotated.items()}
        for path, origins in recorded.items():  # a resolver's record, beside it (:mod:`.sourced`)
            formulas[path][ORIGINS_ANNOTATION] = json.dumps(origins, sort_keys=True, separators=(",", ":"))
        formula_ops = [op for path, pairs in formulas.items() for op in annotation_operations(item, path, pairs)]
        values = {path: dict(pairs) for path, pairs in formulas.items()}  # and the way back, beside them:
        values.setdefault(("metadata", "annotations"), {})[SOURCE_ANNOTATION] = source_value(
            item, [*operations, *formula_ops]
        )
        for path, pairs in values.items():
            operations += annotation_operations(item, path, pairs)
        namespaces = self.config.agent_namespaces if cluster_scoped(item) else sorted(holders, key=lambda n: n or "")
        for namespace in namespaces:
            if events is None:
                self.namespaces.add(namespace)
            else:
                self.hook_namespaces.setdefault(namespace, HookNeeds()).add(item, events)
        self.containers[index] = expanded
        return operations

    def _feasible(self, item: Mapping[str, Any], shown: str | None, label: str, field: str, ref: FormulaRef) -> bool:
        """Report what the pod could not do with ``ref``'s formula (:mod:`.feasibility`); whether it can run it."""
        from r2k8s.krm.feasibility import service_findings
        from r2k8s.krm.rewrite import pod_fetch_urls

        runnable = True
        for finding in service_findings(ref.loaded.formula, pod_fetch_urls(ref, self.config)):
            self.results.append(
                Result.about(
                    item,
                    f"{label}: formula {ref.origin}: {finding.message}",
                    field=field,
                    file=shown,
                    severity=finding.severity,
                )
            )
            runnable = runnable and finding.severity is not Severity.ERROR
        return runnable

    def stale_agents(self) -> set[int]:
        """The items that are agent ConfigMaps of another r2k8s version which, once this run's changes are made,
        no resource names: a re-render that moved resources to today's agent leaves them behind (kpt deletes
        what a function leaves out of its ResourceList). Only after such a re-render: any other run keeps
        every ConfigMap it was given."""
        if not self.expanded_again:
            return set()
        from r2k8s.agent_bundle import MANAGED_BY, configmap_name
        from r2k8s.krm import yamlio
        from r2k8s.krm.patch import apply

        today = {configmap_name(), hook_configmap_name(configmap_name())}
        candidates = {}
        for index, item in enumerate(self.given.items):
            labels = metadata_of(item).get("labels")
            name = metadata_of(item).get("name")
            if (
                item.get("kind") == "ConfigMap"
                and isinstance(labels, Mapping)
                and all(labels.get(key) == value for key, value in MANAGED_BY.items())
                and labels.get("app.kubernetes.io/component") == "agent"
                and isinstance(name, str)
                and name.startswith("r2k8s-agent-")
                and name not in today
            ):
                candidates[index] = name
        if not candidates:
            return set()
        patched = dict(self.patches)
        named: set[str] = set()
        for index in range(len(self.given.items)):
            if index in candidates:
                continue
            data = yamlio.to_plain(self.given.whole(index))
            if index in patched:
                apply(data, patched[index])
            named |= _configmaps_named(data)
        return {index for index, name in candidates.items() if name not in named}

    def summary(self, added: Sequence[Any]) -> list[Result]:
        """The ``info`` result saying what the run changed, as kpt's functions report success (kpt shows it as
        ``[info]``); none when nothing changed: an input with nothing to expand comes back as it was, results
        and all, as the quick path answers it without reading it. Never written into a plain stream (it has no
        ``results``), nor printed on stderr (:mod:`r2k8s.cli.fn`): kustomize would show it on every build."""
        if not self.patches and not added:
            return []
        patched = [index for index, _ in self.patches]
        again = [index for index in patched if SOURCE_ANNOTATION in annotations_of(self.given.items[index])]
        new = [index for index in patched if index not in again]
        parts = []
        if new:
            containers = sum(self.containers.get(index, 0) for index in new)
            parts.append(f"expanded {_counted(containers, 'container')} in {_counted(len(new), 'resource')}")
        if again:
            parts.append(
                f"expanded {_counted(len(again), 'resource')} again (a formula, the agent or the config changed)"
            )
        if added:
            names = sorted({str(metadata_of(configmap).get("name")) for configmap in added})
            parts.append(f"added {_counted(len(added), 'agent ConfigMap')} ({', '.join(names)})")
        stale = len(self.stale_agents())
        if stale:
            parts.append(f"left out {_counted(stale, 'agent ConfigMap')} of another r2k8s version that nothing names")
        return [Result("; ".join(parts), Severity.INFO)]

    def agent_configmaps(self) -> list[Any]:
        """The agent ConfigMaps to add: one per namespace with a patched item, unless the input has it; and,
        where helm hooks mount the agent, the hooks' own, as a hook ordered before them (:mod:`.helm_hooks`).

        Plain data: the splice path writes new items with libyaml (and so never imports ruamel.yaml), the round
        trip makes them round-trip objects when it writes every item itself."""
        if not self.namespaces and not self.hook_namespaces:
            return []
        from r2k8s.agent_bundle import agent_zipapp, configmap_manifest, configmap_name

        name = configmap_name()
        present = {
            (namespace_of(item), metadata_of(item).get("name"))
            for item in self.given.items
            if item.get("kind") == "ConfigMap" and isinstance(metadata_of(item).get("name"), str)
        }
        wanted: list[tuple[str | None, str, dict[str, str] | None]] = [
            (namespace, name, None) for namespace in self.namespaces
        ]
        for namespace, needs in self.hook_namespaces.items():
            annotations = needs.annotations()
            if annotations is not None:
                wanted.append((namespace, hook_configmap_name(name), annotations))
        added = []
        for namespace, configmap, annotations in sorted(wanted, key=lambda w: (w[0] or "", w[1])):
            if (namespace, configmap) in present:
                continue
            manifest = configmap_manifest(configmap, agent_zipapp())
            if namespace:
                manifest["metadata"]["namespace"] = namespace
            if annotations:
                manifest["metadata"]["annotations"] = annotations
            added.append(manifest)
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
        for configmap in self.agent_configmaps():
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
