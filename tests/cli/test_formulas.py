"""``r2k8s formula-id`` as a user runs it: the ID alone on stdout, the legacy setup hash for legacy files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from upstream_formulas import RELEASE_V014, UPSTREAM

from r2k8s.core.formula.ids import formula_id, legacy_setup_hash, raw_setup_hash
from r2k8s.formula_files import load_formula_file


def formula_id_command(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "r2k8s", "formula-id", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("raw", [False, True])
def test_a_modern_formula_prints_its_id_or_with_raw_its_memo_key(tmp_path: Path, raw: bool) -> None:
    path = tmp_path / "f.formula"
    path.write_text(UPSTREAM["example_03_output.formula"])
    formula = load_formula_file(path).formula
    expected = raw_setup_hash(formula) if raw else formula_id(formula)
    assert formula_id_command(str(path), *(["--raw"] if raw else [])) == expected + "\n"
    assert raw_setup_hash(formula) != formula_id(formula)  # so the two cases differ


@pytest.mark.parametrize("raw", [False, True])
def test_a_legacy_formula_prints_its_legacy_setup_hash_either_way(tmp_path: Path, raw: bool) -> None:
    path = tmp_path / "release.frm"
    path.write_text(RELEASE_V014)
    legacy = load_formula_file(path).legacy
    assert legacy is not None
    assert formula_id_command(str(path), *(["--raw"] if raw else [])) == legacy_setup_hash(legacy) + "\n"
