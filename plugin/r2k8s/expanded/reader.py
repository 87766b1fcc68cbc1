"""Finding what expanded manifests run: every container the function expanded, in any kind, checked.

Containers are found exactly as the function finds them
(:func:`r2k8s.krm.locate.find_containers`, by shape); one is expanded when it
carries the formula spec in ``R2K8S_FORMULA``. Its formula ID is read twice
— from the pod's ``r2k8s.io/formulas`` annotation (where its owner's rules put
it: :mod:`r2k8s.krm.owners`) and from the embedded spec, whose formula is
hashed again — and the two, and every fetch init container's spec, must agree.
Anything else means someone edited the expansion by hand (the pod would run
a formula the annotation does not name, and never roll when it changes): an
error naming the resource and container, never a silent guess.

Legacy formulas (repeatr v0.13-v0.15) travel converted, so their legacy setup
hash cannot be derived again from the spec: for those the annotation and the
spec's ``formulaID`` are compared, not recomputed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from r2k8s.core.agent.contract import SERVICE_SPEC_ENV, STAGE_RUNTIME_FLAG, agent_argv
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.jsonpath import JsonPath, value_at
from r2k8s.expanded.entries import ExpandedContainer, Origin, ResourceId, WareInput
from r2k8s.expanded.origins import FORMULA_ORIGINS_ANNOTATION, parse_origins
from r2k8s.krm.locate import ContainerSite, dotted, find_containers
from r2k8s.krm.manifests import Source, read_sources, resources
from r2k8s.krm.references import is_reference
from r2k8s.krm.resource_list import display_file, metadata_of

__all__ = ["Expanded", "Reference", "expanded_in", "read_expanded"]

FORMULA_API_VERSION = "fn.r2k8s.io/v1alpha1"
"""A ``Formula`` resource's (:mod:`r2k8s.krm.formula_items`)."""
FORMULAS_ANNOTATION = "r2k8s.io/formulas"
"""The pod annotation the function writes (:data:`r2k8s.krm.rewrite.FORMULAS_ANNOTATION`, which pulls in the
whole rewrite)."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """A container whose image still names a formula: the function did not run on it."""

    file: str
    path: Path | None
    """The file it was read from (``None``: stdin), which a relative formula path starts from."""
    resource: ResourceId
    container: str
    image: str

    def where(self) -> str:
        return f"{self.file}: {self.resource.text()}: container {self.container!r}"


@dataclasses.dataclass
class Expanded:
    """What a set of inputs holds: the expanded containers, the formula references left, what was read."""

    containers: list[ExpandedContainer] = dataclasses.field(default_factory=list)
    references: list[Reference] = dataclasses.field(default_factory=list)
    resources: int = 0
    inputs: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    """An input that could not be read, or a container that does not hold together: one message each."""
    formula_items: dict[str, tuple[str, Path | None, Any]] = dataclasses.field(default_factory=dict)
    """What ``image: formula:NAME`` names, by name: Formula resources and function configs' ``spec.formulas``
    among the inputs (the file, its path, the formula document)."""


def read_expanded(paths: Sequence[str], recursive: bool = False) -> Expanded:
    """Everything ``paths`` (files, folders, ``-`` for stdin; :mod:`r2k8s.krm.manifests`) hold. An input that
    cannot be read, or a resource whose expansion was edited, is an error in :attr:`Expanded.errors`; the rest
    are read all the same, so one run names every problem."""
    found = Expanded()
    for source in read_sources(paths, recursive):
        if isinstance(source, R2k8sError):
            found.errors.append(source.message)
            continue
        try:
            expanded_in(source, found)
        except R2k8sError as exc:
            found.errors.append(exc.message)
            continue
        found.inputs += 1
    return found


def expanded_in(source: Source, into: Expanded) -> None:
    """Add what ``source`` holds to ``into``; a resource that does not hold together adds its error there."""
    for resource, helm_source in resources(source):
        into.resources += 1
        own = display_file(resource, helm_source)
        file = source.name if own in (None, source.name) else f"{source.name} ({own})"
        if resource.get("apiVersion") == FORMULA_API_VERSION and resource.get("kind") in ("Formula", "R2k8sFunction"):
            _formula_items(resource, file, source.path, into)
            continue
        try:
            into.containers += _containers(resource, file)
        except R2k8sError as exc:
            into.errors.append(exc.message)
        into.references += _references(resource, file, source.path)


def _formula_items(resource: Mapping[str, Any], file: str, path: Path | None, into: Expanded) -> None:
    """What ``image: formula:NAME`` may name: a Formula resource, or a function config's ``spec.formulas``."""
    if resource.get("kind") == "Formula":
        into.formula_items.setdefault(resource_id(resource).name, (file, path, resource.get("spec")))
        return
    spec = resource.get("spec")
    inline = spec.get("formulas") if isinstance(spec, Mapping) else None
    for name, document in inline.items() if isinstance(inline, Mapping) else ():
        into.formula_items.setdefault(str(name), (file, path, document))


