"""Property: for any tree of files, executables, symlinks and directories that git commits, the checkout is
``git archive``'s content with rio's metadata (the tree hash covers files, modes and owners; symlink
targets, which the hash leaves out, are compared directly)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from git_oracle import archived, commit_all, git, init, requires_git, rio_metadata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2k8s.core.ware.filters import PACK_CONSERVATIVE, PACK_LOSSLESS, UNPACK_LOSSLESS, Filters
from r2k8s.core.ware.git.checkout import checkout_commit
from r2k8s.core.ware.git.odb import ObjectDirectory, find_objects_dir
from r2k8s.core.ware.git.unpack import unpack_git
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.wareid import WareID

pytestmark = requires_git
MINE = Filters.parse("unpack", "uid=mine,gid=mine")

names = st.text(alphabet="abcXYZ019-_.é ", min_size=1, max_size=8).filter(
    # a top-level '..0' is refused at placement as rio refuses it (its breakout check is a prefix test)
    lambda n: not n.startswith("..") and n != "." and n.lower() != ".git" and n.strip() == n
)
leaves = st.one_of(
    st.tuples(st.just("file"), st.binary(max_size=300)),
    st.tuples(st.just("exec"), st.binary(max_size=50)),
    st.tuples(st.just("link"), st.text(alphabet="ab/.é", min_size=1, max_size=12)),
)
trees = st.recursive(
    st.dictionaries(names, leaves, min_size=1, max_size=4),
    lambda children: st.dictionaries(names, st.one_of(leaves, children), min_size=1, max_size=4),
    max_leaves=20,
)


def _write(root: Path, tree: dict[str, object]) -> None:
    for name, value in tree.items():
        path = root / name
        if isinstance(value, dict):
            path.mkdir()
            _write(path, value)
            continue
        assert isinstance(value, tuple)
        kind, content = value
        if kind == "link":
            path.symlink_to(content)
        else:
            path.write_bytes(content)
            path.chmod(0o755 if kind == "exec" else 0o644)


def _links(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                found[str(path.relative_to(root))] = os.readlink(path)
    return found


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_checkout_is_git_archive_with_rio_metadata(tree: dict[str, object]) -> None:
    work = Path(tempfile.mkdtemp(prefix="r2k8s-git-prop-"))
    try:
        repo = init(work / "repo")
        _write(repo, tree)
        commit = commit_all(repo)
        git(repo, "gc", "-q", "--aggressive")
        reference = archived(repo, commit, work / "reference")
        with ObjectDirectory(find_objects_dir(repo)) as objects:
            result = unpack_git(WareID("git", commit), objects, work / "out", MINE)
            scanned = checkout_commit(objects, commit, None, UNPACK_LOSSLESS)
        assert result.filtered_id == pack_tree(work / "out", PACK_LOSSLESS)
        assert _links(work / "out") == _links(reference)
        if os.geteuid() == 0:
            rio_metadata(reference)
            assert scanned.prefilter_id == pack_tree(reference, PACK_LOSSLESS)
        else:
            for path in (reference, *reference.rglob("*")):
                if not path.is_symlink():
                    path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
        assert pack_tree(work / "out", PACK_CONSERVATIVE) == pack_tree(reference, PACK_CONSERVATIVE)
    finally:
        shutil.rmtree(work)
