"""HTTP transfers that go wrong halfway are the warehouse's fault (exit 3), and always end (issue 12).

Real HTTP servers on loopback: one trickles its body (or even its headers) a byte at a time, one
promises more bytes than it sends, one is slow but steady. The progress rule is shortened through
its parameter and through ``$R2K8S_WAREHOUSE_PROGRESS``, so the tests take seconds, not minutes.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from loopback_http import LoopbackWarehouse, misbehaving, self_signed_tls, serve
from tarbuild import D, F, make_tar

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache
from r2k8s.core.warehouse.fetch import PROGRESS_ENV, ProgressRule, open_url, open_ware


def build(size: int = 300_000) -> tuple[WareID, bytes]:
    uid, gid = os.getuid(), os.getgid()
    data = make_tar([D("./", uid=uid, gid=gid), F("./blob", os.urandom(size), uid=uid, gid=gid)], "gzip")
    return ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id, data


@contextmanager
def trickling_headers() -> Iterator[str]:
    """A server that answers the request with its status line one byte per 0.2 s, forever."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve_one() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 10_000:
                if stop.wait(0.2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/ware.tgz"
    finally:
        stop.set()
        listener.close()


def leftovers(cache: WareCache) -> list[str]:
    return sorted(p.name for d in (cache.root / ".tmp", cache.root / ".locks") if d.is_dir() for p in d.iterdir())


# --- a trickle is given up ---------------------------------------------------------------------


def test_a_trickling_warehouse_is_given_up_as_unavailable() -> None:
    ware, data = build()
    with misbehaving(data, head=1000, trickle=0.05) as url:
        started = time.monotonic()
        with pytest.raises(R2k8sError) as caught:
            reader, _ = open_ware(ware, [url], progress=ProgressRule(4000, 1.0))
            with reader:
                while reader.read(65536):
                    pass
        elapsed = time.monotonic() - started
    assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert "is too slow: fewer than 4000 bytes arrived in 1 s of waiting" in caught.value.message
    assert url in caught.value.message and PROGRESS_ENV in caught.value.message
    assert 1.0 <= elapsed < 5


def test_the_cache_gives_up_a_trickle_through_the_environment_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "4000/1")
    ware, data = build()
    cache = WareCache(tmp_path / "cache")
    with misbehaving(data, head=1000, trickle=0.05) as url, pytest.raises(R2k8sError) as caught:
        cache.ensure(ware, [url])
    assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE and "too slow" in caught.value.message
    assert not cache.has(ware) and leftovers(cache) == [] and not (cache.root / "tar").exists()


def test_trickling_headers_are_given_up_too(tmp_path: Path) -> None:
    ware, _ = build(10)
    with trickling_headers() as url:
        started = time.monotonic()
        with pytest.raises(R2k8sError) as caught:
            open_ware(ware, [url], progress=ProgressRule(4000, 1.0))
    assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE and "too slow" in caught.value.message
    assert time.monotonic() - started < 5


def test_a_slow_but_steady_warehouse_passes(tmp_path: Path) -> None:
    ware, data = build(400_000)
    with serve(tmp_path / "served") as warehouse:
        warehouse.body_delay = 0.25  # 64 KiB every 0.25 s: slow, but every second brings far more than asked
        (warehouse.root / "ware.tgz").write_bytes(data)
        cache = WareCache(tmp_path / "cache")
        entry = cache.ensure(ware, [warehouse.url("/ware.tgz")], log=None)
    assert (entry / "blob").stat().st_size == 400_000


def test_time_the_reader_spends_elsewhere_does_not_count(tmp_path: Path) -> None:
    """Only waiting on the network counts: a consumer busy writing to a slow disk is not a slow warehouse."""
    ware, data = build(20_000)
    with serve(tmp_path / "served") as warehouse:
        (warehouse.root / "ware.tgz").write_bytes(data)
        reader, _ = open_ware(ware, [warehouse.url("/ware.tgz")], progress=ProgressRule(1_000_000, 0.5))
        with reader:
            got = reader.read(100)
            time.sleep(1.2)
            while chunk := reader.read(65536):
                got += chunk
    assert got == data


