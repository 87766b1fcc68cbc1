"""Build the cluster's Go programs once per input and keep them in the cache.

The programs are ``kube`` (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
kubectl in one binary, from the Go module proxy's ``k8s.io/kubernetes``) and ``pause`` (the pod
sandbox process). A cold build of ``kube`` takes many minutes on two cores, so the result is
stored under a key made of everything that decides its bytes: the module files, the sources,
the Go version and the link flags. With GOCACHE and GOMODCACHE in the cache too, even a changed
key rebuilds only what changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import settings
from .progress import say

GO_SOURCE = Path(__file__).resolve().parent / "go"
#: Names the kube binary answers to (see go/kube/main.go); each gets a symlink.
KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl")


@dataclass(frozen=True)
class Binaries:
    """The built programs; ``kubectl`` and the servers are symlinks to the one ``kube`` binary."""

    directory: Path

    @property
    def kube(self) -> Path:
        return self.directory / "kube"

    @property
    def kubectl(self) -> Path:
        return self.directory / "kubectl"

    @property
    def pause(self) -> Path:
        return self.directory / "pause"

    def command(self, name: str) -> Path:
        return self.directory / name

    @property
    def key(self) -> str:
        return self.directory.name


def ensure_binaries() -> Binaries:
    """Return the cached build for the current sources, building it first if there is none."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the test cluster needs Go (the `go` command) to build Kubernetes; none is on PATH")
    env = _go_environment()
    go_version = subprocess.run([go, "env", "GOVERSION"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    ldflags = _ldflags()
    key = f"{settings.KUBERNETES_VERSION}-{_input_digest(go_version, ldflags)[:16]}"
    binaries = Binaries(settings.cache_dir() / "bin" / key)
    if binaries.kube.is_file() and binaries.pause.is_file():
        return binaries

    say(f"building Kubernetes {settings.KUBERNETES_VERSION} with {go_version} (a cold build takes 10-20 minutes)")
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=_mkdir(binaries.directory.parent)))
    try:
        for package, output in (("./kube", "kube"), ("./pause", "pause")):
            subprocess.run(
                [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(staging / output), package],
                cwd=GO_SOURCE,
                env=env,
                check=True,
            )
        for name in KUBE_COMMANDS:
            (staging / name).symlink_to("kube")
        staging.chmod(0o755)
        staging.rename(binaries.directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_other_builds(binaries.directory)
    say(f"built {binaries.directory}")
    return binaries


def _go_environment() -> dict[str, str]:
    """Go's caches live in the CI cache; static binaries; no toolchain download."""
    cache = settings.cache_dir() / "go"
    env = dict(os.environ)
    env.update(
        GOCACHE=str(cache / "build"),
        GOMODCACHE=str(cache / "mod"),
        # Module files writable, so that removing the cache needs no chmod.
        GOFLAGS="-modcacherw -buildvcs=false",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
    )
    return env


def _ldflags() -> str:
    """Strip symbols, and stamp the version upstream's release builds stamp.

    Without the stamp every component reports v0.0.0, which the kubelet registers as the node's
    version and kubectl prints.
    """
    version = settings.KUBERNETES_VERSION
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": settings.KUBERNETES_RELEASE_DATE,
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{name}={value}" for name, value in stamp.items()]
    return " ".join(flags)


def _input_digest(go_version: str, ldflags: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{go_version}\n{ldflags}\n".encode())
    for path in sorted(GO_SOURCE.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(GO_SOURCE)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _remove_other_builds(keep: Path) -> None:
    """Older builds are a few hundred MB each and nothing uses them once a new one exists."""
    for other in keep.parent.iterdir():
        if other != keep and other.is_dir() and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
