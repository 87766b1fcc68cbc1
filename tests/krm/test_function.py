"""The KRM function, in process: what it changes, what it leaves alone, and how it fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from krm_inputs import BUSYBASH, deployment, formula_document, resource_list, write_formula

from r2k8s.agent_bundle import agent_digest
from r2k8s.core.agent.contract import SERVICE_SPEC_ENV
from r2k8s.core.agent.service_spec import ServiceSpec
from r2k8s.core.formula.ids import formula_id
from r2k8s.formula_files import load_formula_file
from r2k8s.krm.function import Outcome, Processor, run
from r2k8s.krm.io_paths import Fallback, IOPathFactory, RoundTripPath, SplicePath
from r2k8s.krm.rewrite import FORMULAS_ANNOTATION


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package root (the current directory, as under kustomize) holding web.formula."""
    write_formula(tmp_path / "web.formula", env={"GREETING": "from the formula", "MODE": "formula"})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def items_of(output: str) -> list[dict[str, Any]]:
    return yaml.safe_load(output)["items"]


def expand(items: list[dict[str, Any]], config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    outcome = run(resource_list(items, config))
    assert outcome.exit_code == 0, outcome.messages
    return items_of(outcome.output)


def spec_of(container: dict[str, Any]) -> ServiceSpec:
    value = next(e["value"] for e in container["env"] if e["name"] == SERVICE_SPEC_ENV)
    return ServiceSpec.from_json(value)


def test_a_formula_container_becomes_a_fetch_init_container_and_an_agent(package: Path) -> None:
    out = expand([deployment(ports=[{"containerPort": 8080}], resources={"limits": {"memory": "64Mi"}})])
    pod = out[0]["spec"]["template"]["spec"]
    main = pod["containers"][0]
    # the container starts from the pause image (nothing for the takeover to delete) and runs the agent with the
    # interpreter its init container (the stock Python image) staged in the cache, which it mounts read-only
    assert main["image"] == "registry.k8s.io/pause:3.10"
    runtime = f"/r2k8s/cache/runtime/agent-{agent_digest()}"  # the interpreter staged for this very agent
    assert main["command"] == [
        f"{runtime}/ld.so",
        "--library-path",
        f"{runtime}/so",
        f"{runtime}/bin/python3",
        "-I",
        "-S",
        "/r2k8s/agent/r2k8s-agent.pyz",
        "serve",
    ]
    assert {"name": "r2k8s-cache", "mountPath": "/r2k8s/cache", "readOnly": True} in main["volumeMounts"]
    assert main["ports"] == [{"containerPort": 8080}] and main["resources"] == {"limits": {"memory": "64Mi"}}
    fetch = pod["initContainers"][0]
    assert fetch["name"] == "r2k8s-fetch-web" and fetch["image"] == "docker.io/library/python:3.11-slim"
    assert fetch["command"] == ["python3", "/r2k8s/agent/r2k8s-agent.pyz", "fetch", "--stage-runtime"]
    assert {"name": "r2k8s-cache", "mountPath": "/r2k8s/cache"} in fetch["volumeMounts"]
    expected_id = formula_id(load_formula_file(package / "web.formula").formula)
    assert spec_of(main).formula_id == expected_id == spec_of(fetch).formula_id
    assert str(spec_of(main).formula.inputs["/"]) == BUSYBASH
    assert out[0]["spec"]["template"]["metadata"]["annotations"][FORMULAS_ANNOTATION] == f"web={expected_id}"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["r2k8s-cache"] == {"name": "r2k8s-cache", "emptyDir": {}}
    configmaps = [i for i in out if i["kind"] == "ConfigMap"]
    assert [c["metadata"]["name"] for c in configmaps] == [volumes["r2k8s-agent"]["configMap"]["name"]]
    assert configmaps[0]["immutable"] is True and configmaps[0]["binaryData"]["r2k8s-agent.pyz"]


def test_without_an_empty_image_the_container_starts_from_the_agent_image(package: Path) -> None:
    config = {"apiVersion": "fn.r2k8s.io/v1alpha1", "kind": "R2k8sFunction", "metadata": {"name": "c"}}
    config["spec"] = {"agent": {"image": "python:3.12-slim", "emptyImage": None}}
    pod = expand([deployment()], config=config)[0]["spec"]["template"]["spec"]
    main, fetch = pod["containers"][0], pod["initContainers"][0]
    assert main["image"] == fetch["image"] == "python:3.12-slim"
    assert main["command"] == ["python3", "/r2k8s/agent/r2k8s-agent.pyz", "serve"]
    assert fetch["command"] == ["python3", "/r2k8s/agent/r2k8s-agent.pyz", "fetch"]


def test_formula_env_comes_first_and_the_manifest_overrides_it(package: Path) -> None:
    out = expand(
        [
            deployment(
                env=[
                    {"name": "GREETING", "value": "from the manifest"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ]
            )
        ]
    )
    env = out[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [e["name"] for e in env]
    assert names == ["HOME", "MODE", "PATH", "USER", "GREETING", "POD", SERVICE_SPEC_ENV]
    assert {e["name"]: e.get("value") for e in env}["GREETING"] == "from the manifest"
    assert env[5] == {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def test_command_args_and_working_dir_replace_the_formula_exec_and_cwd(package: Path) -> None:
    out = expand([deployment(command=["/bin/busybox", "httpd"], args=["-f"], workingDir="/srv")])
    container = out[0]["spec"]["template"]["spec"]["containers"][0]
    assert "args" not in container and "workingDir" not in container
    spec = spec_of(container)
    assert spec.argv == ("/bin/busybox", "httpd", "-f") and spec.cwd == "/srv"
    assert spec.formula.action.exec == ("/bin/sh", "-c", "echo hi")  # the formula itself is unchanged


def test_containers_are_found_by_shape_in_any_kind(package: Path) -> None:
    ordinary = {"name": "side", "image": "nginx:1.27"}
    formula = {"name": "app", "image": "./web.formula"}
    items = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [formula, ordinary]}}}
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "t"},
            "template": {"spec": {"containers": [formula]}},
        },
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "r"},
            "spec": {
                "headGroupSpec": {"template": {"spec": {"containers": [formula]}}},
                "workerGroupSpecs": [{"template": {"spec": {"containers": [formula]}}}],
            },
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "spec": {
                "templates": [
                    {"name": "main", "container": formula},
                    {"name": "s", "script": {**formula, "source": "x"}},
                ]
            },
        },
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "Task",
            "metadata": {"name": "k"},
            "spec": {"steps": [formula, ordinary], "sidecars": [formula]},
        },
    ]
    out = expand(items)
    cron = out[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert cron["containers"][0]["image"].startswith("docker.io/library/python") and cron["containers"][1] == ordinary
    assert out[1]["template"]["spec"]["initContainers"][0]["name"] == "r2k8s-fetch-app"
    assert out[1]["template"]["metadata"]["annotations"][FORMULAS_ANNOTATION].startswith("app=")
    ray = out[2]["spec"]
    assert (
        ray["headGroupSpec"]["template"]["spec"]["initContainers"]
        and ray["workerGroupSpecs"][0]["template"]["spec"]["initContainers"]
    )
    assert ray["workerGroupSpecs"][0]["template"]["metadata"]["annotations"][FORMULAS_ANNOTATION].startswith("app=")
    workflow = out[3]["spec"]
    assert workflow["templates"][0]["container"]["command"][-1] == "run"  # no pod spec: fetch and serve in one
    assert workflow["templates"][1]["script"]["command"][-1] == "run"
    assert {v["name"] for v in workflow["volumes"]} == {"r2k8s-agent", "r2k8s-cache"}
    task = out[4]["spec"]
    assert task["steps"][0]["command"][-1] == "run" and task["steps"][1] == ordinary
    assert task["sidecars"][0]["command"][-1] == "run" and {v["name"] for v in task["volumes"]} == {
        "r2k8s-agent",
        "r2k8s-cache",
    }


def test_extra_field_paths_from_the_config(package: Path) -> None:
    runner = {
        "apiVersion": "example.com/v1",
        "kind": "Runner",
        "metadata": {"name": "x"},
        "spec": {"runner": {"box": {"name": "b", "image": "./web.formula"}}},
    }
    refused = run(resource_list([runner]))  # not container-shaped by the built-in rules: a formula left there
    assert refused.exit_code == 1  # would reach the cluster as an image nothing can pull (issue 13)
    assert items_of(refused.output) == [runner]
    (message,) = refused.messages
    assert "Runner/x" in message and "spec.runner.box.image" in message and "spec.fieldPaths" in message
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "c"},
        "spec": {"fieldPaths": [{"path": "spec/runner/box", "kind": "Runner"}]},
    }
    out = expand([runner], config)
    assert out[0]["spec"]["runner"]["box"]["command"][-1] == "run"


