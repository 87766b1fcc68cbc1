"""The function on real public manifests (issue 13): ``../shared/realworld/corpus`` (14 projects; see its
``SOURCES.md``), skipped with a reason when ``../shared`` is absent.

* Every file, as helm or a resolver would pass it (a plain stream): without a formula, the answer is the
  input, byte for byte (CRLF, tabs, anchors, ``...`` markers, comments, no final newline).
* Every core workload in it (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, ReplicaSet), its first
  ``image:`` pointed at a formula: the function answers; every other document comes back byte for byte;
  in the changed one, all data outside the rewritten container's pod spec is unchanged but the pod's
  formula annotation, every other container is unchanged, and every comment line is still there.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from realworld import CORPUS, REALWORLD, chunks, comments, loaded, needs_corpus

from r2k8s.krm.function import run

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}
_IMAGE = re.compile(r"^(\s*-?\s*image:[ \t]*)(\S[^\r\n]*)", re.MULTILINE)


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    spec = document["spec"]
    if document["kind"] == "Pod":
        return spec
    if document["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def without_pod(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its pod spec, its pod's formula annotation and the resource's way back to what was
    written (``r2k8s.io/source``, issue 13 defect 10) taken out."""
    import copy

    copied = copy.deepcopy(document)
    own = copied.get("metadata") or {}
    (own.get("annotations") or {}).pop("r2k8s.io/source", None)
    if own.get("annotations") == {}:
        del own["annotations"]
    holder = copied if copied["kind"] == "Pod" else None
    if holder is None:
        holder = (
            copied["spec"]["jobTemplate"]["spec"]["template"]
            if copied["kind"] == "CronJob"
            else copied["spec"]["template"]
        )
    holder.pop("spec", None)
    metadata = holder.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    annotations.pop("r2k8s.io/formulas", None)
    if not annotations:
        metadata.pop("annotations", None)
    if not metadata:
        holder.pop("metadata", None)
    return copied


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copyfile(REALWORLD / "app.formula", tmp_path / "app.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@needs_corpus
@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.relative_to(REALWORLD / "corpus").as_posix())
def test_a_real_manifest_without_formulas_comes_back_byte_for_byte(source: Path, package: Path) -> None:
    text = source.read_bytes().decode()
    outcome = run(text)
    assert outcome.exit_code == 0, outcome.results.stderr_lines()
    assert outcome.output == text


def workload_cases() -> list[Any]:
    cases = []
    for source in CORPUS:
        text = source.read_bytes().decode()
        for number, (start, end) in enumerate(chunks(text)):
            document = loaded(text[start:end])
            if isinstance(document, dict) and document.get("kind") in WORKLOADS and _IMAGE.search(text, start, end):
                name = f"{source.relative_to(REALWORLD / 'corpus').as_posix()}#{number}"
                cases.append(pytest.param(source, number, id=name))
    return cases


@needs_corpus
@pytest.mark.parametrize(("source", "number"), workload_cases())
def test_a_real_workload_naming_a_formula_changes_only_its_pod(source: Path, number: int, package: Path) -> None:
    original = source.read_bytes().decode()
    bounds = chunks(original)
    start, end = bounds[number]
    found = _IMAGE.search(original, start, end)
    assert found is not None
    text = original[: found.start(2)] + "./app.formula" + original[found.end(2) :]
    shift = len(text) - len(original)
    outcome = run(text)
    before = loaded(original[start:end])
    if any(c.get("image") == found.group(2) for c in pod_spec(before).get("ephemeralContainers", [])):
        assert outcome.exit_code == 1 and "ephemeral container" in " ".join(outcome.messages)
        return  # never expanded: the API server refuses ephemeral containers on create (issue 13, defect 6)
    assert outcome.exit_code == 0, outcome.results.stderr_lines()
    output = outcome.output
    for index, (other_start, other_end) in enumerate(bounds):
        if index != number:
            chunk = original[other_start:other_end].strip("\r\n")
            assert not chunk or chunk in output, f"document {index} changed"
    changed_text = text[start : end + shift]
    after = next(
        d
        for d in yaml.safe_load_all(output.replace("\n...\n", "\n"))
        if isinstance(d, dict)
        and d.get("kind") == before["kind"]
        and d.get("metadata")
        and d["metadata"].get("name") == before["metadata"].get("name")
        and "r2k8s.io" in str(d.get("metadata")) + str(d.get("spec"))
    )
    assert without_pod(after) == without_pod(before)
    spec_before, spec_after = pod_spec(before), pod_spec(after)
    kept_before = [
        c
        for c in spec_before.get("containers", []) + spec_before.get("initContainers", [])
        if c.get("image") != found.group(2).strip("'\"")
    ]
    kept_after = [
        c for c in spec_after.get("containers", []) + spec_after.get("initContainers", []) if c in kept_before
    ]
    assert len(kept_after) >= len(kept_before) - 1  # every other container unchanged (one may share the image)
    for comment in comments(changed_text):
        assert comment in comments(output), comment
