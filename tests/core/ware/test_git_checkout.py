"""Checking out git wares as rio does, with the real git as the oracle for what a commit holds.

The reference for a commit is ``git archive`` extracted and given rio's
metadata by hand (uid/gid 1000, 2010-01-01, 0644 files, 0755 executables and
directories, the root 0755 0:0); the checkout's tree hash, and a re-pack of
what it placed, must equal the reference's.
"""

from __future__ import annotations

import os
import tracemalloc
import zlib
from pathlib import Path

import pytest
from git_oracle import archived, commit_all, git, init, requires_git, rio_metadata, write_tree_files

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.scratch import remove_tree
from r2k8s.core.ware.filters import PACK_CONSERVATIVE, PACK_LOSSLESS, UNPACK_LOSSLESS, Filters
from r2k8s.core.ware.fsmeta import DEFAULT_TIME
from r2k8s.core.ware.git.checkout import MAX_TREE_DEPTH, checkout_commit
from r2k8s.core.ware.git.objects import object_id
from r2k8s.core.ware.git.odb import ObjectDirectory, find_objects_dir
from r2k8s.core.ware.git.unpack import unpack_git
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.wareid import WareID

pytestmark = requires_git
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="placing rio's owners (1000, and 0 for the root) needs root")
MINE = Filters.parse("unpack", "uid=mine,gid=mine")


def sample_repo(path: Path) -> tuple[Path, str]:
    repo = init(path)
    files: dict[str, bytes | str] = {
        "README": b"hello\n",
        "bin/run": b"#!/bin/sh\nexit 0\n",
        "src/a.c": b"int main() { return 0; }\n",
        "src/deeper/b.txt": b"b\n" * 1000,
        "link-rel": "src/a.c",
        "link-abs": "/etc/passwd",
        "link-dangling": "nowhere/at/all",
        "src/link-up": "../README",
        "unicode-\u00e9t\u00e9.txt": b"summer\n",
        "with space": b"",
    }
    write_tree_files(repo, files, frozenset({"bin/run"}))
    deep = repo / Path(*["d"] * 200)
    deep.mkdir(parents=True)
    (deep / "bottom").write_bytes(b"deep\n")
    return repo, commit_all(repo)


@as_root
def test_checkout_equals_git_archive_with_rio_metadata(tmp_path: Path) -> None:
    repo, commit = sample_repo(tmp_path / "repo")
    reference = archived(repo, commit, tmp_path / "reference")
    rio_metadata(reference)
    with ObjectDirectory(find_objects_dir(repo)) as objects:
        result = unpack_git(WareID("git", commit), objects, tmp_path / "out", UNPACK_LOSSLESS)
        scanned = checkout_commit(objects, commit, None, UNPACK_LOSSLESS)
    assert result.ware_id == WareID("git", commit)
    assert result.prefilter_id == result.filtered_id == scanned.filtered_id
    assert result.filtered_id == pack_tree(tmp_path / "out", PACK_LOSSLESS)
    assert result.filtered_id == pack_tree(reference, PACK_LOSSLESS)
    assert pack_tree(tmp_path / "out", PACK_CONSERVATIVE) == pack_tree(reference, PACK_CONSERVATIVE)
    out = tmp_path / "out"
    assert os.readlink(out / "link-abs") == "/etc/passwd"
    assert (out / "bin" / "run").stat().st_mode & 0o777 == 0o755
    assert (out / "README").stat().st_mode & 0o777 == 0o644
    assert (out.stat().st_uid, (out / "src").stat().st_uid) == (0, 1000)
    assert (out / "link-rel").lstat().st_mtime == DEFAULT_TIME
    assert (out / Path(*["d"] * 200) / "bottom").read_bytes() == b"deep\n"


