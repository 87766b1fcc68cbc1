"""Reading ``module.tl``: refmt's lenient JSON, the module's shape, its references and its graph, checked up front.

Every problem is one line ``FILE:LINE:COL: $.json.path: problem`` (all of
them, sorted by position) in one usage error (exit 1), before anything runs:

* the shape reach's atlas reads: ``imports``, ``steps`` and ``exports``
  (unknown keys are refused, as refmt's struct unmarshaller refuses them);
  a step is ``{"operation": …}`` (``{"module": …}``, a submodule, is refused:
  r2k8s does not run them); an operation has ``inputs``, ``action`` and
  ``outputs``; its ``action`` is checked by the formula parser, so its
  problems are a formula's (named at ``$.steps.S.operation.action…``);
* imports: ``ingest:literal:<ware ID>`` (reach's form for a pinned ware), a
  plain ware ID (``tar:…``, ``zip:…``, ``git:…``: r2k8s's shorthand, which
  reach refuses) and ``catalog:MODULE:RELEASE:ITEM`` (:mod:`.catalog`); other
  ingest kinds (``git``, ``pack``: they read the work tree at run time) and
  ``parent:`` (submodules only) are refused, each saying what is read;
* references: an input or export naming no import, no step, or a slot the
  step does not output; names with a dot (a reference splits ``STEP.SLOT`` at
  the first one) or empty;
* the graph: a cycle is refused naming its steps in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula import lenient_json
from r2k8s.core.formula.lenient_json import Position, SourceMap
from r2k8s.core.jsonpath import JsonPath, json_path
from r2k8s.core.ware.wareid import WareID
from r2k8s.formula_files import FormulaInvalid, load_formula_data
from r2k8s.modules.catalog import Catalog
from r2k8s.modules.model import Import, Module, Operation, SlotRef

__all__ = ["MODULE_FILE", "load_module", "module_file"]

MODULE_FILE = "module.tl"
PACKTYPES = ("tar", "zip", "git")
"""What a plain ware ID import may start with: the pack types r2k8s fetches."""
PLACEHOLDER = "tar:placeholder"
"""An input's ware while the action is checked: the real one is known only when its step runs."""


def module_file(path: Path) -> Path:
    """``MODULE`` as given: a ``module.tl`` file, or a folder holding one (as ``reach emerge`` finds it)."""
    return path / MODULE_FILE if path.is_dir() else path


def load_module(path: Path) -> Module:
    """Read and check the module at ``path`` (a file or a folder); raise one usage error listing every problem."""
    file = module_file(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"cannot read module {file}: {exc.strerror or exc}") from None
    document = lenient_json.loads(data, source=str(file))
    return _Reader(file, document.source_map).read(document.value)


