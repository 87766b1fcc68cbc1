"""Where the file that wrote a kustomize item is on disk, so a formula path in it starts from its folder.

kustomize tells an exec function which file an item came from only when the kustomization being *built* says
``buildMetadata: [originAnnotations]`` (the same line in a base is ignored). Every item, and the function's own
config, then carries ``config.kubernetes.io/origin`` (:class:`~r2k8s.krm.resource_list.Origin`), with a path
relative to the folder of the built kustomization: the top of the build. The function does not know that
folder: kustomize runs it in the folder of the kustomization that *declares* it, which may be a base of the
top. Both paths are relative to the same top, so the item's file is placed from the config's: the config's own
file is found under the current folder (its origin's path ends with its path from here), which fixes the top's
ancestors, and an item's path climbs at least as far as the config's (kustomize reaches everything a
kustomization reads from that kustomization's folder), so it lands on folders now known.

The root (the items' files and the formula files must lie in it) is ``spec.root`` when the config sets it, else
the deepest folder holding the declaring kustomization and every local kustomization it reaches through
``resources``, ``components`` and ``bases``: what kustomize may legitimately read for this transformer (its load
restrictor keeps each kustomization's files inside its own folder). It is read from the kustomization files,
never from the items, so an item whose origin lies elsewhere is refused rather than trusted.

A remote base (``repo`` in the origin) is refused: its path is inside kustomize's temporary clone, which the
function cannot locate. Without the config's own origin (the line was not written), items' origins are not
trusted (they could only be text a resource file carries) and formula paths start from the current folder;
when the file is not there, :meth:`KustomizeBuild.missing_origin_hint` says the line to add.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.resource_list import Origin, origin_of

__all__ = ["KUSTOMIZATION_FILES", "ORIGIN_LINE", "KustomizeBuild", "Placed", "reached_folders"]

ORIGIN_LINE = "buildMetadata: [originAnnotations]"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
REACHING_FIELDS = ("resources", "components", "bases")
MAX_KUSTOMIZATIONS = 10_000
"""Far more than any build; a bound so that a pathological tree cannot keep the walk going."""


@dataclasses.dataclass(frozen=True)
class Placed:
    """Where an item's relative formula paths start, and the root they must stay in."""

    directory: Path
    root: Path


def _refused(message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, message)


