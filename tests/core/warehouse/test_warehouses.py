"""Warehouses against real files and a real HTTP server on 127.0.0.1.

Nothing is mocked: the fallback rules are only worth testing against the
errors real filesystems and real HTTP stacks produce.
"""

from __future__ import annotations

import os
import posixpath
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loopback_http import LoopbackWarehouse, serve
from repo import FIXTURES

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache
from r2k8s.core.warehouse.fetch import open_url, open_ware
from r2k8s.core.warehouse.save import begin_save
from r2k8s.core.warehouse.urls import WarehouseURL, hash_file_name

BUSYBASH = WareID.parse("tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6")
WARE = WareID("tar", "5y6NvK6GBPQ6CcuNyJyWtSrMAJQ4LVrAcZSoCRAzMSk5o53pkTYiieWyRivfvhZwhZ")
CONTENT = b"not really a tarball, but warehouses do not care\n"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def ca_put(base: Path, hash_: str, data: bytes = CONTENT) -> Path:
    """Place a ware in a CA layout by hand, independently of the code under test."""
    padded = hash_.ljust(7, "-")
    path = base / padded[0:3] / padded[3:6] / hash_
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_all(reader) -> bytes:
    with reader:
        return reader.read()


def category_of(excinfo: pytest.ExceptionInfo[R2k8sError]) -> Category:
    return excinfo.value.category


# --- a real HTTP warehouse -------------------------------------------------------------


@pytest.fixture
def http_wh(tmp_path: Path) -> Iterator[LoopbackWarehouse]:
    with serve(tmp_path / "served") as warehouse:
        yield warehouse


@pytest.fixture
def refused_url() -> str:
    """An http URL on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ca+http://127.0.0.1:{port}/warehouse/"


# --- URL parsing and layout ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (
            "ca+https://repeatr.s3.amazonaws.com/warehouse/",
            "https://repeatr.s3.amazonaws.com/warehouse/6q7/G4h/" + BUSYBASH.hash,
        ),
        ("ca+http://example.org", "http://example.org/6q7/G4h/" + BUSYBASH.hash),
        ("https+ca://example.org/assets/", "https://example.org/assets/" + BUSYBASH.hash),
        ("https://example.org/x/busybash.tgz?v=1", "https://example.org/x/busybash.tgz?v=1"),
        ("ca+file:///srv/wh", "/srv/wh/6q7/G4h/" + BUSYBASH.hash),
        ("file+ca:///srv/wh/", "/srv/wh/" + BUSYBASH.hash),
        ("file:///srv/busybash.tgz", "/srv/busybash.tgz"),
    ],
)
def test_location_for_known_layouts(url: str, location: str) -> None:
    assert WarehouseURL.parse(url).location_for(BUSYBASH) == location


@pytest.mark.parametrize(
    ("hash_", "shards"),
    [
        ("a", ("a--", "---")),
        ("ab", ("ab-", "---")),
        ("abcde", ("abc", "de-")),
        ("abcdef", ("abc", "def")),
        ("abcdefg", ("abc", "def")),
    ],
)
def test_short_hashes_pad_only_the_shard_dirs(hash_: str, shards: tuple[str, str]) -> None:
    location = WarehouseURL.parse("ca+file:///wh").location_for(WareID("tar", hash_))
    assert location == f"/wh/{shards[0]}/{shards[1]}/{hash_}"
    http_location = WarehouseURL.parse("ca+https://h/wh/").location_for(WareID("tar", hash_))
    assert http_location == f"https://h/wh/{shards[0]}/{shards[1]}/{hash_}"


@given(st.text(alphabet=BASE58, min_size=1, max_size=96))
def test_ca_shard_path_for_any_base58_hash(hash_: str) -> None:
    ware = WareID("tar", hash_)
    padded = hash_ + "-" * max(0, 7 - len(hash_))
    parts = Path(WarehouseURL.parse("ca+file:///wh/").location_for(ware)).parts
    assert parts == ("/", "wh", padded[:3], padded[3:6], hash_)
    url = WarehouseURL.parse("ca+https://host:8443/a/b").location_for(ware)
    assert url == f"https://host:8443/a/b/{padded[:3]}/{padded[3:6]}/{hash_}"
    assert WarehouseURL.parse("file+ca:///wh").location_for(ware) == f"/wh/{hash_}"


@pytest.mark.parametrize("hash_", ["", ".", "..", "../../etc/passwd", "a/b", "a\0b", ".abc", ".tmp.upload.1234"])
@pytest.mark.parametrize("url", ["ca+file:///wh", "file+ca:///wh", "ca+https://h/wh", "https+ca://h/wh"])
def test_hashes_that_cannot_be_a_file_name_are_refused(hash_: str, url: str) -> None:
    with pytest.raises(R2k8sError) as excinfo:
        WarehouseURL.parse(url).location_for(WareID("tar", hash_))
    assert category_of(excinfo) is Category.USAGE
    assert excinfo.value.message.endswith("has a hash that cannot name a file in a warehouse")


def test_a_hash_naming_a_staging_file_cannot_reach_another_save(tmp_path: Path) -> None:
    """In a flat legacy warehouse the wares sit beside the staging files: a dot name must never be a ware's."""
    with begin_save("file+ca://" + str(tmp_path)) as sink:
        staged = sink.staging_path
        assert staged is not None and staged.parent == tmp_path
        with pytest.raises(R2k8sError) as excinfo:
            WarehouseURL.parse("file+ca://" + str(tmp_path)).location_for(WareID("tar", staged.name))
        assert category_of(excinfo) is Category.USAGE
        with pytest.raises(R2k8sError):
            sink.commit(WareID("tar", staged.name))
    assert list(tmp_path.iterdir()) == []  # the refused commit left nothing behind