def test_filters_change_what_is_placed_but_directories_keep_rios_mtime(tmp_path: Path) -> None:
    repo, commit = sample_repo(tmp_path / "repo")
    filters = Filters.parse("unpack", "uid=mine,gid=mine,mtime=@1500000000")
    with ObjectDirectory(find_objects_dir(repo)) as objects:
        result = unpack_git(WareID("git", commit), objects, tmp_path / "out", filters)
    out = tmp_path / "out"
    assert result.filtered_id != result.prefilter_id
    assert result.filtered_id == pack_tree(out, PACK_LOSSLESS)
    assert (out / "README").stat().st_mtime == 1500000000
    assert out.stat().st_mtime == (out / "src").stat().st_mtime == DEFAULT_TIME  # rio's reset of every directory
    assert (out / "README").stat().st_uid == os.getuid()


def test_an_empty_tree_and_empty_directories(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    empty = git(repo, "hash-object", "-w", "-t", "tree", "--stdin", input=b"").decode().strip()
    blob = git(repo, "hash-object", "-w", "--stdin", input=b"x\n").decode().strip()
    tree = git(repo, "mktree", input=f"040000 tree {empty}\tempty\n100644 blob {blob}\tx\n".encode()).decode().strip()
    with ObjectDirectory(find_objects_dir(repo)) as objects:
        for root in (empty, tree):
            commit = git(repo, "commit-tree", root, "-m", "m").decode().strip()
            target = tmp_path / f"out-{root}"
            result = unpack_git(WareID("git", commit), objects, target, MINE)
            assert result.filtered_id == pack_tree(target, PACK_LOSSLESS)
        assert (target / "empty").is_dir() and not any((target / "empty").iterdir())


def test_a_large_blob_streams_with_flat_memory(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    size = 30 << 20
    (repo / "big").write_bytes(os.urandom(1 << 20) * 30)
    commit = commit_all(repo)
    for packed in (False, True):
        if packed:
            git(repo, "repack", "-adq")
        target = tmp_path / f"out-{packed}"
        with ObjectDirectory(find_objects_dir(repo)) as objects:
            tracemalloc.start()
            try:
                unpack_git(WareID("git", commit), objects, target, MINE)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert (target / "big").stat().st_size == size
        assert peak < 6 << 20, f"checking out a {size >> 20} MiB blob allocated {peak >> 20} MiB at peak"


def _submodule_repos(tmp_path: Path) -> tuple[Path, dict[str, Path], str]:
    """top (with libs/mid) -> mid (with deep) -> deep; the URLs are the repositories' paths."""
    deep = init(tmp_path / "deep")
    write_tree_files(deep, {"deep.txt": b"deep\n"})
    commit_all(deep)
    mid = init(tmp_path / "mid")
    write_tree_files(mid, {"mid.txt": b"mid\n", "tool": b"#!/bin/sh\n"}, frozenset({"tool"}))
    git(mid, "submodule", "add", "-q", str(deep), "deep")
    commit_all(mid)
    top = init(tmp_path / "top")
    write_tree_files(top, {"top.txt": b"top\n"})
    git(top, "submodule", "add", "-q", str(mid), "libs/mid")
    commit = commit_all(top)
    return top, {str(deep): deep, str(mid): mid}, commit


@as_root
def test_submodules_and_nested_submodules(tmp_path: Path) -> None:
    top, by_url, commit = _submodule_repos(tmp_path)
    calls: list[tuple[str, str, str]] = []
    opened: list[ObjectDirectory] = []

    def fetch(path: str, url: str, sub_commit: str) -> ObjectDirectory:
        calls.append((path, url, sub_commit))
        opened.append(ObjectDirectory(find_objects_dir(by_url[url])))
        return opened[-1]

    with ObjectDirectory(find_objects_dir(top)) as objects:
        result = unpack_git(WareID("git", commit), objects, tmp_path / "out", UNPACK_LOSSLESS, fetch)
    for store in opened:
        store.close()
    mid_commit = git(top, "rev-parse", "HEAD:libs/mid").decode().strip()
    assert calls == [("libs/mid", str(by_url[str(tmp_path / "mid")]), mid_commit)]
    out = tmp_path / "out"
    assert (out / "libs" / "mid" / "mid.txt").read_bytes() == b"mid\n"
    assert (out / "libs" / "mid" / "tool").stat().st_mode & 0o777 == 0o755
    assert (out / "libs" / "mid" / "deep").is_dir() and not any((out / "libs" / "mid" / "deep").iterdir())
    sub_root = (out / "libs" / "mid").stat()
    assert (sub_root.st_uid, sub_root.st_gid, sub_root.st_mode & 0o777) == (0, 0, 0o755)  # a repository's root
    assert (out / "libs" / "mid" / "deep").stat().st_uid == 1000  # a nested gitlink: a plain empty directory
    assert result.filtered_id == pack_tree(out, PACK_LOSSLESS)
    # the same by hand: top's archive, mid's archive inside it, rio's metadata, the submodule root 0:0
    reference = archived(top, commit, tmp_path / "reference")
    (reference / "libs" / "mid").rmdir()
    archived(tmp_path / "mid", mid_commit, reference / "libs" / "mid")
    rio_metadata(reference)
    os.chown(reference / "libs" / "mid", 0, 0)
    assert pack_tree(reference, PACK_LOSSLESS) == result.filtered_id


def test_submodule_errors(tmp_path: Path) -> None:
    top, _, commit = _submodule_repos(tmp_path)
    with ObjectDirectory(find_objects_dir(top)) as objects:
        with pytest.raises(R2k8sError, match="no way to fetch submodules") as usage:
            checkout_commit(objects, commit, None, MINE)
        assert usage.value.category is Category.USAGE
        # .gitmodules naming a path that is not a gitlink; a gitlink .gitmodules does not name
        for text in ('[submodule "x"]\n\tpath = top.txt\n\turl = u\n', '[submodule "x"]\n\tpath = nothere\n'):
            (top / ".gitmodules").write_text(text)
            bad = commit_all(top, "bad")
            with pytest.raises(R2k8sError) as corrupt:
                checkout_commit(objects, bad, None, MINE)
            assert corrupt.value.category is Category.WARE_CORRUPT
        git(top, "rm", "-q", "--cached", ".gitmodules")
        (top / ".gitmodules").unlink()
        unlisted = commit_all(top, "no .gitmodules")
        with pytest.raises(R2k8sError, match=r"no matching config in \.gitmodules") as corrupt:
            checkout_commit(objects, unlisted, None, MINE)
        assert corrupt.value.category is Category.WARE_CORRUPT


def test_ware_ids_and_missing_objects(tmp_path: Path) -> None:
    repo, commit = sample_repo(tmp_path / "repo")
    with ObjectDirectory(find_objects_dir(repo)) as objects:
        for bad in ("HEAD", commit.upper(), commit[:39], "main", commit + "0"):
            with pytest.raises(R2k8sError) as usage:
                unpack_git(WareID("git", bad), objects, tmp_path / "out", MINE)
            assert usage.value.category is Category.USAGE
        with pytest.raises(R2k8sError) as missing:
            unpack_git(WareID("git", "1" * 40), objects, tmp_path / "out", MINE)
        assert missing.value.category is Category.WARE_NOT_FOUND
        tree = git(repo, "rev-parse", "HEAD^{tree}").decode().strip()
        with pytest.raises(R2k8sError, match="not a commit") as not_commit:
            unpack_git(WareID("git", tree), objects, tmp_path / "out", MINE)
        assert not_commit.value.category is Category.WARE_CORRUPT
    # a blob gone missing: refused, nothing placed, no staging left
    blob = git(repo, "rev-parse", "HEAD:README").decode().strip()
    (find_objects_dir(repo) / blob[:2] / blob[2:]).unlink()
    with ObjectDirectory(find_objects_dir(repo)) as objects, pytest.raises(R2k8sError) as gone:
        unpack_git(WareID("git", commit), objects, tmp_path / "out", MINE)
    assert gone.value.category is Category.WARE_NOT_FOUND
    assert sorted(os.listdir(tmp_path)) == ["repo"]


def _write_loose(objects: Path, kind: str, data: bytes) -> str:
    oid = object_id(kind, data).hex()
    path = objects / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zlib.compress(b"%s %d\x00" % (kind.encode(), len(data)) + data))
    return oid


def _commit_of(objects: Path, entries: bytes, commit_text: bytes | None = None) -> str:
    tree = _write_loose(objects, "tree", entries)
    text = commit_text or b"tree %s\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\n\nm\n" % tree.encode()
    return _write_loose(objects, "commit", text)


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        (b"..", b"40000"),
        (b".", b"40000"),
        (b".git", b"40000"),
        (b".GiT", b"100644"),
        (b"a/b", b"100644"),
        (b"", b"100644"),
        (b"ok", b"100664"),
        (b"ok", b"100645"),
        (b"ok", b"10x644"),
    ],
)
def test_hostile_trees_are_refused(tmp_path: Path, name: bytes, mode: bytes) -> None:
    objects = tmp_path / "objects"
    blob = _write_loose(objects, "blob", b"x")
    commit = _commit_of(objects, mode + b" " + name + b"\x00" + bytes.fromhex(blob))
    with ObjectDirectory(objects) as store, pytest.raises(R2k8sError) as refused:
        unpack_git(WareID("git", commit), store, tmp_path / "out", MINE)
    assert refused.value.category is Category.WARE_CORRUPT
    assert not (tmp_path / "out").exists()


