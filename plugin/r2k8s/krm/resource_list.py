"""Reading and writing the function's input and output: a ResourceList, or a plain multi-document stream.

A single document of kind ``ResourceList`` (``config.kubernetes.io/v1`` or
``v1beta1``; kustomize and kpt send it) is a resource list; anything else is
a plain stream of resources (helm's post-renderer protocol), given back as a
plain stream. Both are read with :mod:`r2k8s.krm.yamlio`, so what the
function does not change is written back as it came.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from r2k8s.core.errors import Category, R2k8sError

if TYPE_CHECKING:
    from r2k8s.krm.limits import Problem

__all__ = [
    "KUSTOMIZE_ID_ANNOTATION",
    "ORIGIN_ANNOTATION",
    "FunctionInput",
    "InputProblem",
    "Origin",
    "annotations_of",
    "display_file",
    "file_index",
    "from_kustomize",
    "holder_namespace",
    "metadata_of",
    "namespace_of",
    "origin_of",
    "read_input",
    "resource_name",
    "resource_ref",
    "source_annotation",
    "source_file",
    "stream_sources",
    "write_output",
]

RESOURCE_LIST_VERSIONS = ("config.kubernetes.io/v1", "config.kubernetes.io/v1beta1")
PATH_ANNOTATIONS = ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
HELM_FILENAME_ANNOTATION = "postrenderer.helm.sh/postrender-filename"
INDEX_ANNOTATIONS = ("internal.config.kubernetes.io/index", "config.kubernetes.io/index")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
KUSTOMIZE_ID_ANNOTATION = "kustomize.config.k8s.io/id"
"""kustomize puts it on every item it hands a function (and takes it off its output)."""
ORIGIN_LIMIT = 16384
"""An origin is a few short lines; a longer one is no origin kustomize wrote, and is not parsed."""
_SOURCE_COMMENT = re.compile(r"^# Source: (.+)$", re.MULTILINE)
_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$", re.MULTILINE)


@dataclasses.dataclass
class FunctionInput:
    mode: Literal["list", "stream"]
    items: list[Any]
    function_config: Any
    document: Any = None
    """The ResourceList itself (list mode), written back with its items changed."""
    sources: list[str | None] = dataclasses.field(default_factory=list)
    """Stream mode: each document's ``# Source:`` (helm 3), for messages."""
    partial: frozenset[int] = frozenset()
    """The items read only in part, their ``apiVersion``, ``kind`` and ``metadata`` (:mod:`.scan`): no field of
    theirs can name a formula, so the function does not plan them."""
    complete: Callable[[int], Any] | None = None
    """The whole data of a partial item, for the rare step that reads every field of every item."""

    def whole(self, index: int) -> Any:
        """Item ``index`` with all its fields."""
        if index in self.partial and self.complete is not None:
            return self.complete(index)
        return self.items[index]


def _bad_input(message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, message)


class InputProblem(R2k8sError):
    """Input refused where it is, with the resource and field named (:class:`~r2k8s.krm.limits.Problem`)."""

    def __init__(self, message: str, problem: Problem) -> None:
        super().__init__(Category.USAGE, message)
        self.problem = problem


def stream_sources(text: str) -> list[tuple[int, str | None]]:
    """(first line number, ``# Source:`` name) of each ``---``-separated chunk of a stream.

    One pass over the text: each chunk is searched within its own bounds and the line number carried from the
    previous chunk (counting from the start of the text for every chunk made 50,000 helm documents take 90 s).
    """
    chunks: list[tuple[int, str | None]] = []
    separators = list(_SEPARATOR.finditer(text))
    starts = [0, *(m.end() for m in separators)]
    ends = [*(m.start() for m in separators), len(text)]
    line, counted = 1, 0
    for start, end in zip(starts, ends, strict=True):
        line += text.count("\n", counted, start)
        counted = start
        source = _SOURCE_COMMENT.search(text, start, end)
        chunks.append((line, source.group(1).strip() if source else None))
    return chunks


