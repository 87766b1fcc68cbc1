"""Hostile wares and arguments for ``r2k8s scan``, ``unpack`` and ``pack`` (issue 12).

Every input is generated here (``hostile_inputs``): deep trees (1,200 and 5,000 nested directories, in tars
and on disk), decompression bombs (gzip, xz, bzip2), headers claiming huge sizes, NUL bytes, invalid UTF-8,
overlong encodings and BOMs in names, and malformed IDs, URLs, filters and targets. Each case runs the
command in a box of its own and must exit with the right category (never 2, never a signal, never a hang),
say what went wrong on stderr, stay within its memory bound, and leave nothing but its target behind.
Signals mid-command are in ``test_hostile_signals.py``.
"""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Callable

import pytest
from hostile_inputs import (
    ENCODED_NAMES,
    HUGE_HEADERS,
    WRONG_WARE,
    Box,
    Case,
    Ran,
    assert_no_problems,
    deep_tar,
    gzip_of_zeros,
    make_deep_dir,
    params,
    small_tar,
    ware_id_of,
    zero_file_tar,
)

MiB = 1 << 20
BAD_FILTERS = ["mtime=@99999999999999999999999", "sticky=maybe", "=", "uid=4294967296x", "nonsense"]


def put(rel: str, make: Callable[[], bytes]) -> Callable[[Box], None]:
    def prepare(box: Box) -> None:
        box.write(rel, make())

    return prepare


def both(*steps: Callable[[Box], object]) -> Callable[[Box], None]:
    def prepare(box: Box) -> None:
        for step in steps:
            step(box)

    return prepare


def codes(*values: int) -> frozenset[int]:
    return frozenset(values)


# -- scan ---------------------------------------------------------------------------------------------------


def scan_case(case_id: str, make: Callable[[], bytes], expect: frozenset[int], *extra: str, **kw) -> Case:
    return Case(f"scan-{case_id}", ("scan", "in/w.tar", *extra), put("in/w.tar", make), codes=expect, **kw)


HEADER_CODES = {"pax-100k-records": codes(0, 6), "pax-path-1MiB": codes(0, 6)}
ENCODING_CODES = {
    "invalid-utf8-names": codes(0),
    "overlong-slash-dotdot": codes(0),
    "crlf-names": codes(0),
    "nul-in-ustar-prefix": codes(0, 6),
    "pax-path-invalid-utf8": codes(0, 6),
}

SCAN = [
    scan_case("deep-pax-1200", lambda: deep_tar(1200), codes(0)),
    scan_case("deep-pax-5000", lambda: deep_tar(5000), codes(0)),
    scan_case("deep-gnu-1200", lambda: deep_tar(1200, "gnu"), codes(0)),
    scan_case("deep-pax-1200-gzip", lambda: deep_tar(1200, compression="gzip"), codes(0)),
    scan_case("deep-pax-5000-legacy-hash", lambda: deep_tar(5000), codes(0), "--legacy"),
    scan_case("gzip-bomb-64MiB", lambda: zero_file_tar(64 * MiB, "gzip"), codes(0), max_rss_mib=200),
    scan_case("gzip-bomb-64MiB-legacy-hash", lambda: zero_file_tar(64 * MiB, "gzip"), codes(0), "--legacy"),
    scan_case("gzip-of-zeros-1GiB", lambda: gzip_of_zeros(1024 * MiB), codes(0, 6), max_rss_mib=200),
    scan_case("xz-bomb-32MiB", lambda: zero_file_tar(32 * MiB, "xz"), codes(0), max_rss_mib=200),
    scan_case("bzip2-bomb-16MiB", lambda: zero_file_tar(16 * MiB, "bzip2"), codes(0), max_rss_mib=200),
    scan_case("gzip-inside-gzip", lambda: gzip.compress(gzip.compress(small_tar())), codes(6)),
    scan_case("truncated-gzip-bomb", lambda: zero_file_tar(64 * MiB, "gzip")[:30_000], codes(6)),
    *(
        scan_case(name, make, HEADER_CODES.get(name, codes(6)), says=() if name in HEADER_CODES else ("corrupt",))
        for name, make in HUGE_HEADERS.items()
    ),
    *(scan_case(name, make, ENCODING_CODES.get(name, codes(6))) for name, make in ENCODED_NAMES.items()),
    Case("scan-path-with-invalid-utf8", ("scan", b"in/\xff\xfe.tar"), put("in/\udcff\udcfe.tar", small_tar), codes(0)),
    Case("scan-missing-path-with-invalid-utf8", ("scan", b"in/\xff.tar"), None, codes(5), says=("in/",)),
    Case("scan-dev-zero", ("scan", "/dev/zero"), None, codes(0, 6), timeout=20),
    Case("scan-dev-urandom", ("scan", "/dev/urandom"), None, codes(6), timeout=20),
    Case("scan-a-directory", ("scan", "in"), None, codes(5, 6), says=("in",)),
    *(
        Case(f"scan-filters-{i}-{text[:12]}", ("scan", "in/w.tar", "--filters", text), put("in/w.tar", small_tar))
        for i, text in enumerate(BAD_FILTERS)
    ),
    Case("scan-url-unclosed-ipv6", ("scan", "http://[::1/w.tar"), None, codes(1, 3)),
    Case("scan-url-ftp", ("scan", "ftp://example.invalid/w.tar"), None, codes(1)),
    Case("scan-url-empty-file", ("scan", "file://"), None, codes(1, 3, 5)),
    Case("scan-url-ca-without-hash", ("scan", "ca+file://./in"), None, codes(1)),
    Case("scan-url-closed-port", ("scan", "http://127.0.0.1:1/w.tar"), None, codes(3), timeout=90),
    Case("scan-url-nul-escape", ("scan", "file://./in/w%00.tar"), put("in/w.tar", small_tar), codes(1, 3, 5)),
]