def test_the_default_rule_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert ProgressRule.from_environment() == ProgressRule(65536, 120.0)
    monkeypatch.setenv(PROGRESS_ENV, " 1024/2.5 ")
    assert ProgressRule.from_environment() == ProgressRule(1024, 2.5)
    monkeypatch.setenv(PROGRESS_ENV, "0/1")
    assert ProgressRule.from_environment().min_bytes == 0  # off
    for bad in ("fast", "1024", "1024/0", "-1/5", "1024/inf", "1024/nan", "1k/5"):
        monkeypatch.setenv(PROGRESS_ENV, bad)
        with pytest.raises(R2k8sError) as caught:
            ProgressRule.from_environment()
        assert caught.value.category is Category.USAGE and PROGRESS_ENV in caught.value.message, bad


def test_the_rule_turned_off_lets_a_slow_transfer_finish(tmp_path: Path) -> None:
    ware, data = build(5)
    with misbehaving(data, head=len(data) - 20, trickle=0.05) as url:
        reader, _ = open_ware(ware, [url], progress=ProgressRule(0, 0.1))
        with reader:
            assert reader.read() == data


# --- a body cut short --------------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_is_warehouse_trouble(tmp_path: Path) -> None:
    ware, data = build()
    cache = WareCache(tmp_path / "cache")
    with misbehaving(data, head=5000) as url, pytest.raises(R2k8sError) as caught:
        cache.ensure(ware, [url])
    assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE  # exit 3, not 6 (corrupt)
    assert f"the transfer ended early, after 5000 of {len(data)} bytes" in caught.value.message
    assert not cache.has(ware) and leftovers(cache) == []


def test_scan_of_a_cut_short_url_is_warehouse_trouble() -> None:
    _, data = build()
    with misbehaving(data, head=len(data) - 1) as url:
        reader = open_url(url)
        with reader, pytest.raises(R2k8sError) as caught:
            while reader.read(65536):
                pass
    assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE
    assert f"after {len(data) - 1} of {len(data)} bytes" in caught.value.message


def test_a_complete_body_is_not_cut_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "1000/5")
    ware, data = build()
    with serve(tmp_path / "served") as warehouse:
        assert isinstance(warehouse, LoopbackWarehouse)
        (warehouse.root / "ware.tgz").write_bytes(data)
        reader, _ = open_ware(ware, [warehouse.url("/ware.tgz")])
        with reader:
            assert reader.read() == data
            assert reader.read() == b""


# --- over TLS ----------------------------------------------------------------------------------


@contextmanager
def tls_trickle(directory: Path, body: bytes, trickle: bool) -> Iterator[str]:
    """An HTTPS server with a fresh self-signed certificate: the whole body, or 1,000 bytes and a trickle."""
    context = self_signed_tls(directory)
    with misbehaving(body, head=1000 if trickle else len(body), trickle=0.05 if trickle else 0.0, tls=context) as url:
        yield url


def test_https_transfers_verify_certificates_and_follow_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ware, data = build(100_000)
    with tls_trickle(tmp_path, data, trickle=False) as url:
        with pytest.raises(R2k8sError) as caught:  # an unknown certificate is refused, as before
            open_ware(ware, [url])
        assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE and "CERTIFICATE_VERIFY_FAILED" in str(
            caught.value
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
        entry = WareCache(tmp_path / "cache").ensure(ware, [url])
        assert (entry / "blob").stat().st_size == 100_000
    with tls_trickle(tmp_path, data, trickle=True) as url:
        reader, _ = open_ware(ware, [url], progress=ProgressRule(4000, 1.0))
        with reader, pytest.raises(R2k8sError) as caught:
            reader.read()
    assert caught.value.category is Category.WAREHOUSE_UNAVAILABLE and "too slow" in caught.value.message
