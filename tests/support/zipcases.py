"""Zip cases shared by the zip ware tests and their rio differential: rio's vectors, malicious zips, random trees.

``RIO_VECTORS``: zips and the IDs ``rio scan zip`` printed for them (rio built from upstream
``7c31ad9``, follow-all filters). ``MALICIOUS``: zips that unpack must refuse, with the category and
words of the refusal. ``TREE``: a hypothesis strategy of trees (files, exec and setid bits, owners
past 16 bits, symlinks, empty and nested directories, mtimes a zip can hold), built with ``build``.
"""

from __future__ import annotations

import os
import struct
import zlib

from hypothesis import strategies as st
from random_trees import build, tree_strategy
from zipbuild import DEFLATED, ZEntry, dos_datetime, ext_time, ntfs_time, unix2, unix3

from r2k8s.core.errors import Category

__all__ = ["MALICIOUS", "RIO_VECTORS", "ROOT_ONLY", "TREE", "build", "withbase_entries"]

WITHBASE = "zip:6c1eVnQ9NutqZSMD5gimy72u3gZMcp4mFAVbQhAkpwTvTH1CCnGgL6yvBJ6MNkWUYZ"
ROOT_ONLY = "zip:iJoKZAKWRWTCZ6YQDZYnU2eXjKZ93VyJ1eiis2E3UvbfqXKn8APYeWhSxHyXAtQSG"


def withbase_entries() -> list[ZEntry]:
    """``withbase.zip`` as ``zipinfo -v`` describes it: two entries, Unix 3.0, stored, UT and ux extras (501:20)."""
    owner = unix3(501, 20)
    return [
        ZEntry(
            "ab",
            mode=0o100644,
            dos=dos_datetime(2015, 5, 30, 12, 11, 24),
            extra=struct.pack("<HHBI", 0x5455, 5, 3, 0x556A0B5B) + owner,
        ),
        ZEntry(
            "cd/",
            mode=0o040755,
            dos=dos_datetime(2015, 5, 30, 12, 11, 26),
            extra=struct.pack("<HHBI", 0x5455, 5, 3, 0x556A0B5E) + owner,
        ),
    ]


