"""SIGTERM, SIGHUP and SIGINT delivered in the middle of a command (issue 12): each must exit 8 (cancelled)
with a message, print nothing on stdout, and leave no staging directory, half-written ware, job tree or
cache entry behind.

"In the middle" is made certain, not guessed: the input is a FIFO whose writer stalls halfway (the signal
goes once the reader has consumed the first half and is blocked reading), or an HTTP warehouse that stalls
halfway through the body (the signal goes once unpack's staging directory exists), or, for ``pack``, the
process is seen reading its tree (``/proc/PID/io``) or writing its staging file, and is stopped with SIGSTOP
so the signal lands while it is still packing. The function is signalled while blocked reading its stdin,
``formula-id`` while blocked reading a FIFO, and ``run --local`` during a stalled fetch and during the action.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from hostile_inputs import (
    WRONG_WARE,
    Box,
    Case,
    Ran,
    Report,
    StallingFifo,
    as_resource_list,
    assert_no_problems,
    deployment_yaml,
    exit_problems,
    finish,
    kubeconfig_for,
    modern_formula_text,
    r2k8s_argv,
    read_chars,
    run_process,
    silent_server,
    snapshot,
    spawn,
    staging_left,
    stalling_http,
    wait_for,
)

from r2k8s.core.scratch import remove_tree

MiB = 1 << 20
SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


@cache
def big_tar() -> bytes:
    """4 MiB of random file content as a plain tar: half of it is more than any pipe buffer holds."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for i in range(4):
            info = tarfile.TarInfo(f"f{i}")
            info.size = MiB
            archive.addfile(info, io.BytesIO(os.urandom(MiB)))
    return buffer.getvalue()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    made = Box(tmp_path / "box")
    yield made
    remove_tree(made.root)


def wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""


