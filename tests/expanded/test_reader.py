"""Reading expanded manifests: every expanded container in any kind, with its formula ID checked twice, its
wares and the warehouses its pod tries; an edited expansion is an error naming the resource and container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from expansions import documents, expand, expanded_web, write_documents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krm_inputs import BUSYBASH, deployment, write_formula

from r2k8s.expanded import ResourceId, read_expanded
from r2k8s.formula_files import load_formula_file

OTHER = "tar:" + "5" * 64


def formula_id_of(path: Path) -> str:
    return load_formula_file(path).formula_id


def only_error(path: Path) -> str:
    found = read_expanded([str(path)])
    assert len(found.errors) == 1, found.errors
    return found.errors[0]


def test_an_expanded_deployment_gives_its_container_formula_wares_and_pod_urls(tmp_path: Path) -> None:
    write_formula(tmp_path / "web.formula", urls=["ca+https://origin.example/wares"])
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"warehouses": {"mirrors": ["ca+http://mirror.example/w"]}},
    }
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment(name="api")], config))
    found = read_expanded([str(tmp_path / "out.yaml")])
    assert found.errors == [] and found.references == [] and found.inputs == 1
    assert found.resources == 2  # the Deployment and the agent ConfigMap
    (entry,) = found.containers
    assert entry.resource == ResourceId("Deployment", "", "api")
    assert entry.container == "api"
    assert entry.field == "spec.template.spec.containers[0]"
    assert entry.formula_id == formula_id_of(tmp_path / "web.formula")
    assert [(w.path, w.ware, w.urls) for w in entry.inputs] == [
        ("/", BUSYBASH, ("ca+http://mirror.example/w", "ca+https://origin.example/wares"))
    ]
    assert entry.origin is None and not entry.legacy


def test_containers_are_found_in_any_kind_as_the_function_finds_them(tmp_path: Path) -> None:
    write_formula(tmp_path / "a.formula", exec_=["/bin/sh", "-c", "echo a"])
    write_formula(tmp_path / "b.formula", exec_=["/bin/sh", "-c", "echo b"], ware=OTHER)
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ops"},
        "spec": {
            "schedule": "@daily",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "initContainers": [{"name": "prep", "image": "./b.formula"}],
                            "containers": [{"name": "job", "image": "./a.formula"}, {"name": "x", "image": "busybox"}],
                        }
                    }
                }
            },
        },
    }
    task = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": "build"},
        "spec": {"steps": [{"name": "compile", "image": "./b.formula"}]},
    }
    knative = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{"image": "./a.formula"}]}}},
    }
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [cron, task, knative]))
    found = read_expanded([str(tmp_path / "out.yaml")])
    assert found.errors == []
    a, b = formula_id_of(tmp_path / "a.formula"), formula_id_of(tmp_path / "b.formula")
    assert [(e.resource.text(), e.container, e.formula_id) for e in found.containers] == [
        ("CronJob/ops/nightly", "prep", b),
        ("CronJob/ops/nightly", "job", a),
        ("Task/build", "compile", b),
        ("Service/hello", "container-0", a),
    ]


def _container(doc: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]["containers"][index]


def _spec_entry(container: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in container["env"] if e["name"] == "R2K8S_FORMULA")


def test_an_annotation_that_disagrees_with_the_embedded_formula_is_an_error(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    docs[0]["spec"]["template"]["metadata"]["annotations"]["r2k8s.io/formulas"] = "web=SomethingElse"
    message = only_error(write_documents(path, docs))
    assert message.startswith(f"{path}: Deployment/web: container 'web': spec.template.metadata.annotations")
    assert "says formula SomethingElse, but env R2K8S_FORMULA runs" in message and "edited" in message


def test_an_annotation_that_does_not_name_the_container_is_an_error(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    del docs[0]["spec"]["template"]["metadata"]["annotations"]["r2k8s.io/formulas"]
    assert "[r2k8s.io/formulas] does not name it" in only_error(write_documents(path, docs))


def test_an_edited_embedded_formula_no_longer_hashes_to_its_id(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    for container in (_container(docs[0]), docs[0]["spec"]["template"]["spec"]["initContainers"][0]):
        entry = _spec_entry(container)
        spec = json.loads(entry["value"])
        spec["formula"]["action"]["exec"] = ["/bin/sh", "-c", "echo tampered"]
        entry["value"] = json.dumps(spec)
    message = only_error(write_documents(path, docs))
    assert message.startswith(f"{path}: Deployment/web: container 'web': the formula in env R2K8S_FORMULA hashes to")
    assert f"not to its formulaID {formula_id_of(tmp_path / 'web.formula')}" in message


def test_a_fetch_container_fetching_for_another_formula_is_an_error(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    fetch = docs[0]["spec"]["template"]["spec"]["initContainers"][0]
    entry = _spec_entry(fetch)
    entry["value"] = entry["value"].replace(BUSYBASH, OTHER)
    message = only_error(write_documents(path, docs))
    assert "init container 'r2k8s-fetch-web' (spec.template.spec.initContainers[0]) fetches" in message


def test_a_spec_that_is_not_json_names_the_container(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    for container in (_container(docs[0]), docs[0]["spec"]["template"]["spec"]["initContainers"][0]):
        _spec_entry(container)["value"] = "{not json"
    message = only_error(write_documents(path, docs))
    assert message.startswith(f"{path}: Deployment/web: container 'web': env R2K8S_FORMULA: ")


def test_a_recorded_origin_is_read_and_checked(tmp_path: Path) -> None:
    path = expanded_web(tmp_path)
    docs = documents(path)
    formula_id = formula_id_of(tmp_path / "web.formula")
    annotations = docs[0]["spec"]["template"]["metadata"]["annotations"]
    commit = "0123456789abcdef0123456789abcdef01234567"
    annotations["r2k8s.io/formula-origins"] = json.dumps(
        {"web": {"formulaID": formula_id, "path": "apps/web.formula", "git": {"commit": commit, "dirty": True}}}
    )
    (entry,) = read_expanded([str(write_documents(path, docs))]).containers
    assert entry.origin is not None
    assert entry.origin.document() == {"path": "apps/web.formula", "git": {"commit": commit, "dirty": True}}
    assert entry.origin.text() == "apps/web.formula@0123456789ab+dirty"

    annotations["r2k8s.io/formula-origins"] = json.dumps({"web": {"formulaID": "Old", "formula": "web"}})
    assert "[r2k8s.io/formula-origins] records formula Old, but it runs" in only_error(write_documents(path, docs))
    annotations["r2k8s.io/formula-origins"] = json.dumps({"web": {"formulaID": formula_id, "path": 3}})
    assert only_error(write_documents(path, docs)).endswith(
        "[r2k8s.io/formula-origins].web: path: expected a non-empty string"
    )
    annotations["r2k8s.io/formula-origins"] = json.dumps({"web": {"formulaID": formula_id, "path": "a", "url": "b"}})
    assert "expected exactly one of path, formula, url; got path, url" in only_error(write_documents(path, docs))


def test_unexpanded_references_are_reported_apart_and_other_inputs_still_read(tmp_path: Path) -> None:
    good = expanded_web(tmp_path)
    raw = write_documents(tmp_path / "raw.yaml", [deployment(name="raw")])
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    found = read_expanded([str(good), str(raw), str(broken)])
    assert [e.container for e in found.containers] == ["web"]
    assert [(r.resource.text(), r.image) for r in found.references] == [("Deployment/raw", "./web.formula")]
    assert len(found.errors) == 1 and found.errors[0].startswith(f"{broken}: line 2")
    assert found.inputs == 2


def test_lists_json_and_folders_are_read_like_kubectl_apply_f(tmp_path: Path) -> None:
    path = expanded_web(tmp_path / "app")
    listed = {"apiVersion": "v1", "kind": "List", "items": documents(path)}
    (tmp_path / "app" / "nested").mkdir()
    (tmp_path / "app" / "nested" / "list.json").write_text(json.dumps(listed))
    assert len(read_expanded([str(tmp_path / "app")]).containers) == 1
    assert len(read_expanded([str(tmp_path / "app")], recursive=True).containers) == 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scripts=st.lists(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=30), min_size=1, max_size=4
    ),
    env=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True), st.text(max_size=20), max_size=3),
)
def test_every_expanded_container_reads_back_with_its_files_formula_id(
    tmp_path_factory: pytest.TempPathFactory, scripts: list[str], env: dict[str, str]
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    containers = []
    for index, script in enumerate(scripts):
        write_formula(folder / f"f{index}.formula", exec_=["/bin/sh", "-c", script], env=env)
        containers.append({"name": f"c{index}", "image": f"./f{index}.formula"})
    item = deployment()
    item["spec"]["template"]["spec"]["containers"] = containers
    (folder / "out.yaml").write_text(expand(folder, [item]))
    found = read_expanded([str(folder / "out.yaml")])
    assert found.errors == []
    assert [(e.container, e.formula_id) for e in found.containers] == [
        (f"c{index}", formula_id_of(folder / f"f{index}.formula")) for index in range(len(scripts))
    ]


def test_a_legacy_formula_reads_back_with_its_legacy_id_and_legacy_inputs(tmp_path: Path) -> None:
    legacy_hash = "aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNMxhHtF56gkoeSulvwWNqT"
    (tmp_path / "old.formula").write_text(
        'inputs:\n\t"/":\n\t\ttype: "tar"\n\t\thash: "' + legacy_hash + '"\n'
        '\t\tsilo: "http+ca://repeatr.s3.amazonaws.com/assets/"\n'
        'action:\n\tcommand: ["/bin/sh", "-c", "echo old"]\n'
    )
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment(image="./old.formula")]))
    found = read_expanded([str(tmp_path / "out.yaml")])
    assert found.errors == []
    (entry,) = found.containers
    assert entry.legacy and entry.formula_id == formula_id_of(tmp_path / "old.formula")
    assert [(w.ware, w.legacy) for w in entry.inputs] == [(f"tar:{legacy_hash}", True)]

    docs = documents(tmp_path / "out.yaml")  # its ID cannot be hashed again, but must still match the annotation
    docs[0]["spec"]["template"]["metadata"]["annotations"]["r2k8s.io/formulas"] = "web=Other"
    assert "says formula Other, but env R2K8S_FORMULA runs" in only_error(write_documents(tmp_path / "out.yaml", docs))
