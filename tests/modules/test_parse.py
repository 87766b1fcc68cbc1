"""Reading module.tl: reach's shape, the import forms r2k8s reads, references and cycles, each error placed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.modules.model import SlotRef
from r2k8s.modules.parse import load_module

WARE = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"


def _op(inputs: dict[str, str], outputs: dict[str, str] | None = None, **action: Any) -> dict[str, Any]:
    action = action or {"exec": ["/bin/true"]}
    body: dict[str, Any] = {"inputs": inputs, "action": action}
    if outputs is not None:
        body["outputs"] = outputs
    return {"operation": body}


def _write(tmp_path: Path, module: Any) -> Path:
    path = tmp_path / "module.tl"
    path.write_text(json.dumps(module, indent="\t") if not isinstance(module, str) else module)
    return path


def _error(tmp_path: Path, module: Any) -> str:
    with pytest.raises(R2k8sError) as caught:
        load_module(_write(tmp_path, module))
    assert caught.value.category is Category.USAGE
    return caught.value.message


DIAMOND = {
    "imports": {"base": f"ingest:literal:{WARE}"},
    "steps": {
        "left": _op({"/": "base"}, {"out": "/task/out"}),
        "right": _op({"/": "base"}, {"out": "/task/out"}),
        "join": _op({"/": "base", "/l": "left.out", "/r": "right.out"}, {"both": "/task/out"}),
    },
    "exports": {"both": "join.both", "base": "base"},
}


def test_a_diamond_reads_in_reachs_order(tmp_path: Path) -> None:
    module = load_module(_write(tmp_path, DIAMOND))
    assert module.order == ("left", "right", "join")
    assert module.needs("join") == {"left", "right"}
    assert module.steps["join"].inputs["/l"] == SlotRef("left", "out")
    assert module.exports == {"both": SlotRef("join", "both"), "base": SlotRef("", "base")}
    assert str(module.imports["base"].ware) == WARE


def test_a_folder_means_its_module_tl_and_refmts_lenient_json_is_read(tmp_path: Path) -> None:
    # reach's proj-bar example has a missing comma between two imports; refmt reads it, so must r2k8s
    _write(tmp_path, '{"imports": {"a": "' + WARE + '" "b": "' + WARE + '",}, "steps": {},}')
    assert sorted(load_module(tmp_path).imports) == ["a", "b"]


def test_a_cycle_is_refused_naming_its_steps_in_order(tmp_path: Path) -> None:
    module = {
        "imports": {"base": WARE},
        "steps": {
            "a": _op({"/": "base", "/x": "c.out"}, {"out": "/o"}),
            "b": _op({"/": "base", "/x": "a.out"}, {"out": "/o"}),
            "c": _op({"/": "base", "/x": "b.out"}, {"out": "/o"}),
        },
    }
    message = _error(tmp_path, module)
    assert "steps form a cycle: a -> c -> b -> a" in message
    assert f"{tmp_path / 'module.tl'}:" in message


def test_a_step_taking_its_own_output_is_a_cycle(tmp_path: Path) -> None:
    message = _error(tmp_path, {"imports": {}, "steps": {"s": _op({"/x": "s.out"}, {"out": "/o"})}})
    assert "steps form a cycle: s -> s" in message


def test_missing_references_name_the_step_and_field(tmp_path: Path) -> None:
    module = {
        "imports": {"base": WARE},
        "steps": {
            "a": _op({"/": "bsae", "/x": "nosuch.out", "/y": "b.missing"}, {"out": "/o"}),
            "b": _op({"/": "base"}, {"out": "/o"}),
        },
        "exports": {"e": "a.nope"},
    }
    lines = _error(tmp_path, module).splitlines()[1:]
    assert any('$.steps.a.operation.inputs["/"]: "bsae" is not the name of an import' in line for line in lines)
    assert any('inputs["/x"]: "nosuch.out": "nosuch" is not the name of a step' in line for line in lines)
    assert any('inputs["/y"]: "b.missing": step "b" has no output "missing" (it has: out)' in line for line in lines)
    assert any('$.exports.e: "a.nope": step "a" has no output "nope"' in line for line in lines)
    assert all(line.startswith(f"{tmp_path / 'module.tl'}:") for line in lines)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ingest:git:.:HEAD", 'ingest kind "git" is not supported'),
        ("ingest:pack:./src", 'ingest kind "pack" is not supported'),
        ("parent:step.out", "parent: imports exist only in submodules"),
        ("catalog:only-two:parts", "a catalog reference is catalog:MODULE:RELEASE:ITEM"),
        ("catalog:froob.org/base:v1:linux-amd64", "the catalog has no"),
        ("docker:ubuntu", "is no import reference r2k8s reads"),
        ("tar:", "is no ware ID"),
        ("ingest:literal:nohash", "is no ware ID"),
        ("base", "is no import reference r2k8s reads"),
    ],
)
def test_unknown_import_forms_are_refused_naming_the_import(tmp_path: Path, text: str, says: str) -> None:
    message = _error(tmp_path, {"imports": {"base": text}, "steps": {}})
    assert "$.imports.base: " in message and says in message


def test_catalog_imports_read_the_workspace_lineage_and_mirrors(tmp_path: Path) -> None:
    catalog = tmp_path / ".timeless" / "catalog" / "froob.org" / "base"
    catalog.mkdir(parents=True)
    lineage = {"name": "froob.org/base", "releases": [{"name": "v1", "items": {"linux-amd64": WARE}}]}
    (catalog / "lineage.tl").write_text(json.dumps(lineage))
    (catalog / "mirrors.tl").write_text(json.dumps({"byModule": {"froob.org/base": {"tar": ["ca+file://./w"]}}}))
    (tmp_path / "mod").mkdir()
    module = load_module(_write(tmp_path / "mod", {"imports": {"base": "catalog:froob.org/base:v1:linux-amd64"}}))
    assert str(module.imports["base"].ware) == WARE
    assert module.imports["base"].warehouses == (f"ca+file://{catalog / 'w'}",)
    message = _error(tmp_path / "mod", {"imports": {"base": "catalog:froob.org/base:v2:linux-amd64"}})
    assert 'has no release "v2"' in message


def test_submodules_unknown_keys_and_dotted_names_are_refused(tmp_path: Path) -> None:
    module = {
        "imports": {"base": WARE, "a.b": WARE},
        "steps": {
            "sub": {"module": {"imports": {}, "steps": {}}},
            "odd": {"recipe": {}},
            "s": {"operation": {"inputs": {"/": "base"}, "action": {"exec": ["/bin/true"]}, "extra": 1}},
        },
        "exprots": {},
    }
    message = _error(tmp_path, module)
    assert "$.steps.sub.module: submodules are not supported" in message
    assert '$.steps.odd.recipe: unknown step kind "recipe"' in message
    assert "$.steps.s.operation.extra: unknown key in an operation" in message
    assert "$.exprots: unknown key in a module" in message
    assert "has a '.': references split STEP.SLOT there" in message


def test_an_invalid_action_is_a_formula_problem_placed_in_the_module(tmp_path: Path) -> None:
    module = {
        "imports": {"base": WARE},
        "steps": {"s": _op({"/": "base", "rel": "base"}, {"out": "relative"}, exec="/bin/true", cwd=3)},
    }
    message = _error(tmp_path, module)
    assert "$.steps.s.operation.action.exec: " in message
    assert "$.steps.s.operation.action.cwd: " in message
    lines = message.splitlines()[1:]
    positions = [tuple(int(n) for n in line.split(": ", 1)[0].rsplit(":", 2)[1:]) for line in lines]
    assert positions == sorted(positions) and all(line > 1 for line, _col in positions)


@st.composite
def _dags(draw: st.DrawFn) -> dict[str, list[str]]:
    count = draw(st.integers(min_value=1, max_value=12))
    names = [f"s{i:02d}" for i in range(count)]
    return {name: draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else [] for i, name in enumerate(names)}


def _module(graph: dict[str, list[str]]) -> dict[str, Any]:
    steps = {
        name: _op({"/": "base", **{f"/in/{dep}": f"{dep}.out" for dep in deps}}, {"out": "/task/out"})
        for name, deps in graph.items()
    }
    return {"imports": {"base": WARE}, "steps": steps}


@settings(max_examples=60, deadline=None)
@given(graph=_dags(), back=st.data())
def test_any_dag_orders_dependencies_first_and_any_back_edge_is_a_cycle(
    tmp_path_factory: pytest.TempPathFactory, graph: dict[str, list[str]], back: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("dag")
    order = load_module(_write(folder, _module(graph))).order
    assert sorted(order) == sorted(graph)
    for name, deps in graph.items():
        assert all(order.index(dep) < order.index(name) for dep in deps)
    edges = [(name, dep) for name, deps in graph.items() for dep in deps]
    if edges:
        name, dep = back.draw(st.sampled_from(edges))
        graph[dep] = [*graph[dep], name]  # dep now also needs name: a cycle through that edge
        assert "steps form a cycle: " in _error(folder, _module(graph))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from([WARE, "left.out", "/x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    imports=_json,
    steps=st.dictionaries(
        st.sampled_from(["a", "b", "c.d", ""]),
        _json
        | st.fixed_dictionaries(
            {"operation": st.fixed_dictionaries({"inputs": _json, "action": _json, "outputs": _json})}
        ),
        max_size=3,
    ),
    exports=_json,
    garbage=st.binary(max_size=40),
)
def test_any_document_is_a_module_or_one_usage_error(
    tmp_path_factory: pytest.TempPathFactory, imports: Any, steps: Any, exports: Any, garbage: bytes
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    for data in (json.dumps({"imports": imports, "steps": steps, "exports": exports}).encode(), garbage):
        (folder / "module.tl").write_bytes(data)
        try:
            load_module(folder)
        except R2k8sError as exc:
            assert exc.category is Category.USAGE
            assert exc.message.strip()
