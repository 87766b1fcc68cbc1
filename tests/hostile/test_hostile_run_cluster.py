"""``r2k8s run`` (on a cluster) with hostile input, where no cluster is needed (issue 12): bad arguments,
hostile formula files (they are read before any connection), and broken or hostile kubeconfig files.

No case may reach a network: every kubeconfig here is refused before a connection (missing, binary,
nested, malformed), and every formula that loads meets a missing kubeconfig. A formula problem is a usage
error (1) naming the file; a kubeconfig problem names the kubeconfig (1, or 42 as the executor failing).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hostile_inputs import (
    HOSTILE_FORMULAS,
    Box,
    Case,
    alias_bomb,
    assert_no_problems,
    modern_formula_text,
    nested,
    params,
)

NO_CLUSTER = {"KUBECONFIG": "no-such-kubeconfig"}
"""Set for every case: a formula that loads then fails on the missing kubeconfig, never on a network."""

KUBECONFIG_FAILS = frozenset({1, 42})


def files(*pairs: tuple[str, bytes]) -> Callable[[Box], None]:
    def prepare(box: Box) -> None:
        for rel, data in pairs:
            box.write(rel, data)

    return prepare


FORMULA = ("job.formula", modern_formula_text().encode())

FORMULAS = ["deep-json-list-50000", "yaml-alias-bomb", "nul-escape-in-exec", "exec-is-a-number"]


def formula_case(name: str) -> Case:
    hostile = HOSTILE_FORMULAS[name]
    codes = frozenset(42 if code == 0 else code for code in hostile.codes)  # it loads: then no kubeconfig
    return Case(
        f"run-formula-{name}",
        ("run", "job.formula"),
        files(("job.formula", hostile.make())),
        codes,
        says=("job.formula",) if 0 not in hostile.codes else (),
        env=NO_CLUSTER,
    )


ARGUMENTS = [
    Case("run-no-formula", ("run",), None, frozenset({1}), env=NO_CLUSTER),
    Case("run-two-formulas", ("run", "job.formula", "job.formula"), files(FORMULA), frozenset({1}), env=NO_CLUSTER),
    Case("run-missing-formula", ("run", "nope.formula"), None, frozenset({1}), says=("nope.formula",), env=NO_CLUSTER),
    Case("run-formula-is-a-directory", ("run", "in"), None, frozenset({1}), says=("in",), env=NO_CLUSTER),
    *(
        Case(f"run-{name}", ("run", *args, "job.formula"), files(FORMULA), frozenset({1}), env=NO_CLUSTER)
        for name, args in [
            ("timeout-0", ("--timeout", "0")),
            ("timeout-negative", ("--timeout", "-5")),
            ("timeout-not-a-number", ("--timeout", "soon")),
            ("timeout-float", ("--timeout", "1.5")),
            ("ttl-0", ("--ttl", "0")),
            ("ttl-huge-not-a-number", ("--ttl", "1e999")),
            ("executor-bogus", ("--executor", "docker")),
            ("placer-bogus", ("--placer", "rsync")),
            ("unknown-option", ("--frobnicate",)),
        ]
    ),
    Case(
        "run-timeout-huge",
        ("run", "--timeout", "9" * 40, "job.formula"),
        files(FORMULA),
        frozenset({1, 42}),
        env=NO_CLUSTER,
    ),
]

KUBECONFIG = "apiVersion: v1\nkind: Config\n"


def kubeconfig_case(name: str, data: bytes | None, *, path: str = "kube.cfg", via_env: bool = False) -> Case:
    extra = [FORMULA] + ([(path, data)] if data is not None else [])
    args = ("run", "job.formula") if via_env else ("run", "--kubeconfig", path, "job.formula")
    return Case(
        f"run-kubeconfig-{name}{'-via-env' if via_env else ''}",
        args,
        files(*extra),
        KUBECONFIG_FAILS,
        says=(path,),
        env={"KUBECONFIG": path},
    )


KUBECONFIGS = [
    kubeconfig_case("missing", None),
    kubeconfig_case("a-directory", None, path="in"),
    kubeconfig_case("binary", bytes(range(256)) * 16),
    kubeconfig_case("binary", bytes(range(256)) * 16, via_env=True),
    kubeconfig_case("invalid-utf8", KUBECONFIG.encode() + b"clusters: \xff\xfe\n"),
    kubeconfig_case("nested-50000", (KUBECONFIG + f"x: {nested(50000)}\n").encode()),
    kubeconfig_case("alias-bomb", (KUBECONFIG + "clusters:\n" + alias_bomb(indent=2)).encode()),
    kubeconfig_case("clusters-is-5", (KUBECONFIG + "clusters: 5\ncurrent-context: x\n").encode()),
    kubeconfig_case("raw-nul", KUBECONFIG.encode() + b"current-context: a\x00b\n"),
    kubeconfig_case("complex-key", (KUBECONFIG + "? [a, b]\n: c\ncurrent-context: x\n").encode()),
    Case(
        "run-kubeconfig-unknown-context",
        ("run", "--kubeconfig", "kube.cfg", "--context", "nope", "job.formula"),
        files(FORMULA, ("kube.cfg", (KUBECONFIG + "clusters: []\ncontexts: []\nusers: []\n").encode())),
        KUBECONFIG_FAILS,
        says=("nope",),
    ),
]

ALL = [formula_case(name) for name in FORMULAS] + ARGUMENTS + KUBECONFIGS


@pytest.mark.parametrize("case", params(ALL))
def test_run_on_a_cluster(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))