def test_what_is_not_a_formula_workload_passes_through_untouched(package: Path) -> None:
    items = [
        deployment(image="nginx:1.27"),
        {"apiVersion": "kpt.dev/v1", "kind": "Kptfile", "metadata": {"name": "p"}},
        {
            **deployment(name="local"),
            "metadata": {"name": "local", "annotations": {"config.kubernetes.io/local-config": "true"}},
        },
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "a", "image": "./web.formula"}]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"image": "./web.formula"}},
    ]
    outcome = run(resource_list(items))
    assert outcome.exit_code == 0
    assert items_of(outcome.output) == items


def test_inline_formulas_by_name_and_warehouse_overrides(package: Path) -> None:
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "c"},
        "spec": {
            "formulas": {"hello": formula_document(urls=["ca+file://./wares"])},
            "warehouses": {
                "mirrors": ["ca+https://mirror.example/w"],
                "byWare": {BUSYBASH: ["ca+http://10.0.0.1:8080/w"]},
                "rewrite": [{"from": "ca+file://./wares", "to": "ca+https://cluster.example/w"}],
            },
            "cache": {"type": "persistentVolumeClaim", "claimName": "wares"},
            "agent": {"image": "registry.example/python@sha256:" + "0" * 64},
        },
    }
    out = expand([deployment(image="formula:hello")], config)
    pod = out[0]["spec"]["template"]["spec"]
    spec = spec_of(pod["containers"][0])
    assert spec.context.fetch_urls["/"] == (
        "ca+http://10.0.0.1:8080/w",
        "ca+https://mirror.example/w",
        "ca+https://cluster.example/w",
    )
    assert {"name": "r2k8s-cache", "persistentVolumeClaim": {"claimName": "wares"}} in pod["volumes"]
    assert pod["initContainers"][0]["image"] == "registry.example/python@sha256:" + "0" * 64
    assert pod["containers"][0]["image"] == "registry.k8s.io/pause:3.10"  # the agent runs with the staged python


