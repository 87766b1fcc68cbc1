"""The run record must come out exactly as ``repeatr run`` prints it (reference §3).

Vectors:

* the §3.2 byte string, as produced by the pinned Go code;
* the stdout of repeatr's ``examples/hello-{uncached,cached}.tcase`` after the
  upstream sanitiser (guid, hostname and ``"time": "22222222222"`` replaced);
* refmt ``jsonEncoderTerminals.go`` escaping rules, case by case;
* rio ``lib/guid/guid.go`` layout: alphabet, time digits, same-ms increment.
"""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo import FIXTURES, needs_shared

from r2k8s.core.run.record import GUID_ALPHABET, RunRecord, RunRecordError, from_json, new_guid, to_json

FORMULA_ID = "AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT"


def _record(**kw: object) -> RunRecord:
    base: dict[str, object] = {
        "guid": "by356nem-e0trxfw4-mt4xk1m9",
        "time": 1544875520,
        "formula_id": FORMULA_ID,
        "exit_code": 0,
        "results": {},
    }
    base.update(kw)
    return RunRecord(**base)


def _quoted(s: str) -> str:
    """The JSON text for a record whose hostname is ``s``, cut down to the quoted string."""
    out = to_json(_record(hostname=s))
    m = re.search(r'\n    "hostname": (".*")\n}\n$', out, re.DOTALL)
    assert m, out
    return m.group(1)


def _se(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# --- exact bytes ----------------------------------------------------------


def test_reference_3_2_example_exact() -> None:
    rec = _record(formula_id="AteQch…jruT", hostname="myhost")
    assert to_json(rec) == (
        '{\n    "guid": "by356nem-e0trxfw4-mt4xk1m9",\n    "time": 1544875520,\n'
        '    "formulaID": "AteQch…jruT",\n    "exitCode": 0,\n    "results": {},\n'
        '    "hostname": "myhost"\n}\n'
    )


def _tcase_stdout(name: str) -> str:
    text = (FIXTURES / "repeatr" / "examples" / name).read_text(encoding="utf-8")
    section = next(s for s in text.split("\n---\n") if s.startswith("# stdout\n"))
    lines = section.split("\n")[1:]
    body = [ln.removeprefix("\t") for ln in lines]
    return "\n".join(body).strip("\n") + "\n"


@needs_shared
@pytest.mark.parametrize("name", ["hello-uncached.tcase", "hello-cached.tcase"])
def test_hello_tcase_stdout_shape(name: str) -> None:
    expected = _tcase_stdout(name)
    rec = _record(guid="xxxxxxxx-xxxxxxxx-xxxxxxxx", time=1544875520, hostname="znn.xxxxx.yyy")
    # The upstream sanitiser (examples/sanitizers_test.go) swaps the integer for a string.
    ours = re.sub(r'"time": \d+', '"time": "22222222222"', to_json(rec))
    assert ours == expected
    # And the fixture, with a real integer put back, parses to the same record.
    assert from_json(expected.replace('"22222222222"', "1544875520")) == rec


def test_results_sorted_bytewise_and_nested_indent() -> None:
    rec = _record(
        results={"/z": "tar:Z", "/a": "tar:A", "/é": "tar:E", "/B": "tar:B"},
        exit_code=14,
    )
    assert to_json(rec) == (
        '{\n    "guid": "by356nem-e0trxfw4-mt4xk1m9",\n    "time": 1544875520,\n'
        f'    "formulaID": "{FORMULA_ID}",\n    "exitCode": 14,\n    "results": {{\n'
        '        "/B": "tar:B",\n        "/a": "tar:A",\n        "/z": "tar:Z",\n        "/é": "tar:E"\n'
        "    }\n}\n"
    )


def test_sort_is_by_go_bytes_not_code_points() -> None:
    # U+E000 is EE 80 80; the surrogateescape'd byte 0xFF is U+DCFF in Python.
    # Code-point order puts U+DCFF first, Go's byte order puts EE first.
    raw_ff, pua = _se(b"\xff"), "\ue000"
    out = to_json(_record(results={raw_ff: "x", pua: "y"}))
    assert out.index('"\ue000"') < out.index('"\\ufffd"')


def test_null_vs_empty_results_and_omitempty() -> None:
    assert '    "results": null\n}\n' in to_json(_record(results=None))
    assert '    "results": {}\n}\n' in to_json(_record(results={}))
    out = to_json(_record(results={}, hostname="", metadata={}))
    assert "hostname" not in out and "metadata" not in out and out.endswith('"results": {}\n}\n')
    assert to_json(_record(metadata=None)) == to_json(_record(metadata={}))


def test_metadata_after_hostname() -> None:
    out = to_json(_record(hostname="h", metadata={"k2": "v", "k1": "w"}))
    assert out.endswith('    "hostname": "h",\n    "metadata": {\n        "k1": "w",\n        "k2": "v"\n    }\n}\n')
    assert '"hostname"' not in to_json(_record(metadata={"k": "v"}))


def test_negative_exit_code() -> None:
    assert '"exitCode": -1,' in to_json(_record(exit_code=-1, results=None))


# --- escaping (refmt json/jsonEncoderTerminals.go) ---------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\n\r\t", '"\\n\\r\\t"'),
        ("\x00\x01\x08\x0c\x1b\x1f", '"\\u0000\\u0001\\u0008\\u000c\\u001b\\u001f"'),
        ("\x7f /<>&'", '"\x7f /<>&\'"'),  # DEL and HTML characters stay raw
        ("é€😀\ufffd", '"é€😀\ufffd"'),  # non-ASCII raw, a real U+FFFD included
        ("\u2028x\u2029", '"\\u2028x\\u2029"'),
        (_se(b"\xff"), '"\\ufffd"'),
        (_se(b"a\xe2\x82Ab"), '"a\\ufffd\\ufffdAb"'),  # Go replaces each bad byte
        (_se(b"\xe2\x82"), '"\\ufffd\\ufffd"'),  # truncated at the end
        (_se(b"\xc0\xaf"), '"\\ufffd\\ufffd"'),  # overlong
        (_se(b"\xed\xa0\x80"), '"\\ufffd\\ufffd\\ufffd"'),  # encoded surrogate
        (_se(b"\xf4\x90\x80\x80"), '"\\ufffd\\ufffd\\ufffd\\ufffd"'),  # beyond U+10FFFF
        (_se(b"\xe2\x80\xa8"), '"\\u2028"'),  # the same bytes as U+2028
        (
            "\ud800",
            '"\\ufffd\\ufffd\\ufffd"',
        ),  # a lone surrogate that is no escaped byte
    ],
)
def test_escaping(value: str, quoted: str) -> None:
    assert _quoted(value) == quoted


