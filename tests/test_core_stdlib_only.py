"""The core runs inside stock Python images: it must import with only the standard library.

A fresh interpreter gets an import hook that refuses every top-level module
that is neither in ``sys.stdlib_module_names`` nor ``r2k8s`` itself, then
imports every module of ``r2k8s.core``.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import r2k8s.core

CORE_MODULES = sorted(m.name for m in pkgutil.iter_modules(r2k8s.core.__path__, "r2k8s.core."))

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


def test_core_has_modules() -> None:
    assert "r2k8s.core.tarstream" in CORE_MODULES and "r2k8s.core.warehouse" in CORE_MODULES


def test_core_imports_with_third_party_packages_blocked() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *CORE_MODULES], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {len(CORE_MODULES)}"


def test_the_probe_does_refuse_third_party_imports() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, "yaml"], capture_output=True, text=True)
    assert result.returncode != 0 and "third-party module 'yaml'" in result.stderr