class KustomizeBuild:
    """What the function knows of the kustomize build running it: the folder it runs in, its config's origin."""

    def __init__(self, function_config: Any, cwd: Path, root: Path | None = None) -> None:
        self.cwd = cwd
        self.explicit_root = Path(os.path.normpath(cwd / root)) if root is not None else None
        self.config_origin: Origin | None = None
        if isinstance(function_config, Mapping):
            try:
                self.config_origin = origin_of(function_config)
            except R2k8sError:
                self.config_origin = None  # not kustomize's: the items' origins are not trusted either

    @property
    def knows_origins(self) -> bool:
        """Whether kustomize annotated origins (it did if it annotated the function's own config)."""
        return self.config_origin is not None and self.config_origin.file is not None

    def missing_origin_hint(self) -> str:
        declaring = next((self.cwd / n for n in KUSTOMIZATION_FILES if (self.cwd / n).is_file()), self.cwd)
        return (
            f"; kustomize did not say which file the resource came from, so the path was read from {self.cwd},"
            f" where {declaring} declares the transformer: if the resource comes from a base or a component, add"
            f" `{ORIGIN_LINE}` to the kustomization you build (kustomize honours it only there)"
        )

    def place(self, item: Mapping[str, Any]) -> Placed | None:
        """Where ``item``'s formula paths start; ``None`` when kustomize did not say. Refuses a remote base and
        a file outside the root."""
        if not self.knows_origins:
            return None
        origin = origin_of(item)
        if origin is None:
            return None
        if origin.repo:
            raise _refused(
                f"the resource comes from the remote base {origin.shown()}: its formula paths name files in"
                " kustomize's temporary clone, which r2k8s cannot read; copy the base into a local folder, or"
                " inline the formula in the function config (image: formula:NAME, spec.formulas)"
            )
        written = origin.file
        if written is None:
            return None
        try:
            file = self._on_disk(written)
            root = self.root
            inside = _inside(Path(os.path.realpath(file.parent)), Path(os.path.realpath(root)))
        except ValueError:  # a NUL byte, or a lone surrogate, which no file name can hold
            raise _refused(f"its origin path {written!r} names no file") from None
        if not inside:
            raise _refused(
                f"its file {file} is outside the root {root} (formula paths are read from the kustomizations"
                " this transformer builds; set spec.root to widen it)"
            )
        return Placed(file.parent, root)

    @functools.cached_property
    def root(self) -> Path:
        """``spec.root``, else the deepest folder holding every local kustomization of this transformer's build."""
        if self.explicit_root is not None:
            return self.explicit_root
        return Path(os.path.commonpath([os.path.realpath(f) for f in reached_folders(self.cwd)]))

    def _on_disk(self, written: str) -> Path:
        """The file at ``written``, a path relative to the top of the build (lexically, as kustomize wrote it)."""
        path = posixpath.normpath(written)
        if posixpath.isabs(path):
            return Path(path)
        parts = path.split("/")
        climbs = _climbs(parts)
        folder, top_climbs = self._top_ancestor
        if climbs < top_climbs:
            raise _refused(
                f"cannot tell where its origin path {written!r} is: kustomize writes it relative to the"
                f" kustomization being built, and from {self.cwd} r2k8s knows only the folders the function config's"
                f" own origin {self._config_file!r} climbs to"
            )
        for _ in range(climbs - top_climbs):
            folder = folder.parent
        return folder.joinpath(*parts[climbs:])

    @property
    def _config_file(self) -> str:
        if self.config_origin is None:
            return ""
        return self.config_origin.file or ""

    @functools.cached_property
    def _top_ancestor(self) -> tuple[Path, int]:
        """The folder the function config's origin climbs to from the top, and how many folders it climbs.

        The origin is ``../..`` (the climb) then the folders down to the config file; the current folder is the
        top's ancestor reached by the climb, then the first of those folders, and the config file lies below it
        at the rest. One split of the folders down fits both (the current folder ends with them, the file is
        there); more than one (``a/a``-like names) or none is an error, never a guess."""
        written = posixpath.normpath(self._config_file)
        parts = written.split("/")
        climbs = _climbs(parts)
        down = parts[climbs:]
        here = self.cwd.parts
        fits = [
            i
            for i in range(min(len(down), len(here)))
            if tuple(here[len(here) - i :]) == tuple(down[:i]) and self.cwd.joinpath(*down[i:]).is_file()
        ]
        if len(fits) != 1:
            raise _refused(
                f"cannot place kustomize's origins: the function config's origin {written!r} (relative to the"
                f" kustomization being built) names {'no' if not fits else 'more than one'} file under {self.cwd},"
                " where kustomize runs the function"
            )
        folder = self.cwd
        for _ in range(fits[0]):
            folder = folder.parent
        return folder, climbs


def _climbs(parts: list[str]) -> int:
    """How many ``..`` a normalised relative path starts with."""
    count = 0
    while count < len(parts) and parts[count] == "..":
        count += 1
    return count


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def reached_folders(start: Path) -> list[Path]:
    """``start`` and the folders of the local kustomizations and resource files it reaches (remote ones, which
    are no local path, and missing ones are skipped: kustomize has refused the build if they mattered)."""
    seen: set[str] = set()
    folders: list[Path] = []
    pending = [start]
    while pending and len(seen) < MAX_KUSTOMIZATIONS:
        folder = pending.pop()
        key = os.path.realpath(folder)
        if key in seen:
            continue
        seen.add(key)
        folders.append(folder)
        document = _kustomization(folder)
        for field in REACHING_FIELDS:
            entries = document.get(field)
            for entry in entries if isinstance(entries, list) else ():
                if not isinstance(entry, str) or not entry or "\0" in entry:
                    continue
                target = folder / entry
                if target.is_dir():
                    pending.append(target)
                elif target.is_file():
                    folders.append(target.parent)
    return folders


def _kustomization(folder: Path) -> Mapping[str, Any]:
    """The kustomization in ``folder`` as plain data (empty when there is none, or it cannot be read)."""
    import yaml

    for name in KUSTOMIZATION_FILES:
        try:
            document = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError, RecursionError):
            continue
        return document if isinstance(document, Mapping) else {}
    return {}
