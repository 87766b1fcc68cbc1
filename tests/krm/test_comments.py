"""Comments stay with the field they describe when the function rewrites the container above it (issue 13,
defect 3).

ruamel.yaml files the comment lines that follow a block collection under that collection's last element,
though they sit above the next field. Replacing ``command`` or removing ``args`` took them along: the
comment above ``terminationGracePeriodSeconds`` vanished. Over each I/O path, in a stream and a
ResourceList, the comment must come out right above its field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from krm_inputs import answers_over_each_path, as_list, write_formula

DRAIN = "# Give the node a minute to drain connections."
PORTS = "# The port the probes use."

AFTER_COMMAND = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: ./web.formula
        command:
        - /bin/sh
        - -c
        - echo hi
      {DRAIN}
      terminationGracePeriodSeconds: 60
"""

AFTER_ARGS = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: p  # the pod
spec:
  containers:
  - name: app
    image: ./web.formula
    args:
    - --port
    - "8080"

    {PORTS}
    ports:
    - containerPort: 8080
  - name: side
    image: busybox
"""

AT_THE_END = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: app
    image: ./web.formula
    command: [/bin/true]
    args:
    - a
  # {DRAIN[2:]} (nothing follows)
"""


def answers(text: str) -> list[str]:
    outputs = answers_over_each_path(text)
    assert all("image: ./web.formula" not in output for output in outputs), "every formula is expanded"
    return outputs


@pytest.fixture(autouse=True)
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("form", ["stream", "list"])
@pytest.mark.parametrize(
    ("document", "comment", "field"),
    [
        (AFTER_COMMAND, DRAIN, "terminationGracePeriodSeconds: 60"),
        (AFTER_ARGS, PORTS, "ports:"),
    ],
)
def test_a_comment_above_the_field_after_a_rewritten_block_stays_above_that_field(
    form: str, document: str, comment: str, field: str
) -> None:
    text = document if form == "stream" else as_list(document)
    for output in answers(text):
        lines = [line.strip() for line in output.splitlines()]
        assert lines.count(comment) == 1, lines
        assert lines[lines.index(comment) + 1] == field, lines[lines.index(comment) - 3 :][:6]
        if "# the pod" in text:
            assert "name: p  # the pod" in output  # an end-of-line comment stays on its line


@pytest.mark.parametrize("form", ["stream", "list"])
def test_a_comment_after_the_last_field_of_a_rewritten_resource_is_kept(form: str) -> None:
    text = AT_THE_END if form == "stream" else as_list(AT_THE_END)
    for output in answers(text):
        assert output.count("(nothing follows)") == 1