def resource_id(resource: Mapping[str, Any]) -> ResourceId:
    metadata = metadata_of(resource)
    return ResourceId(
        str(resource.get("kind") or "?"), str(metadata.get("namespace") or ""), str(metadata.get("name") or "?")
    )


def _references(resource: Mapping[str, Any], file: str, path: Path | None) -> list[Reference]:
    found = []
    for site in find_containers(resource):
        container = value_at(resource, site.exact)
        image = container.get("image")
        if isinstance(image, str) and is_reference(image):
            name = container.get("name")
            shown = str(name) if isinstance(name, str) else site.field
            found.append(Reference(file, path, resource_id(resource), shown, image))
    return found


@dataclasses.dataclass(frozen=True)
class _Served:
    site: ContainerSite
    name: str
    spec_text: str


def _spec_text(container: Mapping[str, Any], where: str) -> str | None:
    env = container.get("env")
    for entry in env if isinstance(env, list) else ():
        if isinstance(entry, Mapping) and entry.get("name") == SERVICE_SPEC_ENV:
            value = entry.get("value")
            if not isinstance(value, str):
                raise R2k8sError(
                    Category.USAGE, f"{where}: env {SERVICE_SPEC_ENV} holds no formula spec (no string value)"
                )
            return value
    return None


def _containers(resource: Mapping[str, Any], file: str) -> list[ExpandedContainer]:
    rid = resource_id(resource)
    served: list[_Served] = []
    fetches: list[tuple[ContainerSite, str, str]] = []
    unnamed: dict[JsonPath | None, int] = {}
    for site in find_containers(resource):
        container = value_at(resource, site.exact)
        name = container.get("name")
        label = f"{file}: {rid.text()}: {site.field}"
        spec_text = _spec_text(container, label)
        if spec_text is None:
            continue
        if container.get("command") in (agent_argv("fetch"), agent_argv("fetch", STAGE_RUNTIME_FLAG)):
            fetches.append((site, str(name), spec_text))
            continue
        number = unnamed.get(site.pod_spec, 0)
        unnamed[site.pod_spec] = number + 1
        served.append(_Served(site, name if isinstance(name, str) and name else f"container-{number}", spec_text))
    entries = [_entry(resource, rid, file, one) for one in served]
    for site, name, spec_text in fetches:
        runs = {one.spec_text for one in served if one.site.pod_spec == site.pod_spec}
        if spec_text not in runs:
            formula_id = _spec(spec_text, f"{file}: {rid.text()}: init container {name!r}")[0]
            raise R2k8sError(
                Category.USAGE,
                f"{file}: {rid.text()}: init container {name!r} ({site.field}) fetches the wares of formula"
                f" {formula_id}, which no container of its pod runs with that spec: the expansion was edited;"
                " run the r2k8s function again on the manifests it came from",
            )
    return entries


