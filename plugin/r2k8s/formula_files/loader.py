"""Loading a formula file: detecting modern or legacy, JSON or YAML, and reporting errors as FILE:LINE:COL.

See :mod:`r2k8s.formula_files` for the rules; this module applies them in
order: read the syntax, validate against the schema, build the typed model,
and map every error's JSON path back to its position in the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula import lenient_json
from r2k8s.core.formula.legacy import LegacyFormula, LegacyInputRef, ignored_keys, parse_legacy_formula, to_modern
from r2k8s.core.formula.lenient_json import JsonSyntaxError, Position, SourceMap
from r2k8s.core.formula.model import Formula, FormulaContext, FormulaError
from r2k8s.core.formula.parse import lint_formula, parse_formula_document
from r2k8s.core.jsonpath import JsonPath, json_path, value_at
from r2k8s.formula_files.schemas import Problem, schema_problems
from r2k8s.formula_files.yaml_nodes import (
    CORE,
    DECIMAL,
    Kind,
    Scalar,
    YamlBuilder,
    compose,
    leading_tabs,
    tab2space,
    top_level_kind,
)

__all__ = [
    "MAX_REPORTED_ERRORS",
    "FormulaInvalid",
    "LoadedFormula",
    "load_formula_bytes",
    "load_formula_data",
    "load_formula_file",
]


MAX_REPORTED_ERRORS = 20


@dataclasses.dataclass(frozen=True)
class LoadedFormula:
    """A formula file, parsed: the modern model to run, and the legacy original if any."""

    path: Path
    kind: Kind
    formula: Formula
    context: FormulaContext
    legacy: LegacyFormula | None = None
    """The legacy formula as repeatr v0.15 decoded it (hash it with ``legacy_setup_hash``)."""
    legacy_inputs: dict[str, LegacyInputRef] = dataclasses.field(default_factory=dict)
    """For legacy files: mount path -> legacy input, whose ware ID carries a legacy hash."""
    notes: tuple[str, ...] = ()
    """Warnings: keys repeatr ignored, trailing bytes it ignored, what a legacy conversion dropped."""
    document: Any = None
    """The document as decoded (plain data), before defaults: what a Formula resource carries as its ``spec``
    (``r2k8s formula-resource``), which :func:`load_formula_data` reads back to the same formula."""

    @property
    def formula_id(self) -> str:
        """What ``repeatr run`` reports as the formulaID: the legacy setup hash for legacy files."""
        from r2k8s.core.formula.ids import formula_id, legacy_setup_hash

        return legacy_setup_hash(self.legacy) if self.kind == "legacy" and self.legacy else formula_id(self.formula)


def load_formula_file(path: str | os.PathLike[str], *, strict: bool = True) -> LoadedFormula:
    """Read and parse the formula file at ``path``; see the module docstring.

    ``strict`` (the default) refuses a formula repeatr would hash but no run of
    it can succeed (:func:`~r2k8s.core.formula.parse.lint_formula`: relative
    mount paths, ``tar:`` with no hash...), for callers that must run it (the
    KRM function). ``strict=False`` reads it as repeatr does: those problems
    become :attr:`LoadedFormula.notes` (warnings) and a modern document without
    ``formula`` is the empty formula.
    """
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"error opening formula file: {file_path}: {exc.strerror or exc}") from None
    return load_formula_bytes(data, str(file_path), path=file_path, strict=strict)


def load_formula_bytes(data: bytes, source: str, *, path: Path | None = None, strict: bool = True) -> LoadedFormula:
    """Parse formula file content; ``source`` names it in error messages (``strict``: see :func:`load_formula_file`)."""
    loader = _Loader(data, source, path if path is not None else Path(source), strict)
    return loader.load()


def load_formula_data(value: Any, source: str, *, path: Path | None = None, strict: bool = True) -> LoadedFormula:
    """Check and parse a formula document another reader decoded already (a Formula resource's ``spec``, plain
    data): modern or legacy by its keys, as a file is. There is no text, so errors carry no positions; each
    problem's JSON path is on the :class:`FormulaInvalid` raised, for callers that name fields their own way."""
    loader = _Loader(b"", source, path if path is not None else Path(source), strict)
    no_positions = SourceMap()
    if (isinstance(value, dict) and "formula" in value) or loader._formula_less(value):
        loaded = loader._modern(value, no_positions, {}, ())
    elif isinstance(value, dict) and value.keys() & {"inputs", "action", "outputs"}:
        loaded = loader._legacy_value(value, no_positions, {})
    else:
        raise loader._not_a_formula()
    return dataclasses.replace(loaded, document=value)


