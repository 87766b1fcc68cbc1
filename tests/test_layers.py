"""The package is layered as its documentation says, and the check would notice if it were not."""

from __future__ import annotations

import pytest
from import_graph import Import, core_layer, imports_of, package_modules, violations
from repo import PLUGIN_DIR

PLUGIN = PLUGIN_DIR


def _edges() -> list[Import]:
    modules = package_modules(PLUGIN)
    return [edge for name, path in modules.items() for edge in imports_of(name, path.read_text(), modules)]


def test_every_import_in_the_package_follows_the_layer_rules() -> None:
    found = violations(_edges())
    assert not found, "\n".join(str(v) for v in found)


def test_the_graph_sees_every_layer_and_lazy_imports() -> None:
    edges = _edges()
    layers = {core_layer(e.importer) for e in edges} - {None}
    assert layers == {"leaf", "ware", "formula", "warehouse", "run", "agent"}
    # the agent's entry point imports each agent inside a function: still an edge
    assert "r2k8s.core.agent.build" in {e.imported for e in edges if e.importer == "r2k8s.core.agent.main"}


@pytest.mark.parametrize(
    ("importer", "imported", "rule"),
    [
        ("r2k8s.core.ware.pack", "r2k8s.core.formula.model", "core layer 'ware' may import only leaf, ware"),
        ("r2k8s.core.formula.parse", "r2k8s.core.warehouse.urls", "core layer 'formula' may import only"),
        ("r2k8s.core.warehouse.cache", "r2k8s.core.formula.model", "core layer 'warehouse' may import only"),
        ("r2k8s.core.run.job", "r2k8s.core.agent.contract", "core layer 'run' may import only"),
        ("r2k8s.core.errors", "r2k8s.core.ware.wareid", "core layer 'leaf' may import only leaf"),
        ("r2k8s.core.agent.service", "yaml", "the core imports only the standard library"),
        ("r2k8s.core.agent.service", "r2k8s.krm.function", "the core imports nothing of r2k8s outside"),
        ("r2k8s.krm.function", "r2k8s.cluster.manifests", "the KRM function never imports r2k8s.cluster"),
        ("r2k8s.krm.function", "kubernetes.client", "only r2k8s.cluster imports kubernetes"),
        ("r2k8s.cli.run", "kubernetes", "only r2k8s.cluster imports kubernetes"),
    ],
)
def test_each_rule_catches_the_edge_that_breaks_it(importer: str, imported: str, rule: str) -> None:
    (violation,) = violations([Import(importer, imported, 1)])
    assert rule in violation.rule


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("r2k8s.core.agent.service", "r2k8s.core.run.cradle"),
        ("r2k8s.core.run.job", "r2k8s.core.warehouse.cache"),
        ("r2k8s.core.formula.model", "r2k8s.core.ware.filters"),
        ("r2k8s.core.ware.unpack", "r2k8s.core.scratch"),
        ("r2k8s.core.scratch", "fcntl"),
        ("r2k8s.cluster.kube", "kubernetes"),
        ("r2k8s.krm.rewrite", "r2k8s.core.agent.contract"),
    ],
)
def test_allowed_edges_pass(importer: str, imported: str) -> None:
    assert violations([Import(importer, imported, 1)]) == []


def test_relative_and_submodule_imports_are_resolved() -> None:
    modules = ["r2k8s", "r2k8s.core", "r2k8s.core.ware", "r2k8s.core.ware.fsmeta", "r2k8s.core.ware.pack"]
    source = "from . import fsmeta\nfrom r2k8s.core.ware import fsmeta as f\ndef f():\n    import yaml\n"
    found = {(e.imported, e.line) for e in imports_of("r2k8s.core.ware.pack", source, modules)}
    assert found == {("r2k8s.core.ware.fsmeta", 1), ("r2k8s.core.ware.fsmeta", 2), ("yaml", 4)}