@given(st.text(alphabet=BASE58, min_size=1) | st.text(alphabet=BASE64URL, min_size=1))
def test_no_real_hash_is_refused(hash_: str) -> None:
    """rio's hashes are base58, repeatr v0.15's legacy ones base64url: the file-name rule refuses none of them."""
    assert hash_file_name(WareID("tar", hash_)) == hash_


def _refused(locate: Callable[[], object]) -> bool:
    try:
        locate()
    except R2k8sError as exc:
        assert exc.category is Category.USAGE
        return True
    return False


@given(st.text(alphabet=st.sampled_from("./\0ab"), max_size=4))
def test_the_warehouse_and_the_cache_refuse_the_same_hashes(hash_: str) -> None:
    ware = WareID("tar", hash_)
    in_warehouse = _refused(lambda: WarehouseURL.parse("ca+file:///wh").location_for(ware))
    in_cache = _refused(lambda: WareCache("/c").path_for(ware))
    assert in_warehouse == in_cache == (not hash_ or hash_.startswith(".") or "/" in hash_ or "\0" in hash_)


@pytest.mark.parametrize(
    ("url", "relative"),
    [
        ("file://./x", "x"),
        ("file://../fixtures/busybash.tgz", "../fixtures/busybash.tgz"),
        ("file://a/b", "a/b"),
        ("file://./a/../b/", "b"),
        ("ca+file://./wares/", "wares"),
        ("file://./with%20space", "with space"),
    ],
)
def test_relative_file_urls_resolve_against_base_dir(url: str, relative: str) -> None:
    base = Path("/formulas/project")
    assert WarehouseURL.parse(url, base).path == Path(posixpath.normpath(f"/formulas/project/{relative}"))


def test_absolute_file_urls_ignore_base_dir() -> None:
    assert WarehouseURL.parse("file:///abs/x.tgz", Path("/elsewhere")).path == Path("/abs/x.tgz")
    assert WarehouseURL.parse("file:/abs/x.tgz", Path("/elsewhere")).path == Path("/abs/x.tgz")


def test_relative_file_urls_without_base_dir_use_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert WarehouseURL.parse("file://./x/y").path == tmp_path / "x" / "y"
    assert WarehouseURL.parse("ca+file://../up").path == tmp_path.parent / "up"


_segment = st.one_of(st.sampled_from([".", ".."]), st.text(alphabet="abcxyz019_-", min_size=1, max_size=8))


@given(st.lists(_segment, min_size=1, max_size=6), st.booleans())
def test_relative_url_forms_match_go_filepath_join(segments: list[str], trailing_slash: bool) -> None:
    rel = "/".join(segments) + ("/" if trailing_slash else "")
    base = Path("/f/g/h")
    parsed = WarehouseURL.parse("file://" + rel, base)
    # filepath.Join(host, path) then Abs: lexical, with '..' popping one level each.
    assert parsed.path == Path(posixpath.normpath("/f/g/h/" + rel))
    assert parsed.content_addressed is False and parsed.kind == "file"


