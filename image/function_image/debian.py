"""The Debian Python runtime: installed from ``image/debian.lock`` by mmdebstrap, kept as far as ``python3`` needs.

The lock lists ``package=version`` for every package mmdebstrap installs: the essential set (its
maintainer scripts need a shell, dpkg and coreutils) and ``python3`` with its dependencies, as
``--relock`` found them by installing ``--variant=essential --include=python3``. A build installs
exactly that list (``--variant=custom``); when the mirror no longer serves one of those versions (a
point release or a security update replaced it) apt says which, and the build says to relock.

The image keeps only the files of ``python3`` and what it depends on (Depends and Pre-Depends,
read from dpkg's status), less :data:`INSTALL_ONLY`: no shell, no dpkg or apt and their state. The
``copyright`` file of each kept package stays (the image is distributed, and several of its
libraries are (L)GPL); other documentation, manual pages and translations go.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "INSTALL_ONLY",
    "LOCK",
    "MirrorMoved",
    "install",
    "read_lock",
    "relock",
    "runtime_files",
    "write_lock",
]

LOCK = Path(__file__).resolve().parents[1] / "debian.lock"
SUITE = "bookworm"
#: Where the packages come from: Debian's own redirector, so that the build does not depend on the
#: host's apt configuration.
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
#: The package whose runtime dependencies the image keeps.
RUNTIME = "python3"
#: Dependencies of the runtime that only its maintainer scripts use (``python3-minimal`` and
#: ``readline-common`` depend on dpkg to register files while installing).
INSTALL_ONLY = frozenset({"dpkg"})
#: Kept besides the runtime's packages: what names the release, and the loader's cache.
EXTRA_FILES = ("etc/os-release", "usr/lib/os-release", "etc/ld.so.cache")
#: Left out of the kept packages: documentation (``usr/share/doc/*/copyright`` excepted), desktop and
#: debugger integration, and glibc's iconv converters (8 MB that Python never calls: its codecs are its own).
LEFT_OUT = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "usr/share/bug/",
    "usr/share/applications/",
    "usr/share/pixmaps/",
    "usr/share/binfmts/",
    "usr/lib/binfmt.d/",
    "usr/lib/valgrind/",
    "usr/lib/x86_64-linux-gnu/gconv/",
)
#: Not ``--quiet``: apt's own message ("Version 'V' for 'P' was not found") is what tells a moved
#: mirror apart from other failures (the output is only shown when the build fails).
_COMMON = (
    "--mode=root",
    "--format=directory",
    '--aptopt=Acquire::Languages "none"',
    "--aptopt=APT::Install-Recommends false",
    "--skip=download/empty",
    "--skip=essential/unlink",
)
_LINE = re.compile(r"^([a-z0-9][a-z0-9+.-]+)=(\S+)$")


class MirrorMoved(RuntimeError):
    """The mirror no longer has a locked version."""


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """``{package: version}`` from the lock (comments and blank lines ignored)."""
    packages = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: not a package=version line: {line!r}")
        packages[match[1]] = match[2]
    return packages


def write_lock(packages: Mapping[str, str], path: Path = LOCK) -> None:
    header = (
        f"# Every Debian package installed to build the function image (Debian {SUITE}, amd64), as\n"
        f"# `image/build --relock` found them: mmdebstrap --variant=essential --include={RUNTIME}.\n"
        "# The image keeps only python3's runtime (see image/function_image/debian.py).\n"
        "# Regenerate with `image/build --relock` when the mirror has moved on.\n"
    )
    body = "".join(f"{name}={version}\n" for name, version in sorted(packages.items()))
    path.write_text(header + body, encoding="utf-8")


def install(root: Path, packages: Mapping[str, str], debs: Path) -> None:
    """Install exactly ``packages`` into the empty directory ``root``; ``debs`` caches the downloads."""
    include = ",".join(f"{name}={version}" for name, version in sorted(packages.items()))
    result = _mmdebstrap(root, ["--variant=custom", f"--include={include}"], debs)
    if result.returncode != 0:
        missing = re.findall(r"Version '([^']+)' for '([^']+)' was not found", result.stderr)
        if missing:
            found = ", ".join(f"{name}={version}" for version, name in missing)
            raise MirrorMoved(
                f"the Debian mirror no longer serves {found} (pinned in {LOCK}): a point release or a "
                "security update replaced it; run `image/build --relock` to pin what the mirror serves now, "
                "and commit the new lock"
            )
        raise RuntimeError(f"mmdebstrap failed ({result.returncode}):\n{result.stderr[-4000:]}")
    installed = installed_versions(root)
    if installed != dict(packages):
        differences = sorted(set(installed.items()) ^ set(packages.items()))
        raise RuntimeError(f"mmdebstrap installed other packages than {LOCK} lists: {differences}")


def relock(debs: Path) -> dict[str, str]:
    """What the mirror serves now for the essential set plus :data:`RUNTIME`."""
    with tempfile.TemporaryDirectory(prefix="r2k8s-relock-") as scratch:
        root = Path(scratch) / "root"
        result = _mmdebstrap(root, ["--variant=essential", f"--include={RUNTIME}"], debs)
        if result.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return installed_versions(root)


def _mmdebstrap(root: Path, variant: list[str], debs: Path) -> subprocess.CompletedProcess[str]:
    """Run mmdebstrap into ``root``, reading and adding to the ``.deb`` cache ``debs``."""
    debs.mkdir(parents=True, exist_ok=True)
    hooks = [
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        f'--setup-hook=sync-in "{debs}" /var/cache/apt/archives/',
        f'--customize-hook=sync-out /var/cache/apt/archives "{debs}"',
    ]
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", LC_ALL="C.UTF-8")
    argv = ["mmdebstrap", *_COMMON, *variant, *hooks, SUITE, str(root), *MIRRORS]
    return subprocess.run(argv, env=env, capture_output=True, text=True)


def installed_versions(root: Path) -> dict[str, str]:
    return {name: fields["Version"] for name, fields in _status(root).items()}


def runtime_files(root: Path) -> set[str]:
    """The paths (relative to ``root``, resolved through the usr-merge links) the runtime needs."""
    status = _status(root)
    keep: set[str] = set(EXTRA_FILES)
    for package in _closure(status):
        for listed in _listed_files(root, package, status[package]):
            path = _resolve_parent(root, listed.lstrip("/"))
            if path is None or not os.path.lexists(root / path) or os.path.isdir(root / path):
                continue
            if path.startswith(LEFT_OUT) and not re.fullmatch(r"usr/share/doc/[^/]+/copyright", path):
                continue
            keep.add(path)
    return {path for path in keep if os.path.lexists(root / path)} | _top_level_links(root)


def _closure(status: Mapping[str, Mapping[str, str]]) -> set[str]:
    provides: dict[str, list[str]] = {}
    for name, fields in status.items():
        for virtual in _names(fields.get("Provides", "")):
            provides.setdefault(virtual[0], []).append(name)
    seen: set[str] = set()
    todo = [RUNTIME]
    while todo:
        name = todo.pop()
        if name in seen or name in INSTALL_ONLY:
            continue
        seen.add(name)
        for field in ("Pre-Depends", "Depends"):
            for alternatives in _names(status[name].get(field, "")):
                installed = [c for c in alternatives if c in status] or [
                    p for c in alternatives for p in provides.get(c, [])
                ]
                if not installed:
                    raise RuntimeError(f"{name} depends on {' | '.join(alternatives)}, which is not installed")
                todo.append(installed[0])
    return seen


def _names(field: str) -> Iterator[list[str]]:
    """Each comma-separated relation as its alternatives' package names (versions and arch qualifiers dropped)."""
    for relation in filter(None, (part.strip() for part in field.split(","))):
        yield [alternative.strip().split()[0].split(":")[0] for alternative in relation.split("|")]


