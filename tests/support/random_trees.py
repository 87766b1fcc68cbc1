"""Random file trees for property tests (hypothesis): files, symlinks and directories with owners, modes, mtimes.

A tree is a nested tuple: ``("file", content, perms, uid, gid, mtime)``, ``("link", target, uid, gid, mtime)``
or ``("dir", {name: node}, perms, uid, gid, mtime)``. :func:`tree_strategy` makes them from the value
strategies a format allows (a zip's mtimes are 32-bit and unsigned, a tar's are not); :func:`build` creates
one on disk, as root (it chowns).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

LINK_TARGETS = st.sampled_from(["a", "../x", "/etc/passwd", "dangling", "é"])


def tree_strategy(
    names: st.SearchStrategy[str],
    perms: st.SearchStrategy[int],
    ids: st.SearchStrategy[int],
    mtimes: st.SearchStrategy[int],
    max_file: int = 2048,
) -> st.SearchStrategy[tuple[Any, ...]]:
    """Trees whose root is a directory, up to 12 leaves below up to 5 top-level entries."""
    node = st.recursive(
        st.one_of(
            st.tuples(st.just("file"), st.binary(max_size=max_file), perms, ids, ids, mtimes),
            st.tuples(st.just("link"), LINK_TARGETS, ids, ids, mtimes),
        ),
        lambda children: st.tuples(
            st.just("dir"), st.dictionaries(names, children, max_size=4), perms, ids, ids, mtimes
        ),
        max_leaves=12,
    )
    return st.tuples(st.just("dir"), st.dictionaries(names, node, max_size=5), perms, ids, ids, mtimes)


def build(path: Path, node: tuple[Any, ...]) -> None:
    """Create ``node`` at ``path`` with its owner, mode and mtime (directories last, so mtimes stick)."""
    kind = node[0]
    if kind == "file":
        _, content, perms, uid, gid, mtime = node
        path.write_bytes(content)
        os.chown(path, uid, gid)
        os.chmod(path, perms)
        os.utime(path, (mtime, mtime))
    elif kind == "link":
        _, target, uid, gid, mtime = node
        os.symlink(target, path)
        os.chown(path, uid, gid, follow_symlinks=False)
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    else:
        _, children, perms, uid, gid, mtime = node
        path.mkdir(exist_ok=True)
        for name, child in children.items():
            build(path / name, child)
        os.chown(path, uid, gid)
        os.chmod(path, perms)
        os.utime(path, (mtime, mtime))
