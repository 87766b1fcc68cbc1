"""The function's options wherever helm puts them: ``r2k8s --config F`` (helm 3), ``r2k8s fn --config F`` (helm 4).

Each case runs ``python -m r2k8s`` with the example piped in, as helm does; an argument the function does not
know is a usage error naming it and the options it does know, never ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from krm_inputs import WEB_EXAMPLE

DEPLOYMENT = (WEB_EXAMPLE / "deployment.yaml").read_text()
CONFIG = (
    "apiVersion: fn.r2k8s.io/v1alpha1\nkind: R2k8sFunction\nmetadata: {name: r2k8s}\n"
    "spec: {agent: {image: img:1, emptyImage: null}}\n"
)


def r2k8s(*args: str | Path, stdin: str = DEPLOYMENT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "R2K8S_EXPLAIN"}
    return subprocess.run(
        [sys.executable, "-m", "r2k8s", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=WEB_EXAMPLE,
        env=env,
        timeout=120,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "r2k8s.yaml"
    path.write_text(CONFIG)
    return path


def image_of(output: str) -> str:
    documents = [d for d in yaml.safe_load_all(output) if d]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.parametrize(
    "words",
    [("--config", "{}"), ("--config={}",), ("fn", "--config", "{}"), ("--config", "{}", "--explain")],
    ids=["helm3", "helm3-one-word", "helm4", "helm3-explain"],
)
def test_the_config_reaches_the_function_wherever_it_is_given(words: tuple[str, ...], config: Path) -> None:
    result = r2k8s(*(w.format(config) for w in words))
    assert result.returncode == 0, result.stderr
    if "--explain" in words:
        operations = next(d for d in yaml.safe_load_all(result.stdout) if d)["operations"]
        assert {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "img:1"} in operations
    else:
        assert image_of(result.stdout) == "img:1"


def test_explain_as_the_first_word_explains() -> None:
    assert r2k8s("--explain").stdout == r2k8s("fn", "--explain").stdout != DEPLOYMENT


@pytest.mark.parametrize("words", [("--confg", "x"), ("fn", "--bogus"), ("fn", "values.yaml"), ("--explain", "x")])
def test_an_argument_the_function_does_not_know_is_a_usage_error(words: tuple[str, ...]) -> None:
    result = r2k8s(*words)
    assert result.returncode == 1 and result.stdout == ""
    unknown = " ".join(w for w in words if w not in ("fn", "--explain"))
    assert f"unrecognized arguments: {unknown} (the function accepts --config FILE and --explain" in result.stderr


def test_the_command_lines_own_options_and_the_plain_function_are_unchanged() -> None:
    assert r2k8s("--version").stdout.startswith("r2k8s ")
    assert "COMMAND" in r2k8s("--help").stdout
    plain, fn = r2k8s(), r2k8s("fn")
    assert plain.returncode == fn.returncode == 0 and plain.stdout == fn.stdout
    assert image_of(plain.stdout) == "registry.k8s.io/pause:3.10"  # the default empty image