def test_running_on_its_own_output_changes_nothing_and_output_is_deterministic(package: Path) -> None:
    text = resource_list(
        [deployment(), deployment(name="other", image="nginx"), deployment(name="ns2", image="./web.formula")]
    )
    first = run(text)
    assert first.exit_code == 0
    assert run(text).output == first.output
    again = run(first.output)
    assert again.exit_code == 0 and again.output == first.output


def test_one_agent_configmap_per_namespace(package: Path) -> None:
    a, b = deployment(name="a"), deployment(name="b")
    a["metadata"]["namespace"], b["metadata"]["namespace"] = "one", "two"
    out = expand([a, b, deployment(name="c")])
    configmaps = sorted((i["metadata"].get("namespace") or "") for i in out if i["kind"] == "ConfigMap")
    assert configmaps == ["", "one", "two"]


def test_yaml_values_survive_byte_for_byte(package: Path) -> None:
    text = """apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: example.com/v1
  kind: Settings
  metadata:
    name: s # a trailing comment
  data:
    flag: yes
    mode: 0644
    time: 12:30:00
    version: 1.10
    country: NO
    quoted: "0777"
    long: "%s"
    shared: &anchor {a: 1}
    again: *anchor
""" % ("x" * 300)
    outcome = run(text)
    assert outcome.exit_code == 0
    for line in (
        "flag: yes",
        "mode: 0644",
        "time: 12:30:00",
        "version: 1.10",
        "country: NO",
        'quoted: "0777"',
        "name: s # a trailing comment",
        "x" * 300,
    ):
        assert line in outcome.output
    assert outcome.output == text  # nothing changed: byte for byte, its anchor too (issue 13, defect 7)