D = DEFLATED
TEXT = b"hello" * 1000
RIO_VECTORS: dict[str, tuple[list[ZEntry], str]] = {
    "no owner extra: 1000:1000, MS-DOS time": (
        [ZEntry("a", b"hello")],
        "zip:hfjPudzzybAB8jsH8wbP94wYFwzoicw1kfuZbhNqGpTuLV3vNfAe47YtcDhrsJfum",
    ),
    "0x7875 with 2-byte ids": (
        [ZEntry("a", b"x", extra=unix3(7, 8, 2))],
        "zip:9ALxZciegMGDcmLXLNxTrX6LuYvY9ymjYu7vmWq8J1ZVKzrDdszFiAAuQNVuzufB45",
    ),
    "0x7855 read at bytes 4-8 of its data": (
        [ZEntry("a", b"x", extra=unix2(struct.pack("<HHHH", 1, 2, 7, 8)))],
        "zip:9ALxZciegMGDcmLXLNxTrX6LuYvY9ymjYu7vmWq8J1ZVKzrDdszFiAAuQNVuzufB45",
    ),
    "0x7875 wins over 0x7855": (
        [ZEntry("a", b"x", extra=unix2(struct.pack("<HH", 7, 8)) + unix3(9, 10))],
        "zip:1EWsF9Fc1go2nBbLjQNmRxVEbyJYWdMjCzsdPzmUGLGTUQJsSWQpToqsWGX3sCL8b",
    ),
    "MS-DOS creator, read-only": (
        [ZEntry("a", b"x", creator=0, external=0x01)],
        "zip:7YRuP6k9RiqJVF5TrLiTdBFitTCmaU9PsBtXRDvUA8Emacm7isaKssC9WqttixVAqR",
    ),
    "NTFS creator, directory attribute": (
        [ZEntry("d", creator=11, external=0x10)],
        "zip:5VGogfy4fjLkhJqghd5jhYfAhYkYCtbafEwNkG2VQji9132t4Z3GuruhWtDxWYcgV6",
    ),
    "unknown creator: mode 0": (
        [ZEntry("a", b"x", creator=10, external=0o100755 << 16)],
        "zip:2Gd77B3S53J8Amzo7PsMK3d4tmR9CoNsbFjihtPxzx5QhFfcGzad9v8uiziKMudoiy",
    ),
    "trailing slash makes a directory whatever the mode": (
        [ZEntry("d/", mode=0o100700)],
        "zip:2go77fPoAE66jnsDtmNsQ56DuCXHQfgZd7b283KKZ5FihVarTUs8JNAutvk9Tdga7B",
    ),
    "explicit root entry first": (
        [ZEntry("./", mode=0o40700), ZEntry("a", b"x")],
        "zip:4piqcBSsdzNEJqAGhidJHewb7iqARCk3GtiE8qpMiKuPMdN9PBEHDSLhcx5meRFXQh",
    ),
    "an empty name is the root": (
        [ZEntry("", mode=0o40700)],
        "zip:3GpZckBQzC145H3BNKwSQEHNvDum5p6ABZvJ3LcRACny7qyuPdcPPjbKii9LeW355d",
    ),
    "NTFS time with 100 ns": (
        [ZEntry("a", b"x", extra=ntfs_time(1500000000, 123456700))],
        "zip:3bFTH5Jjs7s17rMAuXNov2GjNQ6BTmN1DrHSCi24azVp5JMB2DtT89ntzZqqZMmwdB",
    ),
    "the last time field wins (UT after NTFS)": (
        [ZEntry("a", b"x", extra=ntfs_time(1500000000, 123456700) + ext_time(1600000000))],
        "zip:AHkUxsh5zQXhJvqGFRHUAQe1X5SXywQnDdFHjuzt8bqcYyNsiNGEoi8Fb5cBxuShkg",
    ),
    "the last time field wins (NTFS after UT)": (
        [ZEntry("a", b"x", extra=ext_time(1600000000) + ntfs_time(1500000000, 123456700))],
        "zip:3bFTH5Jjs7s17rMAuXNov2GjNQ6BTmN1DrHSCi24azVp5JMB2DtT89ntzZqqZMmwdB",
    ),
    "Info-ZIP Unix 0x5855 time": (
        [ZEntry("a", b"x", extra=struct.pack("<HHII", 0x5855, 8, 1, 1400000000))],
        "zip:94yV2scxzjfUVQSrqLg1i23hVbFE5rcZSWtxecpW1Pn6pagviAe3cxfxPvSxaj6FEY",
    ),
    "UT without the mtime flag is ignored": (
        [ZEntry("a", b"x", extra=ext_time(1600000000, flags=2))],
        "zip:2DS2FFwR8G9Hkmr9RAHdtUjxnLZpwowygdrCj6VkgjyBiQXjVQmb4uca85PJFYeq2S",
    ),
    "UT time is unsigned": (
        [ZEntry("a", b"x", extra=ext_time(0xF0000000))],
        "zip:9yCSycGcM6sxHt7zRszj7SWNXVRVnEhqVek6so7KEMykFwoD1yU2Pn7ZqYW5aQCxy4",
    ),
    "MS-DOS date zero (month 0, day 0) normalised": (
        [ZEntry("a", b"x", dos=(0, 0))],
        "zip:8fkVjqQJrKn22443TSJepAXkzye5tBbDoPrDYgYYczUB71XeoCHt98M37J7uBextLx",
    ),
    "MS-DOS fields out of range normalised": (
        [ZEntry("a", b"x", dos=((45 << 9) | (13 << 5) | 31, (25 << 11) | (61 << 5) | 30))],
        "zip:Bzx4uSseLrpVFDqNsREfMpK7DzBryyTQxpC1aMY4mkWB19DiRH3rmLHztkJmd2AR9",
    ),
    "deflate with a data descriptor without signature": (
        [ZEntry("a", TEXT, method=D, flags=8, descriptor=struct.pack("<III", zlib.crc32(TEXT), 0, 0))],
        "zip:A66353Ye41dEKknfGLe6x3bSNJjrGjw15CpoaEPUNieJBtngXxw7pcBz5s4LFUF5kN",
    ),
    "a zero CRC without descriptor is not checked": (
        [ZEntry("a", b"hello", crc=0)],
        "zip:hfjPudzzybAB8jsH8wbP94wYFwzoicw1kfuZbhNqGpTuLV3vNfAe47YtcDhrsJfum",
    ),
    "a directory's data is never read (unknown method, garbage)": (
        [ZEntry("d/", mode=0o40755, method=99, data=b"garbage")],
        "zip:9nVD4RQHvahv2coy4yok11zZQEEooz2xsFx3jhsMRTccYMoy3RXhNFACWPNaedci37",
    ),
    "the encryption flag over plain data changes nothing": (
        [ZEntry("a", b"hello", flags=1)],
        "zip:hfjPudzzybAB8jsH8wbP94wYFwzoicw1kfuZbhNqGpTuLV3vNfAe47YtcDhrsJfum",
    ),
    "a NUL in a name is kept (Python's zipfile would cut the name there)": (
        [ZEntry(b"a\x00b", b"x")],
        "zip:2FbMagj6ytTrJDocVjzLcNiNXatPhe9M3YRZqUxdgBog7psinDDFsWrPXFNQwTpQza",
    ),
    "names are raw bytes": (
        [ZEntry(b"caf\xe9", b"x")],
        "zip:3RoEbtjyTFVueNmuEFxEdAq7XMD8giD4SmcfY4QdYq97zNxRkabjJstaQHZou7N9hB",
    ),
    "a symlink does not enter the hash": ([ZEntry("l", b"target/x", mode=0o120777)], ROOT_ONLY),
    "a directory and a symlink of one name are two records (unpack refuses it)": (
        [ZEntry("d/", mode=0o40755), ZEntry("d", b"/etc", mode=0o120777)],
        "zip:9nVD4RQHvahv2coy4yok11zZQEEooz2xsFx3jhsMRTccYMoy3RXhNFACWPNaedci37",
    ),
    "a file and a directory of one name are two records (unpack refuses it)": (
        [ZEntry("d", b"x"), ZEntry("d/", mode=0o40755)],
        "zip:4wU4asMmosCSMqe7ZcsV5P5bibFTtML9NVEgTcHqgPTomnGRZmxUTo2adPgkGy59Ms",
    ),
    "an entry under a symlink conjures a directory of its name (unpack refuses it)": (
        [ZEntry("l", b"../outside", mode=0o120777), ZEntry("l/pwned", b"x")],
        "zip:82PEjq9Z4kvmZ2sw9dNBZSiCnXAdCyLSEUDDakqUsrmFJNnj4wgKp4Zb9BLbnxB4Gy",
    ),
    "setuid, setgid and sticky bits": (
        [ZEntry("a", b"x", mode=0o106755)],
        "zip:5QEJi6GtyzGfdMBA8kxmVLy3jpz9BfnCswrzjXjYvZk1pXtBR5jC62eD4YRScbKeNR",
    ),
    "unknown Unix type bits: a file": (
        [ZEntry("a", b"x", mode=0o30644)],
        "zip:2DS2FFwR8G9Hkmr9RAHdtUjxnLZpwowygdrCj6VkgjyBiQXjVQmb4uca85PJFYeq2S",
    ),
}


