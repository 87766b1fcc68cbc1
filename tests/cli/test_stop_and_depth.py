"""The ware commands under a stop signal and on trees deeper than Python's recursion limit (issue 12).

A service manager's SIGTERM and a closed terminal's SIGHUP must unwind a
command exactly as Ctrl-C does: exit 8 (``rio-cancelled``) with nothing left
behind, neither the staging directory beside an unpack's target nor a
half-saved ware in a warehouse. And a ware 1,200 directories deep is data,
not a reason for an internal error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tarbuild import deep_tar

from r2k8s.core.scratch import remove_tree

SOME_OTHER_WARE = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"


def r2k8s(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "r2k8s", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for child in tmp_path.iterdir():  # pytest's own clean-up of old folders recurses: leave it nothing deep
        remove_tree(child)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".unpack-" in p.name or p.name.startswith(".tmp"))


def test_a_deep_ware_that_does_not_match_its_id_is_a_hash_mismatch_with_nothing_left(work: Path) -> None:
    (work / "deep.tar").write_bytes(deep_tar(1_200))
    done = r2k8s("unpack", SOME_OTHER_WARE, "out", "--source", "file://./deep.tar", cwd=work)
    assert done.returncode == 7, done.stderr
    assert "hash mismatch" in done.stderr
    assert leftovers(work) == [] and not (work / "out").exists()


def test_a_deep_ware_unpacks_and_packs_back(work: Path) -> None:
    (work / "deep.tar").write_bytes(deep_tar(1_200))
    ware = r2k8s("scan", "deep.tar", cwd=work).stdout.strip()
    done = r2k8s("unpack", ware, "out", "--source", "file://./deep.tar", "--filters", "lossless", cwd=work)
    assert done.returncode == 0, done.stderr
    assert (work / "out" / ("a/" * 1_200 + "f")).read_bytes() == b"hi"
    packed = r2k8s("pack", "out", "--filters", "lossless", cwd=work)
    assert packed.returncode == 0, packed.stderr
    assert packed.stdout.strip() == ware


class StallingSource:
    """A FIFO that serves the first half of a ware and then stalls, so the reader is mid-ware when stopped."""

    def __init__(self, path: Path, data: bytes) -> None:
        os.mkfifo(path)
        self.path, self.data = path, data
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with open(self.path, "wb") as fifo:
            fifo.write(self.data[: len(self.data) // 2])
            fifo.flush()
            time.sleep(30)  # the reader is stopped long before; the write end closes with the process


def stop_midway(argv: list[str], cwd: Path, signum: int) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "r2k8s", *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(2.0)  # well into the first half
    assert process.poll() is None, process.communicate()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_unpack_exits_8_and_leaves_no_staging_directory(work: Path, signum: signal.Signals) -> None:
    (work / "deep.tar").write_bytes(deep_tar(1_200))
    ware = r2k8s("scan", "deep.tar", cwd=work).stdout.strip()
    StallingSource(work / "slow.tar", (work / "deep.tar").read_bytes())
    done = stop_midway(["unpack", ware, "out", "--source", "file://./slow.tar"], work, signum)
    assert done.returncode == 8, done.stderr
    assert "cancelled" in done.stderr or "interrupted" in done.stderr
    assert leftovers(work) == [] and not (work / "out").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stopped_scan_exits_8(work: Path, signum: signal.Signals) -> None:
    (work / "deep.tar").write_bytes(deep_tar(1_200))
    StallingSource(work / "slow.tar", (work / "deep.tar").read_bytes())
    done = stop_midway(["scan", "slow.tar"], work, signum)
    assert done.returncode == 8, done.stderr
    assert f"received {signum.name}" in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stopped_pack_exits_8_and_saves_nothing(work: Path, signum: signal.Signals) -> None:
    tree = work / "tree"
    tree.mkdir()
    with open(tree / "big", "wb") as big:  # sparse: costs no disk, but packing reads and compresses it all
        big.truncate(8 << 30)
    warehouse = work / "warehouse"
    warehouse.mkdir()
    done = stop_midway(["pack", "tree", "--target", "ca+file://./warehouse"], work, signum)
    assert done.returncode == 8, done.stderr
    assert list(warehouse.rglob("*")) == []  # no ware, no .tmp.upload staging file
