"""Write formulas and run ``r2k8s run`` on them as a user would: a subprocess, stdout and stderr apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r2k8s.core.run.record import RunRecord, from_json


def write_formula(
    directory: Path,
    inputs: dict[str, str],
    action: dict[str, Any],
    outputs: dict[str, Any] | None = None,
    fetch: dict[str, list[str]] | None = None,
    save: dict[str, str] | None = None,
    name: str = "job.formula",
) -> Path:
    formula: dict[str, Any] = {"inputs": inputs, "action": action}
    if outputs is not None:
        formula["outputs"] = outputs
    document = {"formula": formula, "context": {"fetchUrls": fetch or {}, "saveUrls": save or {}}}
    path = directory / name
    path.write_text(json.dumps(document, indent="\t"))
    return path


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def record(self) -> RunRecord:
        assert self.code == 0, f"r2k8s exited {self.code}:\n{self.stderr}"
        return from_json(self.stdout)

    def output_lines(self) -> list[str]:
        """The action's own output, from repeatr's '≡⟩ [time] ≡⟩ <TAB>line' events."""
        return [line.split(" ≡⟩ \t", 1)[1] for line in self.stderr.splitlines() if " ≡⟩ \t" in line]


def run_local(
    formula: Path,
    *args: str,
    cache: Path,
    jobs: Path,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Outcome:
    environment = dict(os.environ, R2K8S_CACHE=str(cache), R2K8S_JOBS=str(jobs), **(env or {}))
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "run", "--local", *args, str(formula)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=cwd,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def start_local(formula: Path, *args: str, cache: Path, jobs: Path) -> subprocess.Popen[str]:
    environment = dict(os.environ, R2K8S_CACHE=str(cache), R2K8S_JOBS=str(jobs))
    return subprocess.Popen(
        [sys.executable, "-m", "r2k8s", "run", "--local", *args, str(formula)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
