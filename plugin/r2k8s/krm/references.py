"""Which ``image:`` values name formulas, and loading the formulas they name.

Two spellings, and only these (anything else is an ordinary image, left alone):

* ``./path/name.formula`` or ``../…`` — the original r2k8s syntax: a path
  relative to the folder of the file the item came from (kpt's
  ``internal.config.kubernetes.io/path`` annotation) or, when the
  orchestrator does not say (kustomize, helm), to the root: the current
  directory, which kustomize sets to the kustomization's folder. The file
  must stay inside the root once symlinks are resolved: a package must not
  read ``../../etc/secret.formula`` from outside itself.
* ``formula:NAME`` — a formula inlined in the function config's
  ``spec.formulas``, for orchestrators where the function cannot read files.

Formulas are loaded (and validated) once per file or name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.config import FunctionConfig

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


class FormulaResolver:
    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self.root = config.root_dir
        self._cache: dict[str, FormulaRef] = {}

    def resolve(self, image: str, item_file: str | None) -> FormulaRef:
        if image.startswith(FORMULA_PREFIX):
            return self._inline(image[len(FORMULA_PREFIX) :], image)
        return self._file(image, item_file)

    def _inline(self, name: str, image: str) -> FormulaRef:
        key = f"inline:{name}"
        if key in self._cache:
            return self._cache[key]
        if name not in self.config.formulas:
            known = ", ".join(sorted(self.config.formulas)) or "none"
            raise R2k8sError(
                Category.USAGE,
                f"image {image!r}: no formula named {name!r} in the function config's spec.formulas (known: {known})",
            )
        from r2k8s.formula_files import load_formula_bytes
        from r2k8s.krm.yamlio import to_plain

        origin = f"{self.config.source} spec.formulas.{name}"
        data = json.dumps(to_plain(self.config.formulas[name])).encode()
        loaded = load_formula_bytes(data, origin, path=self.root / f"{name}.formula")
        return self._remember(key, image, loaded, origin)

    def _file(self, image: str, item_file: str | None) -> FormulaRef:
        base = self.root / Path(item_file).parent if item_file else self.root
        target = Path(os.path.normpath(base / image))
        real_root = Path(os.path.realpath(self.root))
        real_target = Path(os.path.realpath(target))
        shown = os.path.relpath(target, self.root)
        if not (real_target == real_root or real_root in real_target.parents):
            raise R2k8sError(
                Category.USAGE,
                f"image {image!r}: the formula path resolves to {real_target}, outside the root"
                f" {real_root} (formula files must be inside the package or kustomization;"
                " set spec.root to widen it)",
            )
        key = f"file:{real_target}"
        if key in self._cache:
            return self._cache[key]
        if not target.is_file():
            raise R2k8sError(Category.USAGE, f"image {image!r}: formula file {shown} not found (looked for {target})")
        from r2k8s.formula_files import load_formula_file

        loaded = load_formula_file(target)
        return self._remember(key, image, loaded, shown)

    def _remember(self, key: str, image: str, loaded: LoadedFormula, origin: str) -> FormulaRef:
        ref = FormulaRef(image=image, loaded=loaded, formula_id=loaded.formula_id, origin=origin)
        self._cache[key] = ref
        return ref
