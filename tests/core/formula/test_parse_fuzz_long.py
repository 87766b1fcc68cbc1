"""The formula parsers fuzzed for long (issue 12): mutated formula files (100,000 in the long fuzz job,
``.ci/fuzz``; 2,000 in every other run), shared between
repeatr's lenient JSON decoder (``lenient_json.loads``) and ``load_formula_bytes`` on modern JSON, modern YAML
and legacy formulas (then the formula ID and the raw setup hash of what loaded). Every execution answers
with a document, a loaded formula and its IDs, or an ``R2k8sError``; nothing else.

Seeded and deterministic (``tests/support/fuzzing.py``; ``R2K8S_FUZZ_SEED``, ``R2K8S_FUZZ_EXECUTIONS`` and
``R2K8S_FUZZ_WORKERS``). The count, the time, the rate and the outcomes per parser are written to pytest's
terminal, recorded as the test's ``fuzz_executions`` property and printed on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import executions_wanted, fuzz, fuzz_seed, fuzz_workers, report_to_pytest


@pytest.mark.slow
def test_the_formula_parsers_survive_mutated_files(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    wanted = executions_wanted()
    report = fuzz("formula", wanted, seed=fuzz_seed(), workers=fuzz_workers(), failures_dir=tmp_path / "failures")
    report_to_pytest(request, report)
    assert not report.failures and not report.worker_problems, report.details()
    assert report.executions == wanted
    for reached in ("lenient-json:ok", "load:ok:modern", "load:ok:legacy"):
        assert report.outcomes[reached], f"no execution reached {reached}: {report.outcomes}"
