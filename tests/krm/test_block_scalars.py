"""Block scalars in a changed resource keep their value (issue 13, defect 1).

A literal or folded block scalar that ends a resource the function rewrites lost its final line break
(``|`` came back as ``|-``): the splice cut the item's text before its last line break, and the round trip
read the scalar without it. Every chomping indicator, at the end of an item or before others, in a
ResourceList and in a plain stream, over each I/O path: the other container's data must read back equal.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from krm_inputs import answers_over_each_path, as_list, write_formula

from r2k8s.krm.function import run

STYLES = ["|", "|-", "|+", ">", ">-", ">+"]
BODIES = {"blank inside": ["echo one", "", "echo two"]}
"""(One line is the issue's own example, below.)"""
TRAILING_BLANKS = [0, 2]


def pod(style: str, body: list[str], blanks: int, *, comment: bool, last: bool) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Pod",
        "metadata: {name: p}",
        "spec:",
        "  containers:",
        "  - {name: app, image: ./web.formula}",
        "  - name: other",
        "    image: busybox" + ("  # not a formula" if comment else ""),
        "    args:",
        f"    - {style}",
        *[f"      {line}" if line else "" for line in body],
        *[""] * blanks,
    ]
    if not last:
        lines += ["    workingDir: /tmp"]
    return "\n".join(lines) + "\n"


CASES = [
    pytest.param(style, body, blanks, last, id=f"{style}-{name}-{blanks}blank-{'last' if last else 'middle'}")
    for style, (name, body), blanks, last in itertools.product(STYLES, BODIES.items(), TRAILING_BLANKS, (True, False))
]
"""A comment in the item (which sends the splice's rewrite through ruamel.yaml) where the scalar ends it."""


def other_args(text: str) -> list[str]:
    for document in yaml.safe_load_all(text):
        items = document["items"] if document.get("kind") == "ResourceList" else [document]
        for item in items:
            if item["kind"] == "Pod":
                containers = item["spec"]["containers"]
                assert containers[0]["image"] != "./web.formula", "the formula container was not rewritten"
                return next(c for c in containers if c["name"] == "other")["args"]
    raise AssertionError("no Pod in the output")


@pytest.mark.parametrize(("style", "body", "blanks", "last"), CASES)
def test_a_block_scalar_in_a_changed_resource_reads_back_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, style: str, body: list[str], blanks: int, last: bool
) -> None:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    document = pod(style, body, blanks, comment=last, last=last)
    for text in ("---\n" + document + "---\n" + document.replace("name: p}", "name: q}"), as_list(document)):
        expected = other_args(text.replace("./web.formula", "rewritten"))
        for output in answers_over_each_path(text):
            assert other_args(output) == expected


def test_the_issues_example_keeps_its_literal_block_and_final_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    outcome = run(pod("|", ["echo one"], 0, comment=False, last=True))
    assert outcome.exit_code == 0
    assert "    - |\n      echo one\n" in outcome.output
    assert other_args(outcome.output) == ["echo one\n"]