def test_escapes_in_keys_too() -> None:
    assert '        "/a\\tb": "tar:\\u0001"' in to_json(_record(results={"/a\tb": "tar:\x01"}))


# --- properties --------------------------------------------------------------

_text = st.text()  # no surrogates: these round-trip exactly
_maps = st.dictionaries(_text, _text, max_size=5)
_records = st.builds(
    RunRecord,
    guid=_text,
    time=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    formula_id=_text,
    exit_code=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    results=st.none() | _maps,
    hostname=_text,
    metadata=st.none() | _maps.filter(bool),
)


@settings(max_examples=300)
@given(_records)
def test_round_trip(rec: RunRecord) -> None:
    assert from_json(to_json(rec)) == rec


@settings(max_examples=300)
@given(_records)
def test_valid_json_same_data_and_layout(rec: RunRecord) -> None:
    out = to_json(rec)
    doc = json.loads(out)
    expect: dict[str, object] = {
        "guid": rec.guid,
        "time": rec.time,
        "formulaID": rec.formula_id,
        "exitCode": rec.exit_code,
        "results": rec.results,
    }
    if rec.hostname:
        expect["hostname"] = rec.hostname
    if rec.metadata:
        expect["metadata"] = rec.metadata
    assert doc == expect and list(doc) == list(expect)
    if rec.results:
        assert list(doc["results"]) == sorted(rec.results, key=lambda k: k.encode())
    # Python's own pretty printer agrees wherever escaping rules coincide.
    if all(ch.isascii() and ch.isprintable() for s in _all_strings(rec) for ch in s):
        py = json.dumps(doc, indent=4, ensure_ascii=False) + "\n"  # doc's maps are already in byte order
        assert out == py


