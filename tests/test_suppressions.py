"""No checker finding is silenced without saying which one and why: every ``# type: ignore`` and ``# noqa``
names its code and is followed by a reason (ruff's PGH003/PGH004 check the code; this checks the reason)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from repo import REPO_ROOT

SUPPRESSION = re.compile(r"#\s*(type:\s*ignore|noqa)\b(?P<rest>.*)$")
WELL_FORMED = re.compile(r"^(\[[a-z0-9, -]+\]|: [A-Z]+[0-9]+(, [A-Z]+[0-9]+)*)\s*(#|-|—)\s*\S.*")


def bare_suppressions(text: str) -> list[str]:
    """The suppressions in ``text`` that lack a code or a reason, as ``LINE: text``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = SUPPRESSION.search(line)
        if match and not WELL_FORMED.match(match.group("rest")):
            found.append(f"{number}: {line.strip()}")
    return found


def test_every_suppression_in_the_repository_names_its_code_and_reason() -> None:
    this_file = Path(__file__).resolve()
    sources = [p for d in ("plugin", "tests", "bench") for p in (REPO_ROOT / d).rglob("*.py") if p != this_file]
    found = {str(p.relative_to(REPO_ROOT)): bare_suppressions(p.read_text()) for p in sources}
    assert {path: lines for path, lines in found.items() if lines} == {}


@pytest.mark.parametrize(
    ("line", "bare"),
    [
        ("x = f()  # type: ignore", True),
        ("x = f()  # type: ignore[attr-defined]", True),
        ("x = f()  # type: ignore[attr-defined]  # stubs lack it", False),
        ("import a  # noqa", True),
        ("import a  # noqa: F401", True),
        ("import a  # noqa: F401 - imported for its side effect", False),
        ("x = 1  # an ordinary comment", False),
    ],
)
def test_the_check_tells_bare_from_explained(line: str, bare: bool) -> None:
    assert bool(bare_suppressions(line)) is bare