def _status(root: Path) -> dict[str, dict[str, str]]:
    packages = {}
    text = (root / "var/lib/dpkg/status").read_text(encoding="utf-8")
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace():
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").endswith(" installed"):
            packages[fields["Package"]] = fields
    return packages


def _listed_files(root: Path, package: str, fields: Mapping[str, str]) -> list[str]:
    info = root / "var/lib/dpkg/info"
    for name in (f"{package}:{fields.get('Architecture', '')}.list", f"{package}.list"):
        if (info / name).is_file():
            return (info / name).read_text(encoding="utf-8").splitlines()
    raise RuntimeError(f"dpkg lists no files for {package}")


def _resolve_parent(root: Path, path: str) -> str | None:
    """``path`` with its directories' symbolic links resolved inside ``root`` (the name itself is kept)."""
    parts: list[str] = []
    pending = path.split("/")
    name = pending.pop()
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            parts = parts[:-1]
            continue
        candidate = root.joinpath(*parts, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(candidate)
            if target.startswith("/"):
                parts = []
            pending = target.split("/") + pending
            continue
        parts.append(part)
    return "/".join([*parts, name])


def _top_level_links(root: Path) -> set[str]:
    """The usr-merge links (``bin``, ``lib``, ``lib64``, ``sbin``): programs' interpreters name ``/lib64/…``."""
    return {entry.name for entry in root.iterdir() if entry.is_symlink()}
