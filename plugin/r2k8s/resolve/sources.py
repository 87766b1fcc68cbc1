"""Reading what ``r2k8s resolve -f`` names: files, folders, ``-`` (stdin) and http(s) URLs, as text that knows its file.

As ``kubectl apply -f`` (and ``ko resolve -f``, ``kbld -f``) take them: a folder gives its ``.yaml``, ``.yml``
and ``.json`` files in file-name order (other files are ignored), ``-R`` its subfolders too, each where its
name falls, hidden folders skipped (:func:`r2k8s.krm.check.manifest_files`); ``-`` is read once however often
it is named. A URL is fetched with a plain GET (redirects followed); anything but a 2xx answer, a silent
server or an unreachable one is an error naming the URL. Every error names what it could not read and is a
usage error (exit 1): nothing is resolved from a partial set of sources.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from r2k8s.core.errors import Category, R2k8sError

__all__ = ["STDIN", "URL_TIMEOUT", "SourceFile", "is_url", "read_sources"]

STDIN = "-"
URL_TIMEOUT = 60.0
"""Seconds a server may stay silent before a URL source fails."""
URL_LIMIT = 256 * 1024 * 1024
"""The largest manifest a URL may send (a manifest is text; a server sending more is not serving one)."""


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One input read: how to name it, its text, and where it is."""

    shown: str
    """As the user would name it: the path as given (joined to the folder's for a folder's files), ``stdin``,
    or the URL."""
    text: str
    path: Path | None = None
    """A local file's absolute path (``None`` for stdin and URLs)."""
    url: str | None = None


def is_url(word: str) -> bool:
    """Whether ``word`` is an http(s) URL, as a source."""
    return word.startswith(("http://", "https://"))


def read_sources(given: Sequence[str], *, recursive: bool = False) -> list[SourceFile]:
    """Every file ``given`` names, read, in order."""
    if not given:
        raise R2k8sError(Category.USAGE, "nothing to resolve: name files, folders or URLs with -f (- for stdin)")
    return list(_each(given, recursive))


def _each(given: Sequence[str], recursive: bool) -> Iterator[SourceFile]:
    stdin_read = False
    for word in given:
        if word == STDIN:
            if not stdin_read:
                stdin_read = True
                yield _stdin()
            continue
        if is_url(word):
            yield _fetched(word)
            continue
        path = Path(word)
        if path.is_dir():
            yield from _folder(word, path, recursive)
            continue
        yield _file(word, path)


def _stdin() -> SourceFile:
    if sys.stdin is None or sys.stdin.isatty():
        raise R2k8sError(Category.USAGE, "-f -: stdin is a terminal: pipe manifests into it")
    buffer = getattr(sys.stdin, "buffer", None)
    data = buffer.read() if buffer is not None else str(sys.stdin.read()).encode()
    return SourceFile("stdin", _decoded(data, "stdin"))


def _folder(word: str, path: Path, recursive: bool) -> Iterator[SourceFile]:
    from r2k8s.krm.check import manifest_files

    files = manifest_files(path, recursive)
    if not files:
        nested = not recursive and any(entry.is_dir() for entry in path.iterdir())
        raise R2k8sError(
            Category.USAGE,
            f"{word}: no .yaml, .yml or .json files in it{' (-R reads its subfolders)' if nested else ''}",
        )
    for file in files:
        yield _file(str(file), file)


def _file(shown: str, path: Path) -> SourceFile:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise R2k8sError(Category.USAGE, f"{shown}: no such file or folder") from None
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"{shown}: {exc.strerror or exc}") from None
    return SourceFile(shown, _decoded(data, shown), path.absolute())


def _fetched(url: str) -> SourceFile:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "r2k8s-resolve", "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as response:
            data = response.read(URL_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        raise R2k8sError(Category.USAGE, f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise R2k8sError(Category.USAGE, f"{url}: cannot fetch it: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # a timeout, a connection reset, a malformed URL
        raise R2k8sError(Category.USAGE, f"{url}: cannot fetch it: {exc}") from None
    if len(data) > URL_LIMIT:
        raise R2k8sError(Category.USAGE, f"{url}: larger than {URL_LIMIT // 2**20} MiB: not a manifest")
    return SourceFile(url, _decoded(data, url), url=url)


def _decoded(data: bytes, shown: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped: it may only start a stream, and this one is joined to others)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise R2k8sError(
            Category.USAGE, f"{shown}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    if "\0" in text:
        raise R2k8sError(Category.USAGE, f"{shown}: not a text file (a NUL byte at offset {text.index(chr(0))})")
    return text.removeprefix("\ufeff")
