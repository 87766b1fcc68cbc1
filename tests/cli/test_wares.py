"""The ware commands as a user runs them: the ID alone on stdout, diagnostics on stderr, rio's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from repo import FIXTURES, needs_shared
from tarbuild import D, F, make_tar

BUSYBASH = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
SANS_BASE = "tar:2RLHdc3am6tMCFy56vfcHm5kWLoAtYBfiaQcq17vDm1tEzQn9CC6tcF2yzpAJvehPC"


def r2k8s(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "r2k8s", *args], capture_output=True, text=True, cwd=cwd)


def sans_base(tmp_path: Path) -> Path:
    path = tmp_path / "sans.tar.xz"
    path.write_bytes(
        make_tar([F("ab", uid=7000, gid=7000, mtime=1433013083), D("cd", uid=7000, gid=7000, mtime=1433013086)], "xz")
    )
    return path


def test_scan_prints_only_the_id(tmp_path: Path) -> None:
    result = r2k8s("scan", str(sans_base(tmp_path)))
    assert (result.returncode, result.stdout) == (0, SANS_BASE + "\n")


def test_scan_accepts_relative_file_urls_and_filters(tmp_path: Path) -> None:
    sans_base(tmp_path)
    assert r2k8s("scan", "file://./sans.tar.xz", cwd=tmp_path).stdout == SANS_BASE + "\n"
    flattened = r2k8s("scan", "sans.tar.xz", "--filters", "uid=1000,gid=1000", cwd=tmp_path)
    assert flattened.returncode == 0 and flattened.stdout.startswith("tar:") and flattened.stdout != SANS_BASE + "\n"


def test_pack_to_a_ca_warehouse_then_unpack_from_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "hello").write_text("hi\n")
    warehouse = tmp_path / "wh"
    warehouse.mkdir()
    packed = r2k8s("pack", str(tree), "--target", f"ca+file://{warehouse}")
    assert packed.returncode == 0, packed.stderr
    ware = packed.stdout.strip()
    digest = ware.removeprefix("tar:")
    assert (warehouse / digest[:3] / digest[3:6] / digest).is_file()
    assert not [p for p in warehouse.iterdir() if p.name.startswith(".tmp")]
    unpacked = r2k8s("unpack", ware, str(tmp_path / "out"), "--source", f"ca+file://{warehouse}")
    assert unpacked.returncode == 0, unpacked.stderr
    assert (tmp_path / "out" / "sub" / "hello").read_text() == "hi\n"
    # lowpriv (the default) makes everything the caller's; conservative pack made it 1000:1000 in the ware
    assert os.stat(tmp_path / "out" / "sub" / "hello").st_uid == os.getuid()


def test_pack_of_a_missing_path_is_the_empty_ware(tmp_path: Path) -> None:
    result = r2k8s("pack", str(tmp_path / "nope"))
    assert (result.returncode, result.stdout) == (0, "tar:-\n")


@needs_shared
def test_unpack_falls_back_across_sources_and_verifies(tmp_path: Path) -> None:
    fixture = FIXTURES / "repeatr/fixtures/busybash.tgz"
    result = r2k8s(
        "unpack",
        BUSYBASH,
        str(tmp_path / "root"),
        "--source",
        f"file://{tmp_path}/missing-dir/x.tgz",
        "--source",
        f"file://{fixture}",
        "--filters",
        "lossless",
    )
    assert (result.returncode, result.stdout) == (0, BUSYBASH + "\n")
    assert "rio-warehouse-unavailable" in result.stderr and (tmp_path / "root" / "bin" / "busybox").is_file()


def test_hash_mismatch_exits_7_and_leaves_nothing(tmp_path: Path) -> None:
    tarball = sans_base(tmp_path)
    wrong = "tar:5y6NvK6GBPQ6CcuNyJyWtSrMAJQ4LVrAcZSoCRAzMSk5o53pkTYiieWyRivfvhZwhZ"
    result = r2k8s("unpack", wrong, str(tmp_path / "out"), "--source", f"file://{tarball}")
    assert result.returncode == 7 and result.stdout == ""
    assert "hash mismatch" in result.stderr and SANS_BASE in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sans.tar.xz"]


def test_exit_codes_for_missing_wares_and_bad_usage(tmp_path: Path) -> None:
    assert r2k8s("unpack", SANS_BASE, str(tmp_path / "o"), "--source", f"ca+file://{tmp_path}").returncode == 5
    assert r2k8s("unpack", SANS_BASE, str(tmp_path / "o"), "--source", f"ca+file://{tmp_path}/none").returncode == 3
    assert r2k8s("scan", str(tmp_path / "absent.tgz")).returncode == 5
    bad = r2k8s("pack", str(tmp_path), "--filters", "uid=follow")
    assert bad.returncode == 1 and "uid must be keep" in bad.stderr
    assert r2k8s("frobnicate").returncode == 1
    (tmp_path / "junk.tar").write_bytes(b"this is not a tarball at all" * 40)
    corrupt = r2k8s("scan", str(tmp_path / "junk.tar"))
    assert corrupt.returncode == 6 and "rio-ware-corrupt" in corrupt.stderr
