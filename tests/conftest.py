"""Shared test configuration: where the upstream fixtures live, and how to skip without them."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
#: ``../shared`` beside the repository: upstream fixtures and references (CI always has it).
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"

needs_shared = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"upstream fixtures not found at {FIXTURES} (a fresh clone without ../shared); CI always has them",
)
