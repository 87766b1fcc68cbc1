"""The core runs inside stock Python images: it must import with only the standard library.

A fresh interpreter gets an import hook that refuses every top-level module
that is neither in ``sys.stdlib_module_names`` nor ``r2k8s`` itself, then
imports every module of ``r2k8s.core``, subpackages included (the list is
checked against the files on disk, so a subpackage cannot be skipped).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import r2k8s.core

CORE_MODULES = sorted({"r2k8s.core"} | {m.name for m in pkgutil.walk_packages(r2k8s.core.__path__, "r2k8s.core.")})
CORE_DIR = Path(r2k8s.core.__file__).parent

PROBE = r"""
import importlib, importlib.abc, sys

class RefuseThirdParty(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in sys.stdlib_module_names and top != "r2k8s":
            raise ImportError(f"third-party module {name!r} imported by the core")
        return None

sys.meta_path.insert(0, RefuseThirdParty())
for module in sys.argv[1:]:
    importlib.import_module(module)
print("imported", len(sys.argv) - 1)
"""


def test_the_probe_covers_every_module_file_of_the_core() -> None:
    on_disk = set()
    for path in CORE_DIR.rglob("*.py"):
        parts = ["r2k8s", "core", *path.relative_to(CORE_DIR).with_suffix("").parts]
        on_disk.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert set(CORE_MODULES) == on_disk
    assert {"r2k8s.core.ware.tar.reader", "r2k8s.core.agent.service", "r2k8s.core.run.job"} <= on_disk


def test_core_imports_with_third_party_packages_blocked() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *CORE_MODULES], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {len(CORE_MODULES)}"


def test_the_probe_does_refuse_third_party_imports() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, "yaml"], capture_output=True, text=True)
    assert result.returncode != 0 and "third-party module 'yaml'" in result.stderr
