"""Formula resources in the function's input: ``image: formula:NAME`` finds them, they run the formula their file
would, a ResourceList gives them back untouched, a plain stream leaves them out, and what is wrong with one is
reported at its file and field."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import answers_over_each_path, deployment, formula_document, resource_list
from upstream_formulas import DOCS_EXAMPLE1, RELEASE_V014, UPSTREAM

from r2k8s.formula_files import load_formula_bytes
from r2k8s.krm.config import FunctionConfig
from r2k8s.krm.formula_items import FormulaItems, formula_resource
from r2k8s.krm.function import run
from r2k8s.krm.rewrite import FORMULAS_ANNOTATION

PATH = "internal.config.kubernetes.io/path"
FILES = {**UPSTREAM, "docs-example1.formula": DOCS_EXAMPLE1, "release-v014.frm": RELEASE_V014}


def formula_item(name: str = "web", file: str | None = "web.formula.yaml", **document: Any) -> dict[str, Any]:
    resource = formula_resource(name, document or formula_document(env={"GREETING": "from a resource"}))
    if file is not None:
        resource["metadata"]["annotations"][PATH] = file
    return resource


def placed(item: dict[str, Any], file: str) -> dict[str, Any]:
    item.setdefault("metadata", {}).setdefault("annotations", {})[PATH] = file
    return item


def formulas_of(item: dict[str, Any]) -> str:
    return str(item["spec"]["template"]["metadata"]["annotations"][FORMULAS_ANNOTATION])


def file_id(text: str) -> str:
    return load_formula_bytes(text.encode(), "file").formula_id


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_formula_resource_gives_its_files_formula_id(name: str) -> None:
    """Modern and legacy alike: the resource made of a file's document is the file's formula."""
    loaded = load_formula_bytes(FILES[name].encode(), name)
    items = FormulaItems([formula_resource("f", loaded.document)], [], FunctionConfig())
    assert items.results == []
    found = items.find("f")
    assert found is not None and found.loaded is not None
    assert found.loaded.formula_id == loaded.formula_id and found.loaded.kind == loaded.kind


def test_formula_name_expands_from_a_formula_item_and_a_resource_list_gets_it_back_untouched() -> None:
    item = formula_item()
    text = resource_list([item, placed(deployment(image="formula:web"), "deployment.yaml")])
    expected = file_id(yaml.safe_dump(item["spec"]))
    for output in answers_over_each_path(text):
        items = yaml.safe_load(output)["items"]
        assert items[0] == item  # kept: kpt would delete web.formula.yaml if the function left it out
        assert formulas_of(items[1]) == f"web={expected}"
        assert items[1]["spec"]["template"]["spec"]["containers"][0]["image"] != "formula:web"


def test_a_plain_stream_leaves_formula_items_out(tmp_path: Path) -> None:
    """helm applies the post-renderer's output: a Formula (no CRD, nothing to run) must not reach the cluster."""
    item = formula_item(file=None)
    text = "---\n".join(yaml.safe_dump(d) for d in (item, deployment(image="formula:web")))
    outcome = run(text)
    assert outcome.exit_code == 0, outcome.messages
    kinds = [d["kind"] for d in yaml.safe_load_all(outcome.output) if d]
    assert kinds == ["Deployment", "ConfigMap"]
    expected = file_id(yaml.safe_dump(item["spec"]))
    assert formulas_of(next(yaml.safe_load_all(outcome.output))) == f"web={expected}"


@pytest.mark.parametrize("argv", [["fn"], []], ids=["r2k8s fn", "r2k8s with stdin piped"])
def test_a_plain_stream_without_references_still_leaves_its_formula_items_out(argv: list[str]) -> None:
    """The quick answer (nothing to expand: the input itself) must not hand a Formula on either."""
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    text = "---\n".join(yaml.safe_dump(d) for d in (configmap, formula_item(file=None)))
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", *argv], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert [d for d in yaml.safe_load_all(done.stdout) if d] == [configmap]


def test_a_resource_list_without_references_is_given_back_as_it_came() -> None:
    text = resource_list([formula_item(), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}])
    assert run(text).output == text


def errors_of(items: list[dict[str, Any]], config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    outcome = run(resource_list(items, config))
    assert outcome.exit_code == 1
    assert yaml.safe_load(outcome.output)["items"] == items  # nothing half-changed
    return list(yaml.safe_load(outcome.output)["results"])


def web_deployment() -> dict[str, Any]:
    return placed(deployment(image="formula:web"), "deployment.yaml")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda f: f["spec"]["formula"]["action"].update(exec="/bin/true"), "spec.formula.action.exec", "array"),
        (
            lambda f: f["spec"]["formula"]["action"].update(exec=["/bin/echo", True]),
            "spec.formula.action.exec[1]",
            "expected a string, got boolean true (write it quoted",
        ),
        (lambda f: f["spec"]["formula"].update(bogus=1), "spec.formula.bogus", "unknown key 'bogus'"),
        (lambda f: f["spec"]["formula"]["inputs"].update({"rel": "tar:x"}), "spec.formula.inputs.rel", "absolute"),
        (lambda f: f.update(spec={"context": {}}), "spec", "expected a formula document"),
        (lambda f: f.pop("spec"), "spec", "got nothing"),
    ],
)
def test_an_invalid_formula_item_is_reported_at_its_file_and_field(change: Any, field: str, message: str) -> None:
    item = formula_item()
    change(item)
    results = errors_of([item, web_deployment()])
    about = results[0]
    assert about["resourceRef"] == {"apiVersion": "fn.r2k8s.io/v1alpha1", "kind": "Formula", "name": "web"}
    assert about["file"]["path"] == "web.formula.yaml" and about["field"] == {"path": field}
    assert message in about["message"]
    container = results[-1]
    assert container["resourceRef"]["kind"] == "Deployment" and container["file"]["path"] == "deployment.yaml"
    assert "Formula/web in web.formula.yaml is invalid (see its errors)" in container["message"]


