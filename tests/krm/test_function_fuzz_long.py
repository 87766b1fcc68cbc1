"""The KRM function fuzzed for long (issue 12): mutated ResourceLists and plain (helm) streams through
``r2k8s.krm.function.run`` (sometimes with ``explain``), in a package holding formulas. Every execution must
give exit 0 with non-empty output or exit 1 with a message: never another exit code, never an exception
(what ``r2k8s fn`` reports as an internal error), never exit 0 with empty output.

100,000 executions in the long fuzz job (``.ci/fuzz``; the function is far slower per input than the
parsers: it loads a formula and round-trips YAML, about 16 minutes on two cores), 2,000 in every other run.
Seeded and
deterministic (``tests/support/fuzzing.py``; ``R2K8S_FUZZ_SEED``, ``R2K8S_FUZZ_WORKERS``). The count, the
time and the rate are written to pytest's terminal, recorded as ``fuzz_executions`` and printed on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import executions_wanted, fuzz, fuzz_seed, fuzz_workers, report_to_pytest


@pytest.mark.slow
def test_the_function_survives_mutated_resource_lists_and_streams(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    wanted = executions_wanted()
    report = fuzz("function", wanted, seed=fuzz_seed(), workers=fuzz_workers(), failures_dir=tmp_path / "failures")
    report_to_pytest(request, report)
    assert not report.failures and not report.worker_problems, report.details()
    assert report.executions == wanted
    assert report.outcomes["ok"] and report.outcomes["refused"], report.outcomes