BIG = b"\0" * 200_000


def _bomb() -> ZEntry:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = comp.compress(BIG) + comp.flush()
    return ZEntry("bomb", BIG, method=DEFLATED, data=data, declared_size=1000)


MALICIOUS: dict[str, tuple[list[ZEntry], Category, str]] = {
    "parent traversal": ([ZEntry("../escape", b"x")], Category.WARE_CORRUPT, "leaves the base"),
    "traversal after a clean prefix": ([ZEntry("a/../../escape", b"x")], Category.WARE_CORRUPT, "leaves the base"),
    "absolute name": ([ZEntry("/tmp/outside-zip/pwned", b"x")], Category.WARE_CORRUPT, "absolute"),
    "write through a symlink placed earlier": (
        [ZEntry("link", b"../outside", mode=0o120777), ZEntry("link/pwned", b"x")],
        Category.WARE_CORRUPT,
        "already placed a symlink",
    ),
    "write through an absolute symlink": (
        [ZEntry("link", b"/tmp/outside-zip", mode=0o120777), ZEntry("link/pwned", b"x")],
        Category.WARE_CORRUPT,
        "already placed a symlink",
    ),
    "a symlink replacing a directory": (
        [ZEntry("d/", mode=0o40755), ZEntry("d", b"/etc", mode=0o120777)],
        Category.WARE_CORRUPT,
        "already placed a directory",
    ),
    "duplicate file": ([ZEntry("a", b"1"), ZEntry("a", b"2")], Category.WARE_CORRUPT, "'a'"),
    "directory after its conjuring": (
        [ZEntry("d/f", b"x"), ZEntry("d/", mode=0o40777)],
        Category.WARE_CORRUPT,
        "repeated path 'd'",
    ),
    "deflate bomb: more output than declared": ([_bomb()], Category.WARE_CORRUPT, "zip bomb"),
    "stored data longer than declared": (
        [ZEntry("a", b"hello world", declared_size=5)],
        Category.WARE_CORRUPT,
        "more than its declared 5",
    ),
    "less output than declared": (
        [ZEntry("a", b"hello", declared_size=50)],
        Category.WARE_CORRUPT,
        "ends after 5 of its declared 50",
    ),
    "CRC mismatch": ([ZEntry("a", b"hello", crc=0xDEADBEEF)], Category.WARE_CORRUPT, "checksum"),
    "corrupt deflate data": (
        [ZEntry("a", b"hello", method=DEFLATED, data=b"\xff\xff\xff\xff")],
        Category.WARE_CORRUPT,
        "deflate",
    ),
    "truncated deflate data": (
        [ZEntry("a", BIG[:5000] + b"x" * 5000, method=DEFLATED, data=b"\x00\x10\x00")],
        Category.WARE_CORRUPT,
        "deflate",
    ),
    "unsupported method": ([ZEntry("a", b"hello", method=14)], Category.WARE_CORRUPT, "method 14"),
    "encrypted (ZipCrypto header before the data)": (
        [ZEntry("a", b"hello", data=os.urandom(12) + b"hello", flags=1)],
        Category.WARE_CORRUPT,
        "encrypted",
    ),
    "data descriptor CRC disagrees": (
        [ZEntry("a", b"hello", flags=8, descriptor=struct.pack("<IIII", 0x08074B50, 1, 5, 5))],
        Category.WARE_CORRUPT,
        "descriptor",
    ),
    "no local header where the directory points": (
        [ZEntry("a", b"hello", local_signature=b"JUNK")],
        Category.WARE_CORRUPT,
        "local header",
    ),
    "a fifo": ([ZEntry("fifo", mode=0o10644)], Category.PACK_INVALID, "named pipe"),
    # Unpacked with lowpriv filters (dev=reject): rio's filters run before its type check.
    "a block device": ([ZEntry("sda", mode=0o60644)], Category.FILTER_REJECTION, "dev=reject"),
    "a NUL in a name": ([ZEntry(b"a\x00b", b"x")], Category.INOPERABLE_PATH, "NUL"),
    "a NUL in a symlink target": ([ZEntry("l", b"/etc\x00x", mode=0o120777)], Category.INOPERABLE_PATH, "NUL"),
}


NAMES = st.sampled_from(["a", "b", "a-b", "a.b", "Z", "é", "long" * 30, "x y", "..0x"[2:]])
PERMS = st.sampled_from([0o755, 0o700, 0o644, 0o600, 0o4755, 0o2750, 0o1777, 0o444, 0o751])
IDS = st.sampled_from([0, 1000, 7000, 65535, 65536, 2**21 + 5])
MTIMES = st.integers(min_value=0, max_value=2**32 - 1)

TREE = tree_strategy(NAMES, PERMS, IDS, MTIMES, max_file=3000)
