"""The real-world corpus (``../shared/realworld``, see its ``SOURCES.md``) as the tests read it: the files,
a skip marker for a clone without ``../shared``, and the documents of a file by their text."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from repo import SHARED

REALWORLD = SHARED / "realworld"
CORPUS = sorted((REALWORLD / "corpus").rglob("*.y*ml")) if (REALWORLD / "corpus").is_dir() else []
needs_corpus = pytest.mark.skipif(
    not CORPUS, reason=f"no real-world corpus at {REALWORLD}/corpus (a fresh clone without ../shared)"
)
_MARKER = re.compile(r"^---[^\n]*\n", re.MULTILINE)


def chunks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each ``---``-separated chunk of ``text``."""
    starts = [0, *(m.end() for m in _MARKER.finditer(text))]
    ends = [*(m.start() for m in _MARKER.finditer(text)), len(text)]
    return list(zip(starts, ends, strict=True))


def loaded(chunk: str) -> Any:
    """The document of one chunk (``...`` end markers dropped), or ``None`` where PyYAML cannot read it."""
    try:
        return yaml.safe_load(chunk.replace("\n...\n", "\n"))
    except yaml.YAMLError:
        return None


def comments(text: str) -> list[str]:
    """The comment lines of ``text``, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
