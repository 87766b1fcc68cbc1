"""Every upstream ware-ID vector (timeless-formats.md §4.5, §6.3, §7.2), from the real
fixtures when ../shared is present and from inline rebuilds of the tiny ones always."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from repo import FIXTURES, needs_shared
from tarbuild import D, F, L, make_tar

from r2k8s.core import cbor
from r2k8s.core.ware.filters import FLATTEN, PACK_LOSSLESS, UNPACK_LOSSLESS
from r2k8s.core.ware.fsmeta import Metadata
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.core.ware.pack import pack_tree
from r2k8s.core.ware.treehash import TreeHash

UPSTREAM = {
    # file: (modern ware ID, legacy v0.15 hash)
    "rio/tar_withBase.tgz": (
        "tar:5y6NvK6GBPQ6CcuNyJyWtSrMAJQ4LVrAcZSoCRAzMSk5o53pkTYiieWyRivfvhZwhZ",
        "BX0jm4jRNCg1KMbZfv4zp7ZaShx9SUXKaDrO-Xy6mWIoWOCFP5VnDHDDR3nU4PrR",
    ),
    "rio/tar_sansBase.tgz": (
        "tar:2RLHdc3am6tMCFy56vfcHm5kWLoAtYBfiaQcq17vDm1tEzQn9CC6tcF2yzpAJvehPC",
        "ZdV3xhCGWeJmsfeHpDF4nF9stwvdskYwcepKMcOf7a2ziax1YGjQvGTJjRWFkvG1",
    ),
    "rio/tar_kitchenSink.tgz": (
        "tar:2jkqXaVWCdH7axj1XW56rxZ6WVQ8f46nqMf2BBX7kjLsU9DsvQCquEoy6GcBcQ1Fqc",
        "74o1Ne3oG2BKXOE97J_SdgTmcCQ5BjjB0XLc9ETl8-LlTxV1vh1ew4rsCOKjXczy",
    ),
    "repeatr/fixtures/busybash.tgz": (
        "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6",
        "l4VD4VM5geqNM_QY8eRA1gPUYiZHQJrXjyYYsp7W5IJUuOOjKytwe2TWSohb4QYs",
    ),
}

OWNER = dict(uid=7000, gid=7000)
# The rio fixtures, rebuilt from their listed contents (rio transmat/tar/fixtures/notes.md).
REBUILT = {
    "rio/tar_withBase.tgz": [
        D(".", mtime=1433015615, **OWNER),
        F("./ab", mtime=1433015615, **OWNER),
        D("./bc", mtime=1433015615, **OWNER),
    ],
    "rio/tar_sansBase.tgz": [F("ab", mtime=1433013083, **OWNER), D("cd", mtime=1433013086, **OWNER)],
    "rio/tar_kitchenSink.tgz": [
        D(".", mtime=1506536826, **OWNER),
        D("./dir", mtime=1506536795, **OWNER),
        F("./dir/f1", mode=0o750, mtime=1506536755, **OWNER),
        D("./deep", mtime=1506536830, **OWNER),
        D("./deep/tree", mtime=1506536839, **OWNER),
        F("./deep/tree/f3", b"file 3\n", mtime=1506536839, **OWNER),
        L("./lnkdangle", "nonexistent", mtime=1506536774, **OWNER),
        D("./empty", mtime=1506536762, **OWNER),
        F("./f2", b"f2\n", mtime=1506536799, uid=4000, gid=5000),
        L("./lnkfile", "f2", mtime=1506536809, **OWNER),
        L("./lnkdir", "dir/", mtime=1506536782, **OWNER),
    ],
}


def scan(data: bytes, legacy: bool = False) -> str:
    result = ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS, legacy=legacy)
    return result.prefilter_id.hash if legacy else str(result.prefilter_id)


@needs_shared
@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_upstream_fixture_hashes(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    modern, legacy = UPSTREAM[name]
    assert scan(data) == modern
    assert scan(data, legacy=True) == legacy


@pytest.mark.parametrize("name", sorted(REBUILT))
@pytest.mark.parametrize("compression", ["none", "gzip", "bzip2", "xz"])
def test_rebuilt_fixture_hashes(name: str, compression: str) -> None:
    data = make_tar(REBUILT[name], compression)
    modern, legacy = UPSTREAM[name]
    assert scan(data) == modern
    assert scan(data, legacy=True) == legacy


def test_sans_base_worked_example_node_bytes() -> None:
    """§4.5: the exact CBOR of the ``ab`` node and the hashes of each node."""
    tree = TreeHash()
    ab = Metadata("ab", "f", 0o644, 7000, 7000, mtime=1433013083)
    node = (
        b"\xa2"
        + cbor.encode_text("m")
        + tree.encode_metadata(ab)
        + cbor.encode_text("h")
        + cbor.encode_bytes(hashlib.sha384(b"").digest())
    )
    assert node.hex() == (
        "a2616da7616e626162617461666170"
        "1901a4"
        "6175191b586167191b58616d1a556a0b5b626d6e00"
        "61685830"
        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
    )
    assert hashlib.sha384(node).hexdigest().startswith("47a8be828b0efd709a5655c9c48e2c63")
    tree.add(ab, hashlib.sha384(b"").digest())
    tree.add(Metadata("cd", "d", 0o755, 7000, 7000, mtime=1433013086))
    assert tree.root_digest().hex() == (
        "26b299b367f2cf963f219b3e769bcb6c22b7a0d34c04bd4477e8dcd56a93426d446c7326e50221b0121bad57b7a1711f"
    )


def test_symlinks_do_not_change_the_modern_id_but_do_change_the_legacy_one() -> None:
    base = REBUILT["rio/tar_kitchenSink.tgz"]
    retargeted = [L(e.name, "elsewhere", mtime=e.mtime, **OWNER) if e.linkname else e for e in base]
    assert scan(make_tar(base)) == scan(make_tar(retargeted))
    assert scan(make_tar(base), legacy=True) != scan(make_tar(retargeted), legacy=True)


def test_example1_output_ware(tmp_path: Path) -> None:
    """§7.2: /task/out holding the empty dir ``beep``, packed with Flatten, is tar:729LuU…"""
    out = tmp_path / "out"
    (out / "beep").mkdir(parents=True)
    os.chmod(out, 0o755)
    os.chmod(out / "beep", 0o755)
    assert str(pack_tree(out, FLATTEN)) == "tar:729LuUdChuu7traKQHNVAoWD9AjmrdCY4QUquhU6sPeRktVKrHo4k4cSaiQ523Nn4D"


@needs_shared
def test_busybash_roundtrip_through_unpack_and_pack(tmp_path: Path) -> None:
    """§7.2 (example_06): unpacking busybash and packing it back with keep filters gives the same ID."""
    from r2k8s.core.ware.unpack import unpack_tar
    from r2k8s.core.ware.wareid import WareID

    ware = WareID.parse(UPSTREAM["repeatr/fixtures/busybash.tgz"][0])
    with open(FIXTURES / "repeatr/fixtures/busybash.tgz", "rb") as stream:
        assert unpack_tar(ware, stream, tmp_path / "root", UNPACK_LOSSLESS) == ware
    assert pack_tree(tmp_path / "root", PACK_LOSSLESS) == ware
