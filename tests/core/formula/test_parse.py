"""Parsing formula files into the model: what is kept as written, what is refused, and where errors point."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo import FIXTURES, needs_shared
from upstream_formulas import UPSTREAM

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.defaults import apply_defaults, clone
from r2k8s.core.formula.lenient_json import loads
from r2k8s.core.formula.model import Action, Formula, FormulaContext, FormulaError, OutputSpec, Userinfo
from r2k8s.core.formula.parse import canonical_pack_filters, lint_formula, parse_formula_document
from r2k8s.core.goparse import rfc3339_unix
from r2k8s.core.ware.wareid import WareID
from r2k8s.formula_files import load_formula_bytes, load_formula_file

BUSYBASH = WareID("tar", "6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6")


def parsed(text: str) -> tuple[Formula, FormulaContext]:
    return parse_formula_document(loads(text).value)


def load_error(text: str, source: str = "f.formula") -> str:
    with pytest.raises(R2k8sError) as info:
        load_formula_bytes(text.encode(), source)
    assert info.value.category is Category.USAGE and info.value.category.exit_code == 1
    return str(info.value)


def where(text: str, needle: str) -> str:
    """``LINE:COL`` of the first ``needle`` in ``text``, found independently of the parser."""
    at = text.index(needle)
    before = text[:at]
    return f"{before.count(chr(10)) + 1}:{at - (before.rfind(chr(10)) + 1) + 1}"


# -- the upstream formulas -----------------------------------------------------------------------


def test_upstream_examples_parse_to_the_expected_model() -> None:
    hello, context = parsed(UPSTREAM["example_01_hello.formula"])
    assert hello == Formula(inputs={"/": BUSYBASH}, action=Action(exec=("/bin/echo", "hello world!")))
    assert context == FormulaContext(fetch_urls={"/": ("file://./fixtures/busybash.tgz",)})

    output, context = parsed(UPSTREAM["example_03_output.formula"])
    assert output.outputs == {"/task/out": OutputSpec("tar", None)}
    assert context.save_urls == {"/task/out": "ca+file://./wares/"}

    mounts, _ = parsed(UPSTREAM["example_04_mounts.formula"])
    assert mounts.inputs["/wow"] == WareID("mount", "ro:/tmp") and mounts.inputs["/wow"].is_mount

    userinfo, _ = parsed(UPSTREAM["example_05_userinfo.formula"])
    assert userinfo.action.userinfo == Userinfo(uid=2000, gid=2000, username="crashoverride")
    assert userinfo.outputs == {"/task/out": OutputSpec("tar", {})}

    rootfs, _ = parsed(UPSTREAM["example_06_roundtripRootfs.formula"])
    assert rootfs.action.cradle == "disable" and not rootfs.action.cradle_enabled
    assert rootfs.outputs["/"].filters == {"uid": "keep", "gid": "keep", "mtime": "keep", "sticky": "keep"}


@needs_shared
def test_every_shared_upstream_formula_loads() -> None:
    files = sorted((FIXTURES / "repeatr").glob("*.formula")) + [FIXTURES / "repeatr" / "examples" / "hello.formula"]
    assert len(files) == 7
    for path in files:
        loaded = load_formula_file(path)
        assert loaded.kind == "modern" and loaded.path == path and loaded.legacy is None
        assert (loaded.formula, loaded.context) == parsed(path.read_text())


# -- "as written" distinctions ----------------------------------------------------------------------


def test_absent_null_and_empty_are_kept_apart_where_the_hash_cares() -> None:
    def action(body: str) -> Action:
        return parsed('{"formula":{"action":{' + body + "}}}")[0].action

    assert action("").userinfo is None and action('"userinfo":null').userinfo is None
    assert action('"userinfo":{}').userinfo == Userinfo()
    assert action('"userinfo":{"uid":0}').userinfo == Userinfo(uid=0)
    assert action('"userinfo":{"uid":null}').userinfo == Userinfo(uid=None)
    assert action("").env is None and action('"env":{}').env == {} and action('"env":null').env is None
    assert action("").exec is None and action('"exec":[]').exec == ()

    def spec(body: str) -> OutputSpec:
        return parsed('{"formula":{"outputs":{"/o":{"packtype":"tar"' + body + "}}}}")[0].outputs["/o"]

    assert spec("").filters is None
    assert spec(',"filters":{}').filters == {}
    assert spec(',"filters":null').filters == {}  # refmt's transform runs on null too

    assert parsed('{"formula":{}}')[0].inputs is None
    assert parsed('{"formula":{"inputs":{}}}')[0].inputs == {}
    assert parsed('{"formula":{"inputs":null}}')[0].inputs is None


def test_null_structs_are_zero_values_as_in_refmt() -> None:
    assert parsed('{"formula":null}')[0] == Formula()
    assert parsed('{"formula":{"action":null}}')[0].action == Action()
    assert parsed('{"formula":{"outputs":{"/o":null}}}')[0].outputs == {"/o": OutputSpec()}
    assert parsed('{"formula":{},"context":null}')[1] == FormulaContext()
    assert parsed('{"formula":{},"context":{"fetchUrls":{"/":null}}}')[1].fetch_urls == {"/": ()}


# -- model validation (paths name the offending value) ------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"formula": {"action": {"script": "x"}}}, ("formula", "action", "script"), "unknown key"),
        ({"formulas": {}}, ("formulas",), "unknown key"),
        ({"formula": {"inputs": {"/": "tarabc"}}}, ("formula", "inputs", "/"), "no ':'"),
        ({"formula": {"inputs": {"/": None}}}, ("formula", "inputs", "/"), "expected a string, got null"),
        (
            {"formula": {"action": {"userinfo": {"uid": "1000"}}}},
            ("formula", "action", "userinfo", "uid"),
            "expected an integer",
        ),
        (
            {"formula": {"action": {"userinfo": {"uid": 1.0}}}},
            ("formula", "action", "userinfo", "uid"),
            "expected an integer, got number 1.0",
        ),
        ({"formula": {"action": {"userinfo": {"uid": True}}}}, ("formula", "action", "userinfo", "uid"), "got boolean"),
        ({"formula": {"action": {"userinfo": {"uid": 2**63}}}}, ("formula", "action", "userinfo", "uid"), "64 bits"),
        ({"formula": {"action": {"noop": None}}}, ("formula", "action", "noop"), "expected a boolean"),
        ({"formula": {"action": {"exec": "/bin/true"}}}, ("formula", "action", "exec"), "array of strings"),
        ({"formula": {"action": {"exec": ["/a", 1]}}}, ("formula", "action", "exec", 1), "expected a string"),
        ({"formula": {"action": {"env": {"A": 1}}}}, ("formula", "action", "env", "A"), "expected a string"),
        ({"formula": {"action": {"hostname": "\ud800"}}}, ("formula", "action", "hostname"), "surrogate"),
        (
            {"formula": {"outputs": {"/o": {"filters": "uid=keep"}}}},
            ("formula", "outputs", "/o", "filters"),
            "must be an object",
        ),
        (
            {"formula": {"outputs": {"/o": {"filters": {"uid": 1000}}}}},
            ("formula", "outputs", "/o", "filters", "uid"),
            "expected a string, got integer 1000",
        ),
        (
            {"formula": {"outputs": {"/o": {"filters": {"sticky": "reject"}}}}},
            ("formula", "outputs", "/o", "filters", "sticky"),
            "sticky must be",
        ),
        (
            {"formula": {"outputs": {"/o": {"filters": {"uid": "-3"}}}}},
            ("formula", "outputs", "/o", "filters", "uid"),
            "panic",
        ),
        (
            {"formula": {"outputs": {"/o": {"filters": {"mtime": "2015-02-29T00:00:00Z"}}}}},
            ("formula", "outputs", "/o", "filters", "mtime"),
            "RFC 3339",
        ),
        (
            {"formula": {"outputs": {"/o": {"filters": {"mtime": ""}}}}},
            ("formula", "outputs", "/o", "filters", "mtime"),
            "mtime must be",
        ),
    ],
)
def test_model_errors_name_the_json_path(document: dict, path: tuple, fragment: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula_document(document)
    assert info.value.path == path
    assert fragment in info.value.problem
    assert info.value.category is Category.USAGE


# -- file errors: FILE:LINE:COL: $.path ------------------------------------------------------------------

BAD_FILES = {
    "unknown key": (
        '{\n\t"formula": {\n\t\t"action": {\n\t\t\t"script": "echo hi"\n\t\t}\n\t}\n}',
        '"script"',
        "$.formula.action.script",
        "unknown key 'script'",
    ),
    "relative path": (
        '{"formula": {\n  "inputs": {\n    "task/src": "tar:abc"}}}',
        '"task/src"',
        '$.formula.inputs["task/src"]',
        "absolute",
    ),
    "malformed ware ID": (
        '{"formula": {"inputs": {\n  "/": "tar-abc"}}}',
        '"tar-abc"',
        '$.formula.inputs["/"]',
        "ware ID",
    ),
    "wrong type": (
        '{"formula": {"action": {"userinfo": {\n  "uid": "1000"}}}}',
        '"1000"',
        "$.formula.action.userinfo.uid",
        "expected an integer",
    ),
    "wrong filter type": (
        '{"formula": {"outputs": {"/o": {"packtype": "tar",\n "filters": {"uid": 0}}}}}',
        "0}",
        '$.formula.outputs["/o"].filters.uid',
        "expected a string",
    ),
    "invalid filter value (model)": (
        '{"formula": {"outputs": {"/o": {\n "filters": {"mtime": "2010-13-01T00:00:00Z"}}}}}',
        '"2010-13',
        '$.formula.outputs["/o"].filters.mtime',
        "RFC 3339",
    ),
    "lenient syntax error": ('{"formula": {"action": {\n   "exec": [,]}}}', ",]", "", "start of a value"),
    "yaml unknown key": ("formula:\n  action:\n    script: x\n", "script", "$.formula.action.script", "unknown key"),
    "yaml relative path": (
        "formula:\n  outputs:\n    out: {packtype: tar}\n",
        "out: {",
        "$.formula.outputs.out",
        "absolute",
    ),
    "yaml wrong type": (
        "formula:\n  action:\n    userinfo:\n      uid: '1000'\n",
        "'1000'",
        "$.formula.action.userinfo.uid",
        "expected an integer",
    ),
    "yaml malformed ware ID": ("formula:\n  inputs:\n    /: tar\n", "tar", '$.formula.inputs["/"]', "ware ID"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_file_errors_say_file_line_column_and_path(case: str) -> None:
    text, needle, path, fragment = BAD_FILES[case]
    message = load_error(text, source="dir/bad.formula")
    assert message.startswith(f"dir/bad.formula:{where(text, needle)}: {path}")
    assert fragment in message


def test_every_schema_problem_is_reported_in_file_order() -> None:
    text = '{"formula": {\n "action": {"bogus": 1, "cwd": 5},\n "inputs": {"/": "tarx"}}}'
    lines = load_error(text).splitlines()
    expected = [where(text, needle) for needle in ('"bogus"', "5}", '"tarx"')]
    assert [line.split(": ")[0] for line in lines] == [f"f.formula:{spot}" for spot in expected]


def test_trailing_text_after_json_is_a_note_not_an_error() -> None:
    loaded = load_formula_bytes(b'{"formula": {}}\n}', "f.formula")
    assert loaded.formula == Formula() and "2:1" in loaded.notes[0]


def test_a_modern_file_is_never_rescued_by_a_yaml_reading() -> None:
    # refmt reads this bare key as the previous token ("B"); YAML would read "q". Refuse both.
    message = load_error('{"formula": {"action": {"env": {"A": "B", q: "C"}}}}')
    assert "keys must be strings" in message


def test_not_a_formula() -> None:
    for text in ("{}", "[]", "a: 1\n", "", '{"context": {}}'):
        assert "not a formula" in load_error(text) or "expected" in load_error(text)


# -- YAML ---------------------------------------------------------------------------------------------------

YAML_HELLO = """\
formula:
  inputs:
    /: tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6
  action:
    exec: [/bin/echo, hello world!]
