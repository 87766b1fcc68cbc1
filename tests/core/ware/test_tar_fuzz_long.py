"""The tar reader fuzzed for long (issue 12): mutated tarballs through ``ingest_tar``, what ``r2k8s scan`` and
``unpack`` run, each answered with an ``IngestResult`` or an ``R2k8sError``. 100,000 of them in the long fuzz
job (``.ci/fuzz``), 2,000 in every other run (``tests/support/fuzzing.executions_wanted``).

Seeded and deterministic (``tests/support/fuzzing.py``; ``R2K8S_FUZZ_SEED``, ``R2K8S_FUZZ_EXECUTIONS`` and
``R2K8S_FUZZ_WORKERS`` change the seed, the count and the worker processes). The count, the time and the rate
are written to pytest's terminal, recorded as the test's ``fuzz_executions`` property and printed on stderr.
The short hypothesis-driven properties stay in ``test_tar_fuzz.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import executions_wanted, fuzz, fuzz_seed, fuzz_workers, report_to_pytest


@pytest.mark.slow
def test_the_tar_reader_survives_mutated_tarballs(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    wanted = executions_wanted()
    report = fuzz("tar", wanted, seed=fuzz_seed(), workers=fuzz_workers(), failures_dir=tmp_path / "failures")
    report_to_pytest(request, report)
    assert not report.failures and not report.worker_problems, report.details()
    assert report.executions == wanted
    assert report.outcomes["ok"] and any(k.startswith("error:") for k in report.outcomes)  # both sides reached
