"""A stop signal during a fetch from a warehouse that has stopped sending ends the run at once (issue 12).

``run --local`` fetches on worker threads; the signal is handled on the main
thread, whose ``rio-cancelled`` waits for those workers, and a worker blocked
in a socket read would only see the cancel flag after the read timed out (a
minute), leaving its staging directory and the job tree until then. The stop
handler cuts the HTTP connections under way, so the fetch unwinds at once.

In process: the handler :func:`install_stop_signals` installs cuts a read
blocked on another thread, connections made while the stop lasts are cut as
they are made, and transfers run again once the handlers are restored. As a
subprocess (root and busybox): SIGINT, SIGTERM and SIGHUP during a stalled
fetch exit 8 promptly with nothing left in the cache or the jobs directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from hostile_inputs import stalling_http
from loopback_http import serve

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.run import host
from r2k8s.core.warehouse.fetch import ProgressRule, interrupt_transfers, open_url, resume_transfers

NO_PROGRESS_RULE = ProgressRule(0, 120.0)
"""Only the 60 s read timeout bounds a read: what a stop must not wait for."""


class Stoppable:
    """Stands in for a job outside its action: ``cancel`` raises ``rio-cancelled`` on the main thread, as Job's does."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def cancel(self, reason: str) -> None:
        self.reasons.append(reason)
        raise R2k8sError(Category.CANCELLED, f"cancelled: {reason}")


def read_all(url: str, outcome: dict[str, object]) -> None:
    try:
        with open_url(url, timeout=60, progress=NO_PROGRESS_RULE) as reader:
            while reader.read(65536):
                pass
        outcome["done"] = True
    except R2k8sError as exc:
        outcome["error"] = exc


def test_the_stop_handler_cuts_a_read_blocked_on_another_thread() -> None:
    data = os.urandom(1 << 20)
    outcome: dict[str, object] = {}
    with stalling_http(data, len(data) // 2) as server:
        worker = threading.Thread(target=read_all, args=(f"{server.url}/w.tar", outcome), daemon=True)
        worker.start()
        assert server.stalled.wait(10)
        time.sleep(0.5)  # the worker drains what was sent and blocks in its read
        job = Stoppable()
        previous = host.install_stop_signals(job)
        try:
            with pytest.raises(R2k8sError, match="cancelled: received SIGTERM"):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)  # the handler raises in here
            started = time.monotonic()
            worker.join(10)
        finally:
            host.restore_signals(previous)
    assert not worker.is_alive(), "the worker's read was not cut: it waits for its timeout"
    assert time.monotonic() - started < 2
    error = outcome.get("error")
    assert isinstance(error, R2k8sError) and error.category is Category.WAREHOUSE_UNAVAILABLE
    assert job.reasons == ["received SIGTERM"]


def test_a_connection_made_during_a_stop_is_cut_and_transfers_run_again_after_it(tmp_path: Path) -> None:
    (tmp_path / "w.tar").write_bytes(b"x" * 100_000)
    with serve(tmp_path) as warehouse:
        interrupt_transfers()  # a worker that was still connecting when the stop came
        try:
            with pytest.raises(R2k8sError) as caught, open_url(warehouse.url("/w.tar"), progress=NO_PROGRESS_RULE) as r:
                r.read()
            assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE
        finally:
            resume_transfers()
        with open_url(warehouse.url("/w.tar"), progress=NO_PROGRESS_RULE) as reader:
            assert reader.read() == b"x" * 100_000


# -- r2k8s run --local ---------------------------------------------------------------------------------------------


def blocked_in_a_read(pid: int) -> Callable[[], bool]:
    """True once the process sleeps and has read nothing for a second: its fetch waits on the warehouse."""
    seen = {"rchar": -1, "quiet": 0}

    def check() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            rchar = next(
                int(line.split()[1])
                for line in Path(f"/proc/{pid}/io").read_text().splitlines()
                if line.startswith("rchar:")
            )
        except (OSError, IndexError, StopIteration):
            return False
        seen["quiet"] = seen["quiet"] + 1 if rchar == seen["rchar"] and state == "S" else 0
        seen["rchar"] = rchar
        return seen["quiet"] >= 10

    return check


def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@needs_root
@needs_busybox
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_run_local_stops_at_once_during_a_stalled_fetch(tmp_path: Path, sig: int) -> None:
    data = rootfs_tgz()
    cache, jobs = tmp_path / "cache", tmp_path / "jobs"
    with stalling_http(data, len(data) // 2) as server:
        document = {
            "formula": {"inputs": {"/": rootfs_ware_id()}, "action": {"exec": ["/bin/true"]}},
            "context": {"fetchUrls": {"/": [f"{server.url}/rootfs.tgz"]}},
        }
        (tmp_path / "job.formula").write_text(json.dumps(document))
        proc = subprocess.Popen(
            [sys.executable, "-m", "r2k8s", "run", "--local", "--cache", str(cache), "--jobs-dir", str(jobs)]
            + ["job.formula"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stalled.wait(30)
            assert wait_until(blocked_in_a_read(proc.pid))
            proc.send_signal(sig)
            started = time.monotonic()
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 8 and out == "", err
    assert f"cancelled: received {signal.Signals(sig).name}" in err
    assert time.monotonic() - started < 5
    assert list((cache / ".tmp").iterdir()) == []  # no staging directory left
    assert not any(p.is_file() for p in cache.rglob("*"))  # no entry
    assert list(jobs.iterdir()) == []  # no job tree
