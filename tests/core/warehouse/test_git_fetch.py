"""Fetching commits over git's smart HTTP protocol (v2 and v0) and from local repositories.

Real servers only: ``git http-backend`` behind a loopback HTTP bridge
(:mod:`git_http`), repositories made with the real ``git``. Packs are indexed
and read by :class:`~r2k8s.core.warehouse.git.pick.Formats` given in each
test; the ``oracle`` fixture runs each test twice: with the real ``git`` for
that, so what the transport received is judged by git itself, and with the
format half (:mod:`r2k8s.core.ware.git`) that production uses.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_http import GitServer, bare_copy, commit, git, git_binary_formats, make_repo, r2k8s_formats, serve_git
from loopback_http import self_signed_tls

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.warehouse.fetch import ProgressRule, interrupt_transfers, resume_transfers
from r2k8s.core.warehouse.git.pick import Formats, pick
from r2k8s.core.warehouse.git.remotes import slugify_remote


@pytest.fixture(params=["git", "r2k8s"])
def oracle(request: pytest.FixtureRequest, tmp_path: Path) -> Formats:
    """The real ``git`` indexing and reading what arrived, then the format half's own."""
    if request.param == "git":
        return git_binary_formats(tmp_path / "oracle")
    return r2k8s_formats()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "src")
    return repo


