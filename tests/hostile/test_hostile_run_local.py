"""``r2k8s run --local`` with hostile wares and formulas (issue 12), on the busybox root filesystem, as root.

Deep wares as inputs (1,200 levels with both placers, 5,000 levels, and with a wrong ID), deep trees made by
the action and packed as outputs, decompression and header bombs as inputs, names in invalid UTF-8, NUL
bytes and lone surrogates in exec, env, cwd, hostname and mount paths, formulas that cannot be loaded, and
outputs saved where nothing can be saved. Every case gets its own ware cache and jobs directory; besides the
usual checks (exit category, message, no signal or hang, no staging or job tree left), the ware cache must
still serve a following run — the poisoning the issue reports.
Signals during a run are in ``test_hostile_signals.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from hostile_inputs import (
    ENCODED_NAMES,
    HOSTILE_FORMULAS,
    HUGE_HEADERS,
    WRONG_WARE,
    Box,
    Case,
    Ran,
    assert_no_problems,
    deep_tar,
    params,
    r2k8s_argv,
    run_process,
    ware_id_of,
    zero_file_tar,
)

pytestmark = [needs_root, needs_busybox]

MiB = 1 << 20
BUSYBOX_ROOT = "file://./rootfs.tgz"


def formula(
    action: dict[str, Any],
    inputs: dict[str, str] | None = None,
    fetch: dict[str, list[str]] | None = None,
    outputs: dict[str, Any] | None = None,
    save: dict[str, str] | None = None,
) -> bytes:
    document: dict[str, Any] = {
        "formula": {"inputs": {"/": rootfs_ware_id(), **(inputs or {})}, "action": action},
        "context": {"fetchUrls": {"/": [BUSYBOX_ROOT], **(fetch or {})}, "saveUrls": save or {}},
    }
    if outputs:
        document["formula"]["outputs"] = outputs
    return json.dumps(document, indent="\t").encode()


def sh(script: str, **action: Any) -> dict[str, Any]:
    return {"exec": ["/bin/sh", "-c", script], **action}


def layout(job: Callable[[], bytes], *wares: tuple[str, Callable[[], bytes]]) -> Callable[[Box], None]:
    def prepare(box: Box) -> None:
        box.write("rootfs.tgz", rootfs_tgz())
        for name, make in wares:
            box.write(name, make())
        box.write("job.formula", job())

    return prepare


def cache_still_serves(box: Box, ran: Ran) -> list[str]:
    """A plain formula with the same cache and jobs directory runs, and nothing of either is left half-made."""
    box.write("follow-up.formula", formula({"exec": ["/bin/echo", "the cache still works"]}))
    again = run_process(r2k8s_argv("run", "--local", "follow-up.formula"), cwd=box.root, env=box.env(), timeout=60)
    problems = []
    if again.code != 0 or "the cache still works" not in again.err:
        problems.append(f"a following run with the same cache failed: exit {again.code}: {again.err[-600:]}")
    if str(box.root) in Path("/proc/self/mountinfo").read_text():
        problems.append("a mount of the run is visible on the host")
    return problems


def record_check(expect_exit: int | None = 0) -> Callable[[Box, Ran], list[str]]:
    """On success: a run record whose action exited ``expect_exit``; then the follow-up run."""

    def check(box: Box, ran: Ran) -> list[str]:
        problems = []
        if ran.code == 0:
            try:
                record = json.loads(ran.stdout)
            except ValueError:
                return ["exit 0 but no run record on stdout"]
            if expect_exit is not None and record.get("exitCode") != expect_exit:
                problems.append(f"the action exited {record.get('exitCode')}, expected {expect_exit}")
            if any(not str(v).startswith("tar:") for v in (record.get("results") or {}).values()):
                problems.append(f"results are not ware IDs: {record.get('results')}")
        return problems + cache_still_serves(box, ran)

    return check


def local_case(
    case_id: str,
    job: Callable[[], bytes],
    codes: frozenset[int],
    *wares: tuple[str, Callable[[], bytes]],
    placer: str = "auto",
    says: tuple[str, ...] = (),
    expect_exit: int | None = 0,
    writes: tuple[str, ...] = (),
    timeout: float = 90,
) -> Case:
    return Case(
        f"run-local-{case_id}",
        ("run", "--local", "--placer", placer, "job.formula"),
        layout(job, *wares),
        codes,
        says=says,
        may_change=("cache", "jobs"),
        writes=writes,
        timeout=timeout,
        check=record_check(expect_exit),
        max_rss_mib=600,
    )


def deep_input(depth: int, ware: Callable[[], str]) -> Callable[[], bytes]:
    return lambda: formula(
        sh(f"test -f /deep/{'/'.join(['a'] * depth)}/f && echo found"),
        inputs={"/deep": ware()},
        fetch={"/deep": ["file://./deep.tar"]},
    )


def deep_output(depth: int) -> Callable[[], bytes]:
    script = (
        f"mkdir -p out && cd out && i=0; while [ $i -lt {depth} ]; do mkdir a && cd a; i=$((i+1)); done; echo x > f"
    )
    return lambda: formula(sh(script), outputs={"/task/out": {"packtype": "tar"}})


def wrong_typed(field: str, value: Any) -> Callable[[], bytes]:
    def make() -> bytes:
        document = json.loads(formula(sh("echo ran")))
        document["formula"]["action"][field] = value
        return json.dumps(document).encode()

    return make


def with_input(path: str, ware: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: formula(
        sh("ls -A /in >/dev/null"), inputs={path: ware_id_of(ware())}, fetch={path: ["file://./w.tar"]}
    )


NO_RUN = frozenset({1, 10, 40})
"""What an action that cannot be started as written may give: usage, assembly invalid, job invalid."""

LOCAL = [
    local_case(
        "deep-ware-1200-copy",
        deep_input(1200, lambda: ware_id_of(deep_tar(1200))),
        frozenset({0}),
        ("deep.tar", lambda: deep_tar(1200)),
        placer="copy",
    ),
    local_case(
        "deep-ware-1200-overlay",
        deep_input(1200, lambda: ware_id_of(deep_tar(1200))),
        frozenset({0}),
        ("deep.tar", lambda: deep_tar(1200)),
        placer="overlay",
    ),
    local_case(
        "deep-ware-1200-wrong-id",
        deep_input(1200, lambda: WRONG_WARE),
        frozenset({7}),
        ("deep.tar", lambda: deep_tar(1200)),
        says=("hash mismatch",),
    ),
    local_case(
        "deep-ware-5000",
        deep_input(5000, lambda: ware_id_of(deep_tar(5000))),
        frozenset({0, 9, 12}),
        ("deep.tar", lambda: deep_tar(5000)),
        placer="copy",
        expect_exit=None,
    ),
    local_case("deep-output-1200-copy", deep_output(1200), frozenset({0}), placer="copy"),
    local_case("deep-output-5000-copy", deep_output(5000), frozenset({0, 12}), placer="copy"),
    local_case(
        "gzip-bomb-ware-wrong-id",
        lambda: formula(sh("true"), inputs={"/bomb": WRONG_WARE}, fetch={"/bomb": ["file://./bomb.tgz"]}),
        frozenset({7}),
        ("bomb.tgz", lambda: zero_file_tar(64 * MiB, "gzip")),
    ),
    local_case(
        "pax-header-claims-8GiB-ware",
        lambda: formula(sh("true"), inputs={"/bomb": WRONG_WARE}, fetch={"/bomb": ["file://./bomb.tar"]}),
        frozenset({6}),
        ("bomb.tar", HUGE_HEADERS["pax-header-claims-8GiB"]),
        says=("corrupt",),
    ),
    local_case(
        "invalid-utf8-names-ware",
        with_input("/in", ENCODED_NAMES["invalid-utf8-names"]),
        frozenset({0}),
        ("w.tar", ENCODED_NAMES["invalid-utf8-names"]),
    ),
    *(
        local_case(f"nul-in-{field}", wrong_typed(field, value), NO_RUN, expect_exit=None)
        for field, value in [
            ("exec", ["/bin/\x00sh", "-c", "true"]),
            ("env", {"A": "a\x00b"}),
            ("cwd", "/task\x00/x"),
            ("hostname", "h\x00x"),
        ]
    ),
    local_case(
        "nul-in-input-path",
        lambda: formula(sh("true"), inputs={"/a\x00b": rootfs_ware_id()}, fetch={"/a\x00b": [BUSYBOX_ROOT]}),
        NO_RUN,
    ),
    local_case(
        "lone-surrogate-in-exec", wrong_typed("exec", ["/bin/echo", "\ud800"]), frozenset({0, 1, 40}), expect_exit=None
    ),
    *(
        local_case(f"formula-{name}", HOSTILE_FORMULAS[name].make, frozenset({1}), says=("job.formula",))
        for name in ("yaml-alias-bomb", "deep-json-list-50000", "env-is-a-number", "binary")
    ),
    local_case(
        "save-under-a-regular-file",
        lambda: formula(
            sh("mkdir out && echo x > out/f"),
            outputs={"/task/out": {"packtype": "tar"}},
            save={"/task/out": "file://./afile/out.tgz"},
        ),
        frozenset({3, 4, 12}),
        ("afile", lambda: b"not a directory"),
    ),
]


@pytest.mark.parametrize("case", params(LOCAL))
def test_run_local(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))
