"""Which ``image:`` values name formulas, and loading the formulas they name.

Two spellings, and only these (anything else is an ordinary image, left alone):

* ``./path/name.formula`` or ``../…`` — the original r2k8s syntax: a path
  relative to the folder of the file the item came from (kpt's
  ``internal.config.kubernetes.io/path`` annotation, kustomize's origin placed
  by :mod:`.origins`) or, when the orchestrator does not say (helm, kustomize
  without ``buildMetadata: [originAnnotations]``), to the root: the current
  directory, which kustomize sets to the folder of the kustomization declaring
  the transformer. The file must stay inside the root once symlinks are
  resolved: a package must not read ``../../etc/secret.formula`` from outside
  itself (for kustomize with origins, the root spans its local bases:
  :attr:`.origins.KustomizeBuild.root`). What is read is what was checked: the
  resolved path, one component at a time without following links
  (:func:`_read_beneath`).
* ``formula:NAME`` — for orchestrators where the function cannot read files:
  a ``Formula`` item of the input named NAME (:mod:`.formula_items`), or a
  formula inlined in the function config's ``spec.formulas`` (the two may not
  give one name different formulas: :class:`~.formula_items.FormulaItems`).

Formulas are loaded (and validated) once per file or name.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.config import FunctionConfig
from r2k8s.krm.formula_items import FormulaItems
from r2k8s.krm.origins import KustomizeBuild
from r2k8s.krm.resource_list import from_kustomize, source_file
from r2k8s.krm.sourced import ItemSource

if TYPE_CHECKING:
    from r2k8s.formula_files import LoadedFormula  # imported lazily at run time: jsonschema is slow to import

__all__ = ["FORMULA_PREFIX", "FormulaRef", "FormulaResolver", "is_reference"]

FORMULA_PREFIX = "formula:"
PATH_PREFIXES = ("./", "../")


def is_reference(image: str) -> bool:
    return image.startswith(PATH_PREFIXES) or image.startswith(FORMULA_PREFIX)


@dataclasses.dataclass(frozen=True)
class FormulaRef:
    image: str
    loaded: LoadedFormula
    formula_id: str
    origin: str
    file: Path | None = None
    """A file reference's formula file (its path as named, made absolute; symbolic links not resolved)."""
    name: str | None = None
    """A ``formula:NAME`` reference's name."""
    item: int | None = None
    """A ``formula:NAME`` reference's Formula item (its index in the input), when a Formula resource gave it."""


class FormulaResolver:
    def __init__(
        self, config: FunctionConfig, function_config: Any = None, formula_items: FormulaItems | None = None
    ) -> None:
        """``function_config``: the input's own (kustomize annotates its origin: :mod:`.origins`);
        ``formula_items``: the input's Formula items, which ``formula:NAME`` names too."""
        self.config = config
        self.formula_items = formula_items
        self.root = config.root_dir
        self.kustomize = KustomizeBuild(function_config, Path.cwd(), config.root)
        self._cache: dict[str, FormulaRef] = {}
        self._paths: dict[tuple[Path, str, Path], tuple[Path, Path, Path, str]] = {}
        """(base, image, root) → (the path named, the root and the path with links resolved, the path shown): every
        item naming ``./web.formula`` from one folder asked the file system for the same two real paths."""

    def resolve(self, image: str, item: Mapping[str, Any], source: ItemSource | None = None) -> FormulaRef:
        """The formula ``image`` names in ``item``; ``source``: where a resolver read the item (:mod:`.sourced`),
        which then decides where its relative paths start, whatever the item's annotations say."""
        if image.startswith(FORMULA_PREFIX):
            return self._inline(image[len(FORMULA_PREFIX) :], image)
        if source is not None:
            return self._sourced(image, source)
        return self._file(image, item)

    def _inline(self, name: str, image: str) -> FormulaRef:
        key = f"inline:{name}"
        if key in self._cache:
            return self._cache[key]
        found = self.formula_items.find(name) if self.formula_items is not None else None
        if found is not None:
            if found.loaded is None:
                raise R2k8sError(Category.USAGE, f"image {image!r}: {found.shown} is invalid (see its errors)")
            return self._remember(key, image, found.loaded, found.shown, name=name, item=found.index)
        if name not in self.config.formulas:
            items = self.formula_items.names() if self.formula_items is not None else []
            known = ", ".join(sorted({*self.config.formulas, *items})) or "none"
            raise R2k8sError(
                Category.USAGE,
                f"image {image!r}: no formula named {name!r}: no Formula resource in the input has that name, nor"
                f" does the function config's spec.formulas (known: {known})",
            )
        from r2k8s.formula_files import load_formula_bytes
        from r2k8s.krm.yamlio import to_plain

        origin = f"{self.config.source} spec.formulas.{name}"
        data = json.dumps(to_plain(self.config.formulas[name])).encode()
        loaded = load_formula_bytes(data, origin, path=self.root / f"{name}.formula")
        return self._remember(key, image, loaded, origin, name=name)

    def _file(self, image: str, item: Mapping[str, Any]) -> FormulaRef:
        item_file = source_file(item)
        for where, text in (("image", image), (f"the item's path annotation {item_file!r}", item_file or "")):
            problem = _unnamable(text)
            if problem:
                raise R2k8sError(Category.USAGE, f"image {image!r}: {where} holds {problem}, which no file name can")
        try:
            base, root, hint = self._start(item, item_file)
        except R2k8sError as exc:
            raise R2k8sError(exc.category, f"image {image!r}: {exc.message}") from None
        return self._load_file(image, base, root, hint, "set spec.root to widen it")

    def _sourced(self, image: str, source: ItemSource) -> FormulaRef:
        """A relative path in an item a resolver read: from the folder of its file (an item read from a URL or
        stdin says what it does instead: :class:`~.sourced.ItemSource`)."""
        problem = _unnamable(image)
        if problem:
            raise R2k8sError(Category.USAGE, f"image {image!r}: image holds {problem}, which no file name can")
        if source.refusal:
            raise R2k8sError(Category.USAGE, f"image {image!r}: {source.refusal}")
        base = source.path.parent if source.path is not None else Path.cwd()
        return self._load_file(image, base, self.root, "", source.widen)

    def _load_file(self, image: str, base: Path, root: Path, hint: str, widen: str) -> FormulaRef:
        """Load the formula at ``image`` from ``base``, which must stay in ``root`` (``widen``: how to widen it)."""
        paths = self._paths.get((base, image, root))
        if paths is None:
            target = Path(os.path.normpath(base / image))
            paths = target, Path(os.path.realpath(root)), Path(os.path.realpath(target)), os.path.relpath(target, root)
            self._paths[base, image, root] = paths
        target, real_root, real_target, shown = paths
        if not (real_target == real_root or real_root in real_target.parents):
            raise R2k8sError(
                Category.USAGE,
                f"image {image!r}: the formula path resolves to {real_target}, outside the root"
                f" {real_root} (formula files must be inside the package or kustomization;"
                f" {widen})",
            )
        key = f"file:{real_target}"
        if key in self._cache:
            return self._cache[key]
        from r2k8s.formula_files import load_formula_bytes

        data = _read_beneath(real_root, real_target.relative_to(real_root), image, shown, target, hint)
        loaded = load_formula_bytes(data, str(target), path=target)
        return self._remember(key, image, loaded, shown, file=target)

    def _start(self, item: Mapping[str, Any], item_file: str | None) -> tuple[Path, Path, str]:
        """The folder a relative formula path starts from, the root it must stay in, and what to add to "not
        found" (the line that would have told the function where the item came from)."""
        if not from_kustomize(item):
            return (self.root / Path(item_file).parent if item_file else self.root), self.root, ""
        placed = self.kustomize.place(item)
        if placed is not None:
            return placed.directory, placed.root, ""
        return self.root, self.root, "" if self.kustomize.knows_origins else self.kustomize.missing_origin_hint()

    def _remember(
        self,
        key: str,
        image: str,
        loaded: LoadedFormula,
        origin: str,
        *,
        file: Path | None = None,
        name: str | None = None,
        item: int | None = None,
    ) -> FormulaRef:
        ref = FormulaRef(
            image=image, loaded=loaded, formula_id=loaded.formula_id, origin=origin, file=file, name=name, item=item
        )
        self._cache[key] = ref
        return ref