@pytest.mark.parametrize(
    ("url", "kind", "ca", "flat"),
    [
        ("file:///x", "file", False, False),
        ("ca+file:///x", "file", True, False),
        ("CA+FILE:///x", "file", True, False),
        ("file+ca:///x", "file", True, True),
        ("http://h/x", "http", False, False),
        ("ca+http://h/", "http", True, False),
        ("http+ca://h/", "http", True, True),
        ("https://h/x", "https", False, False),
        ("ca+https://h/", "https", True, False),
        ("https+ca://h/", "https", True, True),
    ],
)
def test_schemes(url: str, kind: str, ca: bool, flat: bool) -> None:
    parsed = WarehouseURL.parse(url)
    assert (parsed.kind, parsed.content_addressed, parsed.legacy_flat, parsed.raw) == (kind, ca, flat, url)


@pytest.mark.parametrize(
    "url",
    ["s3://bucket/x", "gs+ca://bucket/", "ftp://h/x", "x.tgz", "", "file:relative", "http://h/%zz", "file://./a\tb"],
)
def test_unusable_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(R2k8sError) as excinfo:
        WarehouseURL.parse(url)
    assert category_of(excinfo) is Category.USAGE
    assert excinfo.value.category.exit_code == 1


# --- fetching: success paths ----------------------------------------------------------------


def test_open_ware_from_ca_file(tmp_path: Path) -> None:
    path = ca_put(tmp_path / "wh", WARE.hash)
    lines: list[str] = []
    reader, location = open_ware(WARE, ["ca+file://./wh"], base_dir=tmp_path, log=lines.append)
    assert read_all(reader) == CONTENT
    assert location == str(path)
    assert lines == [f'info: read for ware "{WARE}" opened from warehouse "ca+file://./wh"']


def test_open_ware_from_ca_http(http_wh: LoopbackWarehouse) -> None:
    ca_put(http_wh.root / "warehouse", WARE.hash)
    reader, location = open_ware(WARE, [http_wh.url("/warehouse/", "ca+http")])
    assert read_all(reader) == CONTENT
    assert location == http_wh.url(f"/warehouse/{WARE.hash[:3]}/{WARE.hash[3:6]}/{WARE.hash}")


def test_open_ware_from_legacy_flat_warehouses(tmp_path: Path, http_wh: LoopbackWarehouse) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / WARE.hash).write_bytes(b"file flat")
    (http_wh.root / "assets").mkdir()
    (http_wh.root / "assets" / WARE.hash).write_bytes(b"http flat")
    assert read_all(open_ware(WARE, ["file+ca://./flat/"], base_dir=tmp_path)[0]) == b"file flat"
    assert read_all(open_ware(WARE, [http_wh.url("/assets/", "http+ca")])[0]) == b"http flat"


def test_non_ca_urls_name_the_ware_file(tmp_path: Path, http_wh: LoopbackWarehouse) -> None:
    (tmp_path / "busybash.tgz").write_bytes(b"local")
    (http_wh.root / "busybash.tgz").write_bytes(b"remote")
    assert read_all(open_ware(BUSYBASH, ["file://./busybash.tgz"], base_dir=tmp_path)[0]) == b"local"
    assert read_all(open_ware(BUSYBASH, [http_wh.url("/busybash.tgz")])[0]) == b"remote"


def test_http_redirects_are_followed(http_wh: LoopbackWarehouse) -> None:
    ca_put(http_wh.root / "real", WARE.hash)
    moved = f"/moved/{WARE.hash[:3]}/{WARE.hash[3:6]}/{WARE.hash}"
    http_wh.respond(moved, 302, Location=f"/real/{WARE.hash[:3]}/{WARE.hash[3:6]}/{WARE.hash}")
    assert read_all(open_ware(WARE, [http_wh.url("/moved/", "ca+http")])[0]) == CONTENT