def _all_strings(rec: RunRecord) -> list[str]:
    out = [rec.guid, rec.formula_id, rec.hostname]
    for m in (rec.results or {}, rec.metadata or {}):
        out += list(m) + list(m.values())
    return out


@settings(max_examples=300)
@given(st.binary(max_size=40))
def test_arbitrary_bytes_give_valid_utf8_json(raw: bytes) -> None:
    out = to_json(_record(hostname=_se(raw) or "h", results={_se(raw): _se(raw)}))
    out.encode("utf-8")  # no surrogates survive
    doc = json.loads(out)
    try:
        valid = raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    if valid:
        assert doc["hostname"] == valid


def test_from_json_rejects_bad_input() -> None:
    good = json.loads(to_json(_record()))
    bads: list[object] = [
        [],
        {**good, "time": "22222222222"},
        {**good, "exitCode": True},
        {**good, "results": {"/a": 1}},
        {**good, "extra": 1},
    ]
    for bad in bads:
        with pytest.raises(RunRecordError):
            from_json(json.dumps(bad))
    with pytest.raises(ValueError):
        from_json("{")


def test_from_json_compact_and_defaults() -> None:
    rec = from_json('{"guid":"g","time":1,"formulaID":"f","exitCode":2,"results":null}')
    assert rec == RunRecord("g", 1, "f", 2, None)


# --- guids (rio lib/guid/guid.go) ---------------------------------------------

GUID_RE = re.compile(r"^[0-9a-hkm-tv-z]{8}-[0-9a-hkm-tv-z]{8}-[0-9a-hkm-tv-z]{8}$")


def _time_part(ms: int) -> str:
    digits = ""
    for _ in range(8):
        ms, d = divmod(ms, 32)
        digits = GUID_ALPHABET[d] + digits
    return digits


def test_guid_alphabet() -> None:
    assert "".join(sorted(GUID_ALPHABET)) == GUID_ALPHABET and len(set(GUID_ALPHABET)) == 32
    assert not set("ijlu") & set(GUID_ALPHABET)


def test_guid_format_and_time_digits() -> None:
    g = new_guid()
    assert GUID_RE.match(g), g
    ms = 1544875520123
    g = new_guid(ms, random.Random(1))
    assert GUID_RE.match(g) and g[:8] == _time_part(ms % 32**8)
    assert new_guid(0, random.Random(1))[:8] == "00000000"
    assert new_guid(32**8 + 1, random.Random(1))[:8] == "00000001"  # high bits dropped, as rio does
    with pytest.raises(ValueError):
        new_guid(-1)


def test_guid_same_ms_increments_from_the_right() -> None:
    class Fixed:
        def __init__(self, digits: list[int]) -> None:
            self.digits = iter(digits)

        def choice(self, seq: object) -> int:
            return next(self.digits)

    # rio draws lastRandChars[0..15]; [0] is the last character of the id.
    draws = [31, 31] + [0] * 13 + [5]
    a = new_guid(1000, Fixed(draws))
    assert a == _time_part(1000) + "-50000000-000000zz"
    b = new_guid(1000, Fixed([]))  # no fresh draw within the millisecond
    assert b == _time_part(1000) + "-50000000-00000100"
    assert a < b
    c = new_guid(1001, Fixed([1] * 16))
    assert c == _time_part(1001) + "-11111111-11111111"


def test_guid_randomness_differs() -> None:
    assert len({new_guid(5000 + i)[9:] for i in range(50)}) == 50


@settings(max_examples=200)
@given(
    st.integers(min_value=0, max_value=32**8 - 2),
    st.integers(min_value=1, max_value=32**8 - 1),
)
def test_guids_made_later_sort_later(ms: int, delta: int) -> None:
    later = min(ms + delta, 32**8 - 1)  # within one wrap window of the 40-bit clock
    assert new_guid(ms) < new_guid(later)