def read_input(text: str, origin: str = "stdin") -> FunctionInput:
    from r2k8s.krm import yamlio  # ruamel.yaml is slow to import: only the full round-trip path needs it

    if not text.strip():
        raise _bad_input(f"{origin}: no input: expected a ResourceList or a stream of resources")
    try:
        documents = yamlio.load_documents(text)
    except yamlio.NestedKeyError as exc:
        from r2k8s.krm.limits import nested_key_problem

        located = nested_key_problem(text)
        if located is None:
            raise _bad_input(f"{origin}: not valid YAML: {exc}") from None
        raise InputProblem(
            f"{located.message} (ruamel.yaml cannot build such a key, and Kubernetes objects have string keys)",
            located,
        ) from None
    except yamlio.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{origin}"
        if mark is not None:
            line = mark.line + 1
            chunk = [c for c in stream_sources(text) if c[0] <= line][-1:]
            where += f": line {line} column {mark.column + 1}"
            if chunk and chunk[0][1]:
                where += f" (in the document from {chunk[0][1]})"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _bad_input(f"{where}: not valid YAML: {problem}") from None
    if len(documents) == 1 and isinstance(documents[0], Mapping) and documents[0].get("kind") == "ResourceList":
        document = documents[0]
        if document.get("apiVersion", RESOURCE_LIST_VERSIONS[0]) not in RESOURCE_LIST_VERSIONS:
            raise _bad_input(
                f"{origin}: ResourceList apiVersion {document.get('apiVersion')!r} is not one of"
                f" {', '.join(RESOURCE_LIST_VERSIONS)}"
            )
        items = document.get("items")
        if not isinstance(items, list):
            raise _bad_input(
                f"{origin}: the ResourceList has no items list (the KRM function spec requires 'items', even empty)"
            )
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise _bad_input(f"{origin}: items[{index}] is not a resource (a mapping), it is {type(item).__name__}")
        _drop_dash_comments(items)
        return FunctionInput("list", items, document.get("functionConfig"), document)
    sources = [source for _, source in stream_sources(text)]
    for index, item in enumerate(documents):
        if not isinstance(item, Mapping):
            raise _bad_input(
                f"{origin}: document {index + 1} is not a resource (a mapping), it is {type(item).__name__}"
            )
    return FunctionInput("stream", documents, None, None, sources if len(sources) == len(documents) else [])


def _drop_dash_comments(items: Any) -> None:
    """Forget comments written between an item's ``-`` and its first key (``- # comment``).

    kpt writes a file's head comment there. ruamel.yaml would move it before
    the dash, where kyaml reads it as a *second* comment on top of the one it
    copies back from its input by ``internal.config.kubernetes.io/id`` — the
    file would gain a duplicate line on every run. Dropping it here loses
    nothing under kpt or kustomize, which restore it by id.
    """
    comments = getattr(getattr(items, "ca", None), "items", None)
    if isinstance(comments, dict):
        for entry in comments.values():
            if isinstance(entry, list) and len(entry) > 1:
                entry[1] = None


def write_output(given: FunctionInput, results: list[dict[str, Any]] | None = None) -> str:
    from r2k8s.krm import yamlio

    if given.mode == "list":
        document = given.document
        if results:
            existing = document.get("results")
            document["results"] = [*(existing if isinstance(existing, list) else []), *yamlio.block(results)]
        return yamlio.dump_documents([document])
    return yamlio.dump_documents(given.items, explicit_start=True)


def metadata_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """``metadata``, or an empty mapping when it is missing or malformed (input is never trusted)."""
    metadata = item.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def annotations_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = metadata_of(item).get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


def namespace_of(item: Mapping[str, Any]) -> str | None:
    namespace = metadata_of(item).get("namespace")
    return str(namespace) if namespace else None


def holder_namespace(item: Mapping[str, Any], path: Sequence[Any]) -> str | None:
    """The namespace of the resource holding ``path``: in a ``kind: List`` (``kubectl get -o yaml``; nested ones
    too) the namespace of the item the path runs into, which is where its pods run (a List's own metadata is
    nothing kubectl applies); else ``item``'s."""
    holder, rest = item, tuple(path)
    while (
        isinstance(holder.get("kind"), str)
        and str(holder["kind"]).endswith("List")
        and isinstance(holder.get("items"), list)
        and len(rest) >= 2
        and rest[0] == "items"
        and isinstance(rest[1], int)
        and 0 <= rest[1] < len(holder["items"])
        and isinstance(holder["items"][rest[1]], Mapping)
    ):
        holder, rest = holder["items"][rest[1]], rest[2:]
    return namespace_of(holder)


