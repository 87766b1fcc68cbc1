"""The serving agent's interpreter, staged into the cache volume, so the formula's container starts almost empty.

Why: the root takeover deletes every file of the image the formula's container
started from, and on the node's overlay filesystem each deleted file costs a
whiteout written to disk: the ~7,500 files of a Debian Python image took 2-4 s,
more than anything else in a pod's start. So the formula's container starts
from an image with (almost) nothing in it — the kubelet's own pause image —
and runs the agent with the interpreter the fetch init container copied out
of the stock Python image it runs on:

* ``ld.so``: that interpreter's dynamic loader, run explicitly (the empty
  image has none where the ELF header says);
* ``so/``: every shared library the interpreter has mapped once the agent's
  modules are imported (``/proc/self/maps``), under its file name and every
  name a symlink beside it gives it (the loader asks for sonames);
* ``bin/python3`` and ``lib/pythonX.Y/``: the interpreter and only the
  standard library modules the serving agent has imported (sources and their
  byte code, times kept so the byte code stays valid; extension modules in
  ``lib-dynload``), so Python finds its prefix from where it runs.

* ``agent/`` (:data:`~r2k8s.core.agent.contract.COMPILED_AGENT`): the agent zipapp's files, every module
  compiled by this interpreter, which every later agent start imports instead of compiling them from the zip
  again (:mod:`r2k8s.core.agent.bootstrap`).

A staged runtime is a directory named by a hash of the interpreter and the agent
zipapp, made under a temporary name and renamed into place whole; ``runtime/agent-<digest>``
(:data:`~r2k8s.core.agent.contract.RUNTIME_LINK`, what
:func:`~r2k8s.core.agent.contract.runtime_argv` runs) is a symlink to the newest one for that
zipapp, replaced atomically: any runtime staged for a zipapp serves it. In a node cache the
first pod stages it and later pods reuse it; a pod of another r2k8s version finds its own.
Standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from r2k8s.core.agent.contract import COMPILED_AGENT, RUNTIME_LINK
from r2k8s.core.errors import Category, R2k8sError

__all__ = ["stage_runtime"]

LogFn = Callable[[str], None]


def _mapped_objects() -> list[str]:
    """The files this process has mapped that are shared objects (the loader and libraries included)."""
    found: list[str] = []
    with open("/proc/self/maps", encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/") and ".so" in os.path.basename(fields[5]):
                path = fields[5].rstrip("\n")
                if path not in found and os.path.isfile(path):
                    found.append(path)
    return found


def _aliases(path: str) -> list[str]:
    """``path``'s file name and the names of the symlinks beside it that lead to it (its soname among them)."""
    names = [os.path.basename(path)]
    real = os.path.realpath(path)
    directory = os.path.dirname(path)
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_symlink() and entry.name not in names and os.path.realpath(entry.path) == real:
                names.append(entry.name)
    return names


def _stdlib_files(stdlib: str) -> list[str]:
    """The standard library files of every imported module (and their byte code), relative to ``stdlib``."""
    files: set[str] = set()
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if not isinstance(source, str) or not os.path.isfile(source):
            continue
        source = os.path.realpath(source)
        if not source.startswith(stdlib + os.sep):
            continue
        files.add(os.path.relpath(source, stdlib))
        if source.endswith(".py"):
            cached = importlib.util.cache_from_source(source)
            if os.path.isfile(cached):
                files.add(os.path.relpath(cached, stdlib))
    return sorted(files)


def _plan(mapped: Iterable[str], stdlib: str) -> dict[str, str]:
    """Staged relative path → source path, for everything the runtime holds (symlinks: ``"->" + target``)."""
    executable = os.path.realpath(sys.executable)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    plan = {"bin/python3": executable}
    loader = None
    for path in mapped:
        real = os.path.realpath(path)
        if real == executable or real.startswith(stdlib + os.sep):
            continue
        names = _aliases(path)
        if any(name.startswith("ld-") for name in names) and loader is None:
            loader = real
        plan[f"so/{names[0]}"] = real
        for alias in names[1:]:
            plan[f"so/{alias}"] = "->" + names[0]
    if loader is None:
        raise R2k8sError(
            Category.ASSEMBLY_INVALID,
            f"the agent image's Python ({executable}) maps no dynamic loader, so it cannot be started from"
            " the cache in an empty image: set spec.agent.emptyImage to null in the function config",
        )
    plan["ld.so"] = loader
    for relative in _stdlib_files(stdlib):
        plan[f"lib/{version}/{relative}"] = os.path.join(stdlib, relative)
    return plan


