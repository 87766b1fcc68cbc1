"""Trees deeper than a path can name: walked, packed, copied and unpacked through descriptors (issue 12).

A tree is data, and an output or a ware may nest 5,000 directories: past
Python's recursion limit (1,000) and, at two bytes a level, past ``PATH_MAX``
(4,096), so no step may recurse or name an entry by its whole path. Every
tree here is built and read back through directory descriptors for the same
reason. What must not change is the ware ID: a deep tree packs to the ID of
the tar that describes it, its copy and its unpacked tar pack to that ID too,
and the walk holds a bounded number of descriptors however deep it goes.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo import PLUGIN_DIR

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.filters import FLATTEN, PACK_LOSSLESS, UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.tree import copy_tree, walk
from r2k8s.core.ware.unpack import DirectoryPlacer, unpack_tar

DEPTH = 5_000
"""Well past Python's recursion limit and, at two bytes a level, past PATH_MAX."""

FLAT_OWNER, FLAT_MTIME = 1000, 1262304000  # what the flatten filters write
NOBODY = 65534
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@pytest.fixture(autouse=True)
def _no_deep_leftovers(tmp_path: Path) -> Iterator[None]:
    """pytest's own clean-up of old temporary folders is recursive: never leave it a deep tree, pass or fail."""
    yield
    for child in tmp_path.iterdir():
        remove_tree(child)


def build_deep(top: Path, depth: int) -> None:
    """``top/a/a/…`` ``depth`` levels, with a file and a symlink at every 1,000th level and a file at the bottom.

    Directories are 0755, except every 1,000th (0750); files hold their level's number.
    """
    top.mkdir()
    os.chmod(top, 0o755)
    current = os.open(top, DIRECTORY_FLAGS)
    try:
        for level in range(depth):
            if level % 1000 == 0:
                _write(current, "file", f"level {level}\n".encode())
                os.symlink("../file", "link", dir_fd=current)
            os.mkdir("a", 0o750 if level % 1000 == 999 else 0o755, dir_fd=current)
            below = os.open("a", DIRECTORY_FLAGS, dir_fd=current)
            os.close(current)
            current = below
        _write(current, "f", b"deep\n")
    finally:
        os.close(current)


