"""repeatr's lenient JSON dialect (refmt 26ba426 json/jsonDecoder.go) and its source positions.

The expected readings below were checked against the pinned Go decoder while
writing this module; each test says which refmt behaviour it pins down.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.lenient_json import JsonSyntaxError, Position, loads
from r2k8s.core.jsonpath import json_path


def value(text: str | bytes) -> object:
    return loads(text).value


def error(text: str | bytes, **kwargs: object) -> JsonSyntaxError:
    with pytest.raises(JsonSyntaxError) as info:
        loads(text, **kwargs)
    assert info.value.category is Category.USAGE
    return info.value


def line_col(text: str, needle: str, occurrence: int = 0) -> Position:
    """Where ``needle`` starts in ``text`` (1-based), found independently of the decoder."""
    at = -1
    for _ in range(occurrence + 1):
        at = text.index(needle, at + 1)
    before = text[:at]
    return Position(before.count("\n") + 1, at - (before.rfind("\n") + 1) + 1)


# -- the leniencies upstream formulas rely on ---------------------------------------------


def test_trailing_commas_are_accepted() -> None:
    assert value('{"a": [1, 2,], "b": {"c": 3,},}') == {"a": [1, 2], "b": {"c": 3}}


def test_missing_commas_are_accepted() -> None:
    assert value('[1 2 "x"]') == [1, 2, "x"]
    assert value('{"a":1 "b":2}') == {"a": 1, "b": 2}


def test_literal_letters_are_not_checked_only_counted() -> None:
    # n and t swallow the next 3 bytes, f the next 4, whatever they are.
    assert value("[txyz, fxyzw, nxyz]") == [True, False, None]
    assert value("n") is None  # refmt ignores the short read at the end of input
    # "nul]" : 'n' eats "ul]", so the array is never closed.
    assert "end of input" in error("[nul]").problem


def test_container_opened_as_array_element_starts_as_if_after_a_comma() -> None:
    assert value("[[,1]]") == [[1]]
    assert value('[{,"a":1}]') == [{"a": 1}]
    assert value("[[,]]") == [[]]
    # ...but only there: a leading comma elsewhere is an error, and so is a double comma.
    for bad in ("[,1]", '{"a":[,1]}', '{,"a":1}', "[1,,2]"):
        error(bad)


def test_numbers_follow_gos_scanner() -> None:
    assert value("[01]") == [0, 1]  # the scanner stops after a leading 0
    assert value("[-0]") == [0] and isinstance(value("-0"), int)
    one = value("1.")
    assert one == 1.0 and isinstance(one, float)  # ParseFloat("1.") is fine
    assert value("9223372036854775807") == 2**63 - 1
    big = value("9223372036854775808")
    assert isinstance(big, float) and big == 2.0**63  # ParseInt overflows, ParseFloat does not
    assert value("1e-400") == 0.0  # Go's ParseFloat underflows to 0 without error
    assert isinstance(value("1E+2"), float)
    for bad in ("-", "-x", "1e", "1e+", "1e400", ".5"):
        error(bad)


def test_strings_decode_like_go() -> None:
    # invalid UTF-8 becomes one U+FFFD per byte, unlike Python's maximal-subpart rule
    raw = b'"\xe2\x82a\xff"'
    assert value(raw) == "\ufffd\ufffda\ufffd"
    assert b"\xe2\x82a\xff".decode("utf-8", "replace") != value(raw)
    assert value(r'"\ud83d\ude00"') == "\U0001f600"
    assert value(r'"\ud800\u0041"') == "\ufffdA"  # lone surrogate, next escape kept
    assert value(r'"\udc00"') == "\ufffd"
    assert value(r'"\u00e9\/\b\f\n\r\t\\\""') == 'é/\b\f\n\r\t\\"'
    assert "unprintable" in error(b'"a\tb"').problem
    assert "escape" in error(r'"\x"').problem
    assert "escape" in error(r'"\u12g4"').problem


def test_whitespace_is_only_space_tab_cr_lf_and_a_bom_is_an_error() -> None:
    assert value(" \t\r\n[ \t\r\n1 \t\r\n] ") == [1]
    err = error(b"\xef\xbb\xbf{}")
    assert err.position == Position(1, 1)
    error("\f[]")


def test_trailing_text_is_ignored_but_reported() -> None:
    text = '{"a": 1}\n  }} garbage'
    doc = loads(text)
    assert doc.value == {"a": 1}
    assert doc.trailing == line_col(text, "}}")
    assert loads('{"a": 1}  \n').trailing is None


def test_empty_input_is_an_error() -> None:
    assert "end of input" in error("").problem
    assert "end of input" in error("  \n ").problem


# -- what is refused on purpose --------------------------------------------------------------


def test_non_string_keys_are_refused_with_their_position() -> None:
    # refmt would reuse the previous token ("B") as the key of "C"; we refuse instead.
    text = '{"A": "B",\n q: "C"}'
    err = error(text)
    assert err.position == line_col(text, "q")
    assert "keys must be strings" in err.problem
    error('{1: "x"}')
    error('{null: "x"}')


def test_duplicate_keys_are_refused_by_default_and_name_both_places() -> None:
    text = '{"a": 1,\n "a": 2}'
    err = error(text)
    assert err.position == line_col(text, '"a"', 1)
    assert str(line_col(text, '"a"')) in err.problem
    assert loads(text, duplicates="last").value == {"a": 2}


def test_nesting_is_limited_without_recursion() -> None:
    deep = "[" * 100_000
    err = error(deep)
    assert "nesting deeper than" in err.problem
    assert value("[" * 10 + "]" * 10) == _nested(10)
    error("[[[]]]", max_depth=2)
    assert value("[[]]") == [[]]


def _nested(depth: int) -> list:
    out: list = []
    for _ in range(depth - 1):
        out = [out]
    return out


# -- positions --------------------------------------------------------------------------------


def test_errors_carry_source_line_and_column() -> None:
    text = '{\n  "a": [1,\n  ,]}'
    err = error(text.encode(), source="f.json")
    assert err.position == Position(3, 3)
    assert str(err).startswith("f.json:3:3: ")


def test_columns_count_characters_not_bytes() -> None:
    text = '{"é€": x}'
    assert error(text).position == line_col(text, "x")


def test_source_map_points_at_values_and_keys() -> None:
    text = '{\n  "formula": {\n    "inputs": {"/x": "tar:abc"},\n    "action": {"exec": ["/a", "/b"]}\n  }\n}'
    doc = loads(text)
    spots = doc.source_map
    assert spots.value(("formula", "inputs", "/x")) == line_col(text, '"tar:abc"')
    assert spots.key(("formula", "inputs", "/x")) == line_col(text, '"/x"')
    assert spots.value(("formula", "action", "exec", 1)) == line_col(text, '"/b"')
    assert spots.value(()) == Position(1, 1)
    # unknown paths fall back to the nearest recorded ancestor
    assert spots.value(("formula", "action", "nope", 3)) == line_col(text, '{"exec"')


def test_json_path_rendering() -> None:
    assert json_path(()) == "$"
    assert json_path(("formula", "inputs", "/x")) == '$.formula.inputs["/x"]'
    assert json_path(("a", 0, "b c", 'q"')) == '$.a[0]["b c"]["q\\""]'


# -- properties -------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_document_or_a_positioned_usage_error(data: bytes) -> None:
    try:
        loads(data)
    except JsonSyntaxError as exc:
        assert exc.category is Category.USAGE
        assert exc.position.line >= 1 and exc.position.column >= 1
        assert 0 <= exc.offset <= len(data)


@settings(max_examples=300)
@given(st.text(alphabet='{}[],:"\\ntfu0123456789.eE+- \n\tabc', max_size=120))
def test_json_like_text_never_crashes(text: str) -> None:
    try:
        loads(text)
    except R2k8sError as exc:
        assert exc.category is Category.USAGE


@settings(max_examples=200)
@given(json_values, st.booleans())
def test_strict_json_reads_as_the_standard_library_reads_it(data: object, ascii_only: bool) -> None:
    text = json.dumps(data, ensure_ascii=ascii_only)
    assert _same(loads(text).value, json.loads(text))


@settings(max_examples=200)
@given(json_values)
def test_a_trailing_comma_changes_nothing(data: object) -> None:
    strict = json.dumps(data, separators=(",", ":"))
    lenient = _add_trailing_commas(data)
    assert _same(loads(lenient).value, loads(strict).value)


@settings(max_examples=200)
@given(json_values)
def test_recorded_positions_point_at_the_first_character_of_each_value(data: object) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False)
    doc = loads(text)
    lines = text.split("\n")
    for path, item in _walk(data, ()):
        spot = doc.source_map.value(path)
        assert spot is not None
        first = lines[spot.line - 1][spot.column - 1]
        assert first == json.dumps(item, ensure_ascii=False)[0]


def _walk(data: object, path: tuple) -> list:
    out = [(path, data)]
    if isinstance(data, dict):
        for key, item in data.items():
            out.extend(_walk(item, path + (key,)))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            out.extend(_walk(item, path + (i,)))
    return out


def _add_trailing_commas(data: object) -> str:
    if isinstance(data, dict):
        body = "".join(f"{json.dumps(k)}:{_add_trailing_commas(v)}," for k, v in data.items())
        return "{" + body + "}"
    if isinstance(data, list):
        return "[" + "".join(_add_trailing_commas(v) + "," for v in data) + "]"
    return json.dumps(data)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, float) and isinstance(b, float) and (a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