def _compile_agent(zipapp: str, destination: Path) -> int:
    """Unpack the agent zipapp into ``destination`` and compile each of its modules; return how many.

    Imported here, after the plan was made from ``sys.modules``: the serving agent needs neither module."""
    import py_compile
    import zipfile

    compiled = 0
    with zipfile.ZipFile(zipapp) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if name.endswith("/") or name.startswith("/") or ".." in parts or "" in parts:
                continue  # the zipapp is r2k8s's own; nothing else belongs in the runtime
            target = destination.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
            if name.endswith(".py") and name != "__main__.py":
                try:
                    py_compile.compile(str(target), cfile=importlib.util.cache_from_source(str(target)), doraise=True)
                except py_compile.PyCompileError as exc:  # a zipapp this interpreter cannot read: none of it here
                    raise R2k8sError(Category.CACHE_PROBLEM, f"compiling the agent's {name}: {exc.msg}") from None
                compiled += 1
    return compiled


def _zipapp_digest() -> str:
    """The SHA-256 of the agent zipapp this process runs (hex), as the agent ConfigMap's name carries it."""
    if not os.path.isfile(sys.argv[0]):
        raise R2k8sError(Category.USAGE, f"staging the interpreter: {sys.argv[0]!r} is no agent zipapp")
    with open(sys.argv[0], "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _key(plan: dict[str, str], zipapp: str) -> str:
    """The runtime's name: the interpreter and the agent it serves, not the exact file list.

    What one fetch has imported depends on its path (a download imports the HTTP client, a cache hit does
    not), but every fetch has imported what ``serve`` needs; so any runtime staged for this interpreter and
    this agent zipapp serves, and the next pod on a node cache reuses the first one's. The zipapp counts by
    content: each pod's ConfigMap volume has files of its own time."""
    described: list[object] = [sys.version, zipapp]
    for source in (plan["bin/python3"], plan["ld.so"]):
        st = os.stat(source)
        described.append([source, st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:32]


def stage_runtime(cache: str, log: LogFn) -> Path:
    """Copy this interpreter, its libraries and the imported standard library into ``cache``; return the dir.

    The caller has imported every module the serving agent needs (see :mod:`r2k8s.core.agent.service`)."""
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    try:
        plan = _plan(_mapped_objects(), stdlib)
        zipapp = _zipapp_digest()
        home = Path(cache) / "runtime"
        home.mkdir(mode=0o700, exist_ok=True)
        target = home / _key(plan, zipapp)
        if not target.is_dir():
            staging = home / f".staging-{os.getpid()}-{os.urandom(4).hex()}"
            for relative, source in sorted(plan.items()):
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                if source.startswith("->"):
                    os.symlink(source[2:], destination)
                else:
                    shutil.copy2(source, destination)
            modules = _compile_agent(sys.argv[0], staging / COMPILED_AGENT)
            try:
                os.rename(staging, target)
                log(f"staged the agent's interpreter ({len(plan)} files, {modules} modules compiled) in {target}")
            except OSError:  # another pod staged the same runtime first
                shutil.rmtree(staging, ignore_errors=True)
        link = home / f".current-{os.getpid()}-{os.urandom(4).hex()}"
        os.symlink(target.name, link)
        os.replace(link, Path(cache) / f"{RUNTIME_LINK}{zipapp[:12]}")
    except OSError as exc:
        raise R2k8sError(
            Category.CACHE_PROBLEM, f"staging the agent's interpreter in {cache}: {exc.filename or ''}: {exc.strerror}"
        ) from None
    return target
