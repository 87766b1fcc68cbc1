"""Loading the archive into podman's image store under each of its tags.

skopeo copies one tag at a time (``oci-archive:FILE:TAG`` to ``containers-storage:REPOSITORY:TAG``),
keeping the manifest digest. Without skopeo, podman pulls the first tag from the same transport and
tags the image with them all (``podman load`` refuses an archive whose index lists several tags).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["load"]


def load(archive: Path, repository: str, tags: Sequence[str]) -> None:
    if shutil.which("skopeo"):
        for tag in tags:
            _run(
                ["skopeo", "copy", "--quiet", f"oci-archive:{archive}:{tag}", f"containers-storage:{repository}:{tag}"]
            )
        return
    if shutil.which("podman") is None:
        raise SystemExit("--load needs podman (and preferably skopeo): apt-get install podman skopeo")
    image_id = _run(["podman", "pull", "--quiet", f"oci-archive:{archive}:{tags[0]}"]).strip()
    _run(["podman", "tag", image_id, *(f"{repository}:{tag}" for tag in tags)])


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout
