"""The function on every real resource of ``../shared/realworld/corpus`` that holds a container, whatever its
kind (Argo, Tekton, KServe, Rollouts, Knative, core; issue 13), its first container pointed at a formula:

* it answers (cluster-scoped kinds given ``spec.agent.namespaces``), or refuses an ephemeral-only formula;
* every other document comes back byte for byte, and every comment line of the changed one is kept;
* what it writes into each pod spec is valid Kubernetes (the containers, init containers and volumes,
  strictly against the cluster version's OpenAPI schema) and, in Knative Serving's kinds, passes
  Knative's admission rules; nothing outside ``spec`` changes but the resource's annotations.

Skipped with a reason when ``../shared`` is absent.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from knative_rules import knative_refusals
from realworld import CORPUS, REALWORLD, chunks, comments, loaded, needs_corpus

from r2k8s.core.jsonpath import value_at
from r2k8s.krm.function import run
from r2k8s.krm.locate import find_containers

KUBERNETES_VERSION = "1.34"
NAMESPACES = {"apiVersion": "fn.r2k8s.io/v1alpha1", "kind": "R2k8sFunction", "metadata": {"name": "r2k8s"}}
NAMESPACES["spec"] = {"agent": {"namespaces": ["corpus"]}}


def cases() -> list[Any]:
    found = []
    for source in CORPUS:
        text = source.read_bytes().decode()
        for number, (start, end) in enumerate(chunks(text)):
            document = loaded(text[start:end])
            if isinstance(document, dict) and document.get("kind") != "List" and find_containers(document):
                name = f"{source.relative_to(REALWORLD / 'corpus').as_posix()}#{number}"
                found.append(pytest.param(source, number, id=name))
    return found


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copyfile(REALWORLD / "app.formula", tmp_path / "app.formula")
    monkeypatch.chdir(tmp_path)
    return tmp_path


REMOVED = ("command:", "args:", "workingDir:", "- command:", "- args:", "- workingDir:")
"""The fields a formula container loses (they move into its formula spec): a comment above one goes with it."""


def kept_comments(text: str) -> list[str]:
    """The comment lines of ``text`` that describe a field the rewrite keeps."""
    lines = text.splitlines()
    kept = []
    for number, line in enumerate(lines):
        if not line.strip().startswith("#"):
            continue
        following = next((n.strip() for n in lines[number + 1 :] if not n.strip().startswith("#")), "")
        if not following.startswith(REMOVED):
            kept.append(line.strip())
    return kept


def _image_line(text: str, start: int, end: int, image: str) -> re.Match[str] | None:
    """The ``image:`` line in ``text[start:end]`` whose value is ``image`` (quoted or not)."""
    pattern = re.compile(
        r"^(\s*-?\s*image:[ \t]*)(['\"]?" + re.escape(image) + r"['\"]?)[ \t]*(#[^\r\n]*)?\r?$", re.MULTILINE
    )
    return pattern.search(text, start, end)


@needs_corpus
@pytest.mark.parametrize(("source", "number"), cases())
def test_any_real_resource_with_a_formula_container(source: Path, number: int, package: Path) -> None:
    original = source.read_bytes().decode()
    bounds = chunks(original)
    start, end = bounds[number]
    before = loaded(original[start:end])
    site = find_containers(before)[0]
    image = value_at(before, site.exact)["image"]
    line = _image_line(original, start, end, image)
    if line is None:
        pytest.skip(f"the image {image!r} is not written on one plain line")
    text = original[: line.start(2)] + "./app.formula" + original[line.end(2) :]
    outcome = run(text, config_override=NAMESPACES)
    if site.path[-2:-1] == ("ephemeralContainers",):
        assert outcome.exit_code == 1 and "ephemeral container" in " ".join(outcome.messages)
        return
    assert outcome.exit_code == 0, outcome.results.stderr_lines()
    output = outcome.output
    for index, (other_start, other_end) in enumerate(bounds):
        chunk = original[other_start:other_end].strip("\r\n")
        if index != number and chunk:
            assert chunk in output, f"document {index} changed"
    for comment in kept_comments(original[start:end]):
        assert comment in comments(output), comment
    expected = copy.deepcopy(before)
    expected["spec"] = "…"
    after = next(
        d
        for d in yaml.safe_load_all(output.replace("\n...\n", "\n"))
        if isinstance(d, dict)
        and d.get("kind") == before["kind"]
        and (d.get("metadata") or {}).get("name") == (before.get("metadata") or {}).get("name")
        and "r2k8s.io/source" in str(d.get("metadata"))
    )
    compared = copy.deepcopy(after)
    compared["spec"] = "…"
    for document in (compared, expected):
        (document.get("metadata") or {}).pop("annotations", None)
    assert compared == expected, "nothing outside spec changes but the annotations"
    for found in find_containers(after):
        if found.pod_spec is None:
            continue
        pod = value_at(after, found.pod_spec)
        written = {key: pod[key] for key in ("containers", "initContainers", "volumes") if key in pod}
        pod_document = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": written}
        kubernetes_validate.validate(pod_document, KUBERNETES_VERSION, strict=True)
        if str(after.get("apiVersion", "")).startswith("serving.knative.dev/"):
            assert knative_refusals(pod) == []
