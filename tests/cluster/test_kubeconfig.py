"""A kubeconfig that cannot be one is a usage error naming the file (exit 1), never an internal error (issue 12).

No cluster is needed: the file is refused before anything is contacted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from r2k8s.cluster.kube import check_kubeconfig, connect
from r2k8s.core.errors import Category, R2k8sError

NOT_UTF8 = b"\x89PNG\r\n\x1a\n IHDR"


def r2k8s(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "r2k8s", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.mark.parametrize("binary", ["executable", "not-utf8"])
def test_run_with_a_binary_kubeconfig_is_a_usage_error_naming_the_file(tmp_path: Path, binary: str) -> None:
    if binary == "executable":
        (tmp_path / "binfile").write_bytes(Path(sys.executable).resolve().read_bytes())  # ELF: NUL at offset 7
        why = "it holds a NUL byte at offset 7 (a binary file, not YAML text)"
    else:
        (tmp_path / "binfile").write_bytes(NOT_UTF8)
        why = "it is not UTF-8 text (byte 0x89 at offset 0; a binary file, not YAML)"
    (tmp_path / "x.formula").write_text('{"formula": {"inputs": {}, "action": {"exec": ["/bin/true"]}}}')
    done = r2k8s("run", "--kubeconfig", "binfile", "x.formula", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"kubeconfig binfile is not a kubeconfig file: {why}" in done.stderr
    assert "internal error" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (NOT_UTF8, "it is not UTF-8 text (byte 0x89 at offset 0; a binary file, not YAML)"),
        (b"apiVersion: v1\x00\n", "it holds a NUL byte at offset 14 (a binary file, not YAML text)"),
        (b"clusters: [\n", "it is not valid YAML at line 2, column 1:"),
        (b"", "it is empty"),
        (b"- a\n- b\n", "it holds a YAML list, not a mapping"),
        (b"just text\n", "it holds a YAML str, not a mapping"),
        (b"clusters: 5\n", "its 'clusters' must be a list of mappings"),
        (b"users: [1, 2]\n", "its 'users' must be a list of mappings"),
        (b"[" * 50_000, "it is YAML nested too deeply to read"),
    ],
    ids=["binary", "nul", "yaml-error", "empty", "list", "scalar", "clusters", "users", "deep"],
)
def test_files_that_cannot_be_kubeconfigs_are_refused_by_name(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "config"
    path.write_bytes(content)
    for attempt in (lambda: check_kubeconfig(str(path)), lambda: connect(str(path))):
        with pytest.raises(R2k8sError) as caught:
            attempt()
        assert caught.value.category is Category.USAGE
        assert caught.value.message.startswith(f"kubeconfig {path} is not a kubeconfig file: ")
        assert why in caught.value.message


def test_a_well_formed_file_the_client_library_chokes_on_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nclusters: [{name: a, cluster: 5}]\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: a, user: u}}]\nusers: [{name: u, user: 7}]\n"
    )
    with pytest.raises(R2k8sError) as caught:
        connect(str(path))
    assert caught.value.category is Category.USAGE
    assert caught.value.message.startswith(f"kubeconfig {path} is malformed: ")


def test_a_huge_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "config"
    with open(path, "wb") as sparse:
        sparse.truncate(1 << 30)
    with pytest.raises(R2k8sError) as caught:
        check_kubeconfig(str(path))
    assert caught.value.category is Category.USAGE and "larger than 16 MiB" in caught.value.message


def test_a_sound_kubeconfig_passes(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: a, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: a, user: u, namespace: builds}}]\nusers: [{name: u, user: {}}]\n"
    )
    check_kubeconfig(str(path))
    assert connect(str(path)).namespace == "builds"
