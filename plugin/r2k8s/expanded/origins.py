"""Reading ``r2k8s.io/formula-origins``: where each container's formula came from, as ``r2k8s resolve`` wrote it.

``r2k8s resolve`` writes, beside ``r2k8s.io/formulas`` on each pod template, a
compact JSON object: container name → ``{"formulaID": …, "path": FILE}`` (the
formula file relative to the root), ``{"formula": NAME}`` (with ``"source"``,
the file holding the Formula resource or config relative to the root, or
``"url"``, where that was read) or ``{"url": URL}``, with ``"git": {"commit":
40 hex, "dirty": bool}`` when the file is in a git work tree. The function
itself does not write it, so its absence is no error.
What is there is checked: a malformed value is an error naming the field, so a
lock never records an origin nobody wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.expanded.entries import Origin

__all__ = ["FORMULA_ORIGINS_ANNOTATION", "ORIGIN_SOURCES", "parse_origin", "parse_origins"]

FORMULA_ORIGINS_ANNOTATION = "r2k8s.io/formula-origins"
ORIGIN_SOURCES = ("path", "formula", "url")
"""The keys naming a formula's source; an origin has exactly one."""
_COMMIT = re.compile(r"[0-9a-f]{40}")


def parse_origins(text: Any, where: str) -> dict[str, tuple[str, Origin]]:
    """Container name → (the formula ID the origin was recorded for, the origin), from the annotation's value.

    ``where`` starts every error (``file: Kind/ns/name: metadata.annotations``)."""
    field = f"{where}[{FORMULA_ORIGINS_ANNOTATION}]"
    if not isinstance(text, str):
        raise R2k8sError(Category.USAGE, f"{field}: expected a JSON string, got {type(text).__name__}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise R2k8sError(Category.USAGE, f"{field}: not JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise R2k8sError(Category.USAGE, f"{field}: expected a JSON object (container name → origin)")
    return {str(name): parse_origin(entry, f"{field}.{name}") for name, entry in value.items()}


def parse_origin(entry: Any, field: str) -> tuple[str, Origin]:
    """One container's origin: its formula ID and source (``field`` names it in errors)."""

    def wrong(message: str) -> R2k8sError:
        return R2k8sError(Category.USAGE, f"{field}: {message}")

    if not isinstance(entry, Mapping):
        raise wrong("expected an object with formulaID and one of path, formula, url")
    formula_id = entry.get("formulaID")
    if not isinstance(formula_id, str) or not formula_id:
        raise wrong("formulaID: expected a formula ID (a string)")
    unknown = sorted(set(entry) - {"formulaID", "git", "source", *ORIGIN_SOURCES})
    if unknown:
        raise wrong(f"unknown key {unknown[0]!r} (allowed: formulaID, path, formula, source, url, git)")
    for key in ("source", *ORIGIN_SOURCES):
        if key in entry and (not isinstance(entry[key], str) or not entry[key]):
            raise wrong(f"{key}: expected a non-empty string")
    if "formula" in entry:
        if "path" in entry or ("source" in entry and "url" in entry):
            raise wrong("a formula:NAME origin has formula and at most one of source, url")
        kind, value, defined_in = "formula", entry["formula"], entry.get("source", entry.get("url"))
    else:
        sources = [key for key in ORIGIN_SOURCES if key in entry]
        if len(sources) != 1 or "source" in entry:
            raise wrong(f"expected exactly one of path, formula, url; got {', '.join(sources) or 'none'}")
        kind, value, defined_in = sources[0], entry[sources[0]], None
    where = "url" if "url" in entry and kind == "formula" else "source"
    git = entry.get("git")
    if git is None:
        return formula_id, Origin(kind, value, defined_in=defined_in, defined_by=where)
    if not isinstance(git, Mapping):
        raise wrong("git: expected an object with commit and dirty")
    commit, dirty = git.get("commit"), git.get("dirty", False)
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        raise wrong("git.commit: expected 40 lower-case hex digits")
    if not isinstance(dirty, bool):
        raise wrong("git.dirty: expected true or false")
    return formula_id, Origin(kind, value, commit, dirty, defined_in, where)
