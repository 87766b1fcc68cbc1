"""``r2k8s check``: the formula references left in manifests the function never expanded.

When the function does not run (``kubectl kustomize`` and ``kubectl apply -k``
silently skip exec functions; a pipeline forgets a step), ``image:
./web.formula`` reaches the cluster as an image name nothing can pull, and
the pod waits in ``ErrImagePull`` with no word about why. This finds such
images before ``kubectl apply``, in files, folders or stdin: a ResourceList
(kpt, kustomize), a plain multi-document stream (``kustomize build``, ``helm
template``) or a ``kind: List`` (``kubectl get -o yaml``), YAML or JSON.

It finds containers exactly as the function does (:func:`.locate.find_containers`,
by shape, not by kind), and also every other named ``image`` the function
would refuse to leave as it is (:func:`.locate.images_named`): either would
reach the cluster unexpanded. Input is read as the function reads it, with its
shape checks first (:mod:`.limits`): a YAML alias bomb is refused, not expanded.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.jsonpath import value_at
from r2k8s.krm.limits import might_be_hostile, shape_problem
from r2k8s.krm.locate import ContainerSite, dotted, find_containers, images_named
from r2k8s.krm.references import is_reference
from r2k8s.krm.resource_list import display_file, resource_name, stream_sources

__all__ = ["MANIFEST_SUFFIXES", "Finding", "Source", "findings", "manifest_files", "resources"]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
"""The files a folder contributes, as ``kubectl apply -f DIR`` takes them."""

_POD_LISTS = {
    "containers": "container",
    "initContainers": "init container",
    "ephemeralContainers": "ephemeral container",
}
_STANDALONE = {
    "container": "container",
    "script": "script",
    "containers": "container",
    "initContainers": "init container",
    "sidecars": "sidecar",
    "steps": "step",
}


@dataclasses.dataclass(frozen=True)
class Source:
    """One input: a file's name (or ``stdin``) and its text."""

    name: str
    text: str


@dataclasses.dataclass(frozen=True)
class Finding:
    """An image that is still a formula reference: where it is and what holds it."""

    file: str
    """The file read (``stdin`` for standard input), with the resource's own file after it where an
    orchestrator's annotation names another (kpt's path, kustomize's origin, helm's ``# Source:``)."""
    resource: str
    """``Kind/namespace/name``, as kubectl writes it."""
    field: str
    """The ``image`` field's dotted path: it names the list (``spec.template.spec.initContainers[0].image``)."""
    holder: str
    """What holds the image, in words: ``init container "fetch"``, ``step "build"``."""
    image: str

    def text(self) -> str:
        """``file: Kind/namespace/name: field: what``, the shape of the function's own messages."""
        where = f"{self.file}: {self.resource}: {self.field}"
        return f"{where}: {self.holder} has image {self.image!r}: a formula, not expanded"


def manifest_files(directory: Path, recursive: bool) -> list[Path]:
    """The ``.yaml``, ``.yml`` and ``.json`` files of ``directory`` in file-name order; with ``recursive``, its
    subfolders' too, each where its name falls (``kubectl apply -R``'s walk). Hidden folders are skipped when
    walking (``.git``); a symbolic link to a folder is not followed (no walk loops)."""
    found: list[Path] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"{directory}: {exc.strerror or exc}") from None
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if recursive and not entry.name.startswith("."):
                found += manifest_files(path, recursive)
        elif entry.name.endswith(MANIFEST_SUFFIXES) and entry.is_file():
            found.append(path)
    return found


def resources(source: Source) -> Iterator[tuple[Mapping[str, Any], str | None]]:
    """Each resource in ``source`` and its helm ``# Source:`` name, if any: the items of a ResourceList,
    each document of a stream, the items of a ``kind: List`` (or ``DeploymentList``…), nested ones too.

    Refuses (a usage error naming the file) text that is no YAML, a document that is no mapping, and what
    the function refuses to read (:mod:`.limits`)."""
    import yaml

    text = source.text
    if "\0" in text:
        raise R2k8sError(Category.USAGE, f"{source.name}: not a text file (a NUL byte at offset {text.index(chr(0))})")
    problem = shape_problem(text) if might_be_hostile(text) else None
    if problem is not None:
        field = f" at {problem.field}" if problem.field else ""
        raise R2k8sError(Category.USAGE, f"{source.name}: {problem.message}{field}: refused before reading it")
    try:
        documents = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f": line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise R2k8sError(Category.USAGE, f"{source.name}{where}: not valid YAML: {reason}") from None
    chunks = [name for _, name in stream_sources(text)]
    names = chunks if len(chunks) == len(documents) else [None] * len(documents)
    kept = [(document, name) for document, name in zip(documents, names, strict=True) if document is not None]
    for number, (document, name) in enumerate(kept, start=1):
        if not isinstance(document, Mapping):
            raise R2k8sError(
                Category.USAGE,
                f"{source.name}: document {number} is not a resource (a mapping), it is {type(document).__name__}",
            )
        yield from _flattened(document, name, source.name, f"document {number}")


def _flattened(
    document: Mapping[str, Any], name: str | None, file: str, where: str
) -> Iterator[tuple[Mapping[str, Any], str | None]]:
    kind = document.get("kind")
    items = document.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        yield document, name
        return
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise R2k8sError(
                Category.USAGE,
                f"{file}: {where}: {kind} items[{index}] is not a resource (a mapping), it is {type(item).__name__}",
            )
        yield from _flattened(item, name, file, f"{where} items[{index}]")


def findings(source: Source) -> tuple[int, list[Finding]]:
    """How many resources ``source`` holds, and every image in them that is still a formula reference."""
    count = 0
    found: list[Finding] = []
    for resource, helm_source in resources(source):
        count += 1
        own = display_file(resource, helm_source)
        file = source.name if own in (None, source.name) else f"{source.name} ({own})"
        sites = find_containers(resource)
        for site in sites:
            image = value_at(resource, site.exact).get("image")
            if isinstance(image, str) and is_reference(image):
                found.append(_finding(resource, file, site, image))
        containers = {site.path for site in sites}
        for path in images_named(resource, is_reference):
            if path not in containers:  # the function refuses these: no pod could run them either
                entry = _at(resource, path)
                found.append(
                    Finding(
                        file,
                        resource_name(resource),
                        dotted((*path, "image")),
                        f"{entry.get('name')!r}, which r2k8s does not know as a container,",
                        str(entry.get("image")),
                    )
                )
    return count, found


def _finding(resource: Mapping[str, Any], file: str, site: ContainerSite, image: str) -> Finding:
    container = value_at(resource, site.exact)
    where = site.path[-2] if isinstance(site.path[-1], int) else site.path[-1]
    words = (_POD_LISTS if site.pod_spec is not None else _STANDALONE).get(str(where), "container")
    name = container.get("name")
    holder = f"{words} {name!r}" if isinstance(name, str) else f"an unnamed {words}"
    return Finding(file, resource_name(resource), dotted((*site.path, "image")), holder, image)


def _at(resource: Any, path: tuple[str | int, ...]) -> Mapping[str, Any]:
    """The mapping at ``path``, whose keys :func:`.locate.images_named` wrote as strings (``0:`` is ``"0"``)."""
    node = resource
    for part in path:
        node = node[part] if isinstance(part, int) else next(v for k, v in node.items() if str(k) == part)
    assert isinstance(node, Mapping)  # images_named found a mapping there
    return node
