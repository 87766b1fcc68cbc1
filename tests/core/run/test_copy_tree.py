"""The one copy walk (:func:`r2k8s.core.ware.tree.copy_tree`): the copy placer's, and the pod takeover's.

A copy made through the unpack placer packs, losslessly, to the same ware as
its source: same names, types, modes, owners, mtimes, link targets, bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from r2k8s.core.ware.filters import PACK_LOSSLESS
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.tree import copy_tree
from r2k8s.core.ware.unpack import DirectoryPlacer


def make_tree(root: Path) -> None:
    root.mkdir()
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "big").write_bytes(os.urandom(3 * (1 << 20) + 17))  # more than one chunk
    (root / "sub").mkdir()
    (root / "sub" / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "sub" / "run.sh", 0o755)
    os.symlink("../a.txt", root / "sub" / "link")
    os.mkfifo(root / "sub" / "pipe", 0o640)
    (root / "ro").mkdir()
    (root / "ro" / "kept").write_bytes(b"")
    for path in (root / "ro" / "kept", root / "sub" / "run.sh", root / "a.txt"):
        os.utime(path, (1262304000, 1500000000 + len(path.name)))
    os.chmod(root / "ro", 0o555)  # applied after its children exist, as the placer must too
    for directory in (root / "ro", root / "sub", root):
        os.utime(directory, (1262304000, 1400000000))


def test_a_copy_packs_to_the_same_ware_as_its_source(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    make_tree(source)
    target.mkdir(0o700)
    copy_tree(source, DirectoryPlacer(target))
    assert pack_tree(target, PACK_LOSSLESS) == pack_tree(source, PACK_LOSSLESS)
    assert (target / "big").read_bytes() == (source / "big").read_bytes()


class Recorder:
    def __init__(self) -> None:
        self.placed: list[tuple[str, str, bytes | None]] = []
        self.finished = 0

    def place(self, meta: Metadata, content: Iterator[memoryview] | None) -> None:
        data = None if content is None else b"".join(bytes(chunk) for chunk in content)
        self.placed.append((meta.name, meta.type, data))

    def finish(self) -> None:
        self.finished += 1


def test_entries_go_to_the_placer_in_rios_order_then_it_is_finished(tmp_path: Path) -> None:
    source = tmp_path / "source"
    make_tree(source)
    recorder = Recorder()
    copy_tree(source, recorder)
    assert [(name, kind) for name, kind, _ in recorder.placed] == [
        (".", "d"),
        ("a.txt", "f"),
        ("big", "f"),
        ("ro", "d"),
        ("ro/kept", "f"),
        ("sub", "d"),
        ("sub/link", "L"),
        ("sub/pipe", "p"),
        ("sub/run.sh", "f"),
    ]
    contents = {name: data for name, _, data in recorder.placed}
    assert contents["a.txt"] == b"alpha\n" and contents["ro/kept"] == b"" and contents["sub/link"] is None
    assert recorder.finished == 1
