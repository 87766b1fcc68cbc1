"""Filters: rio's string form, named sets, per-key defaulting and their effect on metadata."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.ware import filters as flt
from r2k8s.core.ware.fsmeta import Metadata


def test_canonical_string_form_round_trips_in_rio_order() -> None:
    text = "uid=1000,gid=1000,mtime=@1262304000,sticky=keep,setid=keep,dev=keep"
    assert str(flt.Filters.parse(flt.PACK, text)) == text
    assert str(flt.Filters.parse(flt.PACK, "dev=keep,uid=1000")) == "uid=1000,dev=keep"


def test_named_sets_match_rio() -> None:
    assert str(flt.FLATTEN) == "uid=1000,gid=1000,mtime=@1262304000,sticky=keep,setid=keep,dev=keep"
    assert str(flt.PACK_CONSERVATIVE) == "uid=1000,gid=1000,mtime=@1262304000,sticky=keep,setid=reject,dev=reject"
    assert str(flt.UNPACK_LOWPRIV) == "uid=mine,gid=mine,mtime=follow,sticky=follow,setid=reject,dev=reject"
    assert not flt.UNPACK_LOSSLESS.altering and not flt.PACK_LOSSLESS.altering and flt.FLATTEN.altering


def test_named_set_with_overrides_and_defaulting() -> None:
    parsed = flt.Filters.parse(flt.PACK, "Conservative,uid=0")
    assert parsed.uid == "0" and parsed.setid == "reject"
    partial = flt.Filters.from_mapping(flt.PACK, {"gid": "keep", "mtime": "keep"})
    assert str(partial.with_defaults(flt.FLATTEN)) == "uid=1000,gid=keep,mtime=keep,sticky=keep,setid=keep,dev=keep"


@pytest.mark.parametrize(
    ("mode", "text", "words"),
    [
        (flt.PACK, "uid=follow", "uid must be keep, or a decimal id"),
        (flt.UNPACK, "uid=keep", "uid must be follow, mine, or a decimal id"),
        (flt.PACK, "uid=mine", "invalid filter value 'mine'"),
        (flt.PACK, "colour=blue", "unknown filter 'colour'"),
        (flt.PACK, "mtime=yesterday", "RFC 3339"),
        (flt.PACK, "sticky=reject", "keep or ignore"),
        (flt.UNPACK, "bogus", "comma-separated list of k=v pairs"),
        (flt.UNPACK, "flatten", "unknown unpack filter set"),
        (flt.PACK, "uid=1,uid=2", "given twice"),
    ],
)
def test_bad_filters_are_clear_usage_errors(mode: str, text: str, words: str) -> None:
    with pytest.raises(R2k8sError) as err:
        flt.Filters.parse(mode, text)
    assert err.value.category is Category.USAGE and words in str(err.value)


def test_object_form_values_must_be_strings() -> None:
    with pytest.raises(R2k8sError, match=r"outputs.uid: filter values are strings, got int 1000"):
        flt.Filters.from_mapping(flt.PACK, {"uid": 1000}, where="outputs")


def test_values_are_normalised_as_go_timeless_api_does() -> None:
    """``0042`` -> ``42``, ``-2`` -> keep, ``-1`` and ``@-1`` -> unspecified, dates -> ``@unix``."""
    parsed = flt.Filters.parse(flt.PACK, "uid=0042,gid=-2,mtime=@-1")
    assert parsed.as_dict() == {"uid": "42", "gid": "keep"}
    assert flt.Filters.parse(flt.UNPACK, "gid=-2,mtime=2010-01-01T01:00:00+01:00").as_dict() == {
        "gid": "follow",
        "mtime": "@1262304000",
    }


def test_rfc3339_mtime() -> None:
    meta = flt.Filters.parse(flt.PACK, "mtime=2010-01-01T00:00:00Z").apply(Metadata("a", "f", mtime=5, mtime_ns=7))
    assert (meta.mtime, meta.mtime_ns) == (1262304000, 0)


def test_application_rules() -> None:
    meta = Metadata("x", "f", perms=0o7755, uid=5, gid=6)
    flat = flt.Filters.parse(flt.PACK, "uid=1000,gid=1000,sticky=ignore,setid=ignore").apply(meta)
    assert (flat.uid, flat.gid, oct(flat.perms)) == (1000, 1000, "0o755")
    with pytest.raises(R2k8sError) as err:
        flt.PACK_CONSERVATIVE.apply(meta)
    assert err.value.category is Category.FILTER_REJECTION and "'x'" in str(err.value)
    device = Metadata("null", "c", devmajor=1, devminor=3)
    assert flt.Filters.parse(flt.UNPACK, "dev=ignore").apply(device) is None
    mine = flt.UNPACK_LOWPRIV.apply(Metadata("y", "f", uid=4000, gid=5000))
    assert (mine.uid, mine.gid) == (os.getuid(), os.getgid())


@given(
    uid=st.one_of(st.just("keep"), st.integers(0, 2**32).map(str)),
    mtime=st.one_of(st.just("keep"), st.integers(-(2**40), 2**40).map(lambda n: f"@{n}")),
    setid=st.sampled_from(["keep", "ignore", "reject"]),
)
def test_string_form_round_trip_property(uid: str, mtime: str, setid: str) -> None:
    text = f"uid={uid},mtime={mtime},setid={setid}"
    assert flt.Filters.parse(flt.PACK, str(flt.Filters.parse(flt.PACK, text))) == flt.Filters.parse(flt.PACK, text)


def test_negative_mtimes_apply_on_the_command_line_but_not_in_formulas() -> None:
    """rio's CLI applies ``mtime=@-86401``; repeatr cannot serialise it, so a formula may not hold it."""
    from r2k8s.core.formula.model import FormulaError
    from r2k8s.core.formula.parse import canonical_pack_filters

    meta = flt.Filters.parse(flt.PACK, "mtime=@-86401").apply(Metadata("a", "f", mtime=5))
    assert meta.mtime == -86401
    with pytest.raises(FormulaError, match="repeatr would panic"):
        canonical_pack_filters({"mtime": "@-86401"})