class FormulaInvalid(R2k8sError):
    """A formula the schema or the model refuses: the message says where (``FILE:LINE:COL: $.path: problem``
    lines); :attr:`problems` holds each problem's JSON path, sorted as the message lists them."""

    def __init__(self, message: str, problems: tuple[Problem, ...]) -> None:
        super().__init__(Category.USAGE, message)
        self.problems = problems


class _Loader:
    def __init__(self, data: bytes, source: str, path: Path, strict: bool = True) -> None:
        self.data = data
        self.source = source
        self.path = path
        self.strict = strict

    def _formula_less(self, value: Any) -> bool:
        """repeatr reads a document without ``formula`` (``{}``, or ``context`` alone) as the empty formula."""
        return not self.strict and isinstance(value, dict) and value.keys() <= {"context"}

    def load(self) -> LoadedFormula:
        if self.data.lstrip(b" \t\r\n").startswith((b"{", b"\xef\xbb\xbf{")):
            try:
                doc = lenient_json.loads(self.data, source=self.source)
            except JsonSyntaxError as json_error:
                # Only legacy files may fall back to YAML: repeatr v0.15 read them as YAML.
                # A modern file that refmt's decoder reads differently from YAML must not
                # be rescued by a YAML reading (e.g. a bare key, which refmt replaces with
                # the previous token), or its formula ID could differ from repeatr's.
                if top_level_kind(self._try_compose(tab2space(self.data))) == "legacy":
                    return self._legacy()
                raise json_error from None
            if (isinstance(doc.value, dict) and "formula" in doc.value) or self._formula_less(doc.value):
                return self._modern_json(doc)
            if isinstance(doc.value, dict) and doc.value.keys() & {"inputs", "action", "outputs"}:
                return self._legacy()
            raise self._not_a_formula()
        no_fix = _no_column_fix
        try:
            node = compose(self.data, self.source, no_fix)
        except R2k8sError as yaml_error:
            if b"\n\t" in b"\n" + self.data and top_level_kind(self._try_compose(tab2space(self.data))) == "legacy":
                return self._legacy()
            raise yaml_error from None
        kind = top_level_kind(node)
        if kind is None and isinstance(node, MappingNode):
            names = {k.value for k, _ in node.value if isinstance(k, ScalarNode)}
            kind = "modern" if self._formula_less(dict.fromkeys(names)) and len(names) == len(node.value) else None
        if kind == "modern":
            return self._modern_yaml(node)
        if kind == "legacy":
            return self._legacy()
        raise self._not_a_formula()

    def _try_compose(self, data: bytes) -> Node | None:
        try:
            return compose(data, self.source, _no_column_fix)
        except R2k8sError:
            return None

    def _not_a_formula(self) -> R2k8sError:
        return R2k8sError(
            Category.USAGE,
            f"{self.source}: not a formula: expected a top-level 'formula' (modern) "
            "or 'inputs'/'action'/'outputs' (legacy) key",
        )

    # modern

    def _modern_json(self, doc: lenient_json.Document) -> LoadedFormula:
        notes = []
        if doc.trailing is not None:
            notes.append(f"{self.source}:{doc.trailing}: text after the formula is ignored (as repeatr does)")
        return self._modern(doc.value, doc.source_map, {}, tuple(notes))

    def _modern_yaml(self, node: Node | None) -> LoadedFormula:
        builder = YamlBuilder(self.source, legacy=False, column_fix=_no_column_fix)
        value = builder.build(node, ()) if node is not None else None
        source_map = SourceMap(builder.values, builder.keys)
        loaded = self._modern(value, source_map, builder.scalars, ())
        self._check_yaml_ints(value, builder, source_map)
        return loaded

    def _modern(
        self, value: Any, source_map: SourceMap, scalars: dict[JsonPath, Scalar], notes: tuple[str, ...]
    ) -> LoadedFormula:
        problems = schema_problems(value, "formula.schema.json")
        if problems:
            raise self._report(problems, source_map, scalars)
        try:
            formula, context = parse_formula_document(value)
        except FormulaError as exc:
            raise self._report([Problem(exc.path, exc.problem, exc.at_key)], source_map, scalars) from None
        lints = lint_formula(formula, context)
        refused = [lint for lint in lints if lint.fatal and self.strict]
        if refused:
            raise self._report([Problem(lint.path, lint.message, lint.at_key) for lint in refused], source_map, scalars)
        warnings = [
            f"{self._where(source_map, lint.path, lint.at_key)}{json_path(lint.path)}: {lint.message}"
            + (" (repeatr computes this formula's ID but cannot run it)" if lint.fatal else "")
            for lint in lints
        ]
        if not isinstance(value, dict) or "formula" not in value:
            warnings.append(f"{self.source}: no 'formula' key: repeatr reads the empty formula (which cannot run)")
        return LoadedFormula(self.path, "modern", formula, context, notes=(*notes, *warnings), document=value)

    def _check_yaml_ints(self, value: Any, builder: YamlBuilder, source_map: SourceMap) -> None:
        problems = []
        for path, scalar in builder.scalars.items():
            if scalar.plain and scalar.tag == CORE + "int" and not DECIMAL.match(scalar.text):
                resolved = value_at(value, path)
                problems.append(
                    Problem(
                        path,
                        f"YAML 1.1 reads the unquoted {scalar.text!r} as the integer {resolved!r}; "
                        "write integers in plain decimal",
                    )
                )
        if problems:
            raise self._report(problems, source_map, {})

    # legacy

    def _legacy(self) -> LoadedFormula:
        data = tab2space(self.data)
        tabs = leading_tabs(self.data)

        def column_fix(line: int, column: int) -> int:
            count = tabs[line] if line < len(tabs) else 0
            return column // 2 if column < 2 * count else column - count

        node = compose(data, self.source, column_fix)
        builder = YamlBuilder(self.source, legacy=True, column_fix=column_fix)
        value = builder.build(node, ()) if node is not None else None
        return self._legacy_value(value, SourceMap(builder.values, builder.keys), builder.scalars)

    def _legacy_value(self, value: Any, source_map: SourceMap, scalars: dict[JsonPath, Scalar]) -> LoadedFormula:
        problems = schema_problems(value, "formula-legacy.schema.json")
        if problems:
            raise self._report(problems, source_map, scalars)
        try:
            legacy = parse_legacy_formula(value)
            view = to_modern(legacy)
        except FormulaError as exc:
            raise self._report([Problem(exc.path, exc.problem, exc.at_key)], source_map, scalars) from None
        notes = [
            f"{self._where(source_map, path, True)}{json_path(path)}: unknown key ignored (as repeatr v0.15 did)"
            for path in ignored_keys(value)
        ]
        notes.extend(f"{self.source}: {note}" for note in view.notes)
        return LoadedFormula(
            self.path, "legacy", view.formula, view.context, legacy, view.legacy_inputs, tuple(notes), value
        )

    # errors

    def _where(self, source_map: SourceMap, path: JsonPath, at_key: bool) -> str:
        position = source_map.key(path) if at_key else source_map.value(path)
        return f"{self.source}:{position}: " if position else f"{self.source}: "

    def _report(
        self, problems: list[Problem], source_map: SourceMap, scalars: dict[JsonPath, Scalar]
    ) -> FormulaInvalid:
        lines = []
        ordered = sorted(
            problems,
            key=lambda p: (
                (source_map.key(p.path) if p.at_key else source_map.value(p.path)) or Position(0, 0),
                json_path(p.path),
            ),
        )
        for problem in ordered[:MAX_REPORTED_ERRORS]:
            # Suggesting quotes only helps where a string was wanted (not for uid: 1.0).
            wants_number = problem.message.startswith(("expected an integer", "expected a boolean"))
            hint = "" if problem.at_key or wants_number else _yaml_hint(scalars.get(problem.path))
            lines.append(
                f"{self._where(source_map, problem.path, problem.at_key)}"
                f"{json_path(problem.path)}: {problem.message}{hint}"
            )
        if len(ordered) > MAX_REPORTED_ERRORS:
            lines.append(f"{self.source}: ... and {len(ordered) - MAX_REPORTED_ERRORS} more problems")
        return FormulaInvalid("\n".join(lines), tuple(ordered))


def _no_column_fix(line: int, column: int) -> int:
    return column


def _yaml_hint(scalar: Scalar | None) -> str:
    """Explain a YAML 1.1 surprise when an unquoted scalar did not come out as a string."""
    if scalar is None or not scalar.plain or scalar.tag == CORE + "str":
        return ""
    kind = scalar.tag[len(CORE) :]
    what = {"bool": "a boolean", "int": "an integer", "float": "a number", "null": "null", "timestamp": "a date"}.get(
        kind, kind
    )
    quoted = json.dumps(scalar.text, ensure_ascii=False)
    return f" (YAML reads the unquoted {scalar.text!r} as {what}; write {quoted} if you meant a string)"
