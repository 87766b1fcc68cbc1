"""Reading what ``-f`` names: real files, folders in name order (``-R`` for subfolders), URLs from a real HTTP
server on 127.0.0.1; every failure names what could not be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback_http import serve
from resolve_packages import package, write

from r2k8s.core.errors import R2k8sError
from r2k8s.resolve.sources import read_sources


def test_a_folder_gives_its_manifests_in_name_order_and_ignores_other_files(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", "kind: B\n")
    write(tmp_path / "a.json", '{"kind": "A"}')
    write(tmp_path / "c.yml", "kind: C\n")
    write(tmp_path / "notes.txt", "kind: ignored\n")
    write(tmp_path / "sub" / "d.yaml", "kind: D\n")
    read = read_sources([str(tmp_path)])
    assert [source.name for source in read] == [str(tmp_path / name) for name in ("a.json", "b.yaml", "c.yml")]
    assert [source.path for source in read] == [tmp_path / name for name in ("a.json", "b.yaml", "c.yml")]


def test_recursive_reads_subfolders_where_their_names_fall_and_skips_hidden_ones(tmp_path: Path) -> None:
    package(tmp_path)
    write(tmp_path / ".git" / "config.yaml", "kind: Hidden\n")
    write(tmp_path / "a.yaml", "kind: A\n")
    read = read_sources([str(tmp_path)], recursive=True)
    assert [Path(source.name).relative_to(tmp_path).as_posix() for source in read] == [
        "a.yaml",
        "jobs/batch/worker.yaml",
        "web/deploy.yaml",
        "web/service.yaml",
    ]


def test_a_folder_with_manifests_only_below_it_says_to_use_R(tmp_path: Path) -> None:
    package(tmp_path)
    with pytest.raises(R2k8sError) as caught:
        read_sources([str(tmp_path)])
    assert caught.value.message == f"{tmp_path}: no .yaml, .yml or .json files in it (-R reads its subfolders)"


def test_a_missing_file_and_a_binary_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(R2k8sError, match=r"^missing\.yaml: no such file or folder$"):
        read_sources(["missing.yaml"])
    (tmp_path / "x.yaml").write_bytes(b"kind: \xff\n")
    with pytest.raises(R2k8sError, match=r"x\.yaml: not UTF-8 text \(byte 0xff at offset 6\)"):
        read_sources([str(tmp_path / "x.yaml")])


def test_a_url_is_fetched_and_named_by_its_address(tmp_path: Path) -> None:
    write(tmp_path / "site" / "deploy.yaml", "\ufeffkind: Served\n")
    with serve(tmp_path / "site") as server:
        url = server.url("/deploy.yaml")
        (read,) = read_sources([url])
    assert (read.name, read.url, read.path, read.text) == (url, url, None, "kind: Served\n")


def test_a_url_the_server_does_not_have_is_an_error_naming_it_and_the_status(tmp_path: Path) -> None:
    with serve(tmp_path / "site") as server:
        url = server.url("/missing.yaml")
        with pytest.raises(R2k8sError) as caught:
            read_sources([url])
    assert caught.value.message == f"{url}: the server answered HTTP 404 Not Found"


def test_an_unreachable_server_is_an_error_naming_the_url(tmp_path: Path) -> None:
    with serve(tmp_path / "site") as server:
        url = server.url("/deploy.yaml")
    with pytest.raises(R2k8sError, match=rf"^{url}: cannot fetch it: .*refused"):
        read_sources([url])


def test_nothing_named_is_a_usage_error() -> None:
    with pytest.raises(R2k8sError, match="nothing to resolve"):
        read_sources([])
