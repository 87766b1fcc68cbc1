"""Formula resources: formulas that travel in the function's input as items, for functions that see nothing else.

A container function sees only its ResourceList (kpt mounts no host files), so
``image: ./web.formula`` cannot reach a file there. A formula can travel as a
resource instead::

    apiVersion: fn.r2k8s.io/v1alpha1
    kind: Formula
    metadata:
      name: web                  # image: formula:web
      annotations:
        config.kubernetes.io/local-config: "true"
    spec: {formula: …, context: …}   # the formula document, modern or legacy

(schema: ``schemas/formula-resource.schema.json``; ``r2k8s formula-resource``
writes one from a formula file). ``image: formula:NAME`` finds it as it finds
a formula of the function config's ``spec.formulas`` (:mod:`.references`).

Every Formula item is checked whenever the function plans (an invalid one is
an error about *it*: its file, its field), and a name must mean one formula:
two Formula items, or a Formula item and ``spec.formulas``, that give one name
different documents are an error naming both places. The same document twice is
one formula (kustomize brings a base in twice, under two namespaces).

Kept or left out (:meth:`FormulaItems.left_out`): a ResourceList gets its
Formula items back untouched, because a kpt package *is* its files: kpt deletes
the file of every resource a function leaves out (``kpt fn render`` and
``kpt fn eval`` alike), so leaving them out would delete the user's formulas.
They are ``local-config``, which kpt never applies and kustomize leaves out of
its build output (while later transformers and overlays still see them). A
plain stream is helm's post-renderer protocol, whose output goes to the
cluster: there they are left out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from r2k8s.core.formula.parse import type_name
from r2k8s.krm.config import API_VERSION, FunctionConfig
from r2k8s.krm.locate import dotted
from r2k8s.krm.resource_list import annotations_of, display_file, metadata_of
from r2k8s.krm.results import Result

if TYPE_CHECKING:
    from r2k8s.formula_files import LoadedFormula  # imported lazily: jsonschema is slow to import

__all__ = ["KIND", "LOCAL_CONFIG", "FormulaItem", "FormulaItems", "formula_resource", "is_formula_item"]

KIND = "Formula"
LOCAL_CONFIG = "config.kubernetes.io/local-config"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
"""What ``formula:NAME`` may name: the names ``spec.formulas`` allows (the function config's schema)."""
FORMULA_KEYS = frozenset({"formula", "inputs", "action", "outputs"})
"""A modern document has ``formula``; a legacy one ``inputs``, ``action`` or ``outputs``."""


def is_formula_item(item: Any) -> bool:
    """Whether ``item`` is a Formula resource (by its apiVersion and kind alone; it may be invalid)."""
    return isinstance(item, Mapping) and item.get("kind") == KIND and item.get("apiVersion") == API_VERSION


def formula_resource(name: str, document: Any) -> dict[str, Any]:
    """The Formula resource carrying ``document`` (a formula document, plain data) as ``formula:name``."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "annotations": {LOCAL_CONFIG: "true"}},
        "spec": document,
    }


@dataclasses.dataclass(frozen=True)
class FormulaItem:
    """One Formula item of the input: where it is, and its formula (``None`` when it is invalid: reported)."""

    index: int
    name: str
    file: str | None
    spec: Any
    loaded: LoadedFormula | None

    @property
    def shown(self) -> str:
        """``Formula/web in web.formula.yaml`` (or without the file where the orchestrator does not say)."""
        return f"{KIND}/{self.name}" + (f" in {self.file}" if self.file else "")


class FormulaItems:
    """The input's Formula items, checked, by name; what is wrong with them is in :attr:`results`."""

    def __init__(self, items: Sequence[Any], sources: Sequence[str | None], config: FunctionConfig) -> None:
        self.config = config
        self.indices: list[int] = [index for index, item in enumerate(items) if is_formula_item(item)]
        self.results: list[Result] = []
        self._by_name: dict[str, FormulaItem] = {}
        for index in self.indices:
            fallback = sources[index] if index < len(sources) else None
            self._add(index, items[index], display_file(items[index], fallback))

    def find(self, name: str) -> FormulaItem | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def left_out(self, mode: str) -> set[int]:
        """The items the output leaves out: every Formula item of a plain stream (it goes to a cluster), none
        of a ResourceList (kpt would delete their files; see the module docstring)."""
        return set(self.indices) if mode == "stream" else set()

    def _add(self, index: int, item: Mapping[str, Any], file: str | None) -> None:
        from r2k8s.krm.yamlio import to_plain

        def refuse(message: str, field: str) -> None:
            self.results.append(Result.about(item, message, field=field, file=file))

        name = metadata_of(item).get("name")
        if not isinstance(name, str) or not NAME.match(name):
            shown = (
                repr(name) if isinstance(name, str) else "nothing" if name is None else f"{type_name(name)} {name!r}"
            )
            refuse(
                f"a Formula's name is what image: formula:NAME names: letters, digits, '.', '_' and '-', starting"
                f" with a letter or digit; got {shown}",
                "metadata.name",
            )
            return
        if str(annotations_of(item).get(LOCAL_CONFIG, "")).lower() != "true":
            refuse(
                f'a Formula must be annotated {LOCAL_CONFIG}: "true", so that no orchestrator applies it to a'
                " cluster (kustomize leaves local-config resources out of its output, kpt live apply skips them)",
                dotted(("metadata", "annotations")),
            )
        spec = to_plain(item.get("spec"))
        loaded = self._load(spec, f"{file}: {KIND}/{name}" if file else f"{KIND}/{name}", refuse)
        found = FormulaItem(index, name, file, spec, loaded)
        earlier = self._by_name.get(name)
        if earlier is not None and earlier.spec != spec:
            refuse(
                f"formula {name!r} is defined twice, differently: by {found.shown} and by {earlier.shown};"
                " rename one (image: formula:NAME names it) or remove it",
                "metadata.name",
            )
        elif earlier is None and name in self.config.formulas and to_plain(self.config.formulas[name]) != spec:
            refuse(
                f"formula {name!r} is defined twice, differently: by {found.shown} and in"
                f" {self.config.source} spec.formulas.{name}; rename one (image: formula:NAME names it) or remove it",
                "metadata.name",
            )
        if earlier is None:
            self._by_name[name] = found

    @staticmethod
    def _load(spec: Any, source: str, refuse: Callable[[str, str], None]) -> LoadedFormula | None:
        """The formula of ``spec``, or ``None`` with each problem reported at its field (``spec.formula.…``)."""
        from r2k8s.core.errors import R2k8sError
        from r2k8s.formula_files import FormulaInvalid, load_formula_data
        from r2k8s.formula_files.loader import MAX_REPORTED_ERRORS

        if not isinstance(spec, Mapping) or not spec.keys() & FORMULA_KEYS:
            got = "nothing" if spec is None else "an object without them" if isinstance(spec, Mapping) else "no object"
            refuse(
                "expected a formula document: an object with 'formula' (and 'context'), as repeatr run reads"
                f" it, or a legacy formula's 'inputs', 'action' and 'outputs'; got {got}",
                "spec",
            )
            return None
        try:
            return load_formula_data(spec, source)
        except FormulaInvalid as exc:
            for problem in exc.problems[:MAX_REPORTED_ERRORS]:
                refuse(problem.message + _quoting_hint(problem.message), dotted(("spec", *problem.path)))
            if len(exc.problems) > MAX_REPORTED_ERRORS:
                refuse(f"... and {len(exc.problems) - MAX_REPORTED_ERRORS} more problems", "spec")
        except R2k8sError as exc:
            refuse(exc.message, "spec")
        return None


def _quoting_hint(message: str) -> str:
    """Where a string was wanted and YAML read something else, say how to write the string."""
    if message.startswith("expected a string") and " got " in message and " got string" not in message:
        return " (write it quoted: YAML reads an unquoted number, date, null, yes, no, on or off as no string)"
    return ""