@pytest.mark.parametrize("case", params(SCAN))
def test_scan(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))


# -- unpack -------------------------------------------------------------------------------------------------


def target_has(*rel: bytes) -> Callable[[Box, Ran], list[str]]:
    """After a successful unpack, ``out/REL`` exists for each (checked through descriptors: deep paths)."""

    def check(box: Box, ran: Ran) -> list[str]:
        if ran.code != 0:
            return []
        missing = []
        for path in rel:
            fd = os.open(box.path("out"), os.O_RDONLY | os.O_DIRECTORY)
            try:
                parts = path.split(b"/")
                for part in parts[:-1]:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    os.close(fd)
                    fd = child
                os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                missing.append(f"unpacked target lacks {path[:60]!r}...: {exc.strerror}")
            finally:
                os.close(fd)
        return missing

    return check


def deep_path(depth: int) -> bytes:
    return b"/".join([b"a"] * depth + [b"f"])


def unpack_case(case_id: str, make: Callable[[], bytes], expect: frozenset[int], *, valid: bool, **kw) -> Case:
    def args() -> tuple[str, ...]:
        return ("unpack", ware_id_of(make()) if valid else WRONG_WARE, "out", "--source", "file://./in/w.tar")

    return Case(
        f"unpack-{case_id}-{'valid-id' if valid else 'wrong-id'}",
        args,
        put("in/w.tar", make),
        codes=expect,
        writes=("out",),
        **kw,
    )