def _spec(spec_text: str, where: str) -> tuple[str, Any]:
    """The formula ID the spec claims, and the spec, or an error naming ``where``."""
    from r2k8s.core.agent.service_spec import ServiceSpec

    try:
        spec = ServiceSpec.from_json(spec_text)
    except R2k8sError as exc:
        raise R2k8sError(Category.USAGE, f"{where}: env {SERVICE_SPEC_ENV}: {exc.message}") from None
    return spec.formula_id, spec


def _entry(resource: Mapping[str, Any], rid: ResourceId, file: str, served: _Served) -> ExpandedContainer:
    from r2k8s.core.formula.ids import formula_id

    where = f"{file}: {rid.text()}: container {served.name!r}"
    claimed, spec = _spec(served.spec_text, where)
    legacy = bool(spec.legacy_inputs)
    if not legacy:
        hashed = formula_id(spec.formula)
        if hashed != claimed:
            raise R2k8sError(
                Category.USAGE,
                f"{where}: the formula in env {SERVICE_SPEC_ENV} hashes to {hashed}, not to its formulaID"
                f" {claimed}: the expansion was edited; run the r2k8s function again on the manifests it came from",
            )
    origin = _annotated(resource, served, where, claimed)
    inputs = tuple(
        WareInput(path, str(ware), tuple(spec.context.fetch_urls.get(path, ())), path in spec.legacy_inputs)
        for path, ware in sorted((spec.formula.inputs or {}).items())
    )
    return ExpandedContainer(rid, served.name, file, served.site.field, claimed, inputs, origin, legacy)


def _annotated(resource: Mapping[str, Any], served: _Served, where: str, claimed: str) -> Origin | None:
    """Check the pod's ``r2k8s.io/formulas`` entry against the spec's ID; the recorded origin, if any."""
    if served.site.pod_spec is None:  # Argo and Tekton containers: the function writes no annotation
        return None
    from r2k8s.krm.config import FunctionConfig
    from r2k8s.krm.owners import pod_rules

    path = pod_rules(resource, served.site.pod_spec, FunctionConfig()).annotations
    annotations = _mapping_at(resource, path)
    field = dotted(path)
    pairs = dict(_pairs(annotations.get(FORMULAS_ANNOTATION)))
    named = pairs.get(served.name)
    if named is None:
        raise R2k8sError(
            Category.USAGE,
            f"{where}: {field}[{FORMULAS_ANNOTATION}] does not name it, yet it runs formula {claimed}: the"
            " expansion was edited; run the r2k8s function again on the manifests it came from",
        )
    if named != claimed:
        raise R2k8sError(
            Category.USAGE,
            f"{where}: {field}[{FORMULAS_ANNOTATION}] says formula {named}, but env {SERVICE_SPEC_ENV} runs"
            f" {claimed}: the expansion was edited; run the r2k8s function again on the manifests it came from",
        )
    if FORMULA_ORIGINS_ANNOTATION not in annotations:
        return None
    recorded = parse_origins(annotations[FORMULA_ORIGINS_ANNOTATION], f"{where}: {field}").get(served.name)
    if recorded is None:
        return None
    if recorded[0] != claimed:
        raise R2k8sError(
            Category.USAGE,
            f"{where}: {field}[{FORMULA_ORIGINS_ANNOTATION}] records formula {recorded[0]}, but it runs {claimed}:"
            " the expansion was edited; resolve the manifests again",
        )
    return recorded[1]


def _pairs(value: Any) -> Iterator[tuple[str, str]]:
    """``name=ID,name=ID`` as the function writes it; anything else gives nothing (and so fails the check)."""
    if not isinstance(value, str):
        return
    for pair in value.split(","):
        name, equals, formula_id = pair.strip().partition("=")
        if equals:
            yield name, formula_id


def _mapping_at(document: Any, path: JsonPath) -> Mapping[str, Any]:
    """The mapping at ``path`` (keys compared as strings), or an empty one where the way is missing."""
    node = document
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, Mapping):
            node = next((value for key, value in node.items() if str(key) == part), None)
        else:
            node = None
    return node if isinstance(node, Mapping) else {}