def test_new_strings_are_quoted_where_yaml_1_1_would_misread_them(package: Path) -> None:
    write_formula(package / "odd.formula", env={"ENABLED": "yes", "MODE": "0644", "AT": "12:30:00"})
    outcome = run(resource_list([deployment(image="./odd.formula")]))
    assert outcome.exit_code == 0
    for value in ("yes", "0644", "12:30:00"):
        assert f'value: "{value}"' in outcome.output or f"value: '{value}'" in outcome.output
    env = {
        e["name"]: e["value"] for e in items_of(outcome.output)[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["ENABLED"] == "yes" and env["MODE"] == "0644" and env["AT"] == "12:30:00"  # read back by YAML 1.1


def test_a_plain_stream_in_gives_a_plain_stream_out(package: Path) -> None:
    text = (
        "---\n# Source: chart/templates/web.yaml\n"
        + yaml.safe_dump(deployment())
        + "---\n"
        + yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}})
    )
    outcome = run(text)
    assert outcome.exit_code == 0
    documents = list(yaml.safe_load_all(outcome.output))
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "ConfigMap"]
    assert "# Source: chart/templates/web.yaml" in outcome.output


def test_explain_prints_the_json_patch_operations_per_item(package: Path) -> None:
    item = deployment()
    outcome = run(resource_list([item]), explain=True)
    assert outcome.exit_code == 0
    documents = list(yaml.safe_load_all(outcome.output))
    assert documents[0]["resource"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    patched = jsonpatch.apply_patch(item, documents[0]["operations"])
    assert patched == expand([item])[0]  # the printed operations are exactly what the function applies
    assert documents[1]["resource"]["kind"] == "ConfigMap"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([deployment(image="./missing.formula")], "formula file missing.formula not found"),
        ([deployment(image="../outside.formula")], "outside the root"),
        ([deployment(image="formula:nope")], "no formula named 'nope'"),
        ([deployment(image="./bad.formula")], "bad.formula:"),
    ],
)
def test_bad_references_fail_with_the_item_container_and_a_result(
    package: Path, items: list[dict[str, Any]], expected: str
) -> None:
    (package / "bad.formula").write_text('{"formula": {"inputs": {"/": "tar:"}, "action": {"exec": "sh"}}}')
    (package.parent / "outside.formula").write_text(json.dumps(formula_document()))
    items[0]["metadata"]["annotations"] = {
        "internal.config.kubernetes.io/path": "deploy.yaml",
        "internal.config.kubernetes.io/index": "0",
    }
    outcome = run(resource_list(items))
    assert outcome.exit_code == 1
    assert any(expected in m and "Deployment/web" in m and "container 'web'" in m for m in outcome.messages), (
        outcome.messages
    )
    result = yaml.safe_load(outcome.output)["results"][0]
    assert result["severity"] == "error" and expected in result["message"]
    assert result["resourceRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert result["field"] == {"path": "spec.template.spec.containers[0].image"}
    assert result["file"] == {"path": "deploy.yaml", "index": 0}
    assert yaml.safe_load(outcome.output)["items"] == items  # nothing half-changed


def test_a_formula_path_is_relative_to_the_file_the_item_came_from(package: Path) -> None:
    write_formula(package / "apps" / "api" / "api.formula", exec_=["/bin/api"])
    item = deployment(image="./api.formula")
    item["metadata"]["annotations"] = {"internal.config.kubernetes.io/path": "apps/api/deploy.yaml"}
    spec = spec_of(expand([item])[0]["spec"]["template"]["spec"]["containers"][0])
    assert spec.formula.action.exec == ("/bin/api",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "no input"),
        ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n", "no items list"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n", "not valid YAML"),
        (
            "---\n# Source: c/templates/x.yaml\nkind: A\n---\n# Source: c/templates/y.yaml\nkind: B\n  bad: indent\n",
            "c/templates/y.yaml",
        ),
        ("- just\n- a list\n", "not a resource"),
    ],
)
def test_malformed_input_fails_without_printing_anything(text: str, expected: str) -> None:
    outcome = run(text)
    assert outcome.exit_code != 0 and outcome.output == ""
    assert any(expected in m for m in outcome.messages), outcome.messages


