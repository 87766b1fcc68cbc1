"""Bytecode compiled by the image's own Python, so the function starts without compiling (or writing) anything.

The image's interpreter compiles (in a chroot of the image's files), not the builder's: bytecode is
the interpreter's marshal format, and the host may run another Python. The files are unchecked-hash
pycs: Python loads them without looking at the source's time or content, which is right for files
that never change and keeps start-up free of stat calls. The compile runs with a fixed hash seed in
one process over sorted names, so constant sets and the marshal stream come out the same each time.
Debian's own pycs (compiled at install time with a random seed) are all removed first; those of the
standard library and of the site directory are made again (Debian's packaging helpers go without).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PYTHON", "bytecode_of", "compile_tree", "remove_bytecode"]

PYTHON = "/usr/bin/python3"
CACHE_TAG = "cpython-311"


def remove_bytecode(root: Path, directory: str) -> None:
    for cache in sorted((root / directory).rglob("__pycache__")):
        shutil.rmtree(cache)


def compile_tree(root: Path, directories: Iterable[str]) -> None:
    """Compile every module under ``directories`` (absolute paths inside the image) with the image's Python."""
    if os.geteuid() == 0:
        inside = [shutil.which("chroot") or "/usr/sbin/chroot", str(root)]
    else:
        inside = [shutil.which("unshare") or "/usr/bin/unshare", "--map-root-user", f"--root={root}"]
    command = [PYTHON, "-s", "-m", "compileall", "-q", "-f", "--invalidation-mode", "unchecked-hash", *directories]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"}
    result = subprocess.run([*inside, *command], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"compiling {', '.join(directories)} in the image failed:\n{result.stdout}{result.stderr}")


def bytecode_of(root: Path, modules: Iterable[str]) -> set[str]:
    """The compiled files (relative to ``root``) of the ``.py`` files among ``modules``."""
    found = set()
    for module in modules:
        if not module.endswith(".py"):
            continue
        directory, _, name = module.rpartition("/")
        pyc = f"{directory}/__pycache__/{name[:-3]}.{CACHE_TAG}.pyc"
        if (root / pyc).is_file():
            found.add(pyc)
    return found