@pytest.fixture(params=[True, False], ids=["v2", "v0"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    root.mkdir()
    with serve_git(root, protocol_v2=request.param) as served:
        yield served


def _publish(repo: Path, server: GitServer, name: str = "app.git") -> str:
    target = server.root / name
    if target.exists():
        git("-C", target, "fetch", "-q", repo, "+refs/heads/*:refs/heads/*")
    else:
        bare_copy(repo, target)
    return server.url(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_commit_is_fetched_into_the_remotes_cache_and_its_objects_are_complete(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a.txt": "hello\n", "bin/run": "#!/bin/sh\n", "link": "symlink:a.txt"})
    url = _publish(source, server)
    objs = tmp_path / "cache" / "git" / "objs"
    picked = pick(head, [url], objs, oracle)
    assert picked.remote.raw == url
    assert picked.received > 0
    cache = objs / slugify_remote(url)
    packs = sorted(p.name for p in (cache / "objects" / "pack").iterdir())
    assert len(packs) == 2 and packs[0].endswith(".idx") and packs[1].endswith(".pack")
    assert (cache / "r2k8s-complete").read_text() == f"{head}\n"
    # git itself finds the commit complete in the cache
    env_dir = make_repo(tmp_path / "check.git", bare=True)
    (env_dir / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (env_dir / "objects" / "info" / "alternates").write_text(f"{cache / 'objects'}\n")
    assert git("-C", env_dir, "rev-list", "--objects", "--missing=print", head).count("?") == 0
    assert not os.listdir(cache / "r2k8s-staging")


def test_a_second_commit_sends_haves_and_transfers_only_what_is_new(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    big = os.urandom(512 * 1024)
    first = commit(source, {"big.bin": big, "a.txt": "one\n"})
    url = _publish(source, server)
    objs = tmp_path / "objs"
    one = pick(first, [url], objs, oracle)
    second = commit(source, {"a.txt": "two\n"})
    _publish(source, server)
    server.sent.clear()
    two = pick(second, [url], objs, oracle)
    assert one.received > len(big)
    assert two.received < 4096, f"the second fetch received {two.received} bytes"
    assert sum(server.sent) < 4096
    assert (objs / slugify_remote(url) / "r2k8s-complete").read_text() == f"{first}\n{second}\n"
    # and a commit already complete is not fetched again
    server.requests.clear()
    again = pick(first, [url], objs, oracle)
    assert again.received == 0
    assert [method for method, _ in server.requests] == ["GET"]  # the ping only, as rio's ls-remote


def test_a_commit_not_in_the_first_repository_is_looked_for_in_the_next(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    other = make_repo(tmp_path / "other")
    commit(other, {"x": "unrelated\n"})
    wrong = _publish(other, server, "other.git")
    head = commit(source, {"a.txt": "wanted\n"})
    right = _publish(source, server)
    lines: list[str] = []
    picked = pick(head, [wrong, right], tmp_path / "objs", oracle, log=lines.append)
    assert picked.remote.raw == right
    assert any("rio-ware-not-found" in line and wrong in line for line in lines)
    assert not (tmp_path / "objs" / slugify_remote(wrong) / "r2k8s-complete").exists()
    assert not list((tmp_path / "objs" / slugify_remote(wrong) / "objects" / "pack").iterdir())


def test_no_repository_having_the_commit_is_not_found(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    commit(source, {"a": "a\n"})
    url = _publish(source, server)
    with pytest.raises(R2k8sError) as info:
        pick("1" * 40, [url], tmp_path / "objs", oracle)
    assert info.value.category is Category.WARE_NOT_FOUND
    assert "none of the available warehouses have ware" in info.value.message


def test_a_server_that_is_down_or_a_missing_repository_is_unavailable_and_the_next_url_is_tried(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a": "a\n"})
    url = _publish(source, server)
    down = f"http://127.0.0.1:{_free_port()}/app.git"
    missing = server.url("nope.git")
    lines: list[str] = []
    picked = pick(head, [down, missing, url], tmp_path / "objs", oracle, log=lines.append)
    assert picked.remote.raw == url
    assert sum("rio-warehouse-unavailable" in line for line in lines) == 2
    with pytest.raises(R2k8sError) as info:
        pick(head, [down, missing], tmp_path / "objs2", oracle)
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert "no warehouses were available!" in info.value.message


def test_a_server_error_is_unavailable_and_the_next_url_is_tried(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a": "a\n"})
    url = _publish(source, server)
    failing = server.url("broken.git")
    server.force_status["/broken.git/info/refs"] = 503
    lines: list[str] = []
    assert pick(head, [failing, url], tmp_path / "objs", oracle, log=lines.append).remote.raw == url
    assert any("503" in line and "rio-warehouse-unavailable" in line for line in lines)
    server.force_status["/app.git/git-upload-pack"] = 500  # the ping works, the fetch fails
    with pytest.raises(R2k8sError) as info:
        pick(head, [url], tmp_path / "objs2", oracle)
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert "500" in info.value.message


def _flip_pack_byte(payload: bytes) -> bytes:
    """Alter one byte deep inside the side-band pack data, keeping the pkt-line framing intact."""
    at = payload.find(b"PACK")
    assert at > 0
    target = at + (len(payload) - at) // 2
    return payload[:target] + bytes([payload[target] ^ 0x55]) + payload[target + 1 :]


def test_a_proxy_altering_pack_bytes_is_refused_and_nothing_is_cached(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"data.bin": os.urandom(64 * 1024)})
    url = _publish(source, server)
    server.tamper = _flip_pack_byte
    objs = tmp_path / "objs"
    with pytest.raises(R2k8sError) as info:
        pick(head, [url], objs, oracle)
    assert info.value.category is Category.WARE_CORRUPT
    cache = objs / slugify_remote(url)
    assert not list((cache / "objects" / "pack").iterdir())
    assert not (cache / "r2k8s-complete").exists()
    assert not os.listdir(cache / "r2k8s-staging")


def test_a_repository_whose_objects_were_tampered_with_is_refused_and_nothing_is_cached(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a.txt": "the truth\n"})
    url = _publish(source, server)
    served = server.root / "app.git"
    blob = git("-C", served, "rev-parse", f"{head}:a.txt")
    # Rewrite the repository loose, then replace the blob's file with another object's bytes under its name.
    pack = next((served / "objects" / "pack").glob("*.pack"))
    for leftover in (served / "objects" / "pack").iterdir():
        moved = tmp_path / leftover.name
        leftover.rename(moved)
    git("-C", served, "unpack-objects", "-q", input=(tmp_path / pack.name).read_bytes())
    liar = git("-C", served, "hash-object", "-w", "--stdin", input=b"a lie\n")
    loose = served / "objects" / blob[:2] / blob[2:]
    os.chmod(loose, 0o644)
    loose.write_bytes((served / "objects" / liar[:2] / liar[2:]).read_bytes())
    objs = tmp_path / "objs"
    with pytest.raises(R2k8sError) as info:
        pick(head, [url], objs, oracle)
    assert info.value.category is Category.WARE_CORRUPT
    assert not list((objs / slugify_remote(url) / "objects" / "pack").iterdir())


def test_concurrent_fetches_of_one_remote_download_it_once(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a": "a\n"})
    url = _publish(source, server)
    results: list[int] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            results.append(pick(head, [url], tmp_path / "objs", oracle).received)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results)[:2] == [0, 0] and results.count(0) == 2
    assert sum(1 for method, _ in server.requests if method == "POST") == 1


@pytest.mark.parametrize("bare", [False, True], ids=["worktree", "bare"])
def test_local_repositories_are_used_in_place(tmp_path: Path, source: Path, oracle: Formats, bare: bool) -> None:
    head = commit(source, {"a": "a\n"})
    repo = bare_copy(source, tmp_path / "bare.git") if bare else source
    objs = tmp_path / "objs"
    picked = pick(head, [f"file://{repo}"], objs, oracle)
    assert picked.remote.path == repo
    assert not objs.exists()
    relative = pick(head, [f"file://{os.path.relpath(repo, tmp_path)}"], objs, oracle, base_dir=tmp_path)
    assert relative.remote.path == repo


def test_a_linked_work_tree_is_read_through_its_gitdir_and_commondir(
    tmp_path: Path, source: Path, oracle: Formats
) -> None:
    head = commit(source, {"a": "a\n"})
    git("-C", source, "worktree", "add", "-q", "--detach", tmp_path / "linked", head)
    assert (tmp_path / "linked" / ".git").is_file()
    assert pick(head, [f"file://{tmp_path / 'linked'}"], tmp_path / "objs", oracle).remote.path == tmp_path / "linked"


def test_a_local_path_that_is_no_repository_is_unavailable(tmp_path: Path, source: Path, oracle: Formats) -> None:
    head = commit(source, {"a": "a\n"})
    (tmp_path / "plain").mkdir()
    lines: list[str] = []
    picked = pick(head, [f"file://{tmp_path / 'plain'}", f"file://{tmp_path / 'absent'}", f"file://{source}"],
                  tmp_path / "objs", oracle, log=lines.append)  # fmt: skip
    assert picked.remote.path == source
    assert sum("warehouse does not exist" in line for line in lines) == 2


def test_a_local_repository_without_the_commit_is_not_found(tmp_path: Path, source: Path, oracle: Formats) -> None:
    commit(source, {"a": "a\n"})
    with pytest.raises(R2k8sError) as info:
        pick("2" * 40, [f"file://{source}"], tmp_path / "objs", oracle)
    assert info.value.category is Category.WARE_NOT_FOUND


def test_a_stalling_server_is_bounded_by_the_progress_rule(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a": "a\n"})
    url = _publish(source, server)
    server.stall = 30.0
    started = time.monotonic()
    with pytest.raises(R2k8sError) as info:
        pick(head, [url], tmp_path / "objs", oracle, progress=ProgressRule(1024, 0.5))
    assert info.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert "too slow" in info.value.message and "POST" in info.value.message
    assert time.monotonic() - started < 10


def test_a_stop_signal_cuts_a_git_fetch_at_once(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a": "a\n"})
    url = _publish(source, server)
    server.stall = 30.0
    failures: list[R2k8sError] = []

    def fetch() -> None:
        try:
            pick(head, [url], tmp_path / "objs", oracle)
        except R2k8sError as exc:
            failures.append(exc)

    thread = threading.Thread(target=fetch)
    started = time.monotonic()
    thread.start()
    while not any(method == "POST" for method, _ in server.requests) and time.monotonic() - started < 10:
        time.sleep(0.02)
    time.sleep(0.2)
    interrupt_transfers()
    try:
        thread.join(10)
    finally:
        resume_transfers()
    assert not thread.is_alive() and time.monotonic() - started < 10
    [failure] = failures
    assert failure.category is Category.WAREHOUSE_UNAVAILABLE
    assert not list((tmp_path / "objs" / slugify_remote(url) / "objects" / "pack").iterdir())


def test_a_clone_rio_left_in_the_cache_is_used_and_recorded_without_fetching(
    tmp_path: Path, source: Path, server: GitServer, oracle: Formats
) -> None:
    head = commit(source, {"a": "from rio's clone\n"})
    url = _publish(source, server)
    rio_clone = tmp_path / "objs" / slugify_remote(url)
    git("clone", "-q", "--bare", "--no-local", source, rio_clone)  # rio's bare clone, in its own layout
    git("-C", rio_clone, "repack", "-q", "-a", "-d")
    server.requests.clear()
    picked = pick(head, [url], tmp_path / "objs", oracle)
    assert picked.received == 0
    assert [method for method, _ in server.requests] == ["GET"]
    assert (rio_clone / "r2k8s-complete").read_text() == f"{head}\n"


def test_https_remotes_verify_certificates(
    tmp_path: Path, source: Path, oracle: Formats, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = self_signed_tls(tmp_path)
    head = commit(source, {"a": "over TLS\n"})
    (tmp_path / "served").mkdir()
    with serve_git(tmp_path / "served", tls=context) as server:
        url = _publish(source, server)
        with pytest.raises(R2k8sError) as info:  # an unknown certificate: the warehouse is unavailable
            pick(head, [url], tmp_path / "objs", oracle)
        assert info.value.category is Category.WAREHOUSE_UNAVAILABLE and "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # written by self_signed_tls
        assert pick(head, [url], tmp_path / "objs", oracle).received > 0
