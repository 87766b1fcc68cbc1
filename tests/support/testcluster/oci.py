"""Write a single-layer OCI image archive (an OCI image layout in a tar), as ``ctr images import`` reads it.

The archive holds ``oci-layout``, ``index.json`` and three blobs: the layer (an uncompressed tar),
the image config and the manifest. The index names the image with the annotation containerd's
importer reads (``io.containerd.image.name``), so an import needs no naming options. Every tar
member gets fixed owners and times, so the same layer and config always give the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class ImageArchive:
    """An archive on disk, the image name it carries and its manifest digest."""

    path: Path
    name: str
    digest: str


def write_image_archive(path: Path, name: str, layer: Path, config: dict) -> ImageArchive:
    """Write ``path``: an image called ``name`` whose only layer is the tar file ``layer``.

    ``config`` is the image config's ``config`` section (Env, Cmd, WorkingDir, ...).
    """
    layer_digest, layer_size = _file_digest(layer)
    image_config = _json_bytes(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": "r2k8s tests/cluster/images.py"}],
        }
    )
    manifest = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": _digest(image_config), "size": len(image_config)},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer_size}],
        }
    )
    manifest_digest = _digest(manifest)
    index = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rpartition(":")[2],
                    },
                }
            ],
        }
    )
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(archive, "index.json", index)
        _add_directory(archive, "blobs")
        _add_directory(archive, "blobs/sha256")
        _add_bytes(archive, _blob_name(manifest_digest), manifest)
        _add_bytes(archive, _blob_name(_digest(image_config)), image_config)
        with open(layer, "rb") as layer_file:
            archive.addfile(_member(_blob_name(layer_digest), layer_size), layer_file)
    partial.rename(path)
    return ImageArchive(path, name, manifest_digest)


def read_image_archive(path: Path) -> ImageArchive:
    """Name and manifest digest of an archive this module wrote."""
    with tarfile.open(path) as archive:
        member = archive.extractfile("index.json")
        assert member is not None
        descriptor = json.load(member)["manifests"][0]
    return ImageArchive(path, descriptor["annotations"]["io.containerd.image.name"], descriptor["digest"])


def layer_from_files(path: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Write a layer tar holding ``files`` ({name: (content, mode)}) and their parent directories."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as layer:
        directories = sorted({str(Path(name).parent) for name in files} - {"."})
        for directory in directories:
            _add_directory(layer, directory)
        for name, (content, mode) in sorted(files.items()):
            _add_bytes(layer, name, content, mode)


def _member(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _add_bytes(archive: tarfile.TarFile, name: str, content: bytes, mode: int = 0o644) -> None:
    archive.addfile(_member(name, len(content), mode), io.BytesIO(content))


def _add_directory(archive: tarfile.TarFile, name: str) -> None:
    info = _member(name, 0, 0o755)
    info.type = tarfile.DIRTYPE
    archive.addfile(info)


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size
