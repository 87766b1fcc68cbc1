"""The build agent as a zipapp, for pods that have Python but no r2k8s: no registry, no custom image.

The zipapp holds ``r2k8s/__init__.py`` and every module of :mod:`r2k8s.core`
(standard library only, so any Python >= 3.11 image runs it) plus a
``__main__.py`` that starts :mod:`r2k8s.core.build_agent`. It is built
deterministically (sorted names, fixed timestamps and modes), so its SHA-256
names it: ``r2k8s-agent-<12 hex digits>`` is the ConfigMap that carries it,
created once per r2k8s version and shared by every run (immutable, so the
kubelet does not keep watching it).
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path

import r2k8s

__all__ = ["AGENT_KEY", "agent_zipapp", "configmap_name"]

AGENT_KEY = "r2k8s-agent.pyz"
"""The ConfigMap key, i.e. the file name in the mounted volume."""

_MAIN = b"from r2k8s.core.service_agent import dispatch\nraise SystemExit(dispatch())\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _entry(name: str, data: bytes, archive: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


@functools.cache
def agent_zipapp() -> bytes:
    """The zipapp's bytes (``python3 r2k8s-agent.pyz --help`` runs it)."""
    package = Path(r2k8s.__file__).parent
    files = {"r2k8s/__init__.py": package / "__init__.py"}
    for path in sorted((package / "core").rglob("*.py")):
        files[path.relative_to(package.parent).as_posix()] = path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _entry("__main__.py", _MAIN, archive)
        for name in sorted(files):
            _entry(name, files[name].read_bytes(), archive)
    return buffer.getvalue()


def configmap_name(data: bytes | None = None) -> str:
    """``r2k8s-agent-<first 12 hex digits of the zipapp's SHA-256>``."""
    digest = hashlib.sha256(agent_zipapp() if data is None else data).hexdigest()
    return f"r2k8s-agent-{digest[:12]}"
