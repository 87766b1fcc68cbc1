"""Joining the files read into the one plain stream the function reads, each resource knowing its file.

The function answers a plain multi-document stream with a plain stream (helm's protocol), copying every
document it does not change byte for byte. So the files are joined as they are, each after a ``---`` line
(in its own line ends), and the function runs once on the whole: one agent ConfigMap per namespace across
all files, ``formula:NAME`` finding a Formula resource of any file. Each file is read first on its own, so
that a problem names *its* file and line rather than a place in the joined text, and so that its resources
can be counted: the function leaves empty documents out, as this count does, so the n-th resource it reads
is the n-th counted here, and that says which file it came from.

What a file may hold: YAML documents and JSON (JSON is YAML: it is read, and kept, as it is). A ``kind:
List`` is one resource, as the function takes it. A ResourceList is refused: it is the function's input (pipe
it to ``r2k8s fn``), and this command's output goes to a cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.limits import might_be_hostile, shape_problem
from r2k8s.krm.manifests import Source

__all__ = ["Joined", "join"]


@dataclasses.dataclass(frozen=True)
class Joined:
    """The stream the function reads, and the file of each resource in it (in order)."""

    text: str
    files: tuple[Source, ...]
    """One per resource (not per document: empty ones are none)."""
    counts: tuple[int, ...]
    """How many resources each source holds, in source order."""
    documents: tuple[Any, ...]
    """Each resource as plain data, as libyaml read it (one per entry of :attr:`files`)."""


def join(sources: Sequence[Source]) -> Joined:
    """The sources' texts as one stream; refuses a source that is not a stream of resources, naming it."""
    pieces: list[str] = []
    files: list[Source] = []
    counts: list[int] = []
    documents: list[Any] = []
    for source in sources:
        text, kept = _checked(source)
        counts.append(len(kept))
        files += [source] * len(kept)
        documents += kept
        if pieces:
            end = "\r\n" if "\r\n" in text else "\n"
            if not pieces[-1].endswith("\n"):
                pieces.append(end)
            directive = text.lstrip().startswith("%")  # a directive may only follow a document's end
            pieces.append(f"...{end}" if directive else f"---{end}")
        pieces.append(text)
    return Joined("".join(pieces), tuple(files), tuple(counts), tuple(documents))


def _checked(source: Source) -> tuple[str, list[Any]]:
    """The source's text and its resources."""
    import yaml

    text = source.text
    problem = shape_problem(text) if might_be_hostile(text) else None
    if problem is not None:
        field = f" at {problem.field}" if problem.field else ""
        raise R2k8sError(Category.USAGE, f"{source.name}: {problem.message}{field}: refused before reading it")
    try:
        documents = [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f": line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise R2k8sError(Category.USAGE, f"{source.name}{where}: not valid YAML: {reason}") from None
    kept = [document for document in documents if document is not None]
    for number, document in enumerate(kept, start=1):
        _check_document(source, number, document, len(kept))
    return text, kept


def _check_document(source: Source, number: int, document: Any, count: int) -> None:
    where = f"{source.name}: document {number}" if count > 1 else source.name
    if not isinstance(document, Mapping):
        raise R2k8sError(Category.USAGE, f"{where}: not a resource (a mapping): it is {_described(document)}")
    if document.get("kind") == "ResourceList":
        raise R2k8sError(
            Category.USAGE,
            f"{where}: a ResourceList is the KRM function's input, not a manifest: pipe it to 'r2k8s fn'"
            " (or give resolve the package's files)",
        )


def _described(value: Any) -> str:
    if isinstance(value, list):
        return "a list (a JSON array or YAML sequence; write a kind: List, or one document per resource)"
    return f"a {type(value).__name__}"
