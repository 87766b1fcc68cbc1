"""The test cluster's single-layer OCI image archives, as ``ctr images import`` reads them.

The archive itself is written by the project's one OCI layout writer, ``image/function_image/oci.py``
(the function image's build): sorted JSON, fixed tar owners and times, so the same layer and config
always give the same digest; its index names the image with the annotation containerd's importer
reads (``io.containerd.image.name``), so an import needs no naming options. What is left here is
the test cluster's side: a layer from a few files, and the name and digest of an archive on disk.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

_IMAGE_TOOLS = Path(__file__).resolve().parents[3] / "image"
if str(_IMAGE_TOOLS) not in sys.path:
    sys.path.append(str(_IMAGE_TOOLS))  # appended: tests/support (and any module there) keeps precedence

from function_image.oci import Image, read_manifest_digest, write_archive  # noqa: E402 - found through the line above

__all__ = ["ImageArchive", "layer_from_files", "read_image_archive", "write_image_archive"]

PLATFORM = {"architecture": "amd64", "os": "linux"}


@dataclass(frozen=True)
class ImageArchive:
    """An archive on disk, the image name it carries and its manifest digest."""

    path: Path
    name: str
    digest: str


def write_image_archive(path: Path, name: str, layer: Path, config: dict) -> ImageArchive:
    """Write ``path``: an image called ``name`` (``REPOSITORY:TAG``) whose only layer is the tar file ``layer``.

    ``config`` is the image config's ``config`` section (Env, Cmd, WorkingDir, ...).
    """
    repository, _, tag = name.rpartition(":")
    image_config = {**PLATFORM, "config": config, "history": [{"created_by": "r2k8s tests/support/testcluster"}]}
    digest = write_archive(path, Image([layer], image_config, repository, [tag]))
    return ImageArchive(path, name, digest)


def read_image_archive(path: Path) -> ImageArchive:
    """Name and manifest digest of an archive :func:`write_image_archive` wrote."""
    with tarfile.open(path) as archive:
        member = archive.extractfile("index.json")
        assert member is not None
        descriptor = json.load(member)["manifests"][0]
    return ImageArchive(path, descriptor["annotations"]["io.containerd.image.name"], read_manifest_digest(path))


def layer_from_files(path: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Write a layer tar holding ``files`` ({name: (content, mode)}) and their parent directories."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as layer:
        for directory in sorted({str(Path(name).parent) for name in files} - {"."}):
            layer.addfile(_member(directory, 0, 0o755, tarfile.DIRTYPE))
        for name, (content, mode) in sorted(files.items()):
            layer.addfile(_member(name, len(content), mode), io.BytesIO(content))


def _member(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.type = size, mode, 0, kind
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