def test_shared_fixture_busybash_resolves_like_upstream_formulas() -> None:
    examples = FIXTURES / "repeatr" / "examples"
    if not examples.is_dir():
        pytest.skip("../shared/fixtures is absent (fresh clone outside CI)")
    reader, location = open_ware(BUSYBASH, ["file://../fixtures/busybash.tgz"], base_dir=examples)
    with reader:
        assert reader.read(2) == b"\x1f\x8b"  # gzip magic
    assert location == str(examples.parent / "fixtures" / "busybash.tgz")


# --- fetching: fallback rules ----------------------------------------------------------


def test_missing_ca_base_dir_falls_back_with_a_warning(tmp_path: Path) -> None:
    ca_put(tmp_path / "second", WARE.hash)
    lines: list[str] = []
    reader, location = open_ware(WARE, ["ca+file://./nope", "ca+file://./second"], tmp_path, lines.append)
    assert read_all(reader) == CONTENT
    assert "/second/" in location
    assert lines[0].startswith('warn: rio-warehouse-unavailable while dialing warehouse "ca+file://./nope" for read:')
    assert lines[1].startswith("info: read for ware")


def test_missing_parent_dir_of_non_ca_file_falls_back(tmp_path: Path) -> None:
    (tmp_path / "here.tgz").write_bytes(CONTENT)
    reader, _ = open_ware(WARE, ["file://./no/such/dir/x.tgz", "file://./here.tgz"], tmp_path)
    assert read_all(reader) == CONTENT


def test_missing_ware_file_falls_back_with_info(tmp_path: Path) -> None:
    (tmp_path / "empty-wh").mkdir()
    (tmp_path / "here.tgz").write_bytes(CONTENT)
    lines: list[str] = []
    urls = ["ca+file://./empty-wh", "file://./absent.tgz", "file://./here.tgz"]
    reader, _ = open_ware(WARE, urls, tmp_path, lines.append)
    assert read_all(reader) == CONTENT
    assert lines[:2] == [
        f'info: rio-ware-not-found from warehouse "ca+file://./empty-wh" for ware "{WARE}"',
        f'info: rio-ware-not-found from warehouse "file://./absent.tgz" for ware "{WARE}"',
    ]


def test_http_404_falls_back(tmp_path: Path, http_wh: LoopbackWarehouse) -> None:
    ca_put(tmp_path / "wh", WARE.hash)
    reader, location = open_ware(WARE, [http_wh.url("/warehouse/", "ca+http"), "ca+file://./wh"], tmp_path)
    assert read_all(reader) == CONTENT
    assert location.startswith(str(tmp_path))
    assert http_wh.requests == [f"/warehouse/{WARE.hash[:3]}/{WARE.hash[3:6]}/{WARE.hash}"]


@pytest.mark.parametrize("status", [403, 500, 203, 401, 503])
def test_other_http_statuses_abort_without_trying_later_urls(
    status: int, tmp_path: Path, http_wh: LoopbackWarehouse
) -> None:
    ca_put(http_wh.root / "good", WARE.hash)
    ca_put(tmp_path / "wh", WARE.hash)
    bad = f"/bad/{WARE.hash[:3]}/{WARE.hash[3:6]}/{WARE.hash}"
    http_wh.respond(bad, status)
    urls = [http_wh.url("/bad/", "ca+http"), http_wh.url("/good/", "ca+http"), "ca+file://./wh"]
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, urls, tmp_path)
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE
    assert str(status) in excinfo.value.message
    assert urls[0] in excinfo.value.message
    assert http_wh.requests == [bad]  # the good http warehouse was never asked


def test_connection_refused_aborts(refused_url: str, tmp_path: Path) -> None:
    ca_put(tmp_path / "wh", WARE.hash)
    lines: list[str] = []
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, [refused_url, "ca+file://./wh"], tmp_path, lines.append)
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE
    assert excinfo.value.message.startswith(f"error connecting to warehouse {refused_url}")
    assert lines == []  # http never fails "at dial", so there is no fallback warning either


def test_a_broken_file_warehouse_aborts_rather_than_falling_back(tmp_path: Path) -> None:
    """ENOTDIR (a shard is a file) and EISDIR are not "not found"."""
    base = tmp_path / "broken"
    base.mkdir()
    (base / WARE.hash[:3]).write_bytes(b"I should be a directory")
    ca_put(tmp_path / "good", WARE.hash)
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, ["ca+file://./broken", "ca+file://./good"], tmp_path)
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE
    (tmp_path / "dir.tgz").mkdir()
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, ["file://./dir.tgz", "ca+file://./good"], tmp_path)
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE


def test_nothing_usable_is_warehouse_unavailable_exit_3(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_bytes(b"")
    urls = ["ca+file://./missing", "file://./gone/x.tgz", "ca+file://./not-a-dir"]
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, urls, tmp_path)
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE
    assert excinfo.value.category.exit_code == 3
    assert excinfo.value.message.startswith("no warehouses were available!")
    for url in urls:
        assert url in excinfo.value.message


def test_no_urls_at_all_is_warehouse_unavailable() -> None:
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, [])
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE


def test_all_missing_is_ware_not_found_exit_5(tmp_path: Path, http_wh: LoopbackWarehouse) -> None:
    (tmp_path / "empty").mkdir()
    urls = ["ca+file://./missing-wh", "ca+file://./empty", http_wh.url("/wh/", "ca+http")]
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, urls, tmp_path)
    assert category_of(excinfo) is Category.WARE_NOT_FOUND
    assert excinfo.value.category.exit_code == 5
    assert excinfo.value.message.startswith(f'none of the available warehouses have ware "{WARE}"!')


def test_an_unknown_scheme_aborts_when_reached(tmp_path: Path) -> None:
    ca_put(tmp_path / "wh", WARE.hash)
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, ["ca+file://./missing", "s3://bucket/", "ca+file://./wh"], tmp_path)
    assert category_of(excinfo) is Category.USAGE
    assert '"s3"' in excinfo.value.message
    # ...but URLs after a success are never parsed, as in rio.
    reader, _ = open_ware(WARE, ["ca+file://./wh", "s3://bucket/"], tmp_path)
    reader.close()


# --- open_url (rio scan's single-ware URL) ---------------------------------------------------------


def test_open_url_reads_file_and_http(tmp_path: Path, http_wh: LoopbackWarehouse) -> None:
    (tmp_path / "x.tgz").write_bytes(b"file")
    (http_wh.root / "x.tgz").write_bytes(b"http")
    assert read_all(open_url("file://./x.tgz", tmp_path)) == b"file"
    assert read_all(open_url(http_wh.url("/x.tgz"))) == b"http"


@pytest.mark.parametrize(
    ("url", "category"),
    [
        ("ca+file://./wh", Category.USAGE),
        ("https+ca://h/", Category.USAGE),
        ("file://./absent.tgz", Category.WARE_NOT_FOUND),
        ("file://./no/dir/x.tgz", Category.WAREHOUSE_UNAVAILABLE),
    ],
)
def test_open_url_errors(url: str, category: Category, tmp_path: Path) -> None:
    with pytest.raises(R2k8sError) as excinfo:
        open_url(url, tmp_path)
    assert category_of(excinfo) is category


def test_open_url_http_statuses(http_wh: LoopbackWarehouse) -> None:
    http_wh.respond("/forbidden.tgz", 403)
    with pytest.raises(R2k8sError) as excinfo:
        open_url(http_wh.url("/forbidden.tgz"))
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE
    with pytest.raises(R2k8sError) as excinfo:
        open_url(http_wh.url("/absent.tgz"))
    assert category_of(excinfo) is Category.WARE_NOT_FOUND


# --- streaming ----------------------------------------------------------------------------


BIG = 200 * 1024 * 1024


def _sparse(path: Path, size: int = BIG) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"HEAD")
        f.truncate(size)


def _peak_while_reading_head(ware_urls: list[str], base_dir: Path) -> tuple[int, bytes]:
    tracemalloc.start()
    try:
        reader, _ = open_ware(WARE, ware_urls, base_dir)
        with reader:
            head = reader.read(64 * 1024)
        return tracemalloc.get_traced_memory()[1], head
    finally:
        tracemalloc.stop()


def test_file_wares_are_streamed(tmp_path: Path) -> None:
    _sparse(ca_put(tmp_path / "wh", WARE.hash))
    peak, head = _peak_while_reading_head(["ca+file://./wh"], tmp_path)
    assert head[:4] == b"HEAD"
    assert peak < 8 * 1024 * 1024


