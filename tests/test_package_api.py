"""Every package names its public API in a true ``__all__``; every module's ``__all__`` names what it defines.

True means: each listed name exists, none is listed twice, and (for a
package) every public name its ``__init__`` binds, other than its own
submodules, is listed. So ``from r2k8s.core.formula import *`` gives exactly
what the package documents, and a stale entry fails here, not in a user's code.
"""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import r2k8s

# ``__main__`` modules run the program when imported; they define no API.
MODULES = sorted(
    name
    for name in {"r2k8s"} | {m.name for m in pkgutil.walk_packages(r2k8s.__path__, "r2k8s.")}
    if not name.endswith("__main__")
)
PACKAGES = [name for name in MODULES if hasattr(importlib.import_module(name), "__path__")]


def _problems(module: types.ModuleType, *, complete: bool) -> list[str]:
    listed = getattr(module, "__all__", None)
    if listed is None:
        return ["has no __all__"]
    problems = [f"lists {name!r}, which it does not define" for name in listed if not hasattr(module, name)]
    problems += [f"lists {name!r} twice" for name in sorted(set(listed)) if listed.count(name) > 1]
    if complete:
        bound = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
        }
        problems += [f"binds {name!r} but does not list it" for name in sorted(bound - set(listed))]
    return problems


@pytest.mark.parametrize("name", [p for p in PACKAGES if p != "r2k8s"])
def test_each_package_has_a_true_and_complete_all(name: str) -> None:
    assert _problems(importlib.import_module(name), complete=True) == []


@pytest.mark.parametrize("name", [m for m in MODULES if m not in PACKAGES])
def test_each_modules_all_names_only_what_it_defines(name: str) -> None:
    assert _problems(importlib.import_module(name), complete=False) == []


def test_the_check_finds_stale_duplicate_and_missing_names() -> None:
    fake = types.ModuleType("fake")
    fake.__all__ = ["present", "gone", "present"]
    fake.present = 1
    fake.unlisted = 2
    assert _problems(fake, complete=True) == [
        "lists 'gone', which it does not define",
        "lists 'present' twice",
        "binds 'unlisted' but does not list it",
    ]
