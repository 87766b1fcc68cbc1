"""The hostile-input suite's harness (issue 12): every case runs the real command in a box of its own.

A module's cases are started ahead, a few at once (one per core, at most four), when its first test asks
for its result: each case is a separate ``python -m r2k8s`` process, and most of their time is start-up.
Every test still asserts on its own case alone, and only the cases pytest selected are run.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_inputs import Case, Report, execute

WORKERS = max(1, min(4, os.cpu_count() or 1))


class Batch:
    def __init__(self, base: Path, cases: list[Case]) -> None:
        self.base = base
        self.pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="hostile")
        self.futures = {case.id: self.pool.submit(execute, case, base) for case in cases}

    def report(self, case: Case) -> Report:
        future = self.futures.get(case.id) or self.pool.submit(execute, case, self.base)
        return future.result()

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    """Runs the ``case`` parameters of this module's selected tests, in their order."""
    cases = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec is not None:
            case = callspec.params.get("case")
            if isinstance(case, Case):
                cases.append(case)
    runner = Batch(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]), cases)
    yield runner
    runner.close()