def test_a_formula_item_needs_a_usable_name_and_the_local_config_annotation() -> None:
    nameless = formula_item()
    nameless["metadata"]["name"] = "-web"
    unmarked = formula_item(name="other", file="other.yaml")
    del unmarked["metadata"]["annotations"]["config.kubernetes.io/local-config"]
    results = errors_of([nameless, unmarked, web_deployment()])
    assert [(r["file"]["path"], r["field"]["path"]) for r in results[:2]] == [
        ("web.formula.yaml", "metadata.name"),
        ("other.yaml", "metadata.annotations"),
    ]
    assert "'-web'" in results[0]["message"] and 'local-config: "true"' in results[1]["message"]
    assert "no formula named 'web'" in results[2]["message"] and "known: other" in results[2]["message"]


def test_kustomize_origin_names_the_formula_items_file() -> None:
    item = formula_item(file=None)
    item["metadata"]["annotations"].update(
        {"kustomize.config.k8s.io/id": "x", "config.kubernetes.io/origin": "path: formulas/web.yaml\n"}
    )
    item["spec"]["formula"]["action"]["exec"] = "/bin/true"
    results = errors_of([item, web_deployment()])
    assert results[0]["file"]["path"] == "formulas/web.yaml"


def test_two_formula_items_of_one_name_must_agree_and_the_error_names_both_files() -> None:
    first, same = formula_item(), formula_item(file="copy/web.formula.yaml")
    outcome = run(resource_list([first, same, web_deployment()]))
    assert outcome.exit_code == 0, outcome.messages  # one document twice (a base brought in twice) is one formula
    other = formula_item(file="other/web.formula.yaml")
    other["spec"]["formula"]["action"]["exec"] = ["/bin/false"]
    results = errors_of([first, other, web_deployment()])
    assert results[0]["file"]["path"] == "other/web.formula.yaml" and results[0]["field"]["path"] == "metadata.name"
    assert "Formula/web in other/web.formula.yaml" in results[0]["message"]
    assert "Formula/web in web.formula.yaml" in results[0]["message"]


def test_a_formula_item_and_the_function_configs_formula_of_one_name_must_agree() -> None:
    item = formula_item()
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"formulas": {"web": copy.deepcopy(item["spec"])}},
    }
    outcome = run(resource_list([item, web_deployment()], config))
    assert outcome.exit_code == 0, outcome.messages
    config["spec"]["formulas"]["web"]["formula"]["action"]["exec"] = ["/bin/false"]
    (result,) = errors_of([item, web_deployment()], config)[:1]
    assert result["file"]["path"] == "web.formula.yaml"
    assert "Formula/web in web.formula.yaml" in result["message"]
    assert "functionConfig (R2k8sFunction/r2k8s) spec.formulas.web" in result["message"]


def test_a_formula_item_with_very_many_problems_gets_twenty_results_and_a_count() -> None:
    item = formula_item()
    item["spec"]["formula"].update({f"bogus{n:02}": n for n in range(30)})
    results = [r for r in errors_of([item, web_deployment()]) if r["resourceRef"]["kind"] == "Formula"]
    assert len(results) == 21 and results[-1]["message"] == "... and 10 more problems"


FORMULA_TEXT = yaml.safe_dump(formula_item(file=None), sort_keys=False)
OTHER = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c  # kept as written\ndata: {a: yes}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FORMULA_TEXT + "---\n" + OTHER, "---\n" + OTHER),
        (
            "---\n# Source: f.yaml\n" + FORMULA_TEXT + "---\n# Source: c.yaml\n" + OTHER,
            "---\n# Source: c.yaml\n" + OTHER,
        ),
        (OTHER + "---\n" + FORMULA_TEXT + "--- # next\n" + OTHER, OTHER + "--- # next\n" + OTHER),
        (OTHER + "---\n" + FORMULA_TEXT, OTHER),
        (OTHER + "---\n" + FORMULA_TEXT + "---\n", OTHER + "---\n"),
        (
            (OTHER + "---\n" + FORMULA_TEXT + "---\n" + OTHER).replace("\n", "\r\n"),
            (OTHER + "---\n" + OTHER).replace("\n", "\r\n"),
        ),
    ],
    ids=["first", "first after its marker", "middle", "last", "before an empty document", "CRLF"],
)
def test_leaving_a_formula_out_of_a_stream_keeps_every_other_byte(text: str, expected: str) -> None:
    """The splice cuts the document from its ``---`` to the next one: the rest is the input's own text, and a
    big helm stream is not written again in full."""
    outcome = run(text)
    assert outcome.exit_code == 0, outcome.messages
    assert outcome.output == expected and outcome.path == "splice"
