"""The formula lock: a published schema, the same bytes for the same containers in any order, read back to the
same entries, every error naming the file and field, and differences naming resource, container and IDs."""

from __future__ import annotations

import importlib.resources
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from repo import REPO_ROOT

from r2k8s.core.errors import R2k8sError
from r2k8s.expanded.entries import ExpandedContainer, Origin, ResourceId, WareInput
from r2k8s.expanded.lock import lock_differences, lock_document, lock_text, read_lock, write_lock

SCHEMA = REPO_ROOT / "schemas" / "formula-lock.schema.json"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"

names = st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)
origins = st.one_of(
    st.none(),
    st.builds(Origin, st.sampled_from(["path", "formula", "url"]), names),
    st.builds(Origin, st.just("path"), names, st.just(COMMIT), st.booleans()),
)
inputs = st.lists(
    st.builds(
        WareInput,
        st.from_regex(r"/[a-z]{0,5}", fullmatch=True),
        st.from_regex(r"tar:[1-9A-Za-z]{8}", fullmatch=True),
        st.lists(st.sampled_from(["ca+https://a.example/w", "ca+file:///srv/w", "http://b/x.tgz"]), max_size=2).map(
            tuple
        ),
    ),
    unique_by=lambda w: w.path,
    max_size=3,
).map(lambda ws: tuple(sorted(ws, key=lambda w: w.path)))
containers = st.lists(
    st.builds(
        ExpandedContainer,
        st.builds(ResourceId, st.sampled_from(["Deployment", "CronJob", "Task"]), st.sampled_from(["", "ops"]), names),
        names,
        st.just("manifests.yaml"),
        st.just("spec.template.spec.containers[0]"),
        st.from_regex(r"[1-9A-Za-z]{10}", fullmatch=True),
        inputs,
        origins,
    ),
    unique_by=lambda e: e.key,
    max_size=6,
)


def test_the_schema_is_published_valid_and_shipped() -> None:
    document = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$id"] == "https://r2k8s.dev/schemas/formula-lock.schema.json"
    shipped = importlib.resources.files("r2k8s").joinpath("schemas", "formula-lock.schema.json").read_text("utf-8")
    assert json.loads(shipped) == document


@settings(max_examples=60, deadline=None)
@given(entries=containers, order=st.randoms(use_true_random=False))
def test_any_order_gives_the_same_bytes_which_validate_and_read_back(
    entries: list[ExpandedContainer], order: random.Random
) -> None:
    shuffled = list(entries)
    order.shuffle(shuffled)
    text = lock_text(entries)
    assert lock_text(shuffled) == text
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(yaml.safe_load(text))
    assert lock_document(entries) == yaml.safe_load(text)


@settings(max_examples=30, deadline=None)
@given(entries=containers)
def test_a_written_lock_reads_back_to_the_same_entries_and_no_differences(
    tmp_path_factory: pytest.TempPathFactory, entries: list[ExpandedContainer]
) -> None:
    path = tmp_path_factory.mktemp("lock") / "formulas.lock.yaml"
    write_lock(path, entries)
    lock = read_lock(path)
    assert lock_differences(lock, entries) == []
    assert sorted((e.key, e.formula_id, e.inputs, e.origin) for e in lock.containers) == sorted(
        (e.key, e.formula_id, e.inputs, e.origin) for e in entries
    )
    assert [p.name for p in path.parent.iterdir()] == ["formulas.lock.yaml"]  # no staging file left


def entry(name: str, formula_id: str, *, kind: str = "Deployment", file: str = "out.yaml") -> ExpandedContainer:
    return ExpandedContainer(ResourceId(kind, "prod", name), name, file, "spec", formula_id, ())


def test_differences_name_each_changed_added_and_removed_container(tmp_path: Path) -> None:
    path = tmp_path / "formulas.lock.yaml"
    write_lock(path, [entry("web", "OldWeb"), entry("db", "Db"), entry("gone", "Gone")])
    lock = read_lock(path)
    now = [entry("web", "NewWeb"), entry("db", "Db"), entry("new", "New")]
    assert lock_differences(lock, now) == [
        f"Deployment/prod/gone: container 'gone': in the lock ({path}, formula Gone) but not in the manifests",
        f"out.yaml: Deployment/prod/new: container 'new': runs formula New, which the lock {path} lacks",
        f"out.yaml: Deployment/prod/web: container 'web': formula changed: the lock {path} has OldWeb, the manifests"
        " run NewWeb",
    ]


def test_a_warehouse_change_is_no_difference(tmp_path: Path) -> None:
    path = tmp_path / "formulas.lock.yaml"
    before = ExpandedContainer(ResourceId("Pod", "", "p"), "c", "f", "spec", "Id", (WareInput("/", "tar:a", ("x",)),))
    write_lock(path, [before])
    moved = ExpandedContainer(ResourceId("Pod", "", "p"), "c", "f", "spec", "Id", (WareInput("/", "tar:a", ("y",)),))
    assert lock_differences(read_lock(path), [moved]) == []


def test_one_container_running_two_formulas_cannot_be_locked() -> None:
    with pytest.raises(R2k8sError, match=r"Deployment/prod/web: container 'web' is there twice, running formula A \(a"):
        lock_document([entry("web", "A", file="a"), entry("web", "B", file="b")])
    assert len(lock_document([entry("web", "A", file="a"), entry("web", "A", file="b")])["spec"]["containers"]) == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(kind="Lock"), "kind: 'FormulaLock' was expected"),
        (
            lambda d: d["metadata"]["annotations"].clear(),
            "metadata.annotations: 'config.kubernetes.io/local-config' is required",
        ),
        (
            lambda d: d["spec"]["containers"][0]["inputs"][0].update(ware="nohash"),
            "spec.containers[0].inputs[0].ware: 'nohash' is not a ware ID",
        ),
        (lambda d: d["spec"]["containers"][0].update(origin={"path": "a", "url": "b"}), "spec.containers[0].origin"),
        (lambda d: d["spec"]["containers"][0].update(extra=1), "spec.containers[0].extra: unknown key 'extra'"),
        (
            lambda d: d["spec"]["containers"].append(dict(d["spec"]["containers"][0])),
            "spec.containers[1]: Pod/p container 'c' is already spec.containers[0]",
        ),
    ],
)
def test_a_bad_lock_names_its_file_and_field(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    path = tmp_path / "formulas.lock.yaml"
    good = ExpandedContainer(ResourceId("Pod", "", "p"), "c", "f", "spec", "Id", (WareInput("/", "tar:a", ("x",)),))
    document = lock_document([good])
    edit(document)
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(R2k8sError) as caught:
        read_lock(path)
    assert caught.value.message.startswith(f"{path}: ")
    assert message in caught.value.message


def test_a_lock_that_is_not_one_yaml_document_is_named(tmp_path: Path) -> None:
    path = tmp_path / "formulas.lock.yaml"
    path.write_text("a: [\n")
    with pytest.raises(R2k8sError, match=r"formulas.lock.yaml: line 2 column 1: not valid YAML"):
        read_lock(path)
    path.write_text("a: 1\n---\nb: 2\n")
    with pytest.raises(R2k8sError, match=r"a lock is one FormulaLock document, found 2"):
        read_lock(path)