def test_http_wares_are_streamed(tmp_path: Path, http_wh: LoopbackWarehouse) -> None:
    _sparse(ca_put(http_wh.root / "wh", WARE.hash))
    peak, head = _peak_while_reading_head([http_wh.url("/wh/", "ca+http")], tmp_path)
    assert head[:4] == b"HEAD"
    assert peak < 8 * 1024 * 1024


# --- saving ----------------------------------------------------------------------------------


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".tmp.upload.*"))


def test_save_to_ca_file_creates_shards_and_renames(tmp_path: Path) -> None:
    base = tmp_path / "wh"
    base.mkdir()
    old_umask = os.umask(0o022)
    try:
        sink = begin_save("ca+file://./wh", tmp_path)
        assert sink.staging_path is not None
        assert sink.staging_path.parent == base and sink.staging_path.name.startswith(".tmp.upload.")
        sink.file.write(CONTENT)
        final = Path(sink.commit(WARE))
    finally:
        os.umask(old_umask)
    assert final == base / WARE.hash[:3] / WARE.hash[3:6] / WARE.hash
    assert final.read_bytes() == CONTENT
    assert (final.parent.stat().st_mode & 0o777, final.parent.parent.stat().st_mode & 0o777) == (0o755, 0o755)
    assert _leftovers(base) == []
    assert read_all(open_ware(WARE, ["ca+file://./wh"], tmp_path)[0]) == CONTENT


def test_save_to_ca_file_with_existing_shards_and_short_hash(tmp_path: Path) -> None:
    (tmp_path / "wh" / "ab-" / "---").mkdir(parents=True)
    with begin_save("ca+file://./wh", tmp_path) as sink:
        sink.write(b"short")
        final = sink.commit(WareID("tar", "ab"))
    assert final == str(tmp_path / "wh" / "ab-" / "---" / "ab")


def test_save_to_plain_file_stages_next_to_target_and_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.tgz"
    target.parent.mkdir()
    target.write_bytes(b"old")
    sink = begin_save("file://./out/result.tgz", tmp_path)
    assert sink.staging_path is not None
    assert sink.staging_path.parent == target.parent
    assert sink.staging_path.name.startswith(".tmp.upload.result.tgz.")
    sink.write(b"new")
    assert target.read_bytes() == b"old"  # nothing changes before commit
    assert sink.commit(WARE) == str(target)
    assert target.read_bytes() == b"new"
    assert _leftovers(target.parent) == []


def test_save_to_legacy_flat_ca(tmp_path: Path) -> None:
    (tmp_path / "wares").mkdir()
    with begin_save("file+ca://./wares/", tmp_path) as sink:
        sink.write(CONTENT)
        assert sink.commit(WARE) == str(tmp_path / "wares" / WARE.hash)


