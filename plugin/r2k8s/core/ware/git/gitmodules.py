"""Reading a commit's ``.gitmodules``: which gitlinks are submodules, and where to fetch them.

The file is git config syntax: ``[submodule "name"]`` sections holding
``path`` and ``url`` (and keys read by nobody here). Section and key names are
case-insensitive, subsection names are not; a key given twice takes its last
value and sections of one name merge, as git reads them. Values may be quoted
and hold the escapes ``\\" \\\\ \\n \\t \\b``; ``#`` and ``;`` start comments
outside quotes; a trailing backslash continues the line. A file that does
not parse is a corrupt ware (rio: "found but could not parse .gitmodules").
Like go-git (whose parser rio uses), a submodule whose path has a ``..``
component is skipped. Standard library only.
"""

from __future__ import annotations

import dataclasses
import re

from r2k8s.core.errors import ware_corrupt

__all__ = ["Submodule", "parse_gitmodules"]

_SECTION = re.compile(r'\s*\[\s*([A-Za-z0-9.-]+)\s*(?:"((?:[^"\\\n]|\\.)*)"\s*)?\]\s*(.*)$')
_KEY = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(=?)(.*)$", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", '"': '"', "\\": "\\"}


@dataclasses.dataclass(frozen=True)
class Submodule:
    """One ``[submodule "name"]`` section: where its gitlink is in the tree (``path``) and where to fetch (``url``)."""

    name: str
    path: str
    url: str


def _problem(line_number: int, what: str) -> Exception:
    return ware_corrupt(f"found but could not parse .gitmodules: line {line_number}: {what}")


def _value(raw: str, line_number: int, lines: list[str], index: int) -> tuple[str, int]:
    """Parse a value starting at ``raw``; continuation lines are taken from ``lines``; (value, next line index)."""
    out: list[str] = []
    pending_space = ""
    quoted = False
    text = raw
    at = 0
    started = False
    while True:
        if at >= len(text):
            if quoted:
                raise _problem(line_number, "unterminated quote")
            return "".join(out), index
        char = text[at]
        at += 1
        if char == "\\":
            if at >= len(text):  # a continuation: the value goes on on the next line
                if index >= len(lines):
                    raise _problem(line_number, "a backslash continues past the end of the file")
                text, at, index = lines[index], 0, index + 1
                continue
            escaped = text[at]
            at += 1
            if escaped not in _ESCAPES:
                raise _problem(line_number, f"unknown escape \\{escaped}")
            out.append(pending_space + _ESCAPES[escaped])
            pending_space, started = "", True
        elif char == '"':
            quoted = not quoted
            out.append(pending_space)
            pending_space, started = "", True
        elif not quoted and char in "#;":
            return "".join(out), index
        elif not quoted and char in " \t":
            if started:
                pending_space += char
        else:
            out.append(pending_space + char)
            pending_space, started = "", True


def parse_gitmodules(data: bytes) -> list[Submodule]:
    """The submodules ``data`` declares, in the order their sections first appear."""
    text = data.decode("utf-8", "surrogateescape")
    lines = text.replace("\r\n", "\n").split("\n")
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    index = 0
    while index < len(lines):
        line_number = index + 1
        line = lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            match = _SECTION.match(line)
            if not match or (match.group(3) and match.group(3)[0] not in "#;"):
                raise _problem(line_number, "bad section header")
            section = match.group(1).lower()
            subsection = match.group(2)
            if subsection is None and "." in section:  # the deprecated [section.subsection] form
                section, _, subsection = section.partition(".")
            if section == "submodule" and subsection is not None:
                name = re.sub(r"\\(.)", r"\1", subsection)
                current = sections.setdefault(name, {})
            else:
                current = None
            continue
        match = _KEY.match(line)
        if not match:
            raise _problem(line_number, "not a key = value line")
        key = match.group(1).lower()
        if not match.group(2):
            if match.group(3).strip() and match.group(3).strip()[0] not in "#;":
                raise _problem(line_number, "not a key = value line")
            value = "true"
        else:
            value, index = _value(match.group(3), line_number, lines, index)
        if current is not None:  # keys of other sections (or before any section) are read by nobody here
            current[key] = value
    found = []
    for name, keys in sections.items():
        path = keys.get("path", "")
        if ".." in re.split(r"[/\\]", path):
            continue
        found.append(Submodule(name, path, keys.get("url", "")))
    return found
