"""Running a real program (kpt, kustomize, kubectl, podman) from a test: its output, or a failure that shows it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["run", "snapshot"]


def run(
    argv: list[Any], env: dict[str, str], cwd: Path | None = None, input: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with ``env``; output stays bytes, so that two forms' answers compare exactly."""
    result = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, input=input, capture_output=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:].decode(errors='replace')}\n"
            f"stderr:\n{result.stderr[-3000:].decode(errors='replace')}"
        )
    return result


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` by relative path: what a package looks like after a run."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
