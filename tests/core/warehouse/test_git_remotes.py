"""Git warehouse URLs as rio's ``pick`` and ``SanitizeRemote`` read them, and ``git:`` ware IDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.git.remotes import GitRemote, check_commit_ware, resolve_submodule_url, slugify_remote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_https_is_kept_as_written_and_trimmed() -> None:
    remote = GitRemote.parse("  https://example.org/team/app.git \n")
    assert (remote.url, remote.kind, remote.path) == ("https://example.org/team/app.git", "https", None)


def test_plain_http_to_github_becomes_https_as_rio_forces_it() -> None:
    assert GitRemote.parse("http://github.com/polydawn/rio").url == "https://github.com/polydawn/rio"
    assert GitRemote.parse("http://GitHub.com/x").kind == "https"
    assert GitRemote.parse("http://example.org/x.git").url == "http://example.org/x.git"


@pytest.mark.parametrize("scheme", ["ssh", "git"])
def test_schemes_rio_reaches_through_git_are_refused_naming_the_url(scheme: str) -> None:
    with pytest.raises(R2k8sError) as info:
        GitRemote.parse(f"{scheme}://example.org/x.git")
    assert info.value.category is Category.USAGE
    assert f"{scheme}://example.org/x.git" in info.value.message
    assert "not supported by r2k8s" in info.value.message


@pytest.mark.parametrize("text", ["/srv/repo.git", "repo", "git@github.com:a/b.git", "ftp://x/y", ""])
def test_a_plain_path_or_other_scheme_is_a_usage_error_as_in_rios_pick(text: str) -> None:
    with pytest.raises(R2k8sError) as info:
        GitRemote.parse(text)
    assert info.value.category is Category.USAGE


def test_file_urls_strip_the_prefix_literally_and_resolve_relative_paths(tmp_path: Path) -> None:
    assert GitRemote.parse("file:///srv/repo.git").path == Path("/srv/repo.git")
    assert GitRemote.parse("FILE:///srv/repo.git").path == Path("/srv/repo.git")
    relative = GitRemote.parse("file://repos/app", base_dir=tmp_path)
    assert (relative.path, relative.url, relative.kind) == (tmp_path / "repos/app", str(tmp_path / "repos/app"), "file")
    assert GitRemote.parse("file://../up", base_dir=tmp_path).path == tmp_path.parent / "up"


def test_the_slug_is_gos_query_escape_of_the_sanitised_url() -> None:
    assert slugify_remote("https://github.com/a/b.git") == "https%3A%2F%2Fgithub.com%2Fa%2Fb.git"
    assert slugify_remote("/x y~z_-.") == "%2Fx+y~z_-."
    assert GitRemote.parse("http://github.com/a").slug == "https%3A%2F%2Fgithub.com%2Fa"


@pytest.mark.parametrize("hash_", ["main", COMMIT[:7], COMMIT.upper(), COMMIT + "0", "g" * 40, ""])
def test_only_full_lowercase_commit_hashes_are_ware_ids(hash_: str) -> None:
    with pytest.raises(R2k8sError) as info:
        check_commit_ware(WareID("git", hash_))
    assert info.value.category is Category.WARE_NOT_FOUND
    assert "only commit hashes are ware IDs" in info.value.message


def test_a_full_commit_hash_is_accepted() -> None:
    assert check_commit_ware(WareID("git", COMMIT)) == COMMIT


@pytest.mark.parametrize(
    ("remote", "url", "resolved"),
    [
        ("https://h/team/app.git", "../lib.git", "https://h/team/lib.git"),
        ("https://h/team/app.git/", "../lib.git", "https://h/team/lib.git"),
        ("https://h/team/app.git", "./sub", "https://h/team/app.git/sub"),
        ("https://h/team/app.git", "../../other/lib", "https://h/other/lib"),
        ("file:///srv/git/app.git", "../lib.git", "file:///srv/git/lib.git"),
        ("https://h/team/app.git", "https://elsewhere/lib.git", "https://elsewhere/lib.git"),
        ("https://h/team/app.git", "file:///abs/lib", "file:///abs/lib"),
    ],
)
def test_relative_submodule_urls_resolve_against_the_superprojects_remote_as_git_does(
    remote: str, url: str, resolved: str
) -> None:
    assert resolve_submodule_url(remote, url) == resolved


def test_a_relative_submodule_url_cannot_climb_above_the_host() -> None:
    with pytest.raises(R2k8sError) as info:
        resolve_submodule_url("https://h/app.git", "../../../x")
    assert info.value.category is Category.USAGE
