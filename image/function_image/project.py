"""What the image is built from: r2k8s's files in this checkout, its version and its commit.

The files are the package as an install would lay it out: every module under ``plugin/r2k8s``
(never a ``__pycache__`` of the work tree) and the JSON Schemas the package data names (``schemas/``,
which ``plugin/r2k8s/schemas`` links to), read from the work tree so that the image runs the code the
exec form runs. Tags follow the kpt catalog's convention: ``vX.Y.Z`` and ``vX.Y``, never ``latest``.
The image's creation time is the commit's time (``git log -1 --format=%ct``), or
``$SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention, for a source tree without git).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO", "Source", "read_source"]

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugin" / "r2k8s"
SCHEMAS = REPO / "schemas"


@dataclass(frozen=True)
class Source:
    version: str
    revision: str
    created: str
    #: ``{path under site-packages: bytes}``
    files: dict[str, bytes]

    @property
    def tags(self) -> list[str]:
        """``vX.Y.Z`` and ``vX.Y``."""
        major, minor, *_ = self.version.split(".")
        return [f"v{self.version}", f"v{major}.{minor}"]


def read_source() -> Source:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[path.relative_to(PACKAGE.parent).as_posix()] = path.read_bytes()
    for path in sorted(SCHEMAS.glob("*.json")):
        files[f"r2k8s/schemas/{path.name}"] = path.read_bytes()
    revision, epoch = _commit()
    created = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Source(version, revision, created, files)


def _commit() -> tuple[str, int]:
    """The checkout's commit and the time to stamp (``$SOURCE_DATE_EPOCH`` first)."""
    git = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%H %ct"], capture_output=True, text=True)
    revision, _, commit_time = git.stdout.strip().partition(" ")
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return revision or "unknown", int(os.environ["SOURCE_DATE_EPOCH"])
    if git.returncode != 0 or not commit_time:
        raise SystemExit(f"{REPO} is not a git checkout: set SOURCE_DATE_EPOCH to the source's time")
    return revision, int(commit_time)
