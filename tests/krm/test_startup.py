"""``r2k8s fn`` on an empty ResourceList: the start-up path stays light.

kustomize, kpt and helm start the function once per build, so its start-up
is paid every time. The function path must not import the Kubernetes client
(or its companions ``urllib3`` and ``jsonschema``, the latter needed only to
validate a function config that is actually given), nor ruamel.yaml and
``jsonpatch``, which only a run with something to change needs. A fresh
interpreter runs the function with ``-X importtime``, which lists every module
it imports; the test checks names, not times (timing belongs in
bench/krm_function.py).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

EMPTY_LIST = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n"
NOT_ON_THE_PATH = ("kubernetes", "jsonschema", "urllib3", "ruamel", "jsonpatch")
IMPORT_LINE = re.compile(r"^import time:\s*\d+ \|\s*\d+ \| *(\S+)$")
Run = tuple[subprocess.CompletedProcess[str], set[str]]
"""The child's result and the modules it imported."""

ENTRY_POINTS = {
    # what a user types
    "python -m r2k8s fn": ["-m", "r2k8s", "fn"],
    # what kustomize, kpt and helm do: the console script, stdin piped, no arguments
    "r2k8s with stdin piped": ["-c", "import sys; from r2k8s.cli import main; sys.exit(main())"],
}


def run_function(args: list[str]) -> Run:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], input=EMPTY_LIST, capture_output=True, text=True, timeout=120
    )
    modules = {match.group(1) for line in result.stderr.splitlines() if (match := IMPORT_LINE.match(line))}
    return result, modules


@pytest.fixture(scope="module", params=sorted(ENTRY_POINTS))
def empty_run(request: pytest.FixtureRequest) -> Run:
    return run_function(ENTRY_POINTS[request.param])


def test_the_output_is_the_empty_resource_list(empty_run: Run) -> None:
    result, _ = empty_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert yaml.safe_load(result.stdout) == {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [],
    }


def test_the_import_listing_sees_the_function(empty_run: Run) -> None:
    """Guards the next test against passing on an empty or unparsed listing."""
    _, modules = empty_run
    assert {"r2k8s.cli", "r2k8s.krm.quick", "yaml"} <= modules


def test_the_piped_call_answers_before_the_command_line_is_built() -> None:
    """``r2k8s`` with stdin piped (how orchestrators call it) returns an unchanged input without argparse."""
    result, modules = run_function(ENTRY_POINTS["r2k8s with stdin piped"])
    assert result.returncode == 0 and result.stdout == EMPTY_LIST
    assert not {"argparse", "r2k8s.cli.app", "r2k8s.core.errors"} & modules


def test_a_piped_input_with_work_still_reaches_the_function() -> None:
    """Read once by the shortcut, the input still reaches the function proper (here: an error about it)."""
    text = EMPTY_LIST.replace("items: []", "items: not-a-list")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from r2k8s.cli import main; sys.exit(main())"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "items" in result.stderr


@pytest.mark.parametrize("package", NOT_ON_THE_PATH)
def test_heavy_packages_are_not_imported(empty_run: Run, package: str) -> None:
    _, modules = empty_run
    offenders = sorted(m for m in modules if m == package or m.startswith(f"{package}."))
    assert not offenders, f"{package} imported on the function's start-up path: {offenders[:5]}"


def test_the_listing_does_catch_an_import() -> None:
    """The same probe on a child that does import urllib3 reports it (the check is not vacuous)."""
    _, modules = run_function(["-c", "import urllib3"])
    assert "urllib3" in modules