UNPACK = [
    unpack_case("deep-pax-1200", lambda: deep_tar(1200), codes(0), valid=True, check=target_has(deep_path(1200))),
    unpack_case("deep-pax-1200", lambda: deep_tar(1200), codes(7), valid=False, says=("hash mismatch",)),
    unpack_case("deep-gnu-1200", lambda: deep_tar(1200, "gnu"), codes(0), valid=True),
    unpack_case("deep-pax-5000", lambda: deep_tar(5000), codes(0, 12), valid=True),
    unpack_case("deep-pax-5000", lambda: deep_tar(5000), codes(7, 12), valid=False),
    unpack_case("gzip-bomb-64MiB", lambda: zero_file_tar(64 * MiB, "gzip"), codes(7), valid=False, max_rss_mib=200),
    unpack_case("xz-bomb-32MiB", lambda: zero_file_tar(32 * MiB, "xz"), codes(7), valid=False, max_rss_mib=200),
    *(
        unpack_case(name, make, codes(6, 7, 12) if name in HEADER_CODES else codes(6), valid=False)
        for name, make in HUGE_HEADERS.items()
    ),
    unpack_case(
        "invalid-utf8-names",
        ENCODED_NAMES["invalid-utf8-names"],
        codes(0),
        valid=True,
        check=target_has(b"\xff\xfe", b"caf\xe9", b"d\xed\xa0\x80"),
    ),
    unpack_case(
        "overlong-slash-dotdot",
        ENCODED_NAMES["overlong-slash-dotdot"],
        codes(0),
        valid=True,
        check=target_has(b"d/..\xc0\xaf..\xc0\xaf..\xc0\xafoutside", b"\xc0\xae\xc0\xae"),
    ),
    unpack_case("crlf-names", ENCODED_NAMES["crlf-names"], codes(0), valid=True, check=target_has(b"a\r\n", b"b\r")),
    unpack_case("nul-in-pax-path", ENCODED_NAMES["nul-in-pax-path"], codes(6), valid=False),
    unpack_case("nul-in-pax-linkpath", ENCODED_NAMES["nul-in-pax-linkpath"], codes(6), valid=False),
    unpack_case("utf16-bom-before-tar", ENCODED_NAMES["utf16-bom-before-tar"], codes(6), valid=False),
    *(
        Case(f"unpack-ware-id-{name}", ("unpack", text, "out", "--source", "ca+file://./in"), None, expect)
        for name, text, expect in [
            ("no-colon", "tar", codes(1)),
            ("empty-hash", "tar:", codes(1, 5)),
            ("empty-packtype", ":abc", codes(1, 5)),  # upstream splits at the first colon: packtype ""
            ("traversal-hash", "tar:../../outside/secret", codes(1, 5)),
            ("5000-char-hash", "tar:" + "A" * 5000, codes(1, 3, 5)),
            ("unknown-packtype", "rar:abc", codes(1, 5)),
            ("mount", "mount:ro:/etc", codes(1)),
            ("slash-hash", "tar:abc/def", codes(1, 5)),
        ]
    ),
    Case(
        "unpack-target-is-a-file",
        ("unpack", WRONG_WARE, "in/file", "--source", "file://./in/w.tar"),
        both(put("in/file", lambda: b"x"), put("in/w.tar", small_tar)),
        codes(12, 7),
    ),
    Case(
        "unpack-target-not-empty",
        (lambda: ("unpack", ware_id_of(small_tar()), "in/full", "--source", "file://./in/w.tar")),
        both(put("in/full/x", lambda: b"x"), put("in/w.tar", small_tar)),
        codes(12),
    ),
    Case(
        "unpack-target-under-a-file",
        (lambda: ("unpack", ware_id_of(small_tar()), "in/file/sub", "--source", "file://./in/w.tar")),
        both(put("in/file", lambda: b"x"), put("in/w.tar", small_tar)),
        codes(12),
    ),
    Case(
        "unpack-target-is-a-symlink-to-outside",
        (lambda: ("unpack", ware_id_of(small_tar()), "link", "--source", "file://./in/w.tar")),
        both(lambda box: os.symlink("outside", box.path("link")), put("in/w.tar", small_tar)),
        codes(12),
    ),
    Case(
        "unpack-target-with-invalid-utf8",
        (lambda: ("unpack", ware_id_of(small_tar()), b"out\xff", "--source", "file://./in/w.tar")),
        put("in/w.tar", small_tar),
        codes(0),
        writes=("out\udcff",),
    ),
    Case("unpack-target-empty-string", ("unpack", WRONG_WARE, "", "--source", "ca+file://./in"), None, codes(1, 5, 12)),
    *(
        Case(f"unpack-source-{name}", ("unpack", WRONG_WARE, "out", *sources), None, expect, timeout=90)
        for name, sources, expect in [
            ("missing-file", ("--source", "file://./in/missing.tar"), codes(5)),
            ("ftp", ("--source", "ftp://example.invalid/w"), codes(1, 3)),
            ("closed-port", ("--source", "http://127.0.0.1:1/w.tar"), codes(3)),
            ("unclosed-ipv6", ("--source", "http://[::1/w.tar"), codes(1, 3)),
            ("a-directory", ("--source", "file://./in"), codes(3, 5, 6)),
            ("dev-zero", ("--source", "file:///dev/zero"), codes(6, 7)),
            ("dev-urandom", ("--source", "file:///dev/urandom"), codes(6)),
            (
                "all-bad",
                ("--source", "file://./no", "--source", "ca+file://./no", "--source", "ftp://x"),
                codes(1, 3, 5),
            ),
            ("empty", ("--source", ""), codes(1, 3, 5)),
        ]
    ),
    *(
        Case(
            f"unpack-filters-{i}-{text[:12]}",
            ("unpack", WRONG_WARE, "out", "--source", "file://./in/w.tar", "--filters", text),
            put("in/w.tar", small_tar),
        )
        for i, text in enumerate(BAD_FILTERS)
    ),
]


