"""Hostile shapes for the KRM function, written as text (deep nesting, alias bombs, odd bytes), and a way to run
``r2k8s fn`` on them in a child that cannot take the test machine down (issue 12).

Everything is text or bytes on purpose: libyaml and ruamel.yaml must meet the input exactly as an attacker or a
careless generator writes it, which no ``yaml.safe_dump`` of Python data would produce.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEPLOYMENT_DEPTH",
    "LIST_DEPTH",
    "CountingPattern",
    "CountingText",
    "Ran",
    "alias_bomb",
    "as_list",
    "as_stream",
    "deep_deployment",
    "deep_value",
    "deployment_text",
    "document_depth",
    "run_fn",
]

LIST_DEPTH = 2
"""Levels a ResourceList adds above each item (its root mapping and the ``items`` sequence)."""
DEPLOYMENT_DEPTH = 2
"""Levels of :func:`deployment_text` above the value of ``spec.x`` (the root mapping and ``spec``)."""
MEMORY_CEILING = 3 << 30
"""Address-space limit of each child: a bomb that escapes its guard fails with MemoryError instead of swapping."""


def deployment_text(image: str = "./web.formula", *, spec: str = "", container: str = "", name: str = "web") -> str:
    """A Deployment in block style; ``spec`` and ``container`` are extra lines (already indented) at those places."""
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n{spec}"
        "  template:\n    spec:\n      containers:\n"
        f"      - name: {name}\n        image: {image}\n{container}"
    )


def deep_value(levels: int, style: str) -> str:
    """The value of ``spec.x`` nesting ``levels`` collections, as lines (``  x: …``) of :func:`deployment_text`.

    ``flow``: ``[[[…]]]``; ``block``: one mapping per line, indented two more each time; ``compact``: one line of
    block sequences, ``- - - …`` (deep block nesting without quadratic indentation)."""
    if style == "flow":
        return "  x: " + "[" * levels + "x" + "]" * levels + "\n"
    if style == "block":
        lines = ["  x:"] + [" " * (4 + 2 * level) + "a:" for level in range(levels)]
        return "\n".join(lines) + " x\n"
    if style == "compact":
        return "  x:\n  " + "- " * levels + "x\n"
    raise ValueError(style)


def deep_deployment(depth: int, style: str, image: str = "./web.formula", *, in_list: bool = False) -> str:
    """A Deployment whose YAML document (the ResourceList's, with ``in_list``) nests exactly ``depth`` levels."""
    levels = depth - DEPLOYMENT_DEPTH - (LIST_DEPTH if in_list else 0)
    return deployment_text(image, spec=deep_value(levels, style))


def alias_bomb(levels: int = 10, width: int = 9, name: str = "bomb", anchor: str = "a") -> str:
    """A ConfigMap whose ``data.a{levels-1}`` names ``width ** levels`` strings through aliases, in a few lines."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}", "data:"]
    lines.append(f"  a0: &{anchor}0 [" + ", ".join(["lol"] * width) + "]")
    for level in range(1, levels):
        lines.append(f"  a{level}: &{anchor}{level} [" + ", ".join([f"*{anchor}{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def as_stream(documents: Sequence[str]) -> str:
    """A plain stream, as helm's post-renderer sends it."""
    return "".join("---\n" + document for document in documents)


def as_list(documents: Sequence[str]) -> str:
    """A ResourceList (no function config) with ``documents`` as its items, indented under ``- ``."""
    out = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
    for document in documents:
        lines = document.rstrip("\n").split("\n")
        out += "- " + lines[0] + "\n" + "".join(("  " + line if line else line) + "\n" for line in lines[1:])
    return out


def document_depth(text: str) -> int:
    """The deepest nesting of collections in any document of ``text``, read from libyaml's events (no composing)."""
    import yaml

    depth = deepest = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            deepest = max(deepest, depth)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return deepest


class Ran:
    """What one ``r2k8s`` child did: exit code (negative: killed by that signal; ``None``: hung), output, stderr."""

    def __init__(self, code: int | None, stdout: bytes, stderr: bytes) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Ran(code={self.code}, stdout={self.stdout[:200]!r}, stderr={self.err[-600:]!r})"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CEILING, MEMORY_CEILING))


ENTRY_POINTS = {
    "fn": ["-m", "r2k8s", "fn"],
    "piped": ["-c", "import sys; from r2k8s.cli import main; sys.exit(main())"],
}
"""``r2k8s fn`` as users type it, and the console script with stdin piped and no arguments (kustomize, kpt, helm)."""


def run_fn(
    stdin: str | bytes, *args: str, cwd: Path, entry: str = "fn", timeout: float = 60, env: dict[str, str] | None = None
) -> Ran:
    """Run the function in a child (this checkout's code: tests/conftest.py sets ``PYTHONPATH``) under a memory
    ceiling; a hang is killed after ``timeout`` seconds and reported as code ``None``."""
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    argv = [sys.executable, *ENTRY_POINTS[entry], *args]
    try:
        done = subprocess.run(
            argv, input=data, capture_output=True, cwd=cwd, timeout=timeout, preexec_fn=_limit_memory, env=env
        )
    except subprocess.TimeoutExpired as expired:
        return Ran(None, expired.stdout or b"", expired.stderr or b"")
    return Ran(done.returncode, done.stdout, done.stderr)


class CountingText(str):
    """A ``str`` that tallies the characters its own methods examine (``count``, ``find``, slicing, …).

    A deterministic measure of work for code that scans text with ``str`` methods: quadratic scanning shows as a
    tally growing 16-fold when the text grows 4-fold, whatever the machine's speed."""

    examined: int = 0

    def _span(self, start: Any = None, end: Any = None) -> int:
        begin, stop, _ = slice(start, end).indices(len(self))
        return max(0, stop - begin)

    def count(self, sub: str, start: Any = None, end: Any = None) -> int:
        CountingText.examined += self._span(start, end)
        return super().count(sub, start, end)

    def find(self, sub: str, start: Any = None, end: Any = None) -> int:
        CountingText.examined += self._span(start, end)
        return super().find(sub, start, end)

    def index(self, sub: str, start: Any = None, end: Any = None) -> int:
        CountingText.examined += self._span(start, end)
        return super().index(sub, start, end)

    def __getitem__(self, key: Any) -> str:
        if isinstance(key, slice):
            CountingText.examined += self._span(key.start, key.stop)
        return super().__getitem__(key)

    def splitlines(self, keepends: bool = False) -> list[str]:
        CountingText.examined += len(self)
        return super().splitlines(keepends)

    def split(self, sep: str | None = None, maxsplit: int = -1) -> list[str]:
        CountingText.examined += len(self)
        return super().split(sep, maxsplit)


class CountingPattern:
    """A compiled pattern that tallies, in :attr:`CountingText.examined`, the characters each search reads
    (from where it starts to the end of its match, or to where it was told to stop)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pattern, name)

    @staticmethod
    def _bounds(text: str, pos: int, endpos: int | None) -> tuple[int, int]:
        return pos, len(text) if endpos is None else min(endpos, len(text))

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        start, stop = self._bounds(text, pos, endpos)
        found = self.pattern.search(text, start, stop)
        CountingText.examined += (found.end() if found else stop) - start
        return found

    def match(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        start, stop = self._bounds(text, pos, endpos)
        found = self.pattern.match(text, start, stop)
        CountingText.examined += found.end() - start if found else 1
        return found

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Any:
        start, stop = self._bounds(text, pos, endpos)
        CountingText.examined += stop - start
        return self.pattern.finditer(text, start, stop)

    def findall(self, text: str, pos: int = 0, endpos: int | None = None) -> list[Any]:
        start, stop = self._bounds(text, pos, endpos)
        CountingText.examined += stop - start
        return self.pattern.findall(text, start, stop)
