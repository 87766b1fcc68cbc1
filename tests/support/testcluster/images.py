"""The cluster's two images, made without a registry and imported into containerd.

* ``PAUSE_IMAGE``: the pod sandbox, holding only the static ``pause`` binary built from go/pause.
* ``PYTHON_IMAGE``: a minimal Debian (mmdebstrap's minbase variant, the host's own Debian release
  and apt sources) with python3, as the stock "Python image" r2k8s's pods are meant to run on.

Both archives are cached (they only change when their inputs do) and imported into containerd's
``k8s.io`` namespace, where the kubelet's CRI finds them; their tags are not ``latest``, so the
kubelet's default pull policy (IfNotPresent) never asks a registry for them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import settings
from .build import Binaries
from .oci import ImageArchive, layer_from_files, read_image_archive, write_image_archive
from .progress import say

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: mmdebstrap arguments of the Python image, part of its cache key. Documentation, manual pages
#: and translations are left out: they are a third of a minimal system and no test reads them.
PYTHON_ROOTFS_OPTIONS = (
    "--mode=root",
    "--variant=minbase",
    "--include=python3",
    "--format=tar",
    '--aptopt=Acquire::Languages "none"',
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)


def images_dir() -> Path:
    path = settings.cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_pause_archive(binaries: Binaries) -> ImageArchive:
    key = hashlib.sha256(binaries.pause.read_bytes()).hexdigest()[:16]
    path = images_dir() / f"pause-{key}.oci.tar"
    if path.is_file():
        return read_image_archive(path)
    with tempfile.TemporaryDirectory(dir=images_dir()) as scratch:
        layer = Path(scratch) / "layer.tar"
        layer_from_files(layer, {"pause": (binaries.pause.read_bytes(), 0o755)})
        archive = write_image_archive(path, settings.PAUSE_IMAGE, layer, {"Entrypoint": ["/pause"], "Env": [PATH_ENV]})
    _remove_others(path, "pause-")
    return archive


def python_archive_name() -> str:
    """The Python image's recipe (the host's Debian release and the mmdebstrap options), which names its archive."""
    suite = debian_suite()
    key = hashlib.sha256("\n".join((suite, *PYTHON_ROOTFS_OPTIONS)).encode()).hexdigest()[:16]
    return f"python-{suite}-{key}"


def ensure_python_archive() -> ImageArchive:
    suite = debian_suite()
    sources = debian_sources(suite)
    path = images_dir() / f"{python_archive_name()}.oci.tar"
    if path.is_file():
        return read_image_archive(path)
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("the test cluster's Python image needs mmdebstrap: apt-get install mmdebstrap")
    say(f"making the Python image from Debian {suite} packages with mmdebstrap (about a minute)")
    with tempfile.TemporaryDirectory(dir=images_dir()) as scratch:
        layer = Path(scratch) / "rootfs.tar"
        # A fixed SOURCE_DATE_EPOCH gives every file the same time, so the layer depends on the
        # packages only.
        env = dict(os.environ, SOURCE_DATE_EPOCH="0")
        result = subprocess.run(
            ["mmdebstrap", "--quiet", *PYTHON_ROOTFS_OPTIONS, suite, str(layer), str(sources)],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed ({result.returncode}):\n{result.stderr[-4000:]}")
        config = {"Env": [PATH_ENV, "LANG=C.UTF-8"], "Cmd": ["python3"]}
        archive = write_image_archive(path, settings.PYTHON_IMAGE, layer, config)
    _remove_others(path, "python-")
    return archive


def import_archive(containerd_socket: Path, archive: ImageArchive) -> None:
    """Import into containerd's ``k8s.io`` namespace and unpack for the overlayfs snapshotter."""
    result = subprocess.run(
        [
            "ctr",
            "--address",
            str(containerd_socket),
            "--namespace",
            "k8s.io",
            "images",
            "import",
            "--snapshotter",
            "overlayfs",
            str(archive.path),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {archive.path} into containerd failed: {result.stderr.strip()}")


def imported_digests(containerd_socket: Path) -> dict[str, str]:
    """Image name -> manifest digest of everything in containerd's ``k8s.io`` namespace."""
    result = subprocess.run(
        ["ctr", "--address", str(containerd_socket), "--namespace", "k8s.io", "images", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    digests = {}
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            digests[fields[0]] = fields[2]
    return digests


def debian_suite() -> str:
    """The host's Debian release codename (bookworm on Debian 12)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.partition("=")[2].strip().strip('"')
    raise SystemExit("cannot tell the host's Debian release: /etc/os-release has no VERSION_CODENAME")


def debian_sources(suite: str) -> Path:
    """The host's apt sources file for its Debian release, which mmdebstrap copies into the image."""
    for candidate in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        try:
            text = candidate.read_text()
        except OSError:
            continue
        entries = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if any(suite in line for line in entries):
            return candidate
    raise SystemExit(
        f"no apt sources for Debian {suite} in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    )


def _remove_others(keep: Path, prefix: str) -> None:
    """An image whose inputs changed replaces the old archive instead of piling up beside it."""
    for other in keep.parent.glob(f"{prefix}*.oci.tar"):
        if other != keep:
            other.unlink(missing_ok=True)