def source_annotation(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """The annotation naming the package-relative file an item came from (kpt): its key and value."""
    annotations = annotations_of(item)
    for key in PATH_ANNOTATIONS:
        if annotations.get(key):
            return key, str(annotations[key])
    return None


def source_file(item: Mapping[str, Any]) -> str | None:
    """The package-relative file an item came from, where the orchestrator says (kpt).

    Never under kustomize: after an earlier exec function, kyaml gives every item a made-up path
    (``NAMESPACE/deployment_web.yaml``) that names no file; where kustomize read an item is its origin."""
    annotation = source_annotation(item)
    return annotation[1] if annotation is not None and not from_kustomize(item) else None


def from_kustomize(item: Mapping[str, Any]) -> bool:
    """Whether kustomize handed the function this item (it marks each with its resource id)."""
    return KUSTOMIZE_ID_ANNOTATION in annotations_of(item)


@dataclasses.dataclass(frozen=True)
class Origin:
    """kustomize's ``config.kubernetes.io/origin``: where it read an item, relative to the folder of the
    kustomization being built (``buildMetadata: [originAnnotations]``), or in a remote base's repository."""

    path: str | None = None
    """The resource's file."""
    configured_in: str | None = None
    """The kustomization whose generator made it (``configuredIn``)."""
    repo: str | None = None
    """A remote base's repository URL; ``path`` is then inside it."""
    ref: str | None = None

    @property
    def file(self) -> str | None:
        """The file that wrote the item: its own, or the kustomization that generated it."""
        return self.path or self.configured_in

    def shown(self) -> str | None:
        if self.repo:
            return f"{self.repo}//{self.path or ''}" + (f"?ref={self.ref}" if self.ref else "")
        return self.file


def origin_of(item: Mapping[str, Any]) -> Origin | None:
    """The item's origin annotation, or ``None`` when it has none; refused when it is no origin (naming it)."""
    text = annotations_of(item).get(ORIGIN_ANNOTATION)
    if text is None:
        return None
    import yaml  # PyYAML, only when an origin is read: it is small, and kustomize writes it in plain YAML

    value: Any = None
    if isinstance(text, str) and len(text) <= ORIGIN_LIMIT:
        try:
            value = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError):
            value = None
    fields = {"path": "path", "configuredIn": "configured_in", "repo": "repo", "ref": "ref"}
    if not isinstance(value, Mapping) or not any(isinstance(value.get(key), str) for key in fields):
        raise _bad_input(
            f"metadata.annotations.{ORIGIN_ANNOTATION}: not an origin kustomize writes"
            " (a YAML mapping with a path, configuredIn or repo)"
        )
    return Origin(
        **{name: value[key] for key, name in fields.items() if isinstance(value.get(key), str) and value[key]}
    )


def display_file(item: Mapping[str, Any], fallback: str | None = None) -> str | None:
    """The file to name in messages: kpt's path, kustomize's origin, helm 4's template name, or helm 3's
    ``# Source:``.

    A NUL byte (no file name holds one; a hostile annotation may) is shown as ``\\0``: a message must not
    carry it to a terminal or into kpt's results."""
    shown = (
        source_file(item)
        or _origin_shown(item)
        or (str(annotations_of(item).get(HELM_FILENAME_ANNOTATION) or "") or None)
        or fallback
    )
    return shown.replace("\0", "\\0") if shown else shown


def _origin_shown(item: Mapping[str, Any]) -> str | None:
    """kustomize's origin, for messages (never an error: a malformed one is refused where it is used)."""
    if not from_kustomize(item):
        return None
    try:
        origin = origin_of(item)
    except R2k8sError:
        return None
    return origin.shown() if origin is not None else None


def resource_name(item: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped or unset), as kubectl writes it."""
    metadata = metadata_of(item)
    parts = [str(item.get("kind") or "?"), str(metadata.get("namespace") or ""), str(metadata.get("name") or "?")]
    return "/".join(p for p in parts if p)


def resource_ref(item: Mapping[str, Any]) -> dict[str, str]:
    metadata = metadata_of(item)
    ref = {
        "apiVersion": str(item.get("apiVersion") or ""),
        "kind": str(item.get("kind") or ""),
        "name": str(metadata.get("name") or ""),
    }
    if namespace_of(item):
        ref["namespace"] = str(namespace_of(item))
    return ref


def file_index(item: Mapping[str, Any]) -> int:
    annotations = annotations_of(item)
    for key in INDEX_ANNOTATIONS:
        try:
            return int(str(annotations.get(key)))
        except ValueError:
            continue
    return 0
