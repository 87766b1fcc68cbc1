"""The ware cache against real tarballs, real file warehouses and a real HTTP server.

Tarballs are built with Python's own ``tarfile``; their IDs come from the
ingest code that ``rio`` vectors already pin down. Nothing is mocked: the
concurrency tests race real threads and real processes on a real ``flock``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import LoopbackWarehouse, serve
from tarbuild import D, F, L, make_tar

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache, default_root

UID, GID = os.getuid(), os.getgid()
ROOT_MTIME = 1500000000


def build(tag: str) -> tuple[WareID, bytes]:
    """A small tarball (owned by us, so any user can unpack it losslessly) and its ware ID."""
    owner = {"uid": UID, "gid": GID}
    data = make_tar(
        [
            D("./", mtime=ROOT_MTIME, **owner),
            F("./hello.txt", f"hello from {tag}\n".encode(), **owner),
            D("./sub", mode=0o750, **owner),
            F("./sub/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755, **owner),
            L("./sub/link", "../hello.txt", **owner),
        ],
        compression="gzip",
    )
    return ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id, data


def ca_put(base: Path, ware: WareID, data: bytes) -> Path:
    """Place a ware in a CA layout by hand, independently of the code under test."""
    path = base / ware.hash[0:3] / ware.hash[3:6] / ware.hash
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def assert_clean(cache: WareCache) -> None:
    """No staging dirs and no lock files are left behind."""
    for scratch in (cache.root / ".tmp", cache.root / ".locks"):
        assert not scratch.exists() or list(scratch.iterdir()) == [], list(scratch.iterdir())


def assert_entry(path: Path, tag: str) -> None:
    assert (path / "hello.txt").read_text() == f"hello from {tag}\n"
    assert (path / "sub" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (path / "sub").stat().st_mode & 0o777 == 0o750
    assert os.readlink(path / "sub" / "link") == "../hello.txt"
    assert path.stat().st_mtime == ROOT_MTIME  # survives the move into the cache


# --- a real HTTP warehouse -------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[LoopbackWarehouse]:
    with serve(tmp_path / "served") as warehouse:
        yield warehouse


@pytest.fixture
def cache(tmp_path: Path) -> WareCache:
    return WareCache(tmp_path / "cache")


# --- layout ----------------------------------------------------------------------------------


def test_layout_is_rios(tmp_path: Path) -> None:
    ware = WareID("tar", "6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6")
    cache = WareCache(tmp_path)
    assert cache.path_for(ware) == tmp_path / "tar" / "fileset" / "6q7" / "G4h" / ware.hash
    assert cache.path_for(str(ware)) == cache.path_for(ware)
    assert not cache.has(ware)


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("R2K8S_CACHE", str(tmp_path / "c"))
    assert default_root() == tmp_path / "c"
    assert WareCache().root == tmp_path / "c"
    monkeypatch.setenv("R2K8S_CACHE", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".cache" / "r2k8s" / "wares"


@pytest.mark.parametrize(
    ("ware", "category"),
    [
        ("rar:abcdefgh", Category.USAGE),
        ("git:abcdef1234", Category.WARE_NOT_FOUND),  # rio finds no commit by a short hash (5)
        ("mount:ro:/etc", Category.USAGE),
        ("tar:../../x", Category.USAGE),
        ("tar:", Category.USAGE),
        ("tar:.abc", Category.USAGE),
    ],
)
def test_unsupported_or_unsafe_ware_ids_are_refused(cache: WareCache, ware: str, category: Category) -> None:
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure(ware, ["ca+file:///nowhere"])
    assert excinfo.value.category is category
    assert not cache.root.exists()


# --- ensure ----------------------------------------------------------------------------------


def test_first_ensure_fetches_second_uses_cache_http(cache: WareCache, served: LoopbackWarehouse) -> None:
    ware, data = build("http")
    ca_put(served.root, ware, data)
    lines: list[str] = []
    path = cache.ensure(ware, [served.ca_url()], log=lines.append)
    assert path == cache.path_for(ware) and cache.has(ware)
    assert_entry(path, "http")
    assert len(served.requests) == 1
    assert lines == [f'info: read for ware "{ware}" opened from warehouse "{served.ca_url()}"']

    lines.clear()
    assert cache.ensure(ware, [served.ca_url()], log=lines.append) == path
    assert len(served.requests) == 1  # nothing fetched the second time
    assert lines == [f'info: cache already has ware "{ware}"']
    assert_clean(cache)


def test_a_zip_ware_streams_from_http_and_is_cached_verified(
    cache: WareCache, served: LoopbackWarehouse, tmp_path: Path
) -> None:
    """An HTTP body cannot seek, and a zip's index is at its end: the cache spools it in its staging area."""
    from r2k8s.core.ware.filters import PACK_LOSSLESS
    from r2k8s.core.ware.pack import pack_tree

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "hello.txt").write_text("hello from zip\n")
    (tree / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "sub" / "run.sh").chmod(0o755)
    (tree / "sub").chmod(0o750)
    (tree / "sub" / "link").symlink_to("../hello.txt")
    packed = io.BytesIO()
    ware = pack_tree(tree, PACK_LOSSLESS, packed, packtype="zip")
    assert ware.packtype == "zip"
    ca_put(served.root, ware, packed.getvalue())
    path = cache.ensure(ware, [served.ca_url()])
    assert path == cache.root / "zip" / "fileset" / ware.hash[:3] / ware.hash[3:6] / ware.hash
    assert (path / "hello.txt").read_text() == "hello from zip\n"
    assert (path / "sub" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (path / "sub").stat().st_mode & 0o777 == 0o750
    assert os.readlink(path / "sub" / "link") == "../hello.txt"
    assert_clean(cache)

    wrong = WareID("zip", ware.hash[:-1] + ("A" if ware.hash[-1] != "A" else "B"))
    ca_put(served.root, wrong, packed.getvalue())
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure(wrong, [served.ca_url()])
    assert excinfo.value.category is Category.HASH_MISMATCH
    assert not cache.has(wrong)
    assert_clean(cache)


@pytest.mark.parametrize("scheme", ["file", "ca+file"])
def test_file_warehouses(cache: WareCache, tmp_path: Path, scheme: str) -> None:
    ware, data = build(scheme)
    if scheme == "file":
        (tmp_path / "ware.tgz").write_bytes(data)
        url = "file://./ware.tgz"  # relative: resolved against base_dir
    else:
        ca_put(tmp_path / "wh", ware, data)
        url = "ca+file://./wh"
    path = cache.ensure(ware, [url], base_dir=tmp_path)
    assert_entry(path, scheme)
    lines: list[str] = []
    assert cache.ensure(ware, ["ca+file:///does/not/exist"], log=lines.append) == path
    assert lines == [f'info: cache already has ware "{ware}"']


def test_falls_back_past_missing_warehouses(cache: WareCache, served: LoopbackWarehouse, tmp_path: Path) -> None:
    ware, data = build("fallback")
    ca_put(tmp_path / "wh", ware, data)
    (tmp_path / "empty").mkdir()
    urls = [served.ca_url(), f"ca+file://{tmp_path}/empty", f"ca+file://{tmp_path}/wh"]
    assert_entry(cache.ensure(ware, urls), "fallback")
    assert len(served.requests) == 1  # the 404 was tried first


def test_hash_mismatch_leaves_nothing(cache: WareCache, tmp_path: Path, served: LoopbackWarehouse) -> None:
    wanted, _ = build("wanted")
    _, other = build("other")
    ca_put(tmp_path / "wh", wanted, other)  # wrong bytes under the wanted ID
    ca_put(served.root, wanted, other)
    for url in (f"ca+file://{tmp_path}/wh", served.ca_url()):
        with pytest.raises(R2k8sError) as excinfo:
            cache.ensure(wanted, [url])
        assert excinfo.value.category is Category.HASH_MISMATCH
        assert not cache.has(wanted)
        assert not (cache.root / "tar").exists()  # not even a shard dir
        assert_clean(cache)


def test_corrupt_ware_leaves_nothing(cache: WareCache, tmp_path: Path) -> None:
    ware, data = build("corrupt")
    ca_put(tmp_path / "wh", ware, data[: len(data) // 2])
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure(ware, [f"ca+file://{tmp_path}/wh"])
    assert excinfo.value.category is Category.WARE_CORRUPT
    assert not (cache.root / "tar").exists()
    assert_clean(cache)


def test_not_found_anywhere(cache: WareCache, tmp_path: Path, served: LoopbackWarehouse) -> None:
    ware, _ = build("missing")
    (tmp_path / "wh").mkdir()
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure(ware, [served.ca_url(), served.url("/nope.tgz"), f"ca+file://{tmp_path}/wh"])
    assert excinfo.value.category is Category.WARE_NOT_FOUND
    assert len(served.requests) == 2
    assert not (cache.root / "tar").exists()
    assert_clean(cache)


def test_a_concurrently_filled_entry_wins(cache: WareCache, tmp_path: Path) -> None:
    """If an entry appears without the lock (another tool), the fresh copy is discarded."""
    ware, data = build("race")
    ca_put(tmp_path / "wh", ware, data)
    final = cache.path_for(ware)
    original = WareCache._publish

    def sneak_in(staged: Path, target: Path, log) -> None:
        target.mkdir(parents=True)
        (target / "marker").write_text("first")
        original(staged, target, log)

    lines: list[str] = []
    WareCache._publish = staticmethod(sneak_in)
    try:
        assert cache.ensure(ware, [f"ca+file://{tmp_path}/wh"], log=lines.append) == final
    finally:
        WareCache._publish = staticmethod(original)
    assert (final / "marker").read_text() == "first"
    assert not (final / "hello.txt").exists()
    assert any("discarding this copy" in line for line in lines)
    assert_clean(cache)


# --- concurrency -----------------------------------------------------------------------------

SUBPROCESS = r"""
import sys
from pathlib import Path
from r2k8s.core.warehouse.cache import WareCache
lines = []
path = WareCache(Path(sys.argv[1])).ensure(sys.argv[2], [sys.argv[3]], log=lines.append)
print(path)
print("\n".join(lines), file=sys.stderr)
"""


def test_threads_and_processes_download_once(cache: WareCache, served: LoopbackWarehouse) -> None:
    ware, data = build("concurrent")
    ca_put(served.root, ware, data)
    served.delay = 1.0  # keep the first download open while everyone else piles up
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SUBPROCESS, str(cache.root), str(ware), served.ca_url()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(8)
    results: list[Path | BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(cache.ensure(ware, [served.ca_url()]))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert Path(out.strip()) == cache.path_for(ware)
    assert results == [cache.path_for(ware)] * 8
    assert len(served.requests) == 1, served.requests
    assert_entry(cache.path_for(ware), "concurrent")
    assert_clean(cache)
    shard = cache.path_for(ware).parent
    assert [p.name for p in shard.iterdir()] == [ware.hash]


# --- ensure_all ------------------------------------------------------------------------------


def test_ensure_all_parallel_and_deduplicated(cache: WareCache, served: LoopbackWarehouse) -> None:
    one, one_data = build("one")
    two, two_data = build("two")
    ca_put(served.root, one, one_data)
    ca_put(served.root, two, two_data)
    served.delay = 0.5
    urls = [served.ca_url()]
    requests = {
        "/a": (one, urls),
        "/b": (str(two), urls),
        "/c": (one, urls),  # the same ware again
        "/host": ("mount:ro:/etc", []),
    }
    started = time.monotonic()
    got = cache.ensure_all(requests)
    elapsed = time.monotonic() - started
    assert got == {"/a": cache.path_for(one), "/b": cache.path_for(two), "/c": cache.path_for(one)}
    assert sorted(served.requests) == sorted(
        [f"/{w.hash[:3]}/{w.hash[3:6]}/{w.hash}" for w in (one, two)]
    )  # one fetch per distinct ware
    assert served.max_in_flight == 2  # both fetched at the same time
    assert elapsed < 0.95
    assert_entry(got["/a"], "one")
    assert_entry(got["/b"], "two")
    assert cache.ensure_all({"/only-mounts": ("mount:rw:/tmp", [])}) == {}


def test_ensure_all_names_the_failing_input(cache: WareCache, served: LoopbackWarehouse, tmp_path: Path) -> None:
    good, good_data = build("good")
    missing, _ = build("missing")
    ca_put(served.root, good, good_data)
    requests = {
        "/z/good": (good, [served.ca_url()]),
        "/m/missing": (missing, [served.ca_url()]),
    }
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure_all(requests, max_workers=2)
    assert excinfo.value.category is Category.WARE_NOT_FOUND
    assert '"/m/missing"' in excinfo.value.message and "/z/good" not in excinfo.value.message
    assert not cache.has(missing)
    assert_clean(cache)


def test_ensure_all_reports_the_first_failure_by_path(cache: WareCache, tmp_path: Path) -> None:
    bad_a, _ = build("bad-a")
    bad_b, _ = build("bad-b")
    (tmp_path / "wh").mkdir()
    url = f"ca+file://{tmp_path}/wh"
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure_all({"/y": (bad_b, [url]), "/x": (bad_a, [url])}, max_workers=1)
    assert excinfo.value.message.startswith('input "/x"')


def test_ensure_all_refuses_unsupported_inputs_up_front(cache: WareCache) -> None:
    with pytest.raises(R2k8sError) as excinfo:
        cache.ensure_all({"/in": ("rar:abcdefgh", ["ca+file:///nowhere"])})
    assert excinfo.value.category is Category.USAGE and '"/in"' in excinfo.value.message


def test_staging_dirs_of_a_killed_fetch_are_swept_but_live_ones_are_kept(tmp_path: Path) -> None:
    ware, data = build("sweep")
    tgz = tmp_path / "w.tgz"
    tgz.write_bytes(data)
    cache = WareCache(tmp_path / "cache")
    stale = cache.root / ".tmp" / "tar.stale.abc"
    (stale / "half").mkdir(parents=True)
    (stale / "half" / "file").write_text("partial")
    live = cache.root / ".tmp" / "tar.live.def"
    live.mkdir()
    holder = subprocess.Popen(  # another fetch in progress: holds the lock on its staging dir
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(live),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        lines: list[str] = []
        cache.ensure(ware, [f"file://{tgz}"], log=lines.append)
    finally:
        holder.kill()
        holder.wait()
    assert not stale.exists() and live.is_dir()
    assert any("left behind" in line and "tar.stale.abc" in line for line in lines)
    assert (cache.path_for(ware) / "hello.txt").read_text() == "hello from sweep\n"