def _unnamable(text: str) -> str:
    """What in ``text`` no file name can hold (a NUL byte, or a lone surrogate, which has no UTF-8 bytes), or ``""``."""
    if "\0" in text:
        return "a NUL byte"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "a lone surrogate (an escape such as \\ud800, which is no character)"
    return ""


def _read_beneath(root: Path, relative: Path, image: str, shown: str, target: Path, hint: str = "") -> bytes:
    """The content of ``root/relative`` (both resolved), read exactly where the root check looked.

    The check resolved every link; reading the unresolved path again would follow links anew, and a link
    swapped in between (a package being edited, or an attacker racing the build) would be followed out of the
    root. So each component is opened relative to the one before with ``O_NOFOLLOW``: a link that appeared since
    the check is refused, never followed. ``O_NONBLOCK`` keeps a FIFO put there from stalling the open; only a
    regular file is read.
    """
    search = getattr(os, "O_PATH", os.O_RDONLY)  # Linux: a directory one may traverse but not list opens too
    directory_flags = search | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    parts = relative.parts
    if not parts:
        raise R2k8sError(Category.USAGE, f"image {image!r}: formula file {shown} is the root directory itself")
    try:
        fd = os.open(root, search | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"image {image!r}: cannot open the root {root}: {exc.strerror}") from None
    name = parts[0]
    try:
        for name in parts[:-1]:
            following = os.open(name, directory_flags, dir_fd=fd)
            os.close(fd)
            fd = following
        name = parts[-1]
        file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except OSError as exc:
        raise _unreadable(exc, name, fd, image, shown, target, hint) from None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):  # before fdopen, which refuses a directory on its own
        os.close(file_fd)
        raise R2k8sError(Category.USAGE, f"image {image!r}: formula file {shown} is not a regular file")
    with os.fdopen(file_fd, "rb") as file:
        try:
            return file.read()
        except OSError as exc:
            raise R2k8sError(Category.USAGE, f"image {image!r}: formula file {shown}: {exc.strerror}") from None


def _unreadable(
    exc: OSError, name: str, directory: int, image: str, shown: str, target: Path, hint: str = ""
) -> R2k8sError:
    """What went wrong opening component ``name`` in ``directory``: missing (then ``hint``: what would have said
    where to look), a link (it was none when checked), or whatever the system says."""
    try:
        is_link = stat.S_ISLNK(os.lstat(name, dir_fd=directory).st_mode)
    except OSError:
        is_link = False
    if is_link:
        reason = f"{name!r} on its path became a symbolic link after the path was checked; refusing to follow it"
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return R2k8sError(
            Category.USAGE, f"image {image!r}: formula file {shown} not found (looked for {target}){hint}"
        )
    else:
        reason = exc.strerror or str(exc)
    return R2k8sError(Category.USAGE, f"image {image!r}: formula file {shown}: {reason}")
