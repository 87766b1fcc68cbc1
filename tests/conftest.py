"""Shared test configuration: where the upstream fixtures live, and how to skip without them."""

from __future__ import annotations

import os
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

# Subprocesses (``python -m r2k8s``, import probes) must run this checkout's code,
# not whichever checkout an editable install happens to point at.
PLUGIN_DIR = REPO_ROOT / "plugin"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))

pytest_plugins = ["cluster_fixture"]