def test_an_invalid_function_config_names_the_field(package: Path) -> None:
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "c"},
        "spec": {"cache": {"type": "hostPath"}, "isolation": "magic"},
    }
    outcome = run(resource_list([deployment()], config))
    assert outcome.exit_code == 1
    assert "R2k8sFunction/c" in outcome.messages[0] and "'path' is a required property" in outcome.messages[0]
    assert "isolation" in outcome.messages[0]


def test_a_configmap_config_from_kpt_arguments(package: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "function-input"},
        "data": {"image": "python:3.12-slim", "imagePullPolicy": "Always"},
    }
    pod = expand([deployment()], config)[0]["spec"]["template"]["spec"]
    fetch, container = pod["initContainers"][0], pod["containers"][0]
    assert fetch["image"] == "python:3.12-slim" and fetch["imagePullPolicy"] == "Always"
    assert container["image"] == "registry.k8s.io/pause:3.10" and container["imagePullPolicy"] == "Always"
    config["data"]["emptyImage"] = ""  # kpt's key=value form: empty turns the empty image off
    container = expand([deployment()], config)[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "python:3.12-slim"


names = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(names, st.booleans()), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_property_only_formula_containers_change_and_a_second_run_is_a_no_op(
    containers: list[tuple[str, bool]],
) -> None:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        write_formula(Path(directory) / "f.formula")
        previous = os.getcwd()
        os.chdir(directory)
        try:
            item = deployment()
            item["spec"]["template"]["spec"]["containers"] = [
                {"name": name, "image": "./f.formula" if is_formula else f"img/{name}:1"}
                for name, is_formula in containers
            ]
            first = run(resource_list([item]))
            assert first.exit_code == 0
            out = items_of(first.output)[0]["spec"]["template"]["spec"]
            for (name, is_formula), container in zip(containers, out["containers"], strict=False):
                assert container["name"] == name
                assert (container["image"] != f"img/{name}:1") == is_formula
            assert [c["name"] for c in out.get("initContainers", [])] == [
                f"r2k8s-fetch-{name}" for name, is_formula in containers if is_formula
            ]
            assert run(first.output).output == first.output
        finally:
            os.chdir(previous)


def test_a_legacy_formula_is_accepted_with_its_legacy_id_and_hashes(package: Path) -> None:
    legacy_hash = "aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNMxhHtF56gkoeSulvwWNqT"
    (package / "old.formula").write_text(
        'inputs:\n\t"/":\n\t\ttype: "tar"\n\t\thash: "' + legacy_hash + '"\n'
        '\t\tsilo: "http+ca://repeatr.s3.amazonaws.com/assets/"\n'
        'action:\n\tcommand: ["/bin/sh", "-c", "echo old"]\n'
    )
    loaded = load_formula_file(package / "old.formula")
    container = expand([deployment(image="./old.formula")])[0]["spec"]["template"]["spec"]["containers"][0]
    spec = spec_of(container)
    assert spec.formula_id == loaded.formula_id and loaded.kind == "legacy"
    assert spec.legacy_inputs == ("/",)  # the pod verifies "/" with the legacy tree hash
    assert spec.context.fetch_urls["/"] == ("http+ca://repeatr.s3.amazonaws.com/assets/",)


FAST_PATH_INPUTS = {
    "list": lambda: resource_list(
        [
            deployment(),
            deployment(name="other", image="nginx"),
            {**deployment(name="ns"), "metadata": {"name": "ns", "namespace": "team"}},
        ]
    ),
    "indented items and comments": lambda: (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
        "  - # head comment\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web # trailing\n"
        "    spec:\n      template:\n        spec:\n          containers:\n            - name: web\n"
        "              image: ./web.formula\n# between items\n"
        "  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: svc\n"
        "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: fn\n"
        "  data:\n    image: python:3.12\n"
    ),
    "stream": lambda: (
        "---\n# Source: c/templates/a.yaml\n"
        + yaml.safe_dump(deployment())
        + "---\n# Source: c/b.yaml\n"
        + yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}})
    ),
    "stream without a final newline": lambda: yaml.safe_dump(deployment()).rstrip("\n"),
}


