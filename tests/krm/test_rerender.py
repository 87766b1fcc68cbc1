"""Issue 13, defect 10: an expanded resource keeps the way back to what the user wrote (``r2k8s.io/source``),
so a re-render after a formula, config or agent change expands it again, and a re-render with nothing
changed changes no byte — in process on every shape, and with the real kpt rendering a package in place."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from krm_inputs import WEB_EXAMPLE, as_list, resource_list, write_formula

from r2k8s.core.formula.ids import formula_id
from r2k8s.formula_files import load_formula_file
from r2k8s.krm.function import run
from r2k8s.krm.rerender import SOURCE_ANNOTATION, restored
from r2k8s.krm.rewrite import FORMULAS_ANNOTATION


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_formula(tmp_path / "app.formula", env={"GREETING": "one"})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def expanded(text: str, **kwargs: Any) -> str:
    outcome = run(text, **kwargs)
    assert outcome.exit_code == 0, outcome.messages
    return outcome.output


def first(documents: Any) -> Any:
    """The first document of a stream (the expanded workload; the agent ConfigMap follows)."""
    return next(d for d in documents if d)


def fid(path: Path) -> str:
    return formula_id(load_formula_file(path).formula)


DEPLOYMENT = """\
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # keep this name
  labels: {app: web}
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ./app.formula  # the formula replaces the image
        ports: [{containerPort: 8080}]
        env:
        - {name: MODE, value: production}
        securityContext: {runAsUser: 1000, capabilities: {drop: [ALL]}}
      - name: sidecar
        image: busybox
        # Give the sidecar a moment.
        args: [sleep, "3600"]