# -- uid/gid wrap to 32 bits, negative numbers (rio transmat/mixins/filters/applyFilters.go:
# ``fmeta.Uid = uint32(setTo)``; go-timeless-api filesetFilters.go: -1 unspecified,
# -2 keep/follow, -5 ff_context = "mine" in unpack filters) --------------------------------


@pytest.mark.parametrize(
    ("mode", "text", "uid", "gid"),
    [
        (flt.PACK, "uid=4294967296,gid=4294968296", 0, 1000),
        (flt.PACK, "uid=-3,gid=-4", 2**32 - 3, 2**32 - 4),
        (flt.PACK, "uid=-5,gid=-6", 2**32 - 5, 2**32 - 6),  # pack filters have no "mine"
        (flt.PACK, "uid=-2,gid=-1", 7, 8),  # keep; unspecified (nothing applied here)
        (flt.UNPACK, "uid=-5,gid=-5", os.getuid(), os.getgid()),  # ff_context: mine
        (flt.UNPACK, "uid=-3,gid=9223372036854775807", 2**32 - 3, 2**32 - 1),
        (flt.UNPACK, "uid=+4294967297,gid=-9223372036854775808", 1, 0),
    ],
)
def test_ids_wrap_to_32_bits_and_negatives_are_rios(mode: str, text: str, uid: int, gid: int) -> None:
    meta = flt.Filters.parse(mode, text).apply(Metadata("a", "f", uid=7, gid=8))
    assert meta is not None and (meta.uid, meta.gid) == (uid, gid)


def test_unpack_minus_five_is_mine_and_beyond_int64_is_refused() -> None:
    assert flt.Filters.parse(flt.UNPACK, "uid=-5,gid=-5").as_dict() == {"uid": "mine", "gid": "mine"}
    with pytest.raises(R2k8sError, match="decimal id"):
        flt.Filters.parse(flt.PACK, "uid=9223372036854775808")
    with pytest.raises(R2k8sError, match="mtime=now"):
        flt.Filters.parse(flt.UNPACK, "mtime=@-5")


@given(value=st.integers(0, 2**63 - 1), mode=st.sampled_from([flt.PACK, flt.UNPACK]))
def test_any_uid_applies_as_itself_mod_2_32(value: int, mode: str) -> None:
    meta = flt.Filters.parse(mode, f"uid={value},gid={value}").apply(Metadata("a", "f", uid=1, gid=1))
    assert meta is not None and meta.uid == meta.gid == value % 2**32
