"""``run``'s memo: which store (``--memo-dir``, ``$REPEATR_MEMODIR``, none), which key, and the record as text.

The store itself is :mod:`r2k8s.core.run.memo`. The memo lives with the client
for cluster runs too: the client already receives every record and saves the
outputs whose warehouses are its own, so it can answer a hit without asking
the cluster anything (no Job, no API call), and one memo directory serves
``--local`` and cluster runs alike (their records share formula IDs and
results).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from r2k8s.core.aliases import LogFn
from r2k8s.core.run.memo import MEMODIR_ENV, MemoStore, memo_key
from r2k8s.core.run.record import from_json, to_json

__all__ = ["Memo", "memo_directory"]


def memo_directory(flag: str | None) -> str | None:
    """``--memo-dir``, else ``$REPEATR_MEMODIR`` (repeatr's switch), else ``None``: memo off, as in repeatr."""
    return flag or os.environ.get(MEMODIR_ENV) or None


@dataclass
class Memo:
    """The memo of one formula file: its store, its key, and what a hit must find saved."""

    store: MemoStore
    key: str
    save_urls: dict[str, str]
    base_dir: Path
    log: LogFn

    @classmethod
    def from_arguments(cls, flag: str | None, formula_path: Path, log: LogFn) -> Memo | None:
        directory = memo_directory(flag)
        if directory is None:
            return None
        from r2k8s.formula_files import load_formula_file

        loaded = load_formula_file(formula_path, strict=False)  # the run itself reports what cannot run
        # A legacy formula has no modern raw form: its memo key is its legacy setup hash (what formula-id prints).
        key = loaded.formula_id if loaded.kind == "legacy" else memo_key(loaded.formula)
        return cls(MemoStore(directory), key, dict(loaded.context.save_urls), loaded.path.absolute().parent, log)

    def recall(self) -> str | None:
        """The stored record as the run prints it, or ``None`` when the formula must run."""
        record = self.store.recall(self.key, self.save_urls, self.base_dir, self.log)
        return None if record is None else to_json(record)

    def save(self, record_json: str) -> None:
        self.store.save(self.key, from_json(record_json), self.log)
