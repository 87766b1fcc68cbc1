"""The root takeover on a directory standing in for a container's ``/``, with a made-up mountinfo.

What the runtime mounted stays as it is; the rest of the image goes; the
inputs are copied over it (through the same copy walk as the copy placer),
kept directories taking the ware's metadata.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from r2k8s.core.agent.takeover import take_over
from r2k8s.core.errors import Category, R2k8sError

MOUNTINFO = "\n".join(
    [
        "21 1 0:20 / / rw,relatime - overlay overlay rw",
        "22 21 0:21 / /proc rw,nosuid - proc proc rw",
        "23 21 8:1 /etc/hosts /etc/hosts rw - ext4 /dev/sda1 rw",
        "24 21 8:1 /vol /data/vol\\040one rw - ext4 /dev/sda1 rw",
    ]
)


def image(root: Path) -> None:
    for path in ("bin", "usr/lib", "proc", "etc", "data/vol one"):
        (root / path).mkdir(parents=True)
    (root / "bin" / "python3").write_bytes(b"the image's python")
    (root / "usr" / "lib" / "libc.so").write_bytes(b"libc")
    (root / "etc" / "hosts").write_bytes(b"127.0.0.1 runtime\n")
    (root / "etc" / "os-release").write_bytes(b"image")
    (root / "proc" / "self").write_bytes(b"procfs")
    (root / "data" / "vol one" / "state").write_bytes(b"volume")


def ware(root: Path) -> None:
    for path in ("bin", "etc", "data"):
        (root / path).mkdir(parents=True)
    (root / "bin" / "sh").write_bytes(b"the formula's shell")
    (root / "etc" / "hosts").write_bytes(b"the ware's hosts")
    (root / "etc" / "passwd").write_bytes(b"root:x:0:0::/:/bin/sh\n")
    os.chmod(root / "data", 0o750)
    os.utime(root / "data", (1262304000, 1400000000))


def test_the_image_goes_the_mounts_stay_and_the_inputs_take_its_place(tmp_path: Path) -> None:
    root, cached, app = tmp_path / "root", tmp_path / "ware", tmp_path / "app"
    root.mkdir()
    image(root)
    cached.mkdir()
    ware(cached)
    app.mkdir()
    (app / "main").write_bytes(b"app")
    lines: list[str] = []
    take_over(str(root), {"/": cached, "/opt/app": app}, MOUNTINFO, lines.append)
    assert not (root / "bin" / "python3").exists() and not (root / "usr").exists()
    assert not (root / "etc" / "os-release").exists()
    assert (root / "bin" / "sh").read_bytes() == b"the formula's shell"
    assert (root / "etc" / "passwd").is_file()
    assert (root / "etc" / "hosts").read_bytes() == b"127.0.0.1 runtime\n"  # the runtime's file wins
    assert (root / "proc" / "self").read_bytes() == b"procfs"
    assert (root / "data" / "vol one" / "state").read_bytes() == b"volume"
    data = os.lstat(root / "data")  # kept (it holds a mount), with the ware's mode and mtime
    assert (stat.S_IMODE(data.st_mode), data.st_mtime_ns) == (0o750, 1400000000 * 10**9)
    assert (root / "opt" / "app" / "main").read_bytes() == b"app"
    assert "kept /etc/hosts: the container runtime mounted it" in lines


def test_an_input_on_a_mount_point_is_refused(tmp_path: Path) -> None:
    root, cached = tmp_path / "root", tmp_path / "ware"
    root.mkdir()
    image(root)
    cached.mkdir()
    with pytest.raises(R2k8sError) as caught:
        take_over(str(root), {"/data/vol one": cached}, MOUNTINFO, lambda _line: None)
    assert caught.value.category is Category.ASSEMBLY_INVALID
    assert "is a mount point of the container" in caught.value.message


def test_a_ware_that_is_one_file_becomes_that_file(tmp_path: Path) -> None:
    """rio packs a file as one entry '.'; the cache holds it as that file, and the takeover places it at its path
    (replacing what the image or an earlier input had there) with its owner, mode and mtime."""
    root, cached, tool = tmp_path / "root", tmp_path / "ware", tmp_path / "tool"
    root.mkdir()
    image(root)
    cached.mkdir()
    ware(cached)
    tool.write_bytes(b"#!/bin/sh\necho one file\n")
    os.chmod(tool, 0o4755)
    os.utime(tool, (1_000_000_000, 1_000_000_000))
    take_over(str(root), {"/": cached, "/bin/sh": tool, "/usr/local/bin/tool": tool}, MOUNTINFO, lambda _line: None)
    for placed in (root / "bin" / "sh", root / "usr" / "local" / "bin" / "tool"):
        st = os.lstat(placed)
        assert placed.read_bytes() == b"#!/bin/sh\necho one file\n"
        assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o4755, 1_000_000_000 * 10**9)
    with pytest.raises(R2k8sError) as caught:
        take_over(str(root), {"/": tool}, MOUNTINFO, lambda _line: None)
    assert caught.value.category is Category.ASSEMBLY_INVALID and "the root must be a directory" in caught.value.message