context:
  fetchUrls:
    /: [file://./fixtures/busybash.tgz]
"""


def test_modern_yaml_has_the_json_shape() -> None:
    loaded = load_formula_bytes(YAML_HELLO.encode(), "hello.yaml")
    assert (loaded.formula, loaded.context) == parsed(UPSTREAM["example_01_hello.formula"])


@pytest.mark.parametrize(
    ("line", "path", "reads_as"),
    [
        ("cwd: 0644", "$.formula.action.cwd", "an integer"),
        ("hostname: 12:30", "$.formula.action.hostname", "an integer"),
        ("cradle: off", "$.formula.action.cradle", "a boolean"),
        ("policy: yes", "$.formula.action.policy", "a boolean"),
        ("hostname: 2001-12-14", "$.formula.action.hostname", "a date"),
        ("hostname: ~", "$.formula.action.hostname", "null"),
        ("hostname: 1.5", "$.formula.action.hostname", "a number"),
    ],
)
def test_yaml_11_hazards_where_a_string_is_required(line: str, path: str, reads_as: str) -> None:
    text = f"formula:\n  action:\n    {line}\n"
    value = line.split(": ", 1)[1]
    message = load_error(text)
    assert message.startswith(f"f.formula:{where(text, value)}: {path}: ")
    assert f"reads the unquoted {value!r} as {reads_as}" in message and "write " in message


@pytest.mark.parametrize("written", ["0644", "0x10", "1_000", "1:30", "00"])
def test_yaml_integers_must_be_plain_decimal(written: str) -> None:
    text = f"formula:\n  action:\n    userinfo:\n      uid: {written}\n"
    message = load_error(text)
    assert f"{where(text, written)}: $.formula.action.userinfo.uid" in message


def test_yaml_plain_decimal_integers_are_fine() -> None:
    loaded = load_formula_bytes(b"formula:\n  action:\n    userinfo: {uid: 0, gid: -5}\n", "f")
    assert loaded.formula.action.userinfo == Userinfo(uid=0, gid=-5)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("formula:\n  action: {}\n  action: {}\n", "duplicate key 'action'"),
        ("formula: {}\n---\nformula: {}\n", "single document"),
        ("formula: !!binary aGk=\n", "unsupported YAML tag"),
        ("formula: !custom {}\n", "unsupported YAML tag"),
        ("formula: &a\n  inputs: *a\n", "recursive YAML alias"),
        ("formula:\n  ? [a]\n  : b\n", "keys must be plain strings"),
        ("formula:\n  action:\n    env: {1: a}\n", "not a string"),
        ("formula:\n\taction: {}\n", "YAML"),
        ("formula: {action: {env: {A: [\n", "YAML"),
    ],
)
def test_yaml_constructs_that_are_refused(text: str, fragment: str) -> None:
    assert fragment in load_error(text)


def test_yaml_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines) + "\nformula:\n  action:\n    exec: *a7\n"
    assert "YAML nodes" in load_error(text)


def test_yaml_merge_keys_and_anchors_work() -> None:
    text = (
        "formula:\n  action:\n    env: &e {A: a}\n"
        "  outputs: {/o: {packtype: tar, filters: {<<: {uid: keep, gid: '1'}, gid: '5'}}}\n"
        "context:\n  saveUrls: {/o: &url file:///w}\n  fetchUrls: {/: [*url]}\n"
    )
    loaded = load_formula_bytes(text.encode(), "f")
    assert loaded.formula.outputs["/o"].filters == {"gid": "5", "uid": "keep"}  # explicit keys win
    assert loaded.context.fetch_urls == {"/": ("file:///w",)}


# -- filters and defaults ------------------------------------------------------------------------------------


def test_canonical_filters_follow_go_timeless_api() -> None:
    assert canonical_pack_filters({"uid": "0042", "gid": "+7"}) == {"gid": "7", "uid": "42"}
    assert canonical_pack_filters({"uid": "-1", "gid": "-2"}) == {"gid": "keep"}  # -1 unspecified, -2 keep
    assert canonical_pack_filters({"mtime": "@-1"}) == {}
    assert canonical_pack_filters({"sticky": "keep", "setid": "reject", "dev": "ignore"}) == {
        "dev": "ignore",
        "setid": "reject",
        "sticky": "keep",
    }
    with pytest.raises(FormulaError):
        canonical_pack_filters({"gid": "-3"})
    with pytest.raises(FormulaError):
        canonical_pack_filters({"uid": " 1"})


@settings(max_examples=300)
@given(
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.sampled_from(["", ".5", ".000000001"]),
)
def test_rfc3339_matches_the_standard_library(moment: datetime.datetime, offset_minutes: int, fraction: str) -> None:
    zone = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + f"{sign}{hours:02d}:{minutes:02d}"
    expected = int(moment.replace(microsecond=0, tzinfo=zone).timestamp())
    assert rfc3339_unix(text) == expected
    assert rfc3339_unix(text.replace("T", "t")) is None


def test_rfc3339_edges() -> None:
    assert rfc3339_unix("2016-02-29T00:00:00Z") == 1456704000
    assert rfc3339_unix("0000-01-01T00:00:00Z") == -62167219200
    for bad in (
        "2015-02-29T00:00:00Z",
        "2010-01-01T24:00:00Z",
        "2010-01-01T00:00:60Z",
        "2010-01-01 00:00:00Z",
        "2010-01-01T00:00:00",
        "2010-01-01T00:00:00+2400",
        "2010-1-01T00:00:00Z",
        "2010-01-01T00:00:00.Z",
    ):
        assert rfc3339_unix(bad) is None, bad


def test_apply_defaults_follows_cradle_formula_defaults() -> None:
    plain = apply_defaults(Formula())
    assert plain.action.userinfo == Userinfo(1000, 1000, "reuser", "/home/reuser")
    assert plain.action.cwd == "/task"
    assert plain.action.env == {
        "HOME": "/home/reuser",
        "USER": "reuser",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    root = apply_defaults(Formula(action=Action(userinfo=Userinfo(uid=0), env={"HOME": "/x"})))
    assert root.action.userinfo == Userinfo(0, 1000, "root", "/root")
    assert root.action.env["HOME"] == "/x" and root.action.env["USER"] == "root"
    named = apply_defaults(Formula(action=Action(userinfo=Userinfo(username="bob"))))
    assert named.action.userinfo.homedir == "/home/bob"
    off = apply_defaults(Formula(action=Action(cradle="disable", env={})))
    assert off.action == Action(cradle="disable", cwd="/", userinfo=Userinfo(1000, 1000), env=None)
    kept = apply_defaults(Formula(action=Action(cwd="/w", cradle="enable")))
    assert kept.action.cwd == "/w" and kept.action.userinfo.username == "reuser"


def test_clone_only_changes_what_the_refmt_round_trip_changes() -> None:
    formula = Formula(
        inputs={},
        action=Action(exec=(), env={}),
        outputs={"/a": OutputSpec("tar"), "/b": OutputSpec("tar", {"uid": "0042", "gid": "-1"})},
    )
    assert clone(formula) == Formula(
        inputs={}, action=Action(), outputs={"/a": OutputSpec("tar", {}), "/b": OutputSpec("tar", {"uid": "42"})}
    )


# -- untrusted input ---------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_load_or_fail_with_a_usage_error(data: bytes) -> None:
    try:
        load_formula_bytes(data, "fuzz")
    except R2k8sError as exc:
        assert exc.category is Category.USAGE


keys = st.sampled_from(
    [
        "formula",
        "context",
        "inputs",
        "action",
        "outputs",
        "exec",
        "cwd",
        "env",
        "userinfo",
        "uid",
        "filters",
        "packtype",
        "fetchUrls",
        "/",
        "/o",
        "x",
    ]
)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2000)
    | st.floats(allow_nan=False)
    | st.sampled_from(["tar:abc", "/x", "keep", "", "x", "@5", "0644", "disable"])
)
documents = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4), max_leaves=25
)


@settings(max_examples=300)
@given(documents, st.booleans())
def test_structured_garbage_loads_or_fails_with_a_usage_error(document: object, as_yaml: bool) -> None:
    import yaml

    text = yaml.safe_dump(document) if as_yaml else json.dumps(document)
    try:
        loaded = load_formula_bytes(text.encode(), "fuzz")
    except R2k8sError as exc:
        assert exc.category is Category.USAGE
        assert "fuzz" in str(exc)
    else:
        assert loaded.kind in ("modern", "legacy")


# -- what repeatr hashes but cannot run (or ignores): lint findings, not parse errors ---------------


@pytest.mark.parametrize(
    ("document", "path", "fragment", "fatal"),
    [
        ({"formula": {"inputs": {"x": "tar:a"}}}, ("formula", "inputs", "x"), "absolute", True),
        ({"formula": {"inputs": {"": "tar:a"}}}, ("formula", "inputs", ""), "absolute", True),
        ({"formula": {"outputs": {"out": {}}}}, ("formula", "outputs", "out"), "absolute", True),
        ({"formula": {}, "context": {"saveUrls": {"o": "x"}}}, ("context", "saveUrls", "o"), "absolute", True),
        ({"formula": {"action": {"cwd": "task"}}}, ("formula", "action", "cwd"), "absolute", True),
        (
            {"formula": {"action": {"userinfo": {"homedir": "h"}}}},
            ("formula", "action", "userinfo", "homedir"),
            "absolute",
            True,
        ),
        (
            {"formula": {"action": {"cradle": "disable", "userinfo": {"homedir": "h"}}}},
            ("formula", "action", "userinfo", "homedir"),
            "absolute",
            False,  # with cradle disabled repeatr never uses homedir
        ),
        ({"formula": {"inputs": {"/": ""}}}, ("formula", "inputs", "/"), "is empty", True),
        ({"formula": {"inputs": {"/": ":abc"}}}, ("formula", "inputs", "/"), "empty packtype", True),
        ({"formula": {"inputs": {"/": "tar:"}}}, ("formula", "inputs", "/"), "empty hash", True),
        (
            {"formula": {"outputs": {"/o": {"filters": {"mtim": "keep"}}}}},
            ("formula", "outputs", "/o", "filters", "mtim"),
            "unknown filter",
            False,
        ),
    ],
)
def test_what_repeatr_hashes_but_cannot_run_is_a_lint_finding(
    document: dict, path: tuple, fragment: str, fatal: bool
) -> None:
    formula, context = parse_formula_document(document)
    (finding,) = lint_formula(formula, context)
    assert (finding.path, finding.fatal) == (path, fatal) and fragment in finding.message


def test_the_loader_refuses_what_cannot_run_unless_asked_to_read_it_as_repeatr_does() -> None:
    """The KRM function (strict, the default) never accepts a formula whose pod would fail; formula-id does."""
    from r2k8s.formula_files import FormulaInvalid, load_formula_bytes

    text = b'{"formula": {"inputs": {"rel": "tar:"}, "outputs": {"/o": {"filters": {"colour": "x"}}}}}'
    with pytest.raises(FormulaInvalid) as refused:
        load_formula_bytes(text, "f.formula")
    assert "f.formula:1:25: $.formula.inputs.rel: mount path 'rel' must be absolute" in refused.value.message
    assert "empty hash" in refused.value.message and "colour" not in refused.value.message
    loaded = load_formula_bytes(text, "f.formula", strict=False)
    assert len(loaded.notes) == 3 and any("unknown filter 'colour' is ignored" in note for note in loaded.notes)
    with pytest.raises(R2k8sError, match="not a formula"):
        load_formula_bytes(b"{}", "f.formula")
    assert load_formula_bytes(b"{}", "f.formula", strict=False).formula == Formula()