def test_final_file_appears_only_on_commit(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    final = tmp_path / "wh" / WARE.hash[:3] / WARE.hash[3:6] / WARE.hash
    sink = begin_save("ca+file://./wh", tmp_path)
    sink.write(CONTENT)
    sink.file.flush()
    assert not final.exists()
    with pytest.raises(R2k8sError) as excinfo:
        open_ware(WARE, ["ca+file://./wh"], tmp_path)
    assert category_of(excinfo) is Category.WARE_NOT_FOUND
    sink.commit(WARE)
    assert final.read_bytes() == CONTENT


def test_concurrent_reader_never_sees_a_partial_ware(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    chunk = os.urandom(64 * 1024)
    chunks = 64  # 4 MiB
    expected = chunk * chunks
    seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                reader, _ = open_ware(WARE, ["ca+file://./wh"], tmp_path)
            except R2k8sError as exc:
                assert exc.category is Category.WARE_NOT_FOUND
                seen.append(0)
                continue
            seen.append(len(read_all(reader)))

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with begin_save("ca+file://./wh", tmp_path) as sink:
            for _ in range(chunks):
                sink.write(chunk)
                sink.file.flush()
                time.sleep(0.001)
            sink.commit(WARE)
        deadline = time.monotonic() + 5
        while (not seen or seen[-1] == 0) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        poller.join()
    assert 0 in seen and seen[-1] == len(expected)
    assert set(seen) <= {0, len(expected)}


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    sink = begin_save("ca+file://./wh", tmp_path)
    sink.write(CONTENT)
    assert _leftovers(tmp_path / "wh") != []
    sink.abort()
    sink.abort()  # idempotent
    assert list((tmp_path / "wh").iterdir()) == []


def test_context_manager_aborts_on_exception_and_without_commit(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    with pytest.raises(RuntimeError, match="packing failed"), begin_save("ca+file://./wh", tmp_path) as sink:
        sink.write(CONTENT)
        raise RuntimeError("packing failed")
    with begin_save("ca+file://./wh", tmp_path) as sink:
        sink.write(CONTENT)
    assert list((tmp_path / "wh").iterdir()) == []


@pytest.mark.parametrize("url", ["ca+file://./missing", "file://./missing/x.tgz", "file+ca://./missing"])
def test_save_to_a_missing_warehouse_is_unavailable_and_creates_nothing(url: str, tmp_path: Path) -> None:
    lines: list[str] = []
    with pytest.raises(R2k8sError) as excinfo:
        begin_save(url, tmp_path, log=lines.append)
    assert category_of(excinfo) is Category.WAREHOUSE_UNAVAILABLE
    assert not (tmp_path / "missing").exists()
    assert lines and lines[0].startswith("warn: rio-warehouse-unavailable while dialing")


@pytest.mark.parametrize("url", ["http://h/x.tgz", "https://h/x.tgz", "ca+https://h/wh/", "http+ca://h/"])
def test_http_warehouses_are_not_writable(url: str) -> None:
    """rio ``OpenWriteController``: any scheme but file/ca+file is rio-usage-error, exit 1."""
    with pytest.raises(R2k8sError) as excinfo:
        begin_save(url, None)
    assert category_of(excinfo) is Category.USAGE
    assert excinfo.value.category.exit_code == 1
    assert "doesn't support" in excinfo.value.message and "readonly" in excinfo.value.message


def test_unknown_scheme_save_is_usage_error() -> None:
    with pytest.raises(R2k8sError) as excinfo:
        begin_save("s3://bucket/wh/", None)
    assert category_of(excinfo) is Category.USAGE


def test_failing_to_stage_is_unwritable(tmp_path: Path) -> None:
    """A target name too long to carry the staging prefix: ENAMETOOLONG, even as root."""
    name = "n" * 250
    with pytest.raises(R2k8sError) as excinfo:
        begin_save(f"file://./{name}", tmp_path)
    assert category_of(excinfo) is Category.WAREHOUSE_UNWRITABLE
    assert list(tmp_path.iterdir()) == []


def test_failing_to_commit_is_unwritable_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "out" / "result.tgz").mkdir(parents=True)  # a directory where the file should go
    (tmp_path / "out" / "result.tgz" / "keep").write_bytes(b"")
    sink = begin_save("file://./out/result.tgz", tmp_path)
    sink.write(CONTENT)
    with pytest.raises(R2k8sError) as excinfo:
        sink.commit(WARE)
    assert category_of(excinfo) is Category.WAREHOUSE_UNWRITABLE
    assert _leftovers(tmp_path / "out") == []


def test_commit_with_bad_hash_aborts(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    sink = begin_save("ca+file://./wh", tmp_path)
    with pytest.raises(R2k8sError):
        sink.commit(WareID("tar", "../escape"))
    assert list((tmp_path / "wh").iterdir()) == []


def test_empty_url_packs_without_saving(tmp_path: Path) -> None:
    with begin_save("", tmp_path) as sink:
        sink.write(CONTENT)
        assert sink.commit(WARE) == ""
    assert list(tmp_path.iterdir()) == []


def test_two_writers_of_the_same_ware_both_succeed(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    first = begin_save("ca+file://./wh", tmp_path)
    second = begin_save("ca+file://./wh", tmp_path)
    first.write(CONTENT)
    second.write(CONTENT)
    assert first.commit(WARE) == second.commit(WARE)
    assert _leftovers(tmp_path / "wh") == []


@pytest.mark.parametrize("url", ["file://./in/w%00.tar", "ca+file:///tmp/w%00", "file://%00/x"])
def test_an_escaped_nul_in_a_file_url_is_a_usage_error_naming_the_url(url: str) -> None:
    """``%00`` unescapes to a NUL, which no path holds: a usage error, not the bare ``ValueError`` of ``open``."""
    with pytest.raises(R2k8sError) as refused:
        WarehouseURL.parse(url)
    assert refused.value.category is Category.USAGE
    assert url in refused.value.message and "NUL" in refused.value.message
