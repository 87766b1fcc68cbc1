"""Reading manifests as ``kubectl apply -f`` takes them: files, folders (``-R``), stdin and http(s) URLs, in order.

Every command that reads rendered or written manifests (``r2k8s resolve``, ``check``,
``inspect``, ``mirror``) reads them here, so each accepts the same inputs: a
ResourceList (kpt, kustomize), a plain multi-document stream (``kustomize
build``, ``helm template``) or a ``kind: List`` (``kubectl get -o yaml``), YAML
or JSON. Input is read as the function reads it, with its shape checks first
(:mod:`.limits`): a YAML alias bomb is refused, not expanded. An input that
cannot be read is handed back as its error, in its place, so a command can
name it and go on with the others. A URL is fetched with a plain GET (redirects
followed); anything but a 2xx answer, a silent server or an unreachable one is
its error, naming the URL.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.limits import might_be_hostile, shape_problem
from r2k8s.krm.resource_list import stream_sources

__all__ = [
    "MANIFEST_SUFFIXES",
    "STDIN",
    "URL_TIMEOUT",
    "Source",
    "is_url",
    "manifest_files",
    "read_sources",
    "resources",
]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
"""The files a folder contributes, as ``kubectl apply -f DIR`` takes them."""
STDIN = "-"
URL_TIMEOUT = 60.0
"""Seconds a server may stay silent before a URL source fails."""
URL_LIMIT = 256 * 1024 * 1024
"""The largest manifest a URL may send (a manifest is text; a server sending more is not serving one)."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One input: how to name it (the path as given, joined to its folder's for a folder's files; ``stdin``; the
    URL) and its text."""

    name: str
    text: str
    path: Path | None = None
    """The file read, absolute (``None`` for stdin and URLs): what a relative formula path starts from."""
    url: str | None = None


def is_url(word: str) -> bool:
    """Whether ``word`` is an http(s) URL, as a source."""
    return word.startswith(("http://", "https://"))


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


def read_sources(paths: Sequence[str], recursive: bool) -> Iterator[Source | R2k8sError]:
    """Every input of ``paths`` in order (``-`` is stdin, read once however often it is named; a folder gives
    its manifest files), one at a time, or the error that stops one being read, in its place."""
    stdin_read = False
    for given in paths:
        if given == STDIN:
            if not stdin_read:
                stdin_read = True
                if sys.stdin is None or sys.stdin.isatty():
                    yield R2k8sError(Category.USAGE, "-: stdin is a terminal: pipe manifests into it")
                else:
                    yield _decoded(sys.stdin.buffer.read(), "stdin", None)
            continue
        if is_url(given):
            yield _fetched(given)
            continue
        path = Path(given)
        if not path.is_dir():
            yield _read(path)
            continue
        try:
            files = manifest_files(path, recursive)
        except R2k8sError as exc:
            yield exc
            continue
        if not files:
            nested = not recursive and any(p.is_dir() for p in path.iterdir())
            yield R2k8sError(
                Category.USAGE,
                f"{given}: no .yaml, .yml or .json files in it{' (-R reads its subfolders)' if nested else ''}",
            )
        for file in files:
            yield _read(file)


def _read(path: Path) -> Source | R2k8sError:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return R2k8sError(Category.USAGE, f"{path}: no such file or folder")
    except OSError as exc:
        return R2k8sError(Category.USAGE, f"{path}: {exc.strerror or exc}")
    return _decoded(data, str(path), path.absolute())


def _fetched(url: str) -> Source | R2k8sError:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "r2k8s", "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as response:
            data = response.read(URL_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        return R2k8sError(Category.USAGE, f"{url}: the server answered HTTP {exc.code} {exc.reason}")
    except urllib.error.URLError as exc:
        return R2k8sError(Category.USAGE, f"{url}: cannot fetch it: {exc.reason}")
    except (OSError, ValueError) as exc:  # a timeout, a connection reset, a malformed URL
        return R2k8sError(Category.USAGE, f"{url}: cannot fetch it: {exc}")
    if len(data) > URL_LIMIT:
        return R2k8sError(Category.USAGE, f"{url}: larger than {URL_LIMIT // 2**20} MiB: not a manifest")
    return dataclasses.replace(source, url=url) if isinstance(source := _decoded(data, url, None), Source) else source


def _decoded(data: bytes, name: str, path: Path | None) -> Source | R2k8sError:
    """UTF-8 text, a leading byte-order mark dropped (it may only start a stream, and a resolver joins sources)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return R2k8sError(
            Category.USAGE, f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        )
    if "\0" in text:
        return R2k8sError(Category.USAGE, f"{name}: not a text file (a NUL byte at offset {text.index(chr(0))})")
    return Source(name, text.removeprefix("\ufeff"), path)


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
