"""Legacy formulas (repeatr v0.13-v0.15): their own hash, their parsing, and the modern conversion.

Vectors: ``7dCwntFg…`` and ``8h8bRDwD…`` are upstream
(``release/v0.15:api/def/formula_hash_test.go``, reference §6.2). The others
are "derived": computed while writing this module by the pinned code itself
(repeatr ``release/v0.15`` ``api/def`` + ugorji ``708a42d`` + go-yaml
``cd8b52f``, decoding as ``api/hitch.DecodeYaml`` does).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from upstream_formulas import BASE, LEGACY_HASH, RELEASE_V014

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.ids import legacy_formula_cbor, legacy_setup_hash
from r2k8s.core.formula.legacy import (
    LegacyAction,
    LegacyFilters,
    LegacyFormula,
    LegacyInput,
    LegacyOutput,
    parse_legacy_filters,
    parse_legacy_formula,
    to_modern,
)
from r2k8s.core.formula.model import FormulaError, OutputSpec
from r2k8s.core.ware.wareid import WareID
from r2k8s.formula_files import load_formula_bytes

RELEASE_V014_HASH = "4aSUdQkwJxthP5b6j3uSCTn4maEi2H84KhKotwmoA6LGUaSsf69bvyXL3kq9u4cwFN"
RELEASE_V014_CBOR = (
    "a366616374696f6ea467636f6d6d616e6482662e2f676f616467696e7374616c6c636377646e2f7461736b2f726570656174722f"
    "63656e76a6694255494c44444154457819323031372d30312d31372031313a32333a34382d30363a303069474954434f4d4d4954"
    "78283732623139626532366262616335366339643164633431386130316266653062303961393336336366474f4152434865616d"
    "64363464474f4f53656c696e757866474f524f4f546a2f6170702f676f2f676f6450415448781f2f62696e2f3a2f7573722f6269"
    "6e2f3a2f6170702f676f2f676f2f62696e2f6765736361706573a066696e70757473a3612fa364686173687840614c4d4834714b"
    "3145646c50446176646845724f7330425078714f3069366c5561655245344475556d6e4e4d78684874463536676b6f6553756c76"
    "77574e7154656d6f756e74612f647479706563746172682f6170702f676f2fa364686173687840555a6c63517648553551673567"
    "5871754457325154632d76366c2d4c7a52312d3853526d4a326157516a69714663506767494554696b6f4574615f444a5a516365"
    "6d6f756e74682f6170702f676f2f6474797065637461726e2f7461736b2f726570656174722fa364686173687828373262313962"
    "65323662626163353663396431646334313861303162666530623039613933363363656d6f756e746e2f7461736b2f7265706561"
    "74722f647479706563676974676f757470757473a17819726570656174722d6c696e75782d616d6436342d76302e3134a4676669"
    "6c74657273f6646861736860656d6f756e74781a2f7461736b2f726570656174722f2e676f706174682f62696e2f647479706563"
    "746172"
)

#: (document, legacy hash) derived with the pinned Go code.
DERIVED = [
    (BASE, "4j9cMXWZhUu8WnAhfpDGCq27HGjqYGydXX2sVGbTAcWJmciDjJQVj2yot8NkXgB9DN"),
    (BASE + "  cradle: false\n", "9DKxBPreztFeHSKJSb6wnwn7kmq6otFCxS1ecmJtEksf3JDhY9F3uN2bDuBSxpyzxC"),
    (
        BASE + "outputs:\n  out:\n    type: tar\n    mount: /out\n"
        '    filters: ["uid keep", "mtime 2010-01-01T00:00:00+01:00", "gid 5", "uid 7"]\n',
        "57Jfj2711ij18RS83Zf2RPeQUEeEvJcrEEV5Fa5EfRP8XmgNebTE8uV4m8Gquocrbq",
    ),
    (
        BASE + "outputs:\n  out:\n    type: tar\n    mount: /out\n    filters: []\n",
        "7br9FbzwNUuYZk4fpF1dygbG6spgPDtRe7Aykp15dCirouCdsqGUshU4d7VtSptHgp",
    ),
    (
        BASE + "  escapes:\n    mounts:\n      /b: ./x\n      /a: ./y\n",
        "6ZRvTqGn5Q5B1s9VowYNtcDTeniCfzKGuRe7p3XwYUqJK9mSQyNTunPZb74gzQxTaU",
    ),
    (
        BASE + '  hostname: 12:30\n  env: {A: null, B: "x"}\n  policy: governor\n  cwd: /w\n',
        "8nUUoiCnymrWXTfb3pfuPTBjZ3XsMS3WkxNPpGeBR7TGytSqg65J9AAppsZpVh1moS",
    ),
    # JSON syntax with a trailing comma: repeatr v0.15 read legacy files as YAML, flow style.
    (
        '{"inputs": {"/": {"type": "tar", "hash": "abc"}}, "action": {"command": ["echo"]},}',
        "4j9cMXWZhUu8WnAhfpDGCq27HGjqYGydXX2sVGbTAcWJmciDjJQVj2yot8NkXgB9DN",
    ),
]


def load(text: str) -> object:
    return load_formula_bytes(text.encode(), "old.frm")


# -- hashes ---------------------------------------------------------------------------------


def upstream_fixture() -> LegacyFormula:
    return LegacyFormula(
        inputs={"rootfs": LegacyInput("tar", LEGACY_HASH, ("http+ca://repeatr.s3.amazonaws.com/assets/",), "/")},
        action=LegacyAction(command=("bash", "-c", "echo hello && sleep 5 && echo yes")),
    )


def test_upstream_vector_without_outputs() -> None:
    assert legacy_setup_hash(upstream_fixture()) == "7dCwntFg7FtcUNs4FcRaUknXWWskG889kypU9y3BpWdVmT4aMA76zkZyjaNYL1x989"


def test_upstream_vector_silos_are_not_hashed() -> None:
    frm = upstream_fixture()
    moved = dataclasses.replace(
        frm, inputs={"rootfs": dataclasses.replace(frm.inputs["rootfs"], silo=("file+ca://./local/",))}
    )
    assert legacy_setup_hash(moved) == legacy_setup_hash(frm)


def test_upstream_vector_with_an_output_whose_filters_are_nil() -> None:
    frm = dataclasses.replace(upstream_fixture(), outputs={"product": LegacyOutput(type="tar", mount="/output")})
    assert legacy_setup_hash(frm) == "8h8bRDwDAS39QtyQ7SNn9BYKZkXCxkxWMpCcHAMKdbvYe2qQ3r7TduVccHeCe8dk4y"
    # An output hash is blanked, and output silos are not hashed either.
    filled = dataclasses.replace(frm, outputs={"product": LegacyOutput("tar", "zzz", ("file+ca://w/",), "/output")})
    assert legacy_setup_hash(filled) == legacy_setup_hash(frm)


def test_release_formula_with_tabs_hash_and_bytes() -> None:
    loaded = load(RELEASE_V014)
    assert loaded.kind == "legacy" and loaded.legacy is not None
    assert legacy_formula_cbor(loaded.legacy).hex() == RELEASE_V014_CBOR
    assert legacy_setup_hash(loaded.legacy) == RELEASE_V014_HASH


@pytest.mark.parametrize(("text", "expected"), DERIVED)
def test_derived_vectors(text: str, expected: str) -> None:
    loaded = load(text)
    assert loaded.kind == "legacy"
    assert legacy_setup_hash(loaded.legacy) == expected


def test_file_loaded_outputs_hash_filters_null_but_in_memory_nil_omits_them() -> None:
    loaded = load(BASE + "outputs:\n  /out:\n    type: tar\n")
    assert loaded.legacy.outputs["/out"].filters == LegacyFilters()
    assert b"\x67filters\xf6" in legacy_formula_cbor(loaded.legacy)
    nil = dataclasses.replace(loaded.legacy, outputs={"/out": LegacyOutput(type="tar", mount="/out")})
    assert b"filters" not in legacy_formula_cbor(nil)


# -- parsing ----------------------------------------------------------------------------------


def test_filters_parse_like_from_string_slice() -> None:
    filters = parse_legacy_filters(("uid 5", "  ", "uid keep", "mtime   @-7", "gid 0"))
    assert filters == LegacyFilters(uid="keep", gid=0, mtime=-7)
    assert filters.as_strings() == ("uid keep", "gid 0", "mtime @-7")
    assert parse_legacy_filters(("mtime 2010-01-01T00:00:00Z",)).as_strings() == ("mtime @1262304000",)
    for bad in ("uid -1", "uid", "uid 1 2", "gid x", "mtime", "mtime @x", "mtime yesterday", "sticky keep"):
        with pytest.raises(FormulaError):
            parse_legacy_filters((bad,))


def test_parse_defaults_mount_to_the_key_and_reads_null_strings_as_empty() -> None:
    frm = parse_legacy_formula(
        {
            "inputs": {"/x": {"type": "tar", "hash": "h", "mount": None, "silo": None}},
            "action": {"command": [None, "x"], "env": {"A": None}, "cradle": None, "policy": None},
            "outputs": {"/o": {"type": "tar"}},
        }
    )
    assert frm.inputs["/x"] == LegacyInput("tar", "h", (), "/x")
    assert frm.action.command == ("", "x") and frm.action.env == {"A": ""}
    assert frm.action.cradle is None and frm.action.policy == ""
    assert frm.outputs["/o"].mount == "/o"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"inputs": {"/": None}}, ("inputs", "/")),
        ({"outputs": {"o": None}}, ("outputs", "o")),
        ({"action": {"policy": ""}}, ("action", "policy")),
        ({"action": {"policy": "root"}}, ("action", "policy")),
        ({"action": {"cradle": "false"}}, ("action", "cradle")),
        ({"inputs": {"/": {"hash": 12}}}, ("inputs", "/", "hash")),
        ({"inputs": {"/": {"silo": 5}}}, ("inputs", "/", "silo")),
        ({"inputs": {"/": {"silo": ["a", None]}}}, ("inputs", "/", "silo", 1)),
        ({"action": {"command": "echo hi"}}, ("action", "command")),
        ({"action": {"escapes": {"mounts": {"/a": None}}}}, ("action", "escapes", "mounts", "/a")),
    ],
)
def test_parse_errors_name_the_path(value: dict, where: tuple) -> None:
    with pytest.raises(FormulaError) as info:
        parse_legacy_formula(value)
    assert info.value.path == where


def test_unknown_keys_are_ignored_as_upstream_and_reported_as_notes() -> None:
    text = BASE + "  comand: [typo]\nextra: 1\n"
    loaded = load(text)
    assert legacy_setup_hash(loaded.legacy) == DERIVED[0][1]
    assert any("$.action.comand" in n and "old.frm:7:3" in n for n in loaded.notes)
    assert any("$.extra" in n for n in loaded.notes)


def test_go_yaml_rules_apply_to_legacy_files() -> None:
    # go-yaml v2 leaves 12:30 and 1e3 as strings (PyYAML would not) ...
    loaded = load(BASE + "  hostname: 12:30\n  cwd: 1e3\n")
    assert (loaded.legacy.action.hostname, loaded.legacy.action.cwd) == ("12:30", "1e3")
    # ... but reads y/n as booleans, which a string field refuses, with a hint.
    with pytest.raises(R2k8sError) as info:
        load(BASE + "  hostname: y\n")
    assert "old.frm:7:13: $.action.hostname:" in str(info.value) and "quote" in str(info.value).lower()
    # duplicate keys: go-yaml kept the last one
    assert load(BASE + "  cwd: /a\n  cwd: /b\n").legacy.action.cwd == "/b"


def test_unquoted_colon_in_a_flow_list_is_refused_like_go_yaml() -> None:
    with pytest.raises(R2k8sError) as info:
        load(BASE.replace('["echo"]', "[file+ca://x]"))
    assert "old.frm:6:13: $.action.command[0]" in str(info.value)


def test_error_columns_refer_to_the_original_tab_indented_text() -> None:
    text = 'inputs:\n\t"/":\n\t\ttype: tar\n\t\thash: yes\n'
    with pytest.raises(R2k8sError) as info:
        load(text)
    assert info.value.category is Category.USAGE
    # line 4 is "\t\thash: yes": "yes" starts at character 9 of the original line
    assert str(info.value).startswith('old.frm:4:9: $.inputs["/"].hash: ')


# -- conversion to the modern model ----------------------------------------------------------------


def test_conversion_of_the_release_formula() -> None:
    loaded = load(RELEASE_V014)
    frm, ctx = loaded.formula, loaded.context
    assert frm.inputs == {
        "/": WareID("tar", LEGACY_HASH),
        "/app/go/": WareID("tar", "UZlcQvHU5Qg5gXquDW2QTc-v6l-LzR1-8SRmJ2aWQjiqFcPggIETikoEta_DJZQc"),
        "/task/repeatr/": WareID("git", "72b19be26bbac56c9d1dc418a01bfe0b09a9363c"),
    }
    assert loaded.legacy_inputs["/"].hash == LEGACY_HASH and loaded.legacy_inputs["/"].name == "/"
    # legacy "+ca" suffix URLs are kept verbatim: they are not the modern "ca+" layout
    assert ctx.fetch_urls["/"] == ("http+ca://repeatr.s3.amazonaws.com/assets/",)
    assert ctx.fetch_urls["/task/repeatr/"] == ("./../..", "https://github.com/polydawn/repeatr.git")
    assert ctx.save_urls == {"/task/repeatr/.gopath/bin/": "file+ca://./wares/"}
    assert frm.outputs == {"/task/repeatr/.gopath/bin/": OutputSpec("tar", None)}
    action = frm.action
    assert action.exec == ("./goad", "install") and action.cwd == "/task/repeatr/"
    assert action.env["PATH"] == "/bin/:/usr/bin/:/app/go/go/bin/"  # written value wins over the default
    assert action.env["HOME"] == "/home/luser"
    assert (action.userinfo.uid, action.userinfo.gid) == (1000, 1000)
    # the modern defaults then add only USER
    assert set(apply_defaults(frm).action.env) - set(action.env) == {"USER"}


def test_conversion_maps_policy_cradle_escapes_filters_and_drops_unknown_silos() -> None:
    legacy = LegacyFormula(
        inputs={"rootfs": LegacyInput("tar", "h", ("s3://bucket/x", "file://./a.tgz", "file+ca://w/"), "/")},
        action=LegacyAction(command=("x",), policy="uidzero", cradle=False, escape_mounts={"/data": "./host"}),
        outputs={
            "out": LegacyOutput(
                "tar", "", ("file+ca://o/", "https+ca://ro/"), "/out", LegacyFilters(uid="keep", mtime=1262304000)
            )
        },
    )
    view = to_modern(legacy)
    action = view.formula.action
    assert action.policy == "routine" and action.userinfo.uid == 0 and action.env["HOME"] == "/root"
    assert action.cradle == "disable" and action.cwd == "/task"  # legacy cwd default, even without cradle
    assert view.formula.inputs["/data"] == WareID("mount", "rw:./host")
    assert view.context.fetch_urls["/"] == ("file://./a.tgz", "file+ca://w/")
    assert view.formula.outputs["/out"].filters == {"uid": "keep", "mtime": "@1262304000"}
    assert view.context.save_urls == {"/out": "file+ca://o/"}
    notes = "\n".join(view.notes)
    assert "s3://bucket/x" in notes and "uidzero" in notes and "https+ca://ro/" in notes


@pytest.mark.parametrize(
    "legacy",
    [
        LegacyFormula(inputs={"rootfs": LegacyInput("tar", "h", (), "rootfs")}),
        LegacyFormula(inputs={"a": LegacyInput("tar", "h", (), "/"), "b": LegacyInput("tar", "i", (), "/")}),
        LegacyFormula(inputs={"/": LegacyInput("", "h", (), "/")}),
        LegacyFormula(outputs={"o": LegacyOutput("tar", mount="out")}),
    ],
)
def test_conversion_refuses_what_the_modern_format_cannot_express(legacy: LegacyFormula) -> None:
    with pytest.raises(FormulaError):
        to_modern(legacy)


@settings(max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(["/", "/a", "rootfs", "/b/"]),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["tar", "git"]), "hash": st.text("abc-_", min_size=1, max_size=5)}
        ),
        max_size=3,
    ),
    st.lists(st.sampled_from(["uid keep", "gid 5", "mtime @0", "mtime keep", "uid 0"]), max_size=3),
)
def test_names_and_silos_never_change_the_legacy_hash_but_mounts_do(inputs: dict, filters: list) -> None:
    value = {
        "inputs": inputs,
        "action": {"command": ["x"]},
        "outputs": {"o": {"type": "tar", "mount": "/o", "filters": filters}},
    }
    frm = parse_legacy_formula(value)
    silos = {k: {**v, "silo": ["file+ca://w/"]} for k, v in inputs.items()}
    with_silos = parse_legacy_formula({**value, "inputs": silos})
    assert legacy_setup_hash(with_silos) == legacy_setup_hash(frm)
    if inputs:
        name = sorted(inputs)[0]
        moved = parse_legacy_formula({**value, "inputs": {**inputs, name: {**inputs[name], "mount": "/elsewhere"}}})
        assert legacy_setup_hash(moved) != legacy_setup_hash(frm)
