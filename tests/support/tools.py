"""Where the real integration programs are: kustomize, helm 3, helm 4 and kpt.

Each function returns the binary's path, or skips the calling test with how to
get it. ``.ci/install-tools`` installs them into ``$R2K8S_CI_CACHE/bin`` (default
``~/.cache/r2k8s-ci/bin``) at the versions pinned in ``.ci/tool-versions``, the one
file both read. ``$R2K8S_KUSTOMIZE`` / ``$R2K8S_HELM3`` / ``$R2K8S_HELM4`` /
``$R2K8S_KPT`` name a binary to use instead; a name that does not resolve to an
executable fails the test rather than quietly skipping it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / ".ci" / "tool-versions"
INSTALL = ".ci/install-tools"


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The ``name=value`` lines of ``.ci/tool-versions`` (blank lines and ``#`` comments ignored)."""
    versions: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not a name=value line: {line!r}")
        versions[name] = value
    return versions


#: The pinned versions, e.g. ``VERSIONS["kustomize"] == "v5.8.2"``.
VERSIONS = read_versions()


def cache_bin() -> Path:
    """``$R2K8S_CI_CACHE/bin``, where ``.ci/install-tools`` puts the binaries."""
    cache = os.environ.get("R2K8S_CI_CACHE") or str(Path.home() / ".cache" / "r2k8s-ci")
    return Path(cache) / "bin"


def _override(variable: str) -> Path | None:
    value = os.environ.get(variable)
    if not value:
        return None
    found = shutil.which(value)
    if found is None:
        pytest.fail(f"${variable}={value!r} is not an executable file (or a program on PATH)")
    return Path(found).absolute()


def _cached(variable: str, tool: str, binary: str, versions: list[str]) -> Path:
    overridden = _override(variable)
    if overridden is not None:
        return overridden
    candidates = [cache_bin() / f"{tool}-{version}" / binary for version in versions]
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and candidate.is_file():
            return candidate
    pytest.skip(
        f"{tool} {versions[0]} not found at {candidates[0]}: {INSTALL} builds it "
        f"(or set ${variable} to a {tool} binary)"
    )


def kustomize() -> Path:
    """Standalone kustomize at the pinned version (``go install``ed by .ci/install-tools)."""
    return _cached("R2K8S_KUSTOMIZE", "kustomize", "kustomize", [VERSIONS["kustomize"]])


def helm3() -> Path:
    """helm 3 at the pinned version (extracted from a PyPI wheel by .ci/install-tools)."""
    return _cached("R2K8S_HELM3", "helm3", "helm", [VERSIONS["helm3"]])


def helm4() -> Path:
    """helm 4 at the pinned version, or the fallback version when its wheel was unavailable."""
    versions = [VERSIONS["helm4"]]
    if "helm4_fallback" in VERSIONS:
        versions.append(VERSIONS["helm4_fallback"])
    return _cached("R2K8S_HELM4", "helm4", "helm", versions)


def kpt() -> Path:
    """kpt from PATH (it is not installable from the registries CI reaches; the CI image has it)."""
    overridden = _override("R2K8S_KPT")
    if overridden is not None:
        return overridden
    found = shutil.which("kpt")
    if found is None:
        pytest.skip(
            "kpt not found on PATH: it is not installable from the registries CI reaches "
            f"(the CI image has /usr/bin/kpt; {INSTALL} reports it); set $R2K8S_KPT to a kpt binary"
        )
    return Path(found)