def _write(directory: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=directory)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def described_tar(depth: int) -> bytes:
    """The tar that :func:`build_deep` describes, with the flatten filters' owner and mtime, made by ``tarfile``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, FLAT_MTIME, link
            info.uid = info.gid = FLAT_OWNER
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)

        add(".", tarfile.DIRTYPE, 0o755)
        prefix = ""
        for level in range(depth):
            if level % 1000 == 0:
                add(f"{prefix}file", tarfile.REGTYPE, 0o644, f"level {level}\n".encode())
                add(f"{prefix}link", tarfile.SYMTYPE, 0o777, link="../file")
            add(f"{prefix}a", tarfile.DIRTYPE, 0o750 if level % 1000 == 999 else 0o755)
            prefix += "a/"
        add(f"{prefix}f", tarfile.REGTYPE, 0o644, b"deep\n")
    return buffer.getvalue()


def read_bottom(top: Path, depth: int) -> bytes:
    fd = os.open(top, DIRECTORY_FLAGS)
    try:
        for _ in range(depth):
            below = os.open("a", DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = below
        file_fd = os.open("f", os.O_RDONLY | os.O_CLOEXEC, dir_fd=fd)
        try:
            return os.read(file_fd, 100)
        finally:
            os.close(file_fd)
    finally:
        os.close(fd)


def scan(data: bytes) -> str:
    return str(ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id)


def test_a_deep_tree_packs_to_the_id_of_the_tar_describing_it_and_the_tar_it_writes(tmp_path: Path) -> None:
    build_deep(tmp_path / "tree", DEPTH)
    out = io.BytesIO()
    packed = str(pack_tree(tmp_path / "tree", FLATTEN, out, compression="none"))
    assert packed == scan(described_tar(DEPTH))
    assert scan(out.getvalue()) == packed
    assert str(pack_tree(tmp_path / "tree", FLATTEN)) == packed  # hashing alone walks the same way


def test_a_deep_tree_is_copied_and_unpacked_to_the_same_ware(tmp_path: Path) -> None:
    build_deep(tmp_path / "tree", DEPTH)
    out = io.BytesIO()
    original = pack_tree(tmp_path / "tree", PACK_LOSSLESS, out, compression="none")

    (tmp_path / "copy").mkdir(0o700)
    copy_tree(tmp_path / "tree", DirectoryPlacer(tmp_path / "copy"))
    assert pack_tree(tmp_path / "copy", PACK_LOSSLESS) == original
    assert read_bottom(tmp_path / "copy", DEPTH) == b"deep\n"

    unpack_tar(original, io.BytesIO(out.getvalue()), tmp_path / "unpacked", UNPACK_LOSSLESS)
    assert pack_tree(tmp_path / "unpacked", PACK_LOSSLESS) == original
    assert read_bottom(tmp_path / "unpacked", DEPTH) == b"deep\n"


def test_the_walk_holds_few_descriptors_however_deep_it_goes(tmp_path: Path) -> None:
    build_deep(tmp_path / "tree", DEPTH)
    before = len(os.listdir("/proc/self/fd"))
    most, names = 0, []
    for name, _, _ in walk(tmp_path / "tree"):
        names.append(name)
        if name.endswith("/f"):
            most = max(most, len(os.listdir("/proc/self/fd")) - before)
    assert names[:5] == [".", "a", "a/a", "a/a/a", "a/a/a/a"]
    assert names[-2:] == ["file", "link"]  # pre-order, sorted: the top's own entries after all that is under "a"
    assert "a/" * DEPTH + "f" in names and len(names) == 1 + DEPTH + 1 + 2 * (DEPTH // 1000)
    assert 0 < most <= 100
    assert len(os.listdir("/proc/self/fd")) == before  # and releases them all when done


def test_a_directory_moved_while_it_is_walked_is_refused_not_followed(tmp_path: Path) -> None:
    """Climbing back out of a deep directory goes through ``..``: it must lead to where the walk came from."""
    build_deep(tmp_path / "tree", 300)
    (tmp_path / "elsewhere").mkdir()
    walking = walk(tmp_path / "tree")
    with pytest.raises(R2k8sError) as caught:
        for name, _, _ in walking:
            if name.endswith("/f"):
                # Move the directory 200 levels down (its parent held by no descriptor) out of its parent.
                fd = os.open(tmp_path / "tree", DIRECTORY_FLAGS)
                for _ in range(199):
                    below = os.open("a", DIRECTORY_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = below
                elsewhere = os.open(tmp_path / "elsewhere", DIRECTORY_FLAGS)
                os.rename("a", "moved", src_dir_fd=fd, dst_dir_fd=elsewhere)
                os.close(fd)
                os.close(elsewhere)
    assert caught.value.category == Category.PACK_INVALID
    assert "moved" in caught.value.message or "changed" in caught.value.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the tree to another user")
def test_an_unprivileged_owner_packs_its_deep_tree_through_directories_it_may_only_list() -> None:
    """Without CAP_DAC_READ_SEARCH, ``..`` out of an empty ``0400`` directory is refused: the walk must go round.

    Deep down, the walk holds no descriptor of the parent and climbs back through ``..``, which needs search
    permission on the directory it leaves; one that may only be listed must still be walked, as it is when
    its parent is held.
    """
    base = Path(tempfile.mkdtemp(prefix="r2k8s-deep-", dir="/tmp"))  # pytest's folders are closed to others
    try:
        base.chmod(0o755)
        build_deep(base / "tree", 300)
        fd = os.open(base / "tree", DIRECTORY_FLAGS)
        for depth in range(1, 301):
            os.fchown(fd, NOBODY, NOBODY)
            if depth in (10, 250):
                os.mkdir("listed-only", 0o400, dir_fd=fd)
                os.chown("listed-only", NOBODY, NOBODY, dir_fd=fd)
            below = os.open("a", DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = below
        os.fchown(fd, NOBODY, NOBODY)
        os.close(fd)
        expected = str(pack_tree(base / "tree", FLATTEN))
        probe = "; ".join(
            [
                f"import sys; sys.path.insert(0, {str(PLUGIN_DIR)!r})",
                "from pathlib import Path",
                "from r2k8s.core.ware.filters import FLATTEN",
                "from r2k8s.core.ware.pack import pack_tree",
                f"print(pack_tree(Path({str(base / 'tree')!r}), FLATTEN))",
            ]
        )
        user = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        done = subprocess.run(
            ["setpriv", *user, sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == expected
    finally:
        remove_tree(base)
