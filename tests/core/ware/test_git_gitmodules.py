"""``.gitmodules`` as git reads it (the subset submodules need), and what git itself writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_oracle import git, init, requires_git

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.git.gitmodules import Submodule, parse_gitmodules


@requires_git
def test_what_git_writes(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    config = repo / ".gitmodules"
    for name, path, url in [("one", "a/b", "https://example.com/x.git"), ('we"ird \\ name', "c d", "../rel")]:
        git(repo, "config", "-f", str(config), f"submodule.{name}.path", path)
        git(repo, "config", "-f", str(config), f"submodule.{name}.url", url)
    assert parse_gitmodules(config.read_bytes()) == [
        Submodule("one", "a/b", "https://example.com/x.git"),
        Submodule('we"ird \\ name', "c d", "../rel"),
    ]


def test_syntax() -> None:
    text = b"""# a comment
; another
[submodule "a"]
\tpath = first ; a comment
\tPATH = "sub/a"   # the last value wins
\turl = "quoted # not a comment" \\
  continued
[Submodule "b"]
    path=b
    url=u\\tv
    update
[core]
    bare = false
[submodule "a"]
    branch = main
[submodule.legacy]
    path = l
    url = x
[submodule "up"]
    path = ../escape
    url = x
"""
    assert parse_gitmodules(text) == [
        Submodule("a", "sub/a", "quoted # not a comment   continued"),
        Submodule("b", "b", "u\tv"),
        Submodule("legacy", "l", "x"),
    ]


@pytest.mark.parametrize(
    "text",
    [b'[submodule "a"\n', b'[submodule "a"]\npath = "open\n', b'[submodule "a"]\n= x\n', b"[sub]\nurl = a\\q\n"],
)
def test_malformed_files_are_corrupt_wares(text: bytes) -> None:
    with pytest.raises(R2k8sError, match=r"could not parse \.gitmodules") as refused:
        parse_gitmodules(text)
    assert refused.value.category is Category.WARE_CORRUPT