def test_duplicate_names_and_malformed_commits_are_refused(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    blob = bytes.fromhex(_write_loose(objects, "blob", b"x"))
    tree = _write_loose(objects, "tree", b"100644 a\x00" + blob).encode()
    bad_commits = [
        b"author a <a> 0 +0000\ntree " + tree + b"\n",
        b"tree " + tree + b"\ncommitter a <a> 0 +0000\n\n",
        b"tree " + tree.upper() + b"\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\n\n",
        b"tree " + tree + b"\nparent 123\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\n\n",
        b"tree " + tree + b"\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\ntree " + tree + b"\n\n",
    ]
    commits = [_commit_of(objects, b"100644 a\x00" + blob + b"100644 a\x00" + blob)]
    commits += [_write_loose(objects, "commit", text) for text in bad_commits]
    with ObjectDirectory(objects) as store:
        for commit in commits:
            with pytest.raises(R2k8sError) as refused:
                checkout_commit(store, commit, None, MINE)
            assert refused.value.category is Category.WARE_CORRUPT


def test_rios_tree_depth_limit(tmp_path: Path) -> None:
    """go-git's walker (rio's) refuses a directory 1025 levels deep; 1024 levels are placed."""
    objects = tmp_path / "objects"
    for depth, refused in ((MAX_TREE_DEPTH, False), (MAX_TREE_DEPTH + 1, True)):
        tree = _write_loose(objects, "tree", b"")
        for _ in range(depth):
            tree = _write_loose(objects, "tree", b"40000 d\x00" + bytes.fromhex(tree))
        text = b"tree %s\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\n\nm\n" % tree.encode()
        commit = _write_loose(objects, "commit", text)
        with ObjectDirectory(objects) as store:
            if refused:
                with pytest.raises(R2k8sError, match="maximum tree depth") as error:
                    checkout_commit(store, commit, None, MINE)
                assert error.value.category is Category.WARE_CORRUPT
            else:
                target = tmp_path / "out"
                result = unpack_git(WareID("git", commit), store, target, MINE)
                assert result.entries == depth + 1
                assert result.filtered_id == pack_tree(target, PACK_LOSSLESS)
                remove_tree(target)  # pytest's own clean-up of old temporary directories recurses too deep for it


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    """Git names are bytes: they are placed as the same bytes, and hashed as the tar code hashes such names."""
    repo = init(tmp_path / "repo")
    raw = b"caf\xe9-latin1.txt"
    with open(os.path.join(os.fsencode(repo), raw), "wb") as file:
        file.write(b"x\n")
    commit = commit_all(repo)
    with ObjectDirectory(find_objects_dir(repo)) as objects:
        result = unpack_git(WareID("git", commit), objects, tmp_path / "out", MINE)
    assert os.listdir(os.fsencode(tmp_path / "out")) == [raw]
    assert result.filtered_id == pack_tree(tmp_path / "out", PACK_LOSSLESS)
