"""Where the real integration programs are: kustomize, helm 3, helm 4 and kpt.

Each function returns the binary's path. ``.ci/install-tools`` installs the first three into
``$R2K8S_CI_CACHE/bin`` (default ``~/.cache/r2k8s-ci/bin``) at the versions pinned in
``.ci/tool-versions``, the one file both read; when a pinned binary is missing, the first lookup of
the session runs that script (once per cache directory; it is idempotent and takes a lock) and
looks again. A tool still missing then skips its test only when it cannot be installed (its
registry does not answer: no network); any other install failure fails the test with the script's
output. kpt is not installable from the registries CI reaches: it comes from PATH or skips.
``$R2K8S_KUSTOMIZE`` / ``$R2K8S_HELM3`` / ``$R2K8S_HELM4`` / ``$R2K8S_KPT`` name a binary to use
instead; a name that does not resolve to an executable fails the test rather than quietly skipping it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import installs
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / ".ci" / "tool-versions"
INSTALL = ".ci/install-tools"
#: The script that installs the pinned tools (tests point it elsewhere).
INSTALL_SCRIPT = REPO_ROOT / INSTALL


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
    found = _first_executable(candidates)
    if found is not None:
        return found
    outcome = install_tools()
    found = _first_executable(candidates)
    if found is not None:
        return found
    wanted = f"{tool} {versions[0]} (at {candidates[0]})"
    if outcome.ok:
        pytest.fail(f"{INSTALL} succeeded but installed no {wanted}; its output:\n{outcome.tail()}")
    offline = installs.unreachable(_sources(tool))
    if offline is not None:
        pytest.skip(
            f"{wanted} is missing and cannot be installed: no network ({offline}); "
            f"run {INSTALL} where the registries answer, or set ${variable} to a {tool} binary"
        )
    pytest.fail(f"{wanted} is missing and installing it failed: {outcome.describe()}")


def _first_executable(candidates: list[Path]) -> Path | None:
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and candidate.is_file():
            return candidate
    return None


def install_tools() -> installs.Outcome:
    """Run the install script for the current cache directory, once per session."""
    cache = cache_bin().parent
    env = dict(os.environ, R2K8S_CI_CACHE=str(cache))
    return installs.run_once(
        ("install-tools", str(INSTALL_SCRIPT), str(cache)),
        [INSTALL_SCRIPT],
        f"kustomize, helm 3 and helm 4 into {cache}",
        env,
    )


def _sources(tool: str) -> list[str]:
    """Where installing ``tool`` downloads from: the Go module proxy (kustomize) or PyPI (helm)."""
    if tool == "kustomize":
        proxies = [p for p in re.split(r"[,|]", os.environ.get("GOPROXY", "")) if "://" in p]
        return [(proxies[0] if proxies else "https://proxy.golang.org").rstrip("/") + "/"]
    return [os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"]


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


#: Builds the helm 4 SDK program (tests/support/helm_sdk/main.go) and prints its path.
HELM_SDK_BUILD = Path(__file__).resolve().parent / "helm_sdk" / "build"


def helm4_sdk() -> Path:
    """``helm-sdk-separate``: installs, upgrades or renders a chart through the helm 4 SDK with the post-render
    strategy ``separate`` (helm-controller's), which the helm CLI does not offer; built with ``go build`` from
    the Go module proxy into ``$R2K8S_CI_CACHE/bin`` on first use (minutes cold), as kustomize is."""
    if shutil.which("go") is None:
        pytest.fail("go is not on PATH: it builds kustomize and the helm 4 SDK program (tests/support/helm_sdk)")
    cache = cache_bin().parent
    outcome = installs.run_once(
        ("helm4-sdk", str(HELM_SDK_BUILD), str(cache)),
        [HELM_SDK_BUILD],
        f"the helm 4 SDK program into {cache}",
        dict(os.environ, R2K8S_CI_CACHE=str(cache)),
    )
    lines = outcome.output.strip().splitlines()
    if outcome.ok and lines and os.access(lines[-1], os.X_OK):
        return Path(lines[-1])
    offline = installs.unreachable(_sources("kustomize"))
    if offline is not None:
        pytest.skip(f"the helm 4 SDK program cannot be built: no network ({offline})")
    pytest.fail(f"building the helm 4 SDK program failed: {outcome.describe()}")


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