def over(path: IOPathFactory, text: str) -> Outcome | None:
    """The processor's answer over one I/O path alone, or ``None`` when that path falls back."""
    try:
        return Processor().process(text, path)
    except Fallback:
        return None


@pytest.mark.parametrize("name", sorted(FAST_PATH_INPUTS))
def test_the_fast_path_gives_what_the_full_round_trip_gives(package: Path, name: str) -> None:
    text = FAST_PATH_INPUTS[name]()
    fast = over(SplicePath, text)
    assert fast is not None, "this input should take the fast path"
    full = over(RoundTripPath, text)
    assert full is not None
    assert fast.exit_code == full.exit_code == 0
    assert list(yaml.safe_load_all(fast.output)) == list(yaml.safe_load_all(full.output))
    assert run(fast.output).output == fast.output  # and it is a fixed point too
    for comment in ("# head comment", "# trailing", "# between items", "# Source: c/b.yaml"):
        assert (comment in text) == (comment in fast.output)


def test_anchors_in_a_changed_item_are_spliced_and_come_out_expanded(package: Path) -> None:
    text = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n"
        "  metadata: {name: web, labels: &l {app: web}}\n  spec:\n    template:\n      metadata: {labels: *l}\n"
        "      spec:\n        containers:\n        - {name: web, image: ./web.formula}\n"
    )
    outcome = run(text)
    assert outcome.exit_code == 0 and outcome.path == "splice"  # issue 13, defect 7: no longer the full path
    assert "&l" not in outcome.output and "*l" not in outcome.output


SEED = resource_list([deployment(), deployment(name="plain", image="nginx")])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_input_never_crashes_and_never_succeeds_silently(data: st.DataObject) -> None:
    """Random edits of a valid list: a clean error or a non-empty answer, never an internal error or empty success."""
    import os
    import tempfile

    text = SEED
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(
            st.lists(
                st.sampled_from(list(":-[]{}#&*!|>'\"\n ./\t~%@`,?") + ["a", "0", "image: ./x", "items"]), max_size=6
            ).map("".join)
        )
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + len(piece) :]
        else:
            text = text[:at] + piece + text[at + len(piece) :]
    with tempfile.TemporaryDirectory() as directory:
        write_formula(Path(directory) / "web.formula")
        previous = os.getcwd()
        os.chdir(directory)
        try:
            outcome = run(text)
        finally:
            os.chdir(previous)
    assert outcome.exit_code in (0, 1), outcome.messages
    if outcome.exit_code == 0:
        assert outcome.output.strip()
    else:
        assert outcome.messages and all(m.strip() for m in outcome.messages)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
            "- kind: ConfigMap # c\n  data: {a: yes, b: 0644}\n",
            0,
        ),
        ("---\n# Source: x.yaml\nkind: Service\nmetadata:\n  name: s\n", 0),
        ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n", 1),
        ("", 1),
    ],
)
def test_the_cli_returns_inputs_without_formulas_byte_for_byte_and_still_refuses_bad_ones(text: str, code: int) -> None:
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-m", "r2k8s", "fn"], input=text, capture_output=True, text=True)
    assert child.returncode == code, child.stderr
    assert child.stdout == (text if code == 0 else "")


def test_a_formula_in_an_ephemeral_container_is_an_error_naming_it(package: Path) -> None:
    """The API server refuses ephemeral containers on create, and no init container could fetch for one: a
    formula there was expanded into a spec nothing would run; it is refused instead (issue 13, defect 6)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "main", "image": "busybox"}],
            "ephemeralContainers": [{"name": "debug", "image": "./web.formula"}],
        },
    }
    outcome = run(resource_list([pod]))
    assert outcome.exit_code == 1
    assert items_of(outcome.output) == [pod]
    (message,) = outcome.messages
    assert "Pod/p" in message and "spec.ephemeralContainers[0].image" in message and "'debug'" in message
