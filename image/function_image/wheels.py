"""The function's Python dependencies: exact wheels from ``image/requirements.lock``, unpacked into the image.

The lock is a pip requirements file (``name==version --hash=sha256:…``) of r2k8s's dependencies
less ``kubernetes`` (only ``r2k8s run`` imports it) and everything they need, at the versions
installed beside the r2k8s that ``--relock`` runs from, so that the image computes what the exec
form computes on that machine, byte for byte. pip downloads them (``--require-hashes``, wheels for
CPython 3.11 on glibc 2.36, Debian bookworm's) into a cache; this module unpacks them itself, as an
installer would for a wheel with no scripts: pip's ``--target`` install writes console scripts with
this machine's interpreter path in their first line and records them in ``RECORD``, which would
make the layer differ from machine to machine. Nothing of a wheel's ``.data/scripts`` is kept.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

__all__ = ["LOCK", "download", "relock", "unpack"]

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
#: r2k8s dependencies the function never imports (``tests/…`` checks that ``r2k8s fn`` does not).
NOT_FOR_THE_FUNCTION = frozenset({"kubernetes"})
TARGET = [
    "--only-binary=:all:",
    "--implementation=cp",
    "--python-version=3.11",
    "--abi=cp311",
    "--platform=manylinux_2_36_x86_64",
    "--platform=manylinux2014_x86_64",
]
_ENTRY = re.compile(r"^(\S+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)\s*$")


def locked_hashes(path: Path = LOCK) -> dict[str, set[str]]:
    """``{"name==version": {sha256 hex, …}}`` from the lock."""
    entries = {}
    for line in path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise ValueError(f"{path}: not a `name==version --hash=sha256:…` line: {line!r}")
        entries[f"{match[1]}=={match[2]}"] = set(re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return entries


def download(cache: Path) -> list[Path]:
    """The locked wheels, from ``cache`` when there, else downloaded into it by pip (hash-checked either way)."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = locked_hashes()
    if _find(cache, wanted) is None:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
            + [*TARGET, "--require-hashes", "-r", str(LOCK), "--dest", str(cache)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pip download of {LOCK} failed:\n{result.stderr[-4000:]}")
    found = _find(cache, wanted)
    if found is None:
        raise RuntimeError(f"pip downloaded {LOCK} into {cache}, yet a locked wheel is missing there")
    return found


def _find(cache: Path, wanted: dict[str, set[str]]) -> list[Path] | None:
    by_hash = {hashlib.sha256(wheel.read_bytes()).hexdigest(): wheel for wheel in cache.glob("*.whl")}
    found = []
    for hashes in wanted.values():
        matches = [by_hash[h] for h in sorted(hashes) if h in by_hash]
        if not matches:
            return None
        found.append(matches[0])
    return sorted(found)


def unpack(wheel: Path, site: Path) -> list[str]:
    """Unpack ``wheel`` into ``site``; return the names written (relative to ``site``)."""
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith("/"):
                continue
            name = member
            top, _, rest = member.partition("/")
            if top.endswith(".data"):
                kind, _, rest = rest.partition("/")
                if kind == "scripts":
                    continue
                if kind not in ("purelib", "platlib"):
                    raise ValueError(f"{wheel.name}: {member}: wheel data {kind!r} has no place in the image")
                name = rest
            target = site / name
            if ".." in Path(name).parts or name.startswith("/"):
                raise ValueError(f"{wheel.name}: {member}: outside the site directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
            target.chmod(0o644)
            written.append(name)
    return written


def relock() -> str:
    """The lock: r2k8s's dependencies (less :data:`NOT_FOR_THE_FUNCTION`) and theirs, at the installed versions."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    roots = [re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0] for spec in project["dependencies"]]
    roots = [name for name in roots if name.lower() not in NOT_FOR_THE_FUNCTION]
    installed = {dist.metadata["Name"].lower(): dist.version for dist in importlib.metadata.distributions()}
    with tempfile.TemporaryDirectory(prefix="r2k8s-relock-") as scratch:
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(installed.items())))
        wheels = Path(scratch) / "wheels"
        pins = [f"{name}=={installed[name.lower()]}" for name in roots]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", *TARGET]
            + ["-c", str(constraints), "--dest", str(wheels), *pins],
            check=True,
        )
        lines = []
        for wheel in sorted(wheels.glob("*.whl"), key=lambda p: p.name.lower()):
            name, version = wheel.name.split("-")[:2]
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{name}=={version} --hash=sha256:{digest}\n")
    header = (
        "# The function image's Python dependencies: r2k8s's (pyproject.toml) less kubernetes, which only\n"
        "# `r2k8s run` imports, and theirs, at the versions installed where `image/build --relock` ran\n"
        "# (so the image computes what the exec form computes there). Wheels for CPython 3.11, glibc 2.36.\n"
    )
    return header + "".join(lines)