"""


def test_a_second_run_on_the_expansion_changes_no_byte(package: Path) -> None:
    once = expanded(DEPLOYMENT)
    assert SOURCE_ANNOTATION in once
    assert expanded(once) == once


def test_a_changed_formula_is_expanded_again_and_only_its_fields_change(package: Path) -> None:
    once = expanded(DEPLOYMENT)
    before = fid(package / "app.formula")
    write_formula(package / "app.formula", env={"GREETING": "two"})
    after = fid(package / "app.formula")
    assert before != after
    twice = expanded(once)
    documents = [d for d in yaml.safe_load_all(twice) if d]
    deployment = documents[0]
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"][FORMULAS_ANNOTATION] == f"web={after}"
    web = template["spec"]["containers"][0]
    assert {"name": "GREETING", "value": "two"} in web["env"] and {"name": "MODE", "value": "production"} in web["env"]
    assert web["ports"] == [{"containerPort": 8080}]
    for comment in ("# the web tier", "# keep this name", "# Give the sidecar a moment."):
        assert comment in twice
    assert len(once.splitlines()) == len(twice.splitlines())
    changed = [a for a, b in zip(once.splitlines(), twice.splitlines(), strict=True) if a != b]
    assert changed and all(before in a or SOURCE_ANNOTATION in a or a.strip() == "value: one" for a in changed)
    assert expanded(twice) == twice, "and a third run changes nothing"


def test_the_original_comes_back_exactly_from_the_annotation(package: Path) -> None:
    original = yaml.safe_load(DEPLOYMENT)
    [expansion, _] = [d for d in yaml.safe_load_all(expanded(DEPLOYMENT)) if d]
    assert restored(expansion) == original


def test_an_agent_image_change_in_the_config_reaches_an_expanded_resource(package: Path) -> None:
    once = expanded(DEPLOYMENT)
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"agent": {"image": "registry.example/python:3.12"}},
    }
    again = first(yaml.safe_load_all(expanded(once, config_override=config)))
    pod = again["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.k8s.io/pause:3.10"
    assert pod["initContainers"][0]["image"] == "registry.example/python:3.12"


def test_edits_to_the_expansion_survive_a_re_render(package: Path) -> None:
    once = expanded(DEPLOYMENT)
    edited = once.replace("containerPort: 8080", "containerPort: 9090")
    write_formula(package / "app.formula", env={"GREETING": "three"})
    again = first(yaml.safe_load_all(expanded(edited)))
    web = again["spec"]["template"]["spec"]["containers"][0]
    assert web["ports"] == [{"containerPort": 9090}]
    assert {"name": "GREETING", "value": "three"} in web["env"]


def test_an_image_set_by_hand_on_the_expansion_makes_it_an_ordinary_container(package: Path) -> None:
    once = yaml.safe_load(expanded(yaml.safe_dump(yaml.safe_load(DEPLOYMENT))).split("\n---\n")[0])
    once["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    again = first(yaml.safe_load_all(expanded(yaml.safe_dump(once))))
    pod = again["spec"]["template"]["spec"]
    web = pod["containers"][0]
    assert web["image"] == "nginx:1.27" and "command" not in web
    assert [e["name"] for e in web["env"]] == ["MODE"]
    assert web["securityContext"] == {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}}
    assert "initContainers" not in pod and "volumes" not in pod
    assert SOURCE_ANNOTATION not in (again["metadata"].get("annotations") or {})


def test_an_unreadable_source_annotation_is_an_error_naming_it(package: Path) -> None:
    item = yaml.safe_load(DEPLOYMENT)
    item["metadata"]["annotations"] = {SOURCE_ANNOTATION: "{not json"}
    outcome = run(resource_list([item]))
    assert outcome.exit_code == 1
    [error] = yaml.safe_load(outcome.output)["results"]
    assert error["field"] == {"path": f"metadata.annotations.{SOURCE_ANNOTATION}"}


CONTAINER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "command": st.lists(st.sampled_from(["/bin/sh", "-c", "serve", "python3"]), min_size=1, max_size=3),
        "args": st.lists(st.sampled_from(["a", "b", "--port=80"]), max_size=3),
        "workingDir": st.sampled_from(["/srv", "/"]),
        "imagePullPolicy": st.sampled_from(["Always", "IfNotPresent"]),
        "env": st.lists(
            st.builds(lambda n, v: {"name": n, "value": v}, st.sampled_from(["A", "B", "HOME", "PATH"]), st.text("xy")),
            max_size=3,
            unique_by=lambda e: e["name"],
        ),
        "securityContext": st.sampled_from(
            [
                {},
                {"runAsUser": 1000},
                {"capabilities": {"drop": ["ALL", "NET_RAW"]}},
                {"capabilities": {"add": ["KILL"]}},
            ]
        ),
        "volumeMounts": st.just([{"name": "data", "mountPath": "/data"}]),
        "terminationMessagePolicy": st.just("File"),
    },
)


@settings(max_examples=60, deadline=None)
@given(
    fields=CONTAINER_FIELDS,
    kind=st.sampled_from(["Deployment", "Pod", "CronJob", "knative", "argo"]),
    annotated=st.booleans(),
)
def test_restoring_any_expansion_gives_back_exactly_what_was_written(
    fields: dict[str, Any], kind: str, annotated: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("pkg")
    write_formula(root / "app.formula", env={"HOME": "/root", "GREETING": "hi"})
    container = {"name": "app", "image": "./app.formula", **copy.deepcopy(fields)}
    item = _workload(kind, container, annotated)
    if any(m["name"] == "data" for m in container.get("volumeMounts", [])):
        _pod(item)["volumes"] = [{"name": "data", "emptyDir": {}}]
    outcome = run(resource_list([copy.deepcopy(item)], _root_config(root)))
    assert outcome.exit_code == 0, outcome.messages
    expansion = yaml.safe_load(outcome.output)["items"][0]
    assert restored(expansion) == item
    again = run(outcome.output)
    assert again.output == outcome.output


def _root_config(root: Path) -> dict[str, Any]:
    return {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r"},
        "spec": {"root": str(root)},
    }


def _workload(kind: str, container: dict[str, Any], annotated: bool) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "app"}
    if annotated:
        metadata["annotations"] = {"team": "a"}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [container]}}
    if kind == "CronJob":
        template = {"spec": {"containers": [container], "restartPolicy": "Never"}}
        spec = {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}
    if kind == "knative":
        spec = {"template": {"spec": {"containers": [container]}}}
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": metadata, "spec": spec}
    if kind == "argo":
        spec = {"templates": [{"name": "main", "container": container}]}
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [container]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": {"template": template}}


def _pod(item: dict[str, Any]) -> Any:
    spec = item["spec"]
    if item["kind"] == "Pod":
        return spec
    if item["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if item["kind"] == "Workflow":
        return spec
    return spec["template"]["spec"]


# -- the real kpt, rendering in place ----------------------------------------------------------


def test_kpt_render_in_place_re_expands_after_a_formula_change(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    import subprocess

    kpt = tools.kpt()
    env = r2k8s_on_path
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name in ("deployment.yaml", "service.yaml", "web.formula"):
        shutil.copy(WEB_EXAMPLE / name, pkg / name)
    (pkg / "Kptfile").write_text(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n  annotations:\n"
        '    config.kubernetes.io/local-config: "true"\npipeline:\n  mutators:\n  - exec: r2k8s\n'
    )

    def render() -> None:
        result = subprocess.run(
            [str(kpt), "fn", "render", ".", "--allow-exec"], cwd=pkg, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def annotation() -> str:
        document = yaml.safe_load((pkg / "deployment.yaml").read_text())
        return str(document["spec"]["template"]["metadata"]["annotations"][FORMULAS_ANNOTATION])

    render()
    first = annotation()
    assert first.endswith(fid(pkg / "web.formula"))
    snapshot = {p.name: p.read_text() for p in pkg.iterdir() if p.is_file()}
    render()
    assert {p.name: p.read_text() for p in pkg.iterdir() if p.is_file()} == snapshot, "nothing changed: no byte"
    document = json.loads((pkg / "web.formula").read_text())
    document["formula"]["action"].setdefault("env", {})["RELEASE"] = "2"
    (pkg / "web.formula").write_text(json.dumps(document, indent="\t"))
    render()
    second = annotation()
    assert second != first and second.endswith(fid(pkg / "web.formula"))
    configmaps = sorted(p.name for p in pkg.glob("configmap_r2k8s-agent-*.yaml"))
    assert len(configmaps) == 1, "the agent did not change: its one ConfigMap is still the one referenced"
    volumes = yaml.safe_load((pkg / "deployment.yaml").read_text())["spec"]["template"]["spec"]["volumes"]
    referenced = {v["configMap"]["name"] for v in volumes if "configMap" in v}
    assert {yaml.safe_load((pkg / c).read_text())["metadata"]["name"] for c in configmaps} == referenced
    text = (pkg / "deployment.yaml").read_text()
    assert "# the formula replaces the image" in text
    for path in pkg.glob("*.yaml"):  # as an older r2k8s, with another agent, would have left the package
        path.write_text(as_if_an_older_r2k8s(path.read_text()))
    render()
    left = sorted(yaml.safe_load(p.read_text())["metadata"]["name"] for p in pkg.glob("configmap_r2k8s-agent-*.yaml"))
    assert left == sorted(referenced), "the upgrade's render replaced the old agent's ConfigMap"
    assert OLD_AGENT not in "".join(p.read_text() for p in pkg.glob("*.yaml"))


OLD_AGENT = "r2k8s-agent-000000000000"


def as_if_an_older_r2k8s(text: str) -> str:
    """``text`` (an expansion) as an r2k8s whose agent was another would have written it, without the results
    of that run (kpt writes a package's files without them; the summary would name the agent ConfigMap)."""
    from r2k8s.agent_bundle import configmap_name

    if "\nresults:\n" in text:
        text = text[: text.index("\nresults:\n") + 1]
    return text.replace(configmap_name(), OLD_AGENT)


@pytest.mark.parametrize("form", ["list", "stream"])
def test_a_new_agent_replaces_the_old_agent_configmap_nothing_names_any_more(package: Path, form: str) -> None:
    from r2k8s.agent_bundle import configmap_name

    given = as_list(DEPLOYMENT) if form == "list" else DEPLOYMENT
    old = as_if_an_older_r2k8s(expanded(given))
    assert OLD_AGENT in old and configmap_name() not in old
    outcome = run(old)
    assert outcome.exit_code == 0, outcome.messages
    new = outcome.output
    assert OLD_AGENT not in new, "the old agent ConfigMap is gone with the last reference to it"
    documents = [d for d in yaml.safe_load_all(new) if d]
    items = documents[0]["items"] if form == "list" else documents
    assert [i["kind"] for i in items] == ["Deployment", "ConfigMap"]
    assert items[1]["metadata"]["name"] == configmap_name()
    volumes = items[0]["spec"]["template"]["spec"]["volumes"]
    assert {v["configMap"]["name"] for v in volumes if "configMap" in v} == {configmap_name()}
    assert expanded(new) == new
    if form == "list":  # the splice left the item out: every other byte is as it was, comments too
        assert outcome.path == "splice"
        assert "# Give the sidecar a moment." in new and "# keep this name" in new


def test_an_old_agent_configmap_still_named_elsewhere_stays(package: Path) -> None:
    old = as_if_an_older_r2k8s(expanded(resource_list([yaml.safe_load(DEPLOYMENT)])))
    document = yaml.safe_load(old)
    pinned = {  # expanded by the older r2k8s, without the way back: nothing re-expands it
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pinned"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "a", "configMap": {"name": OLD_AGENT}}],
        },
    }
    document["items"].append(pinned)
    names = [i["metadata"]["name"] for i in yaml.safe_load(expanded(yaml.safe_dump(document)))["items"]]
    assert OLD_AGENT in names and "pinned" in names


def test_without_a_re_render_no_configmap_is_ever_left_out(package: Path) -> None:
    stray = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": OLD_AGENT,
            "labels": {"app.kubernetes.io/managed-by": "r2k8s", "app.kubernetes.io/component": "agent"},
        },
    }
    outcome = run(resource_list([yaml.safe_load(DEPLOYMENT), stray]))
    assert outcome.exit_code == 0
    assert OLD_AGENT in [i["metadata"]["name"] for i in yaml.safe_load(outcome.output)["items"]]
