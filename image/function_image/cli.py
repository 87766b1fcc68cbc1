"""``image/build``: the function's OCI image archive from this checkout, optionally loaded into podman.

Two layers: the base (Debian's Python runtime and the locked wheels, with their bytecode), which
changes only when a lock does, and r2k8s itself. The base layer is cached under
``$R2K8S_CI_CACHE/image`` (default ``~/.cache/r2k8s-ci/image``) by the hash of the locks and of the
modules that make it, beside the downloaded ``.deb`` files and wheels; ``--fresh`` builds it again
(from the cached downloads), which is how a test shows that two builds give one digest.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import compile as bytecode
from . import debian, layers, oci, project, runtime, wheels

__all__ = ["main"]

DEFAULT_REPOSITORY = "localhost/r2k8s/function"
SITE = "usr/lib/python3/dist-packages"
STDLIB = "usr/lib/python3.11"
#: The user the function runs as: ``nobody``, as the KRM functions specification asks.
NOBODY = "65534:65534"
PASSWD = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
#: Mount points and the function's working directory (a package or kustomization is mounted on ``/source``).
DIRECTORIES = {"dev": 0o755, "proc": 0o555, "sys": 0o555, "tmp": 0o1777, "source": 0o755}
ENTRYPOINT = ["/usr/bin/python3", "-I", "-m", "r2k8s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image/build", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repository", default=DEFAULT_REPOSITORY, help=f"image name without tag ({DEFAULT_REPOSITORY})"
    )
    parser.add_argument("--output", type=Path, help="archive path (default dist/r2k8s-function-vVERSION.oci.tar)")
    parser.add_argument("--load", action="store_true", help="load the image into podman's storage under both tags")
    parser.add_argument(
        "--relock", action="store_true", help="pin what the Debian mirror serves now and the installed wheels"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="build the base layer again instead of taking it from the cache"
    )
    parser.add_argument("--cache", type=Path, help="cache directory (default $R2K8S_CI_CACHE/image)")
    options = parser.parse_args(argv)
    cache = options.cache or Path(os.environ.get("R2K8S_CI_CACHE") or Path.home() / ".cache" / "r2k8s-ci") / "image"
    cache.mkdir(parents=True, exist_ok=True)
    source = project.read_source()
    output = options.output or project.REPO / "dist" / f"r2k8s-function-v{source.version}.oci.tar"
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        if options.relock:
            _relock(cache)
        digest = build(source, options.repository, output, cache, fresh=options.fresh)
    except debian.MirrorMoved as moved:
        print(f"image/build: {moved}", file=sys.stderr)
        return 1
    print(f"{output}\n{digest}")
    for tag in source.tags:
        print(f"{options.repository}:{tag}")
    if options.load:
        runtime.load(output, options.repository, source.tags)
    return 0


def build(source: project.Source, repository: str, output: Path, cache: Path, fresh: bool = False) -> str:
    """Write the archive ``output``; return its manifest digest."""
    with tempfile.TemporaryDirectory(prefix="r2k8s-image-", dir=cache) as scratch_name:
        scratch = Path(scratch_name)
        root = scratch / "root"
        base = _base_layer(cache, root, fresh)
        if not root.exists():
            _extract(base, root)
        app = scratch / "r2k8s.tar"
        _app_layer(source, root, app)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": source.created,
            "config": {
                "User": NOBODY,
                "Entrypoint": ENTRYPOINT,
                "WorkingDir": "/source",
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
                "Labels": {
                    "org.opencontainers.image.title": "r2k8s KRM function",
                    "org.opencontainers.image.description": "Expands containers whose image is a Repeatr formula",
                    "org.opencontainers.image.version": source.version,
                    "org.opencontainers.image.revision": source.revision,
                    "org.opencontainers.image.licenses": "Apache-2.0",
                },
            },
            "history": [
                {
                    "created": source.created,
                    "created_by": "image/build: Debian python3 (debian.lock), wheels (requirements.lock)",
                },
                {"created": source.created, "created_by": f"image/build: r2k8s {source.version}"},
            ],
        }
        return oci.write_archive(output, oci.Image([base, app], config, repository, source.tags))


def _base_layer(cache: Path, root: Path, fresh: bool) -> Path:
    """The cached base layer, built into ``root`` first when missing (or ``fresh``)."""
    key = hashlib.sha256()
    for path in (debian.LOCK, wheels.LOCK, *sorted(Path(__file__).parent.glob("*.py"))):
        key.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    cached = cache / f"base-{key.hexdigest()[:16]}.tar"
    with _locked(cache):
        if cached.is_file() and not fresh:
            return cached
        debian.install(root, debian.read_lock(), cache / "debs")
        kept = debian.runtime_files(root)
        for wheel in wheels.download(cache / "wheels"):
            kept |= {f"{SITE}/{name}" for name in wheels.unpack(wheel, root / SITE)}
        bytecode.remove_bytecode(root, "usr")
        bytecode.compile_tree(root, [f"/{STDLIB}", f"/{SITE}"])
        kept |= bytecode.bytecode_of(root, kept)
        (root / "etc/passwd").write_text(PASSWD)
        (root / "etc/group").write_text(GROUP)
        for name, mode in DIRECTORIES.items():
            (root / name).mkdir(exist_ok=True)
            (root / name).chmod(mode)
        kept |= {"etc/passwd", "etc/group", *DIRECTORIES}
        partial = cached.with_name(cached.name + f".{os.getpid()}.partial")
        layers.write_layer(root, kept, partial)
        partial.replace(cached)
        for other in cache.glob("base-*.tar"):
            if other != cached:
                other.unlink(missing_ok=True)
    return cached


def _app_layer(source: project.Source, root: Path, out: Path) -> None:
    files = []
    for name, content in source.files.items():
        target = root / SITE / name
        for directory in reversed(target.relative_to(root / SITE).parents[:-1]):
            (root / SITE / directory).mkdir(exist_ok=True)
            (root / SITE / directory).chmod(0o755)
        target.write_bytes(content)
        target.chmod(0o644)
        files.append(f"{SITE}/{name}")
    bytecode.compile_tree(root, [f"/{SITE}/r2k8s"])
    layers.write_layer(root, {*files, *bytecode.bytecode_of(root, files)}, out)


def _extract(layer: Path, root: Path) -> None:
    root.mkdir()
    with tarfile.open(layer) as archive:
        archive.extractall(root, filter="fully_trusted")  # our own layer, written just now


def _relock(cache: Path) -> None:
    packages = debian.relock(cache / "debs")
    debian.write_lock(packages)
    print(f"{debian.LOCK}: {len(packages)} packages", file=sys.stderr)
    wheels.LOCK.write_text(wheels.relock(), encoding="utf-8")
    print(f"{wheels.LOCK}: {len(wheels.locked_hashes())} wheels", file=sys.stderr)


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One base build at a time per cache (CI and a test session may build at once)."""
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
