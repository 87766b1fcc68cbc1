"""Sanity checks: the real integration programs from tests/tools.py run and are the pinned versions.

Each test skips when its tool is missing (``.ci/install-tools`` installs them).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools import VERSIONS, helm3, helm4, kpt, kustomize


def output(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr}"
    return done.stdout.strip()


def test_kustomize_is_the_pinned_version() -> None:
    assert output(kustomize(), "version") == VERSIONS["kustomize"]


def test_helm3_is_helm_3_at_the_pinned_version() -> None:
    version = output(helm3(), "version", "--short")
    assert version.startswith("v3.")
    assert version.split("+")[0] == VERSIONS["helm3"]


def test_helm4_is_helm_4_at_a_pinned_version() -> None:
    version = output(helm4(), "version", "--short")
    assert version.startswith("v4.")
    assert version.split("+")[0] in {VERSIONS["helm4"], VERSIONS.get("helm4_fallback")}


def test_kpt_reports_a_version() -> None:
    version = output(kpt(), "version")
    assert version and version.splitlines()[0][0].isdigit(), version


def test_a_missing_tool_skips_naming_the_install_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2K8S_CI_CACHE", str(tmp_path))
    monkeypatch.delenv("R2K8S_HELM4", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"helm4 v4\.\S+ not found at .*: \.ci/install-tools builds it"):
        helm4()


def test_an_override_wins_and_a_bad_one_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-kustomize"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("R2K8S_KUSTOMIZE", str(fake))
    assert kustomize() == fake
    monkeypatch.setenv("R2K8S_KUSTOMIZE", str(tmp_path / "absent"))
    with pytest.raises(pytest.fail.Exception, match="R2K8S_KUSTOMIZE"):
        kustomize()