@pytest.mark.parametrize("case", params(UNPACK))
def test_unpack(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))


# -- pack ---------------------------------------------------------------------------------------------------


def deep_tree(depth: int) -> Callable[[Box], None]:
    def prepare(box: Box) -> None:
        make_deep_dir(box.path("in/tree"), depth)

    return prepare


def odd_names(box: Box) -> None:
    root = box.path("in/tree")
    root.mkdir(parents=True)
    for name in (b"\xff\xfe", b"caf\xe9", b"a\r\n", b"\\", b"\xc0\xaf..", b"-", b" "):
        (root / os.fsdecode(name)).write_bytes(name)
    os.symlink(os.fsdecode(b"\xff/" * 1000 + b"x"), root / "long-link")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")


def wide_tree(box: Box) -> None:
    root = box.path("in/tree")
    root.mkdir(parents=True)
    for i in range(5_000):
        (root / f"f{i}").touch()


def with_socket(box: Box) -> None:
    root = box.path("in/tree")
    root.mkdir(parents=True)
    (root / "file").write_bytes(b"x")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock"))
    server.close()


def with_fifo_and_device(box: Box) -> None:
    root = box.path("in/tree")
    root.mkdir(parents=True)
    os.mkfifo(root / "fifo")
    if os.geteuid() == 0:
        os.mknod(root / "null", 0o666 | 0o020000, os.makedev(1, 3))


def plain_tree(box: Box) -> None:
    box.write("in/tree/hello", b"hello\n")


PACK = [
    Case("pack-deep-dir-1200", ("pack", "in/tree"), deep_tree(1200), codes(0)),
    Case("pack-deep-dir-5000", ("pack", "in/tree"), deep_tree(5000), codes(0, 12)),
    Case(
        "pack-deep-dir-1200-to-ca-warehouse",
        ("pack", "in/tree", "--target", "ca+file://./wh"),
        both(deep_tree(1200), lambda box: box.path("wh").mkdir()),
        codes(0),
        writes=("wh",),
    ),
    Case(
        "pack-deep-dir-5000-to-file",
        ("pack", "in/tree", "--target", "file://./w.tgz"),
        deep_tree(5000),
        codes(0, 12),
        writes=("w.tgz",),
    ),
    Case("pack-odd-names", ("pack", "in/tree"), odd_names, codes(0)),
    Case(
        "pack-odd-names-to-file",
        ("pack", "in/tree", "--target", "file://./w.tar", "--compression", "none"),
        odd_names,
        codes(0),
        writes=("w.tar",),
    ),
    Case("pack-dir-with-invalid-utf8", ("pack", b"in/\xff"), lambda box: box.write("in/\udcff/f", b"x"), codes(0)),
    Case("pack-5000-files", ("pack", "in/tree"), wide_tree, codes(0)),
    Case("pack-socket-in-tree", ("pack", "in/tree"), with_socket, codes(11), says=("sock",)),
    Case("pack-fifo-and-device", ("pack", "in/tree"), with_fifo_and_device, codes(0, 13)),
    Case("pack-a-regular-file", ("pack", "in/file"), lambda box: box.write("in/file", b"x"), codes(0, 1, 11, 12)),
    *(
        Case(f"pack-target-{name}", ("pack", "in/tree", "--target", target), plain_tree, expect, writes=writes)
        for name, target, expect, writes in [
            ("ftp", "ftp://example.invalid/w", codes(1, 4), ()),
            ("empty-file-url", "file://", codes(1, 4, 12), ()),
            ("ca-warehouse-is-a-file", "ca+file://./in/tree/hello", codes(3, 4, 12), ()),
            ("http", "http://127.0.0.1:1/", codes(1, 4), ()),
            ("missing-parent", "file://./no/such/dir/w.tgz", codes(3, 4, 12), ()),
            ("existing-directory", "file://./in", codes(4, 12), ()),
            ("invalid-utf8", "file://./w\udcff.tgz", codes(0), ("w\udcff.tgz",)),
        ]
    ),
    Case("pack-compression-bogus", ("pack", "in/tree", "--compression", "zstd"), plain_tree),
    *(
        Case(f"pack-filters-{i}-{text[:12]}", ("pack", "in/tree", "--filters", text), plain_tree)
        for i, text in enumerate(BAD_FILTERS)
    ),
]


@pytest.mark.parametrize("case", params(PACK))
def test_pack(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))
