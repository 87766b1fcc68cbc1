"""The OCI image layout archive (``oci-archive:`` to skopeo and podman), written byte for byte the same each time.

Written here rather than by umoci or buildah: the layout is three small JSON documents over the
layer blobs, and writing them with sorted keys and no whitespace makes the digest a function of the
content alone (umoci and buildah stamp times and their own history entries). Layers are stored
uncompressed: a gzip stream's bytes depend on the zlib that made it (zlib and zlib-ng differ), which
would make the manifest digest differ between machines whose layers are identical; uncompressed, a
layer's digest is its content's. The cost is transfer size (the layers are ~60 MB instead of ~20):
registries store and serve them as they are, and a function image is pulled once per machine.

The index carries one descriptor per tag, all naming the one manifest: the tag as
``org.opencontainers.image.ref.name`` (what ``oci-archive:FILE:TAG`` selects) and the full name as
``io.containerd.image.name`` (what ``ctr images import`` and ``nerdctl load`` name it).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Image", "blob_digest", "json_bytes", "read_manifest_digest", "write_archive"]

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
PLATFORM = {"architecture": "amd64", "os": "linux"}


@dataclass(frozen=True)
class Image:
    """What the archive holds: its layers (bottom first), the image config, and the names it carries."""

    layers: Sequence[Path]
    config: dict[str, Any]
    repository: str
    tags: Sequence[str]


def json_bytes(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def blob_digest(path: Path) -> tuple[str, int]:
    """``sha256:…`` and size of a file."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


def write_archive(path: Path, image: Image) -> str:
    """Write ``path`` (atomically) and return the manifest digest."""
    layers = [(layer, *blob_digest(layer)) for layer in image.layers]
    config = json_bytes({**image.config, "rootfs": {"type": "layers", "diff_ids": [d for _, d, _ in layers]}})
    config_digest = _digest(config)
    manifest = json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": d, "size": s} for _, d, s in layers],
        }
    )
    manifest_digest = _digest(manifest)
    index = json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": PLATFORM,
                    "annotations": {
                        "io.containerd.image.name": f"{image.repository}:{tag}",
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
                for tag in image.tags
            ],
        }
    )
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, "blobs", None)
        _add(archive, "blobs/sha256", None)
        blobs = {manifest_digest: manifest, config_digest: config}
        files = {digest: layer for layer, digest, _ in layers}
        for digest in sorted(blobs.keys() | files.keys()):
            name = "blobs/sha256/" + digest.removeprefix("sha256:")
            if digest in blobs:
                _add(archive, name, blobs[digest])
            else:
                with open(files[digest], "rb") as layer_file:
                    member = _member(name)
                    member.size = files[digest].stat().st_size
                    archive.addfile(member, layer_file)
        _add(archive, "index.json", index)
        _add(archive, "oci-layout", json_bytes({"imageLayoutVersion": "1.0.0"}))
    partial.replace(path)
    return manifest_digest


def read_manifest_digest(path: Path) -> str:
    """The manifest digest of an archive :func:`write_archive` wrote."""
    with tarfile.open(path) as archive:
        member = archive.extractfile("index.json")
        if member is None:
            raise ValueError(f"{path}: no index.json")
        digests = {descriptor["digest"] for descriptor in json.load(member)["manifests"]}
    if len(digests) != 1:
        raise ValueError(f"{path}: expected one image, found {len(digests)}")
    return digests.pop()


def _digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _member(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
    member.mode = 0o644
    return member


def _add(archive: tarfile.TarFile, name: str, content: bytes | None) -> None:
    member = _member(name)
    if content is None:
        member.type, member.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(member)
    else:
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