def blocked_on_a_pipe(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None and "pipe" in wchan(proc.pid)


def stopped_midway(
    box: Box,
    args: tuple[str, ...],
    sig: int,
    midway: Callable[[subprocess.Popen[bytes]], bool],
    *,
    pause: bool = False,
    stdin: int | None = subprocess.DEVNULL,
    allowed: tuple[str, ...] = (),
) -> tuple[Report, list[str]]:
    """Start ``r2k8s ARGS``, wait until ``midway(proc)``, deliver ``sig`` (between SIGSTOP and SIGCONT when
    ``pause``: the process cannot finish in between), and check the outcome: exit 8 and nothing left."""
    case = Case(f"{args[0]}-{signal.Signals(sig).name}", args, None, frozenset({8}), timeout=20)
    before = snapshot(box.root)
    started = time.monotonic()
    proc = spawn(r2k8s_argv(*args), cwd=box.root, env=box.env(), stdin=stdin)
    notes = []
    try:
        reached = wait_for(lambda: midway(proc), timeout=20)
        if not reached or proc.poll() is not None:
            notes.append(f"never saw it midway (still running: {proc.poll() is None})")
        if pause:
            os.kill(proc.pid, signal.SIGSTOP)
        os.kill(proc.pid, sig)
        if pause:
            os.kill(proc.pid, signal.SIGCONT)
        signalled = time.monotonic()
        ran = finish(proc, timeout=20 + time.monotonic() - started, started=started)
    finally:
        if proc.poll() is None:
            proc.kill()
    problems = notes + exit_problems(case, ran)
    if ran.code is not None and time.monotonic() - signalled > 15:
        problems.append(f"took {time.monotonic() - signalled:.0f}s to stop")
    after = snapshot(box.root)
    problems += [f"staging left behind: {p}" for p in staging_left(after, box)]
    changed = sorted(
        os.fsdecode(p)[:120]
        for p in set(before) | set(after)
        if before.get(p) != after.get(p) and not any(os.fsdecode(p).startswith(a) for a in allowed)
    )
    if changed:
        problems.append(f"left changes behind: {changed[:5]}")
    return Report(case, ran, problems), problems


def settled(proc: subprocess.Popen[bytes], polls: int = 5) -> Callable[[], bool]:
    """True once ``proc`` is asleep and has read nothing for ``polls`` polls in a row: blocked in a read
    (not, say, between making its staging directory and guarding it)."""
    seen = {"rchar": -1, "quiet": 0}

    def check() -> bool:
        try:
            state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        now = read_chars(proc.pid)
        seen["quiet"] = seen["quiet"] + 1 if now == seen["rchar"] and state == "S" else 0
        seen["rchar"] = now
        return seen["quiet"] >= polls

    return check


def staging_exists(box: Box, parent: str = ".") -> bool:
    return any(".unpack-" in name or name.startswith(".tmp.upload") for name in os.listdir(box.path(parent)))


# -- scan, unpack, formula-id: a FIFO that stalls halfway --------------------------------------------------------


@contextmanager
def fifo(box: Box, rel: str, data: bytes) -> Iterator[StallingFifo]:
    stalled = StallingFifo(box.path(rel), data, len(data) // 2)
    try:
        yield stalled
    finally:
        stalled.close()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_scan_of_a_stalled_fifo(box: Box, sig: int) -> None:
    with fifo(box, "in/w.tar", big_tar()) as source:
        report, _ = stopped_midway(
            box, ("scan", "in/w.tar"), sig, lambda proc: source.stalled.is_set() and blocked_on_a_pipe(proc)()
        )
    assert_no_problems(report)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_unpack_from_a_stalled_fifo(box: Box, sig: int) -> None:
    with fifo(box, "in/w.tar", big_tar()) as source:
        report, _ = stopped_midway(
            box,
            ("unpack", WRONG_WARE, "out", "--source", "file://./in/w.tar"),
            sig,
            lambda proc: source.stalled.is_set() and staging_exists(box) and blocked_on_a_pipe(proc)(),
        )
    assert_no_problems(report)


def test_formula_id_of_a_stalled_fifo(box: Box) -> None:
    with fifo(box, "job.formula", modern_formula_text().encode() * 40) as source:
        report, _ = stopped_midway(
            box,
            ("formula-id", "job.formula"),
            signal.SIGTERM,
            lambda proc: source.stalled.is_set() and blocked_on_a_pipe(proc)(),
        )
    assert_no_problems(report)


def midway_in(condition: Callable[[], bool]) -> Callable[[subprocess.Popen[bytes]], bool]:
    """``condition`` holds and then the process settles into a blocked read."""
    watchers: dict[int, Callable[[], bool]] = {}

    def midway(proc: subprocess.Popen[bytes]) -> bool:
        if not condition():
            return False
        return watchers.setdefault(proc.pid, settled(proc))()

    return midway


# -- scan and unpack: an HTTP warehouse that stalls halfway -------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_unpack_from_a_stalled_http_warehouse(box: Box, sig: int) -> None:
    with stalling_http(big_tar(), len(big_tar()) // 2) as server:
        report, _ = stopped_midway(
            box,
            ("unpack", WRONG_WARE, "out", "--source", f"{server.url}/w.tar"),
            sig,
            midway_in(lambda: server.stalled.is_set() and staging_exists(box)),
        )
    assert_no_problems(report)


def test_scan_of_a_stalled_http_warehouse(box: Box) -> None:
    with stalling_http(big_tar(), len(big_tar()) // 2) as server:
        report, _ = stopped_midway(
            box,
            ("scan", f"{server.url}/w.tar"),
            signal.SIGTERM,
            midway_in(server.stalled.is_set),
        )
    assert_no_problems(report)


# -- pack: seen reading its tree or writing its staging file --------------------------------------------------------


def random_tree(box: Box, files: int = 3, size: int = 16 * MiB) -> None:
    tree = box.path("in/tree")
    tree.mkdir(parents=True)
    for i in range(files):
        (tree / f"f{i}").write_bytes(os.urandom(size))


def upload_size(box: Box) -> int:
    sizes = [p.stat().st_size for p in box.path("wh").iterdir() if p.name.startswith(".tmp.upload")]
    return max(sizes, default=0)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_pack_to_a_warehouse_while_it_writes(box: Box, sig: int) -> None:
    random_tree(box)
    box.path("wh").mkdir()
    report, _ = stopped_midway(
        box,
        ("pack", "in/tree", "--target", "ca+file://./wh"),
        sig,
        lambda proc: upload_size(box) > MiB,
        pause=True,
    )
    assert_no_problems(report)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_pack_while_it_hashes(box: Box, sig: int) -> None:
    tree = box.path("in/tree")
    tree.mkdir(parents=True)
    with open(tree / "sparse", "wb") as sparse:
        sparse.truncate(1024 * MiB)
    report, _ = stopped_midway(box, ("pack", "in/tree"), sig, lambda proc: read_chars(proc.pid) > 256 * MiB, pause=True)
    assert_no_problems(report)


# -- the function: blocked reading its stdin ------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_the_function_blocked_on_its_input(box: Box, sig: int) -> None:
    box.write("web.formula", modern_formula_text())
    text = as_resource_list([deployment_yaml()]).encode()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, text[: len(text) // 2])
        report, _ = stopped_midway(
            box,
            ("fn",),
            sig,
            lambda proc: blocked_on_a_pipe(proc)() and read_chars(proc.pid) > 0,
            stdin=read_end,
            allowed=("web.formula",),
        )
    finally:
        os.close(write_end)
        os.close(read_end)
    assert_no_problems(report)


# -- run on a cluster: blocked on an API server that never answers ----------------------------------------------


def test_run_on_a_cluster_blocked_on_a_silent_api_server(box: Box) -> None:
    box.write("job.formula", modern_formula_text())
    with silent_server() as server:
        box.write("kube.cfg", kubeconfig_for(f"http://127.0.0.1:{server.port}"))
        report, _ = stopped_midway(
            box,
            ("run", "--kubeconfig", "kube.cfg", "job.formula"),
            signal.SIGHUP,
            midway_in(lambda: bool(server.connections)),
        )
    assert_no_problems(report)


# -- run --local: during a stalled fetch, and during the action -------------------------------------------------------


def write_job(box: Box, action: dict, fetch: list[str]) -> None:
    document = {
        "formula": {"inputs": {"/": rootfs_ware_id()}, "action": action},
        "context": {"fetchUrls": {"/": fetch}},
    }
    box.write("job.formula", json.dumps(document))


def follow_up_problems(box: Box) -> list[str]:
    box.write("rootfs.tgz", rootfs_tgz())
    write_job(box, {"exec": ["/bin/echo", "the cache still works"]}, ["file://./rootfs.tgz"])
    again: Ran = run_process(r2k8s_argv("run", "--local", "job.formula"), cwd=box.root, env=box.env(), timeout=60)
    if again.code == 0 and "the cache still works" in again.err:
        return []
    return [f"a following run with the same cache failed: exit {again.code}: {again.err[-600:]}"]


@needs_root
@needs_busybox
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_run_local_during_a_stalled_fetch(box: Box, sig: int) -> None:
    data = rootfs_tgz()
    with stalling_http(data, len(data) // 2) as server:
        write_job(box, {"exec": ["/bin/true"]}, [f"{server.url}/rootfs.tgz"])
        report, problems = stopped_midway(
            box,
            ("run", "--local", "job.formula"),
            sig,
            lambda proc: server.stalled.is_set(),
            allowed=("cache", "jobs"),
        )
    if box.cache.exists():
        entries = [p for p in snapshot(box.cache) if p.startswith(b"tar/fileset/") and p.count(b"/") == 4]
        problems += [f"the cache holds {os.fsdecode(p)} after a cancelled fetch" for p in entries]
    problems += follow_up_problems(box)
    assert_no_problems(report)


@needs_root
@needs_busybox
def test_run_local_sighup_during_the_action(box: Box) -> None:
    box.write("rootfs.tgz", rootfs_tgz())
    # the shell is pid 1 of its namespace: without a trap it would ignore SIGTERM and wait for SIGKILL (5 s)
    script = "trap 'exit 143' TERM; sleep 4343 & wait"
    write_job(box, {"exec": ["/bin/sh", "-c", script]}, ["file://./rootfs.tgz"])
    report, problems = stopped_midway(
        box,
        ("run", "--local", "job.formula"),
        signal.SIGHUP,
        lambda proc: any(b"sleep 4343" in cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit()),
        allowed=("cache", "jobs"),
    )
    problems += follow_up_problems(box)
    assert_no_problems(report)


def cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""
