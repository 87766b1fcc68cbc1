"""``r2k8s unpack git:COMMIT DIR --source REMOTE`` as a user runs it: rio's git transmat from the command line.

Repositories are made with the real ``git`` and served by the real ``git http-backend``; the placed tree
must be the commit's (no ``.git``), with rio's metadata, the printed ID the ware asked for, and the
objects kept in the ware cache so a second unpack of a newer commit fetches only what is new.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from cli_runs import r2k8s
from git_http import bare_copy, commit, git, make_repo, serve_git

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="placing rio's owners (1000:1000) needs root")


def listing(root: Path) -> dict[str, tuple[int, int, int, int, bytes | str]]:
    """Every entry under ``root``: mode, uid, gid, mtime (s), and content or link target."""
    out: dict[str, tuple[int, int, int, int, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames] if dirpath == str(root) else [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st = os.lstat(path)
            body: bytes | str = b""
            if path.is_symlink():
                body = os.readlink(path)
            elif path.is_file():
                body = path.read_bytes()
            out[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime), body)
    return out


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    work = make_repo(tmp_path / "work")
    head = commit(work, {"bin/run": b"#!/bin/sh\necho hi\n", "doc/a.txt": b"a\n", "link": "symlink:doc/a.txt"})
    os.chmod(work / "bin/run", 0o755)
    head = commit(work, {"bin/run": b"#!/bin/sh\necho hi\n"}, "exec bit")
    return bare_copy(work, tmp_path / "srv" / "repo.git"), head


def test_unpack_from_a_local_repository_places_the_commits_tree(tmp_path: Path, repo: tuple[Path, str]) -> None:
    bare, head = repo
    env = {**os.environ, "R2K8S_CACHE": str(tmp_path / "cache")}
    done = r2k8s("unpack", f"git:{head}", tmp_path / "out", "--source", f"file://{bare}", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"git:{head}\n"
    placed = listing(tmp_path / "out")
    assert ".git" not in placed
    assert placed["bin/run"][0] & 0o777 == 0o755 and placed["doc/a.txt"][0] & 0o777 == 0o644
    assert placed["link"][4] == "doc/a.txt"
    # rio's git metadata: 1000:1000 and 2010-01-01 for every entry but the root (0:0); lowpriv makes owners "mine"
    assert {(m[1], m[2]) for m in placed.values()} == {(0, 0)}
    assert {m[3] for name, m in placed.items() if not name.startswith("link")} == {1262304000}


def test_unpack_over_http_uses_the_cache_for_the_next_commit(tmp_path: Path, repo: tuple[Path, str]) -> None:
    bare, head = repo
    env = {**os.environ, "R2K8S_CACHE": str(tmp_path / "cache")}
    with serve_git(tmp_path / "srv") as server:
        url = server.url("repo.git")
        first = r2k8s("unpack", f"git:{head}", tmp_path / "one", "--source", url, "--filters", "lossless", env=env)
        assert first.returncode == 0, first.stderr
        assert listing(tmp_path / "one")["doc/a.txt"][1:3] == (1000, 1000)
        work = tmp_path / "work"
        newer = commit(work, {"doc/b.txt": b"b\n"}, "newer")
        git("-C", work, "push", "-q", bare, "main")
        second = r2k8s("unpack", f"git:{newer}", tmp_path / "two", "--source", url, env=env)
        assert second.returncode == 0, second.stderr
        # the second fetch told the server what the cache already holds, and got less than the first
        haves = re.search(r"protocol v2, (\d+) have lines, (\d+) bytes received", second.stderr)
        firsts = re.search(r"protocol v2, 0 have lines, (\d+) bytes received", first.stderr)
        assert haves and firsts, (first.stderr, second.stderr)
        assert int(haves[1]) >= 1 and int(haves[2]) < int(firsts[1])
        assert (tmp_path / "two" / "doc" / "b.txt").read_bytes() == b"b\n"
    assert (tmp_path / "cache" / "git" / "objs").is_dir()


@pytest.mark.parametrize("name", ["main", "HEAD", "short"])
def test_a_name_or_short_hash_is_not_found_with_rios_exit_code(
    tmp_path: Path, repo: tuple[Path, str], name: str
) -> None:
    bare, head = repo
    ware = f"git:{head[:12] if name == 'short' else name}"
    env = {**os.environ, "R2K8S_CACHE": str(tmp_path / "cache")}
    done = r2k8s("unpack", ware, tmp_path / "out", "--source", f"file://{bare}", env=env)
    assert done.returncode == 5, done.stderr
    assert "only commit hashes are ware IDs" in done.stderr
    assert done.stdout == "" and not (tmp_path / "out").exists()


def test_an_unknown_commit_is_not_found_and_nothing_is_placed(tmp_path: Path, repo: tuple[Path, str]) -> None:
    bare, _ = repo
    env = {**os.environ, "R2K8S_CACHE": str(tmp_path / "cache")}
    done = r2k8s("unpack", "git:" + "ab" * 20, tmp_path / "out", "--source", f"file://{bare}", env=env)
    assert done.returncode == 5, done.stderr
    assert not (tmp_path / "out").exists()
