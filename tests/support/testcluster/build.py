"""Build the cluster's Go programs once per input and keep them in the cache.

The programs are ``kube`` (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
kubectl in one binary, from the Go module proxy's ``k8s.io/kubernetes``) and ``pause`` (the pod
sandbox process). A cold build of ``kube`` takes many minutes on two cores, so the result is
stored under a key made of everything that decides its bytes: the module files, the sources,
the Go version and the link flags. With GOCACHE and GOMODCACHE in the cache too, even a changed
key rebuilds only what changed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import settings
from .progress import say

GO_SOURCE = Path(__file__).resolve().parent / "go"
#: Names the kube binary answers to (see go/kube/main.go); each gets a symlink.
#: k8s.io/kubernetes v1.34 needs Go 1.24 (go/go.mod's go line).
MINIMUM_GO = (1, 24)
#: The Go release fetched when the machine has no Go that new (upstream builds v1.34 with Go 1.24).
FALLBACK_GO = "go1.24.13"
#: Its module hash as the Go checksum database records it (golang.org/toolchain v0.0.1-go1.24.13.linux-amd64).
FALLBACK_GO_H1 = "h1:5sgfUhn9QCgVl4UYj32GrIYFHI3bi2UX55tNfupXwxc="
GOPROXY = "https://proxy.golang.org"
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
    go = find_go()
    if go is None:
        raise SystemExit(
            f"the test cluster needs Go {'.'.join(map(str, MINIMUM_GO))} or newer to build Kubernetes; "
            "none is on PATH (.ci/install-cluster fetches one)"
        )
    env = _go_environment()
    go_version = subprocess.run(
        [go, "env", "GOVERSION"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    ldflags = _ldflags()
    key = f"{settings.KUBERNETES_VERSION}-{_input_digest(go_version, ldflags)[:16]}"
    binaries = Binaries(settings.cache_dir() / "bin" / key)
    if binaries.kube.is_file() and binaries.pause.is_file():
        return binaries

    say(f"building Kubernetes {settings.KUBERNETES_VERSION} with {go_version} (a cold build takes 10-20 minutes)")
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=_mkdir(binaries.directory.parent)))
    try:
        for package, output in (("./kube", "kube"), ("./pause", "pause")):
            _go_build([go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(staging / output), package], env)
        for name in KUBE_COMMANDS:
            (staging / name).symlink_to("kube")
        staging.chmod(0o755)
        staging.rename(binaries.directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_other_builds(binaries.directory)
    say(f"built {binaries.directory}")
    return binaries


def _go_build(argv: list[str], env: dict[str, str]) -> None:
    """Run a ``go`` command, passing on its stderr but the two hundred "go: downloading" lines."""
    process = subprocess.Popen(argv, cwd=GO_SOURCE, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    downloads = 0
    for line in process.stderr:
        if line.startswith("go: downloading "):
            downloads += 1
        else:
            sys.stderr.write(line)
    if downloads:
        say(f"go downloaded {downloads} modules")
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, argv)


def find_go() -> str | None:
    """The ``go`` on PATH if it is new enough, else the toolchain ``ensure_go`` fetched, else None."""
    on_path = shutil.which("go")
    if on_path is not None and _go_version(on_path) >= MINIMUM_GO:
        return on_path
    cached = _toolchain_dir() / "bin" / "go"
    return str(cached) if cached.is_file() else None


def ensure_go() -> str:
    """A usable ``go``: the one on PATH, or Go's release toolchain fetched once into the cache.

    The toolchain comes from the Go module proxy, where Go itself publishes it as the module
    ``golang.org/toolchain`` (what ``GOTOOLCHAIN`` downloads), checked against its go.sum hash.
    """
    go = find_go()
    if go is not None:
        return go
    version = f"v0.0.1-{FALLBACK_GO}.linux-amd64"
    url = f"{GOPROXY}/golang.org/toolchain/@v/{version}.zip"
    say(f"fetching {FALLBACK_GO} from {url}")
    target = _toolchain_dir()
    staging = Path(tempfile.mkdtemp(prefix=".toolchain.", dir=_mkdir(target.parent)))
    try:
        archive = staging / "toolchain.zip"
        with urllib.request.urlopen(url, timeout=300) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        prefix = f"golang.org/toolchain@{version}/"
        tree = staging / "go"
        with zipfile.ZipFile(archive) as bundle:
            if _module_hash(bundle) != FALLBACK_GO_H1:
                raise RuntimeError(
                    f"{url} does not have the module hash {FALLBACK_GO_H1} the checksum database records"
                )
            for entry in bundle.infolist():
                if not entry.filename.startswith(prefix) or entry.is_dir():
                    continue
                path = tree / entry.filename.removeprefix(prefix)
                path.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(entry) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out)
                path.chmod(0o755 if (entry.external_attr >> 16) & 0o111 else 0o644)
        go = tree / "bin" / "go"
        if _go_version(str(go)) < MINIMUM_GO:
            raise RuntimeError(f"the fetched toolchain at {url} does not run as {FALLBACK_GO}")
        shutil.rmtree(target, ignore_errors=True)
        tree.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target / "bin" / "go")


def _module_hash(bundle: zipfile.ZipFile) -> str:
    """Go's "h1" hash of a module zip (golang.org/x/mod/sumdb/dirhash.Hash1)."""
    listing = "".join(
        f"{hashlib.sha256(bundle.read(name)).hexdigest()}  {name}\n"
        for name in sorted(entry.filename for entry in bundle.infolist() if not entry.is_dir())
    )
    return "h1:" + base64.b64encode(hashlib.sha256(listing.encode()).digest()).decode()


def _toolchain_dir() -> Path:
    return settings.cache_dir() / "go" / f"toolchain-{FALLBACK_GO}"


def _go_version(go: str) -> tuple[int, ...]:
    """(major, minor, patch) of a ``go`` command, (0,) if it does not run."""
    try:
        done = subprocess.run(
            [go, "env", "GOVERSION"],
            env=dict(os.environ, GOTOOLCHAIN="local"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return (0,)
    digits = done.stdout.strip().removeprefix("go").split(".")
    try:
        return tuple(int(part) for part in digits)
    except ValueError:
        return (0,)


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
    _add_sources(digest)
    return digest.hexdigest()


def recipe_digest() -> str:
    """What this checkout builds, Go's version aside: the link flags and go/'s sources, which pin
    the Kubernetes modules. Cheap (no Go needed), so ``up`` can tell whether a cluster built from
    another cache runs what this checkout would build, without building anything."""
    digest = hashlib.sha256()
    digest.update(f"{_ldflags()}\n".encode())
    _add_sources(digest)
    return digest.hexdigest()[:16]


def _add_sources(digest: hashlib._Hash) -> None:
    for path in sorted(GO_SOURCE.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(GO_SOURCE)}\n".encode())
            digest.update(path.read_bytes())


def _remove_other_builds(keep: Path) -> None:
    """Older builds are a few hundred MB each and nothing uses them once a new one exists."""
    for other in keep.parent.iterdir():
        if other != keep and other.is_dir() and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
