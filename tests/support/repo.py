"""Where things are: the repository, and ``../shared`` beside it (upstream fixtures; tests skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["FIXTURES", "PLUGIN_DIR", "REPO_ROOT", "SHARED", "needs_shared"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "plugin"
#: ``../shared`` beside the repository: upstream fixtures and references (CI always has it).
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"

needs_shared = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"upstream fixtures not found at {FIXTURES} (a fresh clone without ../shared); CI always has them",
)
