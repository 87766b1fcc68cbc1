"""The ware commands on zip wares as a user runs them: --packtype zip, the ID on stdout, rio's exit codes."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

from zipbuild import ZEntry, build_zip, dos_datetime, unix3

WITHBASE = "zip:6c1eVnQ9NutqZSMD5gimy72u3gZMcp4mFAVbQhAkpwTvTH1CCnGgL6yvBJ6MNkWUYZ"


def r2k8s(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "r2k8s", *args], capture_output=True, text=True, cwd=cwd)


def withbase(tmp_path: Path) -> Path:
    owner = unix3(501, 20)
    path = tmp_path / "withbase.zip"
    path.write_bytes(
        build_zip(
            [
                ZEntry(
                    "ab",
                    dos=dos_datetime(2015, 5, 30, 12, 11, 24),
                    extra=struct.pack("<HHBI", 0x5455, 5, 3, 0x556A0B5B) + owner,
                ),
                ZEntry(
                    "cd/",
                    mode=0o040755,
                    dos=dos_datetime(2015, 5, 30, 12, 11, 26),
                    extra=struct.pack("<HHBI", 0x5455, 5, 3, 0x556A0B5E) + owner,
                ),
            ]
        )
    )
    return path


def test_scan_zip_by_path_and_by_url(tmp_path: Path) -> None:
    withbase(tmp_path)
    by_path = r2k8s("scan", "withbase.zip", "--packtype", "zip", "--filters", "lossless", cwd=tmp_path)
    assert (by_path.returncode, by_path.stdout) == (0, WITHBASE + "\n"), by_path.stderr
    by_url = r2k8s("scan", "file://./withbase.zip", "--packtype", "zip", "--filters", "lossless", cwd=tmp_path)
    assert by_url.stdout == WITHBASE + "\n"


def test_the_packtype_is_not_guessed(tmp_path: Path) -> None:
    """As with rio, the pack type is an argument: a zip scanned as tar (the default) is a corrupt tar."""
    withbase(tmp_path)
    as_tar = r2k8s("scan", "withbase.zip", cwd=tmp_path)
    assert as_tar.returncode == 6 and as_tar.stdout == ""
    assert "--packtype" in r2k8s("scan", "--help").stdout


def test_pack_zip_to_a_file_then_unpack_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "hello").write_text("hi\n")
    (tree / "link").symlink_to("sub/hello")
    hashed = r2k8s("pack", str(tree), "--packtype", "zip")
    packed = r2k8s("pack", str(tree), "--packtype", "zip", "--target", f"file://{tmp_path / 'w.zip'}")
    assert packed.returncode == 0, packed.stderr
    ware = packed.stdout.strip()
    assert ware.startswith("zip:") and hashed.stdout.strip() == ware
    assert r2k8s("scan", str(tmp_path / "w.zip"), "--packtype", "zip").stdout.strip() == ware
    # the tar of the same tree has the same hash part
    assert r2k8s("pack", str(tree)).stdout.strip() == "tar:" + ware.removeprefix("zip:")
    unpacked = r2k8s("unpack", ware, str(tmp_path / "out"), "--source", f"file://{tmp_path / 'w.zip'}")
    assert unpacked.returncode == 0, unpacked.stderr
    assert unpacked.stdout.startswith("zip:")
    assert (tmp_path / "out" / "sub" / "hello").read_text() == "hi\n"
    assert (tmp_path / "out" / "link").readlink() == Path("sub/hello")


def test_unpack_exit_codes_for_a_wrong_and_a_corrupt_zip(tmp_path: Path) -> None:
    withbase(tmp_path)
    wrong = r2k8s(
        "unpack",
        "zip:2RLHdc3am6tMCFy56vfcHm5kWLoAtYBfiaQcq17vDm1tEzQn9CC6tcF2yzpAJvehPC",
        str(tmp_path / "out"),
        "--source",
        "file://./withbase.zip",
        cwd=tmp_path,
    )
    assert wrong.returncode == 7 and "hash mismatch" in wrong.stderr
    (tmp_path / "bomb.zip").write_bytes(build_zip([ZEntry("a", b"hello world", declared_size=2)]))
    corrupt = r2k8s("unpack", WITHBASE, str(tmp_path / "out"), "--source", "file://./bomb.zip", cwd=tmp_path)
    assert corrupt.returncode == 6 and "zip bomb" in corrupt.stderr
    assert not (tmp_path / "out").exists()


def test_pack_zip_refuses_a_fifo_with_exit_11(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    os.mkfifo(tree / "pipe")
    refused = r2k8s("pack", str(tree), "--packtype", "zip", "--filters", "flatten")
    assert refused.returncode == 11 and "'pipe'" in refused.stderr
