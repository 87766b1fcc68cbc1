"""A plain stream (helm's post-renderer) costs work in proportion to its size (issue 12).

Counted, not timed: a deterministic measure of work at N and at 4N documents must grow about 4-fold. Reading
each document's ``# Source:`` and line number once counted the lines from the start of the text for every
document, which made 50,000 documents take 92 s.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from krm_inputs import deployment, write_formula
from krm_shapes import CountingPattern, CountingText

from r2k8s.krm import resource_list
from r2k8s.krm.function import run
from r2k8s.krm.resource_list import stream_sources

GROWTH = 5
"""How much more work 4x the documents may take: 4 and some constant overhead (16 if quadratic)."""


def helm_stream(n: int) -> str:
    """One formula Deployment and ``n`` ordinary ones, each under helm 3's ``# Source:`` comment."""
    ordinary = yaml.safe_dump(deployment(name="NAME", image="nginx:1.27"))
    documents = ["---\n# Source: chart/templates/web.yaml\n" + yaml.safe_dump(deployment())]
    documents += [f"---\n# Source: chart/templates/d{i}.yaml\n" + ordinary.replace("NAME", f"d{i}") for i in range(n)]
    return "".join(documents)


def examined(text: str) -> tuple[int, list[tuple[int, str | None]]]:
    """Characters ``stream_sources`` examines in ``text`` (str methods and regular expressions alike)."""
    CountingText.examined = 0
    chunks = stream_sources(CountingText(text))
    return CountingText.examined, chunks


def test_reading_a_streams_sources_examines_each_character_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in list(vars(resource_list).items()):
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(resource_list, name, CountingPattern(value))
    small_text, large_text = helm_stream(500), helm_stream(2000)
    small, chunks = examined(small_text)
    large, _ = examined(large_text)
    assert chunks[2] == (small_text.split("\n").index("# Source: chart/templates/d0.yaml"), "chart/templates/d0.yaml")
    assert large <= GROWTH * small, (small, large)
    assert large <= 4 * len(large_text), (large, len(large_text))  # a few passes over the text, not one per document


def test_the_counting_text_notices_quadratic_scanning() -> None:
    """Guards the test above: a scan from the start of the text for every line counts quadratically."""

    def line_numbers(text: str) -> list[int]:
        return [text.count("\n", 0, at) for at in range(0, len(text), 40)]

    def work(text: str) -> int:
        CountingText.examined = 0
        line_numbers(CountingText(text))
        return CountingText.examined

    assert work("x\n" * 8000) > 12 * work("x\n" * 2000)


def calls_made(function: Callable[[], Any]) -> int:
    """Python and C function calls made while ``function`` runs: deterministic for a given input."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return count


def test_the_whole_function_on_a_plain_stream_makes_calls_in_proportion_to_its_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    small_text, large_text = helm_stream(100), helm_stream(400)
    assert run(small_text).exit_code == 0  # warm: the agent zipapp is built once per process
    small = calls_made(lambda: run(small_text))
    large = calls_made(lambda: run(large_text))
    assert large <= GROWTH * small, (small, large)
