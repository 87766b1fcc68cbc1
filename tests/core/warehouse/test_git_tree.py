"""``git:`` wares through the ware cache, end to end: fetched, checked out with rio's metadata, cached.

Real servers only (``git http-backend`` behind :mod:`git_http`'s bridge) and
repositories made with the real ``git``; production's formats
(:mod:`r2k8s.core.ware.git`) do the indexing and the checkout.
"""

from __future__ import annotations

import os
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_http import GitServer, bare_copy, commit, git, make_repo, serve_git

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.fsmeta import DEFAULT_TIME
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import SUPPORTED_PACKTYPES, WareCache
from r2k8s.core.warehouse.git.remotes import slugify_remote
from r2k8s.core.warehouse.verify import verify_cache

ROOT = os.geteuid() == 0


@pytest.fixture(params=[True, False], ids=["v2", "v0"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    root.mkdir()
    with serve_git(root, protocol_v2=request.param) as served:
        yield served


@pytest.fixture
def cache(tmp_path: Path) -> WareCache:
    return WareCache(tmp_path / "cache")


def publish(repo: Path, server: GitServer, name: str) -> str:
    target = server.root / name
    if target.exists():
        git("-C", target, "fetch", "-q", repo, "+refs/heads/*:refs/heads/*")
    else:
        bare_copy(repo, target)
    return server.url(name)


def gitlink(repo: Path, path: str, sub_commit: str, url: str) -> None:
    """Record a submodule at ``path`` (commit ``sub_commit``, fetched from ``url``) without cloning it.

    An empty directory stands at ``path``, as after a clone that did not init
    its submodules: ``git add -A`` keeps the gitlink then.
    """
    (repo / path).mkdir(parents=True, exist_ok=True)
    git("-C", repo, "config", "-f", ".gitmodules", f"submodule.{path}.path", path)
    git("-C", repo, "config", "-f", ".gitmodules", f"submodule.{path}.url", url)
    git("-C", repo, "update-index", "--add", "--cacheinfo", f"160000,{sub_commit},{path}")


def test_git_is_a_cached_packtype() -> None:
    assert "git" in SUPPORTED_PACKTYPES


def test_a_commit_is_placed_with_rios_metadata(tmp_path: Path, server: GitServer, cache: WareCache) -> None:
    repo = make_repo(tmp_path / "app")
    head = commit(
        repo,
        {
            "README": "hello\n",
            "bin/run": "#!/bin/sh\necho hi\n",
            "link": "symlink:README",
            "deep/a/b/c/d/e/f/g/h/i/j/leaf.txt": "deep\n",
        },
    )
    os.chmod(repo / "bin" / "run", 0o755)
    head = commit(repo, {})
    url = publish(repo, server, "app.git")
    entry = cache.ensure(WareID("git", head), [url])
    assert entry == cache.root / "git" / "fileset" / head[:3] / head[3:6] / head
    assert (entry / "README").read_text() == "hello\n"
    assert (entry / "deep/a/b/c/d/e/f/g/h/i/j/leaf.txt").read_text() == "deep\n"
    assert os.readlink(entry / "link") == "README"
    modes = {name: stat.S_IMODE(os.lstat(entry / name).st_mode) for name in ("README", "bin/run", "bin", "deep/a")}
    assert modes == {"README": 0o644, "bin/run": 0o755, "bin": 0o755, "deep/a": 0o755}
    assert os.lstat(entry / "README").st_mtime == DEFAULT_TIME
    assert os.lstat(entry / "deep" / "a").st_mtime == DEFAULT_TIME
    if ROOT:
        assert (os.lstat(entry / "README").st_uid, os.lstat(entry / "README").st_gid) == (1000, 1000)
    assert (cache.root / "git" / "objs" / slugify_remote(url) / "r2k8s-complete").read_text() == f"{head}\n"


def test_an_empty_tree_is_an_empty_directory(tmp_path: Path, server: GitServer, cache: WareCache) -> None:
    repo = make_repo(tmp_path / "empty")
    head = commit(repo, {})
    entry = cache.ensure(WareID("git", head), [publish(repo, server, "empty.git")])
    assert os.listdir(entry) == []


def test_a_large_file_is_streamed_not_held(tmp_path: Path, server: GitServer, cache: WareCache) -> None:
    size = 24 * 1024 * 1024
    repo = make_repo(tmp_path / "big")
    with open(repo / "big.bin", "wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))
    head = commit(repo, {})
    url = publish(repo, server, "big.git")
    tracemalloc.start()
    try:
        entry = cache.ensure(WareID("git", head), [url])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (entry / "big.bin").stat().st_size == size
    assert peak < size // 3, f"peak Python memory {peak} for a {size}-byte file"


def test_submodules_are_fetched_from_gitmodules_and_nested_ones_stay_empty_as_in_rio(
    tmp_path: Path, server: GitServer, cache: WareCache
) -> None:
    inner = make_repo(tmp_path / "inner")
    inner_head = commit(inner, {"inner.txt": "inner\n"})
    publish(inner, server, "inner.git")
    lib = make_repo(tmp_path / "lib")
    gitlink(lib, "vendor/inner", inner_head, "../inner.git")
    lib_head = commit(lib, {"lib.txt": "lib\n"})
    publish(lib, server, "lib.git")
    app = make_repo(tmp_path / "app")
    gitlink(app, "third_party/lib", lib_head, "../lib.git")  # relative: resolved against app's remote
    gitlink(app, "abs", inner_head, server.url("inner.git"))
    head = commit(app, {"main.txt": "app\n"})
    url = publish(app, server, "app.git")
    lines: list[str] = []
    entry = cache.ensure(WareID("git", head), [url], log=lines.append)
    assert (entry / "main.txt").read_text() == "app\n"
    assert (entry / "third_party/lib/lib.txt").read_text() == "lib\n"
    assert (entry / "abs/inner.txt").read_text() == "inner\n"
    assert os.listdir(entry / "third_party/lib/vendor/inner") == []  # rio does not recurse into submodules
    assert any("resolved to" in line and server.url("lib.git") in line for line in lines)
    objs = cache.root / "git" / "objs"
    assert sorted(os.listdir(objs)) == sorted(
        slugify_remote(server.url(n)) for n in ("app.git", "lib.git", "inner.git")
    )


def test_a_submodule_that_cannot_be_fetched_fails_the_ware_and_caches_no_tree(
    tmp_path: Path, server: GitServer, cache: WareCache
) -> None:
    app = make_repo(tmp_path / "app")
    gitlink(app, "lib", "3" * 40, "../missing.git")
    head = commit(app, {"a": "a\n"})
    with pytest.raises(R2k8sError) as info:
        cache.ensure(WareID("git", head), [publish(app, server, "app.git")])
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert not cache.has(WareID("git", head))


@pytest.mark.parametrize("name", ["main", "0123abc", "HEAD", "0123456789ABCDEF0123456789ABCDEF01234567"])
def test_names_and_short_hashes_are_refused_before_anything_happens(
    tmp_path: Path, cache: WareCache, name: str
) -> None:
    with pytest.raises(R2k8sError) as info:
        cache.ensure(WareID("git", name), ["https://example.invalid/x.git"])
    assert info.value.category is Category.WARE_NOT_FOUND
    assert "only commit hashes are ware IDs" in info.value.message
    assert not cache.root.exists()


def test_the_next_url_serves_when_the_first_server_is_down(tmp_path: Path, server: GitServer, cache: WareCache) -> None:
    repo = make_repo(tmp_path / "app")
    head = commit(repo, {"a": "a\n"})
    url = publish(repo, server, "app.git")
    entry = cache.ensure(WareID("git", head), ["http://127.0.0.1:9/app.git", url])
    assert (entry / "a").read_text() == "a\n"


def test_a_lying_server_leaves_nothing_in_either_cache(tmp_path: Path, server: GitServer, cache: WareCache) -> None:
    repo = make_repo(tmp_path / "app")
    head = commit(repo, {"data": os.urandom(32 * 1024)})
    url = publish(repo, server, "app.git")

    def flip(payload: bytes) -> bytes:
        at = payload.find(b"PACK") + (len(payload) - payload.find(b"PACK")) // 2
        return payload[:at] + bytes([payload[at] ^ 0xFF]) + payload[at + 1 :]

    server.tamper = flip
    with pytest.raises(R2k8sError) as info:
        cache.ensure(WareID("git", head), [url])
    assert info.value.category is Category.WARE_CORRUPT
    assert not cache.has(WareID("git", head))
    assert not list((cache.root / "git" / "objs" / slugify_remote(url) / "objects" / "pack").iterdir())
    assert not os.listdir(cache.root / ".tmp")


@pytest.mark.parametrize("bare", [False, True], ids=["worktree", "bare"])
def test_local_repositories_through_the_cache(tmp_path: Path, cache: WareCache, bare: bool) -> None:
    repo = make_repo(tmp_path / "app")
    head = commit(repo, {"a": "local\n"})
    where = bare_copy(repo, tmp_path / "app.git") if bare else repo
    entry = cache.ensure(WareID("git", head), [f"file://{os.path.relpath(where, tmp_path)}"], base_dir=tmp_path)
    assert (entry / "a").read_text() == "local\n"
    assert not (cache.root / "git" / "objs").exists()  # used in place, as rio does


def test_two_commits_of_one_repository_in_one_run(tmp_path: Path, server: GitServer, cache: WareCache) -> None:
    repo = make_repo(tmp_path / "app")
    first = commit(repo, {"v": "1\n"})
    second = commit(repo, {"v": "2\n"})
    url = publish(repo, server, "app.git")
    placed = cache.ensure_all({"/one": (f"git:{first}", [url]), "/two": (f"git:{second}", [url])})
    assert (placed["/one"] / "v").read_text() == "1\n"
    assert (placed["/two"] / "v").read_text() == "2\n"


def test_cache_verify_skips_git_entries_instead_of_calling_them_bad(tmp_path: Path, cache: WareCache) -> None:
    repo = make_repo(tmp_path / "app")
    head = commit(repo, {"a": "a\n"})
    cache.ensure(WareID("git", head), [f"file://{repo}"])
    [verdict] = list(verify_cache(cache, repair=True))
    assert not verdict.bad and verdict.skipped and not verdict.removed
    assert cache.has(WareID("git", head))
