"""Paths into decoded JSON and YAML documents: the type, walking one, and the two ways of writing one.

A path is a tuple of object keys (``str``) and array indexes (``int``),
outermost first. Formula errors name where they are as ``$.formula.inputs["/x"]``
(:func:`json_path`, what editors and jq users read); the KRM function's
JSON-patch operations name where they apply as RFC 6901 pointers
(:func:`pointer`). Both, and every walk down a document, go through here.
Standard library only.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["JsonPath", "json_path", "pointer", "value_at"]

JsonPath = tuple[str | int, ...]
"""A path into a decoded document: object keys (str) and array indexes (int)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def value_at(document: Any, path: JsonPath) -> Any:
    """The value ``path`` leads to in ``document`` (``KeyError``/``IndexError`` if it leads nowhere)."""
    value = document
    for part in path:
        value = value[part]
    return value


def json_path(path: JsonPath) -> str:
    """Render a path the way editors and jq users read it: ``$.formula.inputs["/x"]``."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + json.dumps(part, ensure_ascii=False) + "]")
    return "".join(out)


def pointer(path: JsonPath) -> str:
    """The RFC 6901 JSON pointer of ``path``: ``("a/b", 0)`` -> ``/a~1b/0``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)
