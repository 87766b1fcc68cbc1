"""Warehouse URLs with a login (``https://user:password@host/…``): sent as HTTP basic auth, as Go's client sends
it for rio, never shown: every diagnostic shows the password as ``xxxxx`` (Go's ``URL.Redacted``), the git object
cache's directory name leaves the login out, and a redirect to another host does not take the login along."""

from __future__ import annotations

import base64
import io
import string
from pathlib import Path

import pytest
from cli_runs import r2k8s
from hypothesis import given
from hypothesis import strategies as st
from loopback_http import serve
from tarbuild import D, F, make_tar

from r2k8s.core.errors import redact_credentials
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.warehouse.git.remotes import GitRemote
from r2k8s.core.warehouse.urls import without_userinfo

PASSWORD = "s@cr3t:pa55"
QUOTED = "s%40cr3t%3Apa55"  # as a URL spells it
LOGIN = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('warehouse "https://bob:tok@h/x": 401', 'warehouse "https://bob:xxxxx@h/x": 401'),
        ("ca+https://bob:p@ss@h/w and http://a:b@c:8/d", "ca+https://bob:xxxxx@h/w and http://a:xxxxx@c:8/d"),
        ("https://bob@h/x", "https://bob@h/x"),  # a user name alone is no secret (Go shows it too)
        ("https://h:8080/a@b", "https://h:8080/a@b"),  # a port, then an '@' in the path: no userinfo
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ],
)
def test_passwords_in_urls_are_shown_as_go_redacts_them(text: str, shown: str) -> None:
    assert redact_credentials(text) == shown


_PASSWORD_CHARS = string.ascii_letters + string.digits + "@:%!$&*+,;=~-._"


@given(
    user=st.text(string.ascii_letters + string.digits, min_size=1, max_size=8),
    password=st.text(_PASSWORD_CHARS, min_size=12, max_size=30),
    scheme=st.sampled_from(["http", "https", "ca+https", "ca+http"]),
)
def test_no_password_survives_redaction(user: str, password: str, scheme: str) -> None:
    text = f"error connecting to warehouse '{scheme}://{user}:{password}@host.example/x.git': refused"
    assert password not in redact_credentials(text)


def test_the_login_becomes_basic_auth_and_leaves_the_url() -> None:
    assert without_userinfo(f"https://bob:{QUOTED}@h:8443/a?b") == ("https://h:8443/a?b", LOGIN)
    assert without_userinfo("https://bob@h/a") == ("https://h/a", "Basic " + base64.b64encode(b"bob:").decode())
    assert without_userinfo("https://h/a@b") == ("https://h/a@b", None)


def test_the_git_object_cache_never_names_the_login() -> None:
    with_login = GitRemote.parse(f"https://bob:{QUOTED}@git.example/team/app.git")
    assert with_login.slug == GitRemote.parse("https://git.example/team/app.git").slug
    assert "s%40cr3t" not in with_login.slug and "bob" not in with_login.slug


@pytest.fixture
def ware(tmp_path: Path) -> tuple[str, Path]:
    data = make_tar([D("."), F("hello", b"behind a login\n")], compression="gzip")
    served = tmp_path / "served"
    served.mkdir()
    (served / "w.tgz").write_bytes(data)
    return str(ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id), served


def test_a_login_in_the_url_unpacks_from_a_warehouse_that_asks_for_one(tmp_path: Path, ware: tuple[str, Path]) -> None:
    ware_id, served = ware
    with serve(served) as warehouse:
        warehouse.login = LOGIN
        url = f"http://bob:{QUOTED}@127.0.0.1:{warehouse.port}/w.tgz"
        done = r2k8s("unpack", ware_id, tmp_path / "out", "--source", url)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "out" / "hello").read_bytes() == b"behind a login\n"
        assert warehouse.authorizations == [LOGIN]
        assert PASSWORD not in done.stderr and QUOTED not in done.stderr
        assert "bob:xxxxx@" in done.stderr  # the log still says which warehouse, without the password


def test_a_refused_login_is_exit_3_and_the_message_hides_the_password(tmp_path: Path, ware: tuple[str, Path]) -> None:
    ware_id, served = ware
    with serve(served) as warehouse:
        warehouse.login = LOGIN
        url = f"http://bob:wrong-password-123@127.0.0.1:{warehouse.port}/w.tgz"
        done = r2k8s("unpack", ware_id, tmp_path / "out", "--source", url)
    assert done.returncode == 3, done.stderr
    assert "401" in done.stderr and "bob:xxxxx@" in done.stderr
    assert "wrong-password-123" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("elsewhere", [True, False], ids=["another-host", "same-host"])
def test_a_redirect_takes_the_login_only_to_the_same_host(
    tmp_path: Path, ware: tuple[str, Path], elsewhere: bool
) -> None:
    ware_id, served = ware
    with serve(tmp_path / "front") as front, serve(served) as back:
        # 127.0.0.1 and localhost are one machine but two host names: for the client, another host
        target = f"http://{'localhost' if elsewhere else '127.0.0.1'}:{back.port}/w.tgz"
        front.respond("/w.tgz", 302, Location=target)
        url = f"http://bob:{QUOTED}@127.0.0.1:{front.port}/w.tgz"
        done = r2k8s("unpack", ware_id, tmp_path / "out", "--source", url)
        assert done.returncode == 0, done.stderr
        assert front.authorizations == [LOGIN]
        assert back.authorizations == [None if elsewhere else LOGIN]
