"""The agent zipapp and the ConfigMap that carries it: for pods that have Python but no r2k8s.

No registry, no custom image: the zipapp holds ``r2k8s/__init__.py`` and
every module of :mod:`r2k8s.core` (standard library only, so any Python >=
3.11 image runs it) plus a ``__main__.py`` (:mod:`r2k8s.core.agent.bootstrap`) that calls
:func:`r2k8s.core.agent.dispatch`, which starts the service agent or the
build agent. It is built deterministically (sorted names, fixed timestamps
and modes), so its SHA-256 names it: ``r2k8s-agent-<12 hex digits>`` is the
ConfigMap that carries it, created once per r2k8s version and shared by
every run and every service pod of a namespace (immutable, so the kubelet
does not keep watching it). Both the KRM function and ``r2k8s run`` take it
from here.

The modules go in slimmed (:func:`slim_source`): docstrings, comments and blank
lines out. ``kubectl apply`` (client-side, the default) copies a whole object
into its ``last-applied-configuration`` annotation, and annotations may hold
256 KiB in all: the core's documented source, base64-encoded, no longer fits,
while the slimmed one has room to grow (:data:`APPLY_ANNOTATION_LIMIT`). The
code is unchanged; only tracebacks from a pod show other line numbers.

Slimming every module takes about half a second, more than the KRM function spends on a package of
2,000 resources; so the zipapp is kept in the user's cache (``$XDG_CACHE_HOME/r2k8s``, else
``~/.cache/r2k8s``) under the SHA-256 of what makes it (this module and every source it packs) and of
itself, and read back only when both hold (:func:`agent_zipapp`). Nowhere writable (a read-only home
in a container) means it is built each time, as before.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import io
import os
import tempfile
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import r2k8s
from r2k8s.core.agent.contract import AGENT_ZIPAPP

__all__ = [
    "APPLY_ANNOTATION_LIMIT",
    "MANAGED_BY",
    "agent_digest",
    "agent_zipapp",
    "configmap_manifest",
    "configmap_name",
    "slim_source",
]

APPLY_ANNOTATION_LIMIT = 262144
"""Bytes all of an object's annotations may hold (the API server's limit): the agent ConfigMap, as JSON in
``kubectl.kubernetes.io/last-applied-configuration``, must fit."""

MANAGED_BY = {"app.kubernetes.io/managed-by": "r2k8s"}
"""The label on everything r2k8s creates (``kubectl delete cm -l app.kubernetes.io/managed-by=r2k8s``)."""

_BOOTSTRAP = "r2k8s/core/agent/bootstrap.py"
"""Its source, with a call to its ``main``, is the zipapp's ``__main__.py``."""
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _entry(name: str, data: bytes, archive: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def slim_source(source: str) -> str:
    """``source`` without docstrings (each becomes ``""``, so no body is left empty), comment lines and blank lines.

    Positions come from :mod:`ast` and :mod:`tokenize`, which read the same
    source the same way on every Python >= 3.11, so the exec function, the
    function's image and ``r2k8s run`` make the same bytes, and the same
    ConfigMap name. Lines inside multi-line strings are kept as they are.
    """
    lines = source.splitlines(keepends=True)
    replaced: dict[int, str] = {}
    dropped: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and _is_text(first.value) and first.end_lineno is not None:
            replaced[first.lineno] = lines[first.lineno - 1][: first.col_offset] + '""\n'
            dropped.update(range(first.lineno + 1, first.end_lineno + 1))
    in_strings: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            in_strings.update(range(token.start[0] + 1, token.end[0] + 1))
    kept = []
    for number, line in enumerate(lines, 1):
        if number in dropped:
            continue
        if number in replaced:
            kept.append(replaced[number])
        elif number in in_strings or (line.strip() and not line.lstrip().startswith("#")):
            kept.append(line)
    return "".join(kept)


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


@functools.cache
def agent_zipapp() -> bytes:
    """The zipapp's bytes (``python3 r2k8s-agent.pyz --help`` runs it), from the cache when it holds them."""
    package = Path(r2k8s.__file__).parent
    files = {"r2k8s/__init__.py": package / "__init__.py"}
    for path in sorted((package / "core").rglob("*.py")):
        files[path.relative_to(package.parent).as_posix()] = path
    sources = {name: files[name].read_bytes() for name in sorted(files)}
    inputs = hashlib.sha256(Path(__file__).read_bytes())
    for name, data in sources.items():
        inputs.update(f"\0{name}\0{len(data)}\0".encode())
        inputs.update(data)
    cached = _cached(inputs.hexdigest())
    if cached is not None:
        return cached
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        main = slim_source(sources[_BOOTSTRAP].decode("utf-8")) + "raise SystemExit(main())\n"
        _entry("__main__.py", main.encode("utf-8"), archive)
        for name, data in sources.items():
            _entry(name, slim_source(data.decode("utf-8")).encode("utf-8"), archive)
    _keep(inputs.hexdigest(), buffer.getvalue())
    return buffer.getvalue()


def agent_digest(data: bytes | None = None) -> str:
    """The first 12 hex digits of the zipapp's SHA-256: what names its ConfigMap and its staged interpreters."""
    return _own_digest() if data is None else hashlib.sha256(data).hexdigest()[:12]


@functools.cache
def _own_digest() -> str:
    """:func:`agent_digest` of this package's zipapp, hashed once: the function names the agent ConfigMap for
    every expanded resource (400 hashes of 150 KB took 40 ms on 200 of them)."""
    return hashlib.sha256(agent_zipapp()).hexdigest()[:12]


def _cache_dir() -> Path:
    """Beside the package's bytecode, as Python caches compiled modules: never in the user's home or the
    working directory (a KRM function writes nothing but its output), and, like ``.pyc`` files, skipped
    where the package is read-only."""
    return Path(r2k8s.__file__).parent / "__pycache__"


def _cached(key: str) -> bytes | None:
    """The zipapp built from the inputs hashing to ``key``, if the cache holds it intact (its name carries the
    zipapp's own SHA-256, checked: a truncated or altered file is built again)."""
    try:
        for path in _cache_dir().glob(f"agent-{key[:32]}-*.pyz"):
            data = path.read_bytes()
            if path.name == f"agent-{key[:32]}-{hashlib.sha256(data).hexdigest()[:32]}.pyz":
                return data
    except (OSError, RuntimeError):  # no home, an unreadable cache: build it
        pass
    return None


def _keep(key: str, data: bytes) -> None:
    """Save ``data`` for the next run, atomically; anything in the way only means building it next time."""
    try:
        directory = _cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".agent-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, directory / f"agent-{key[:32]}-{hashlib.sha256(data).hexdigest()[:32]}.pyz")
        except BaseException:
            os.unlink(temporary)
            raise
    except (OSError, RuntimeError):
        pass


def configmap_name(data: bytes | None = None) -> str:
    """``r2k8s-agent-<first 12 hex digits of the zipapp's SHA-256>``."""
    return f"r2k8s-agent-{agent_digest(data)}"


def configmap_manifest(name: str, zipapp: bytes) -> dict[str, Any]:
    """The immutable ConfigMap ``name`` holding ``zipapp`` under :data:`AGENT_ZIPAPP`."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {
                **MANAGED_BY,
                "app.kubernetes.io/component": "agent",
                "app.kubernetes.io/version": r2k8s.__version__,
            },
        },
        "immutable": True,
        "binaryData": {AGENT_ZIPAPP: base64.b64encode(zipapp).decode("ascii")},
    }
