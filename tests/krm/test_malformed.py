"""Broken input gets a clear error naming the resource and the field, never an internal error (issue 12).

Each case crashed the function (exit 2) or was silently dropped or misread before: NUL bytes in paths, bytes
that are not UTF-8, container fields of the wrong type, mapping keys that are not strings, binary config files.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import deployment, resource_list, write_formula
from krm_shapes import alias_bomb, as_stream, deployment_text, run_fn

from r2k8s.krm.function import run
from r2k8s.krm.results import ResourceRef

WEB = ResourceRef("apps/v1", "Deployment", "web")
CONTAINER = "spec.template.spec.containers[0]"
IMAGE = f"{CONTAINER}.image"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(item: dict[str, Any], field: str, says: str, ref: ResourceRef = WEB) -> None:
    """``item`` fails as a ResourceList (an error result with resourceRef and field, the items unchanged) and as
    a plain stream (the same result, no output)."""
    listed = run(resource_list([item]))
    assert listed.exit_code == 1, listed.messages
    (result,) = listed.results
    assert (result.resource_ref, result.field) == (ref, field), result
    assert says in result.message, result.message
    written = yaml.safe_load(listed.output)
    assert written["items"] == [item]  # nothing half-changed
    assert written["results"][0]["resourceRef"] == ref.encode()
    assert written["results"][0]["field"] == {"path": field}
    streamed = run(yaml.safe_dump(item))
    assert (streamed.exit_code, streamed.output) == (1, "")
    assert streamed.messages == [result.text()]


# -- NUL bytes ------------------------------------------------------------------------------------------------------


def test_a_nul_byte_in_a_formula_path_is_an_error_about_the_image(package: Path) -> None:
    refused(deployment(image="./a\0.formula"), IMAGE, "holds a NUL byte")


def test_a_nul_byte_in_kpts_path_annotation_is_an_error_about_the_annotation(package: Path) -> None:
    item = deployment()
    item["metadata"]["annotations"] = {"internal.config.kubernetes.io/path": "apps\0/deploy.yaml"}
    refused(item, "metadata.annotations.internal.config.kubernetes.io/path", "holds a NUL byte")


def test_the_cli_never_writes_a_nul_byte_to_stderr(package: Path) -> None:
    item = deployment(image="./a\0.formula")
    item["metadata"]["annotations"] = {"config.kubernetes.io/path": "x\0.yaml"}
    ran = run_fn(yaml.safe_dump(item), cwd=package)
    assert ran.code == 1 and b"\0" not in ran.stderr, ran
    assert "Deployment/web: metadata.annotations.config.kubernetes.io/path" in ran.err


# -- bytes that are not UTF-8, line ends ------------------------------------------------------------------------------

NOT_UTF8 = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: caf\xe9}\n"


@pytest.mark.parametrize(("entry", "args"), [("piped", ()), ("fn", ()), ("fn", ("--explain",))])
def test_stdin_that_is_not_utf8_names_the_first_bad_byte(package: Path, entry: str, args: tuple[str, ...]) -> None:
    ran = run_fn(NOT_UTF8, *args, cwd=package, entry=entry)
    assert ran.code == 1 and ran.stdout == b"", ran
    assert f"stdin is not UTF-8 text (byte 0xe9 at offset {NOT_UTF8.index(0xE9)})" in ran.err


@pytest.mark.parametrize("entry", ["piped", "fn"])
def test_crlf_line_ends_come_back_exactly_as_given(package: Path, entry: str) -> None:
    text = b"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: x # kept\r\ndata: {a: yes}\r\n"
    ran = run_fn(text, cwd=package, entry=entry)
    assert (ran.code, ran.stdout) == (0, text)


def test_an_expanded_crlf_input_keeps_crlf_line_ends_throughout(package: Path) -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s # kept\n"
    text = as_stream([deployment_text(), service]).replace("\n", "\r\n").encode()
    ran = run_fn(text, cwd=package)
    assert ran.code == 0, ran
    assert ran.stdout.count(b"\n") == ran.stdout.count(b"\r\n")
    assert b"---\r\napiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: s # kept\r\n" in ran.stdout
    kinds = [d["kind"] for d in yaml.safe_load_all(ran.stdout) if d]
    assert kinds == ["Deployment", "Service", "ConfigMap"] and b"image: ./web.formula" not in ran.stdout


# -- container fields of the wrong type -------------------------------------------------------------------------------


def with_pod(**fields: Any) -> dict[str, Any]:
    item = deployment()
    item["spec"]["template"]["spec"].update(fields)
    return item


def with_template_metadata(value: Any) -> dict[str, Any]:
    item = deployment()
    item["spec"]["template"]["metadata"] = value
    return item


def with_metadata(**fields: Any) -> dict[str, Any]:
    item = deployment()
    item["metadata"].update(fields)
    return item


MALFORMED: dict[str, tuple[dict[str, Any], str, str]] = {
    # id: (item, field, what the message says)
    "env: 5": (deployment(env=5), f"{CONTAINER}.env", "env: expected a list, got the number 5"),
    "env: [5]": (deployment(env=[5]), f"{CONTAINER}.env[0]", "expected a mapping with a string name"),
    "env without a name": (deployment(env=[{"value": "x"}]), f"{CONTAINER}.env[0].name", "expected a string"),
    "command: 5": (deployment(command=5), f"{CONTAINER}.command", "command: expected a list of strings"),
    "args: hello": (deployment(args="hello"), f"{CONTAINER}.args", "got the string 'hello'"),
    "args: [[a]]": (deployment(args=[["a"]]), f"{CONTAINER}.args", "expected a list of strings, got a list"),
    "workingDir: [a]": (deployment(workingDir=["a"]), f"{CONTAINER}.workingDir", "expected a string, got a list"),
    "volumeMounts: x": (deployment(volumeMounts="x"), f"{CONTAINER}.volumeMounts", "expected a list"),
    "securityContext: 5": (deployment(securityContext=5), f"{CONTAINER}.securityContext", "expected a mapping"),
    "capabilities: x": (
        deployment(securityContext={"capabilities": "x"}),
        f"{CONTAINER}.securityContext.capabilities",
        "expected a mapping",
    ),
    "capabilities.add: 5": (
        deployment(securityContext={"capabilities": {"add": 5}}),
        f"{CONTAINER}.securityContext.capabilities.add",
        "expected a list of strings",
    ),
    "initContainers: 7": (
        with_pod(initContainers=7),
        "spec.template.spec.initContainers",
        "container 'web': initContainers: expected a list, got the number 7",
    ),
    "volumes: 3": (with_pod(volumes=3), "spec.template.spec.volumes", "volumes: expected a list"),
    "template metadata: 5": (with_template_metadata(5), "spec.template.metadata", "expected a mapping"),
    "annotations: [a]": (
        with_template_metadata({"annotations": ["a"]}),
        "spec.template.metadata.annotations",
        "expected a mapping, got a list",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_formula_containers_fields_of_the_wrong_type_are_refused_by_name(package: Path, case: str) -> None:
    item, field, says = copy.deepcopy(MALFORMED[case])
    refused(item, field, says)


def test_a_list_as_metadata_name_or_a_mapping_as_namespace_is_refused_by_name(package: Path) -> None:
    """A reference names what it can: the value, written out."""
    nameless = ResourceRef("apps/v1", "Deployment", "['a', 'b']")
    refused(with_metadata(name=["a", "b"]), "metadata.name", "name: expected a string, got a list", ref=nameless)
    spaceless = ResourceRef("apps/v1", "Deployment", "web", "{'a': 'b'}")
    refused(with_metadata(namespace={"a": "b"}), "metadata.namespace", "expected a string, got a mapping", spaceless)


def test_a_container_named_by_a_list_is_refused_by_name(package: Path) -> None:
    item = deployment()
    item["spec"]["template"]["spec"]["containers"][0]["name"] = ["a", "b"]
    refused(item, f"{CONTAINER}.name", "name: expected a string, got a list")


def test_the_cli_reports_a_malformed_field_with_exit_1(package: Path) -> None:
    ran = run_fn(yaml.safe_dump(deployment(env=5)), cwd=package)
    assert ran.code == 1 and ran.stdout == b"", ran
    assert f"error: Deployment/web: {CONTAINER}.env: container 'web': env: expected a list" in ran.err


@pytest.mark.parametrize(
    "other",
    [
        {"apiVersion": "v1", "kind": ["a"], "metadata": {"name": "k"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ["a"]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": 5}},
    ],
    ids=["a list as kind", "a list as a name", "a number as namespace"],
)
def test_odd_resources_without_formulas_beside_one_with_a_formula_pass_through(
    package: Path, other: dict[str, Any]
) -> None:
    outcome = run(resource_list([other, deployment()]))
    assert outcome.exit_code == 0, outcome.messages
    items = yaml.safe_load(outcome.output)["items"]
    assert items[0] == other and items[1]["spec"]["template"]["spec"]["initContainers"]


# -- mapping keys that are not strings --------------------------------------------------------------------------------


def custom(path_key: str) -> str:
    return (
        "apiVersion: example.com/v1\nkind: Runner\nmetadata:\n  name: r\nspec:\n"
        f"  {path_key}:\n    container:\n      name: main\n      image: ./web.formula\n"
    )


RUNNER = ResourceRef("example.com/v1", "Runner", "r")


@pytest.mark.parametrize("key", ["0", "1.5", "true", "null"])
def test_a_formula_container_below_a_key_that_is_not_a_string_is_refused_by_name(package: Path, key: str) -> None:
    outcome = run(custom(key))
    assert (outcome.exit_code, outcome.output) == (1, "")
    (result,) = outcome.results
    assert result.resource_ref == RUNNER
    assert result.field is not None and result.field.endswith(".container.image")
    assert "is not a string, so no JSON patch can name it" in result.message


def test_a_yaml_1_1_boolean_key_is_a_string_to_the_round_trip_and_works(package: Path) -> None:
    """``on:`` is ``True`` to libyaml (YAML 1.1) but the string ``on`` to ruamel.yaml: the splice path falls back."""
    outcome = run(custom("on"))
    assert outcome.exit_code == 0 and outcome.path == "round-trip", outcome.messages
    assert next(yaml.safe_load_all(outcome.output))["spec"][True]["container"]["command"][-1] == "run"


def test_a_non_string_key_beside_a_formula_container_is_kept(package: Path) -> None:
    outcome = run(deployment_text(container="        0: zero\n"))
    assert outcome.exit_code == 0, outcome.messages
    written = next(yaml.safe_load_all(outcome.output))
    assert written["spec"]["template"]["spec"]["containers"][0][0] == "zero"


# -- complex keys ----------------------------------------------------------------------------------------------------

SERVICE_WITH_NESTED_KEY = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n"
    "    ? matchLabels:\n        app: web\n    : x\n"
)


@pytest.mark.parametrize("with_formula", [True, False], ids=["formula", "no formula"])
def test_a_key_holding_a_mapping_with_a_mapping_is_refused_by_name(package: Path, with_formula: bool) -> None:
    """ruamel.yaml cannot build it (``TypeError: unhashable type: 'CommentedMap'``)."""
    text = as_stream([SERVICE_WITH_NESTED_KEY, *([deployment_text()] if with_formula else [])])
    outcome = run(text)
    assert (outcome.exit_code, outcome.output) == (1, "")
    (result,) = outcome.results
    assert result.resource_ref == ResourceRef("v1", "Service", "s")
    assert result.field == "spec.selector.<key>.matchLabels"
    assert "mapping key holding a nested mapping or list" in result.message


def test_a_flow_mapping_as_a_key_is_kept_as_it_is(package: Path) -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n    ? {a: b}\n    : c\n"
    outcome = run(as_stream([service, deployment_text()]))
    assert outcome.exit_code == 0, outcome.messages
    assert service in outcome.output  # an untouched document: byte for byte (issue 13, defect 7)


# -- --config files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"apiVersion: v1\nkind: ConfigMap\n\xff\xfe\n", "is not UTF-8 text (byte 0xff at offset 31)"),
        (b"apiVersion: v1\nkind: ConfigMap\0\n", "is not a text file (a NUL byte at offset 30)"),
        (alias_bomb().encode(), "expands to more than 1,000,000 nodes through YAML aliases"),
        (b"data: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nests deeper than 100 levels"),
        (b"? matchLabels:\n    app: web\n: x\n", "a mapping or list holding another mapping or list"),
    ],
    ids=["not UTF-8", "a NUL byte", "an alias bomb", "too deep", "a nested key"],
)
def test_a_config_file_the_function_cannot_read_is_a_usage_error(package: Path, content: bytes, says: str) -> None:
    (package / "config.yaml").write_bytes(content)
    ran = run_fn(yaml.safe_dump(deployment()), "--config", "config.yaml", cwd=package)
    assert ran.code == 1 and ran.stdout == b"", ran
    assert "--config config.yaml" in ran.err and says in ran.err