class _Reader:
    def __init__(self, file: Path, source_map: SourceMap) -> None:
        self.file = file
        self.source_map = source_map
        self.problems: list[tuple[JsonPath, str, bool]] = []
        self._catalog: Catalog | None = None

    def problem(self, path: JsonPath, message: str, at_key: bool = False) -> None:
        self.problems.append((path, message, at_key))

    def fail_if_problems(self) -> None:
        if not self.problems:
            return

        def where(item: tuple[JsonPath, str, bool]) -> Position:
            path, _message, at_key = item
            found = self.source_map.key(path) if at_key else self.source_map.value(path)
            return found or Position(0, 0)

        lines = []
        for item in sorted(self.problems, key=lambda item: (where(item), json_path(item[0]))):
            position = where(item)
            at = f"{self.file}:{position}: " if position.line else f"{self.file}: "
            lines.append(f"{at}{json_path(item[0])}: {item[1]}")
        raise R2k8sError(Category.USAGE, "invalid module:\n" + "\n".join(lines))

    # -- shape ---------------------------------------------------------------------------------------

    def mapping(self, value: Any, path: JsonPath, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"{what} must be an object, not {_kind(value)}")
            return {}
        return value

    def strings(self, value: Any, path: JsonPath, what: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, item in self.mapping(value, path, what).items():
            if isinstance(item, str):
                found[key] = item
            else:
                self.problem((*path, key), f"must be a string, not {_kind(item)}")
        return found

    def known_keys(self, value: dict[str, Any], path: JsonPath, known: tuple[str, ...], what: str) -> None:
        for key in value:
            if key not in known:
                self.problem((*path, key), f"unknown key in {what} (known: {', '.join(known)})", at_key=True)

    def name(self, name: str, path: JsonPath, what: str) -> None:
        if not name:
            self.problem(path, f"{what} name is empty", at_key=True)
        elif "." in name:
            self.problem(path, f"{what} name {_q(name)} has a '.': references split STEP.SLOT there", at_key=True)

    def read(self, value: Any) -> Module:
        if not isinstance(value, dict):
            self.problem((), f"a module is an object with imports, steps and exports, not {_kind(value)}")
            self.fail_if_problems()
        self.known_keys(value, (), ("imports", "steps", "exports"), "a module")
        imports = self.imports(value.get("imports"))
        steps = self.steps(value.get("steps"))
        exports = self.refs(value.get("exports"), ("exports",), "exports")
        self.fail_if_problems()  # references are only worth checking between well-formed parts
        for name, step in steps.items():
            for mount, ref in sorted(step.inputs.items()):
                self.resolves(ref, ("steps", name, "operation", "inputs", mount), imports, steps)
        for export, ref in sorted(exports.items()):
            self.resolves(ref, ("exports", export), imports, steps)
        self.fail_if_problems()
        order = self.order(steps)
        self.fail_if_problems()
        return Module(self.file, imports, steps, exports, order)

    # -- imports -------------------------------------------------------------------------------------

    def imports(self, value: Any) -> dict[str, Import]:
        found: dict[str, Import] = {}
        for name, text in self.strings(value, ("imports",), "imports").items():
            path: JsonPath = ("imports", name)
            self.name(name, path, "an import")
            imported = self.import_ref(name, text, path)
            if imported is not None:
                found[name] = imported
        return found

    def import_ref(self, name: str, text: str, path: JsonPath) -> Import | None:
        kind, _, rest = text.partition(":")
        if kind == "ingest":
            ingest, colon, args = rest.partition(":")
            if not colon:
                self.problem(path, f"{_q(text)}: an ingest reference is ingest:KIND:ARGS")
            elif ingest != "literal":
                self.problem(
                    path,
                    f"{_q(text)}: ingest kind {_q(ingest)} is not supported (it reads this machine's files when the"
                    " module runs); r2k8s emerge reads ingest:literal:<ware ID>, a ware ID and catalog: imports",
                )
            else:
                return self.ware_import(name, text, args, path)
            return None
        if kind == "catalog":
            return self.catalog().resolve(name, text, rest, path, self.problem)
        if kind == "parent":
            self.problem(path, f"{_q(text)}: parent: imports exist only in submodules, which r2k8s emerge does not run")
            return None
        if kind in PACKTYPES:
            return self.ware_import(name, text, text, path)
        self.problem(
            path,
            f"{_q(text)} is no import reference r2k8s reads: ingest:literal:<ware ID>, a ware ID"
            f" ({', '.join(p + ':…' for p in PACKTYPES)}) or catalog:MODULE:RELEASE:ITEM",
        )
        return None

    def ware_import(self, name: str, text: str, ware_text: str, path: JsonPath) -> Import | None:
        packtype, colon, hash_ = ware_text.partition(":")
        if not colon or not packtype or not hash_ or hash_ == "-":
            self.problem(path, f"{_q(text)}: {_q(ware_text)} is no ware ID (<packtype>:<hash>)")
            return None
        if packtype not in PACKTYPES:
            self.problem(
                path, f"{_q(text)}: pack type {_q(packtype)} cannot be fetched (known: {', '.join(PACKTYPES)})"
            )
            return None
        return Import(name, text, WareID(packtype, hash_))

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.for_module(self.file.absolute().parent)
        return self._catalog

    # -- steps ---------------------------------------------------------------------------------------

    def steps(self, value: Any) -> dict[str, Operation]:
        found: dict[str, Operation] = {}
        for name, step in self.mapping(value, ("steps",), "steps").items():
            path: JsonPath = ("steps", name)
            self.name(name, path, "a step")
            if not isinstance(step, dict) or len(step) != 1:
                self.problem(path, 'a step is {"operation": {…}} (or {"module": {…}}, a submodule)')
                continue
            ((kind, body),) = step.items()
            if kind == "module":
                self.problem((*path, "module"), "submodules are not supported by r2k8s emerge", at_key=True)
            elif kind != "operation":
                self.problem((*path, kind), f"unknown step kind {_q(kind)} (known: operation, module)", at_key=True)
            else:
                operation = self.operation(name, body, (*path, "operation"))
                if operation is not None:
                    found[name] = operation
        return found

    def operation(self, name: str, value: Any, path: JsonPath) -> Operation | None:
        body = self.mapping(value, path, "an operation")
        self.known_keys(body, path, ("inputs", "action", "outputs"), "an operation")
        inputs = self.refs(body.get("inputs"), (*path, "inputs"), "inputs")
        outputs = self.strings(body.get("outputs"), (*path, "outputs"), "outputs")
        for slot in outputs:
            self.name(slot, (*path, "outputs", slot), "an output slot")
        seen: dict[str, str] = {}
        for slot, output_path in sorted(outputs.items()):
            if output_path in seen:
                self.problem((*path, "outputs", slot), f"path {_q(output_path)} is also output {_q(seen[output_path])}")
            seen.setdefault(output_path, slot)
        if "action" not in body:
            self.problem(path, "an operation needs an action")
            return None
        self.check_formula(body["action"], inputs, outputs, path)
        return Operation(name, inputs, body["action"], outputs)

    def check_formula(self, action: Any, inputs: dict[str, SlotRef], outputs: dict[str, str], path: JsonPath) -> None:
        """The formula the step becomes, with placeholder wares: its problems, named where the module has them."""
        document = {
            "formula": {
                "inputs": dict.fromkeys(inputs, PLACEHOLDER),
                "action": action,
                "outputs": {output: {"packtype": "tar"} for output in outputs.values()},
            }
        }
        slot_of = {output: slot for slot, output in outputs.items()}
        try:
            load_formula_data(document, str(self.file))
        except FormulaInvalid as exc:
            for problem in exc.problems:
                self.problem(_in_step(problem.path, path, slot_of), problem.message, problem.at_key)

    def refs(self, value: Any, path: JsonPath, what: str) -> dict[str, SlotRef]:
        found: dict[str, SlotRef] = {}
        for key, text in self.strings(value, path, what).items():
            try:
                found[key] = SlotRef.parse(text)
            except ValueError as exc:
                self.problem((*path, key), str(exc))
        return found

    def resolves(self, ref: SlotRef, path: JsonPath, imports: dict[str, Import], steps: dict[str, Operation]) -> None:
        if not ref.step:
            if ref.slot not in imports:
                self.problem(path, f"{_q(str(ref))} is not the name of an import in this module")
            return
        step = steps.get(ref.step)
        if step is None:
            self.problem(path, f"{_q(str(ref))}: {_q(ref.step)} is not the name of a step in this module")
        elif ref.slot not in step.outputs:
            known = ", ".join(sorted(step.outputs)) or "none"
            self.problem(path, f"{_q(str(ref))}: step {_q(ref.step)} has no output {_q(ref.slot)} (it has: {known})")

    # -- graph ---------------------------------------------------------------------------------------

    def order(self, steps: dict[str, Operation]) -> tuple[str, ...]:
        """reach's ``ModuleOrderSteps``: depth-first by name, dependencies first; a cycle is a problem."""
        done: list[str] = []
        state: dict[str, str] = {}

        def visit(start: str) -> None:
            # Iterative depth-first search: a module may chain thousands of steps.
            stack: list[tuple[str, list[str]]] = [(start, sorted(_needs(steps[start])))]
            state[start] = "open"
            while stack:
                node, pending = stack[-1]
                if not pending:
                    stack.pop()
                    state[node] = "done"
                    done.append(node)
                    continue
                nxt = pending.pop(0)
                if state.get(nxt) == "done":
                    continue
                if state.get(nxt) == "open":
                    cycle = [name for name, _ in stack]
                    cycle = [*cycle[cycle.index(nxt) :], nxt]
                    self.problem(("steps", nxt), "steps form a cycle: " + " -> ".join(cycle), at_key=True)
                    raise _Cycle
                state[nxt] = "open"
                stack.append((nxt, sorted(_needs(steps[nxt]))))

        try:
            for name in sorted(steps):
                if name not in state:
                    visit(name)
        except _Cycle:
            return ()
        return tuple(done)


class _Cycle(Exception):
    """One cycle is reported; the rest of the graph is not searched."""


def _needs(step: Operation) -> set[str]:
    return {ref.step for ref in step.inputs.values() if ref.step}


def _in_step(formula_path: JsonPath, step_path: JsonPath, slot_of: dict[str, str]) -> JsonPath:
    """Where a problem of the step's formula is in the module: ``formula.outputs[PATH]`` is ``outputs[SLOT]``."""
    if formula_path[:1] != ("formula",) or len(formula_path) < 2:
        return step_path
    field = formula_path[1]
    if field == "outputs" and len(formula_path) > 2:
        return (*step_path, "outputs", slot_of.get(str(formula_path[2]), str(formula_path[2])))
    return (*step_path, *formula_path[1:])


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")
