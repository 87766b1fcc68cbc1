"""The cgroup subtree the kubelet puts pods in (``/r2k8s`` in every hierarchy), and its removal.

The kubelet is given ``cgroupRoot: /r2k8s`` so that every pod and container of this cluster lives
below one cgroup of its own: ``down`` finds every container process there, whatever runtime
state was lost, and removes the subtree afterwards. The machines run cgroup v1 (one hierarchy
per controller) plus a cgroup2 "unified" mount, so the subtree exists once per hierarchy.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .configs import CGROUP_ROOT


def hierarchies() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        if after.split(" ")[0] in ("cgroup", "cgroup2"):
            mounts.append(Path(_unescape(before.split(" ")[4])))
    return mounts


def ensure_root() -> None:
    """Create ``/r2k8s`` in each hierarchy; a new cpuset cgroup needs its CPUs and memory nodes set."""
    for hierarchy in hierarchies():
        directory = hierarchy / CGROUP_ROOT.strip("/")
        directory.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            own, parent = directory / name, hierarchy / name
            if own.exists() and parent.exists() and not own.read_text().strip():
                own.write_text(parent.read_text())


def subtrees() -> list[Path]:
    """The ``/r2k8s`` directory of each hierarchy that has one."""
    return [path for path in (h / CGROUP_ROOT.strip("/") for h in hierarchies()) if path.is_dir()]


def member_pids() -> set[int]:
    """Every process in any cgroup below ``/r2k8s``: the pods' containers and sandboxes."""
    pids: set[int] = set()
    for directory in _all_directories():
        try:
            pids.update(int(pid) for pid in (directory / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def remove_subtrees(timeout: float = 10.0) -> None:
    """Remove ``/r2k8s`` from every hierarchy, deepest cgroups first (they must be empty)."""
    deadline = time.monotonic() + timeout
    for directory in sorted(_all_directories(), key=lambda path: len(path.parts), reverse=True):
        while True:
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as error:
                # EBUSY while a killed process is still leaving its cgroup.
                if error.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise RuntimeError(f"cannot remove cgroup {directory}: {error}") from error
                time.sleep(0.1)


def _all_directories() -> Iterator[Path]:
    for subtree in subtrees():
        for current, _, _ in os.walk(subtree):
            yield Path(current)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
