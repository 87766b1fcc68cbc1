"""Formula IDs must equal what repeatr computes, bit for bit.

Vectors:

* upstream (reference §7.1): ``hello.formula`` and ``example_01`` →
  ``AteQch…jruT`` (repeatr ``examples/hello-*.tcase``); ``example_03`` and
  timeless-docs ``example1.formula`` → ``9mb9Nixx…KD6`` (``example1.runrecord``);
* the exact CBOR bytes of reference §2.4, and the §2.2 counter-check
  (``filters: null`` instead of ``{}`` gives ``orN1KV…``);
* "derived": computed while writing this module by the pinned Go code itself
  (go-timeless-api 0ece408 + refmt 26ba426, ``SetupHash`` of the parsed and of
  the ``FormulaDefaults`` formula) for inputs upstream asserts nothing about.

The upstream formulas are rebuilt inline so a fresh clone checks them; when
``../shared`` is present the inline copies are compared with the real files.
"""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from repo import FIXTURES, needs_shared
from upstream_formulas import BUSYBASH, DOCS_EXAMPLE1, UPSTREAM

from r2k8s.core import cbor
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.ids import formula_cbor, formula_id, raw_setup_hash
from r2k8s.core.formula.lenient_json import loads
from r2k8s.core.formula.model import Action, Formula, OutputSpec, Userinfo
from r2k8s.core.formula.parse import parse_formula_document
from r2k8s.core.ware.wareid import WareID
from r2k8s.formula_files import load_formula_bytes, load_formula_file

HELLO_ID = "AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT"
OUTPUT_ID = "9mb9Nixx2M5FoxVJgQtYzn1QvtQdM1TZjZeC4QGSjUCXbHVdAD3v91JWPjZXGkTKD6"

#: Reference §2.4: the defaulted hello formula's canonical CBOR.
HELLO_CBOR_HEX = (
    "a366696e70757473a1612f78467461723a367137473468577232383346705461354c66386865567177397439376235566f4d5536"
    "4147737a754259417a39457a516465485646416f753763345739764663513666616374696f6ea4646578656382692f62696e2f65"
    "63686f6c68656c6c6f20776f726c642163637764652f7461736b63656e76a364484f4d456c2f686f6d652f726575736572645041"
    "5448783c2f7573722f6c6f63616c2f7362696e3a2f7573722f6c6f63616c2f62696e3a2f7573722f7362696e3a2f7573722f6269"
    "6e3a2f7362696e3a2f62696e6455534552667265757365726875736572696e666fa4637569641903e8636769641903e868757365"
    "726e616d656672657573657267686f6d656469726c2f686f6d652f726575736572676f757470757473f6"
)

#: name -> (raw SetupHash, formulaID); upstream where §7.1 says so, the rest derived with the pinned Go code.
VECTORS = {
    "example_01_hello.formula": ("5dN29QkTs2MCozY97BQzcsABdNmvqjAyWzSHodoBC4esAXC4KayDq4UuT8uqfrCdj7", HELLO_ID),
    "examples/hello.formula": ("5dN29QkTs2MCozY97BQzcsABdNmvqjAyWzSHodoBC4esAXC4KayDq4UuT8uqfrCdj7", HELLO_ID),
    "example_02_script.formula": (
        "8S1CGaSCjmSGqK8MUy1EJwdsMAP9wpjAwhVpPN7PhmYcmpU8quJnwpVdzxeLcYeGcd",
        "8hf2ued1FxdekQUrgzikJbTLhyqQ3hm2v9nnE9rsDMZtNVFzd6mRhBQSJMGLQidh1f",
    ),
    "example_03_output.formula": ("3mV6c6LdxqehaNgEmLYBoQqb4WmitsQr6Lv8m6Dj7SE5AFseNnfdx3EvHrcm2bqrSi", OUTPUT_ID),
    "example_04_mounts.formula": (
        "7gxbwFm5mbKUcWQ4Wvy4f31vzrkhGDQoSmf1dnM6nTGaAVehmNHJTSV2PXSjCAz5Zm",
        "8k8yJvCGcU4hrfDsg17PJHYEdMQRVFMBu5jcZLkS2ygG15FXpvcyyR7y7KMtzETaQm",
    ),
    "example_05_userinfo.formula": (
        "AJusKVYMdtB6DBh6JobSupFGJ8PhMB6PRBs7q8WTycATPhWdhMfKoikgeUxYnF9hdx",
        "6d6FvFwhbPeCmWfPSY6UA3gndxQrbcBAdpeb5etm2pwjnyWx2gz1rtLj2Shwf7N78d",
    ),
    "example_06_roundtripRootfs.formula": (
        "6SswHxq6fsEvrrtWrQmToTn8Nh7bwrzg1fxaYteYeJVar27CeLATP8VUqaaBK1qAeF",
        "9bo2saZvLqtdxFSJywptBqTRT5piduo1CBY5eHou5LNgsvqMVkTvsKcSWGJq7PRvpS",
    ),
}

#: Derived with the pinned Go code: filter normalisation, uid 0, cradle off, every action field.
DERIVED = [
    (
        '{"formula":{"inputs":{"/":"tar:abc"},"action":{"exec":["/x"]},"outputs":{'
        '"/o":{"packtype":"tar","filters":{"uid":"0042","gid":"-1","mtime":"2010-01-01T00:00:00.5+01:00",'
        '"dev":"reject"}},"/p":{"packtype":"tar","filters":{"uid":"-2","gid":"+7","mtime":"@-2"}}}}}',
        "TEEkwJbGgpjrjFdXTXW7MqeP8c4aQ7EuVySSaMJiafTJXSqbWUrjijuMtq7oKHbrY",
        "3dJ9uXPEc5hvbM8D1AVciUxfyUR2YFTdup7heCFXhkdkSey8wv7s7CjDTvVmKk4GMo",
    ),
    (
        '{"formula":{"inputs":{"/":"tar:abc"},"action":{"exec":["/x"],"cradle":"disable",'
        '"userinfo":{"uid":0},"env":{}}}}',
        "2ZajE2jY9CmZTNXFUoKLGKQdECbSmUri35BhFeoQKuxdo2dxXz7zvXjpWMJsXrK44P",
        "95tBgjYqnZp27w1EzXr5x6jEogEUNFg7bvsvnCJbBnvPdTTa92RZy323jNhH7iedSS",
    ),
    (
        '{"formula":{"inputs":{"/":"tar:abc"},"action":{"exec":["/x"],"userinfo":{"uid":0,"username":"bob"},'
        '"env":{"HOME":"/h","Z":"1"},"policy":"sysad","hostname":"h","noop":true}}}',
        "5YhSYcx7mtNawGEKwVd7KKf6F82dBHGdMpMdVKZi24sox9XQBtZq9Stn2wb9dbyB2r",
        "6V24KQcGnizD1sN4Zp9YEbiMhVMPCuKGoy5hfzdT3Nj4XcbNiwp7UpjPSfSR2ForMY",
    ),
]


def parse(text: str | bytes) -> Formula:
    formula, _ = parse_formula_document(loads(text).value)
    return formula


# -- upstream vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_upstream_formulas_rebuilt_inline(name: str) -> None:
    raw, defaulted = VECTORS[name]
    formula = parse(UPSTREAM[name])
    assert formula_id(formula) == defaulted
    assert raw_setup_hash(formula) == raw


def test_docs_example1_has_the_runrecord_formula_id() -> None:
    assert formula_id(parse(DOCS_EXAMPLE1)) == OUTPUT_ID


@needs_shared
@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_inline_copies_match_the_shared_fixtures(name: str) -> None:
    assert (FIXTURES / "repeatr" / name).read_text() == UPSTREAM[name]


@needs_shared
@pytest.mark.parametrize("name", sorted(VECTORS))
def test_shared_fixture_files_load_to_the_vector_ids(name: str) -> None:
    loaded = load_formula_file(FIXTURES / "repeatr" / name)
    assert loaded.kind == "modern"
    assert (raw_setup_hash(loaded.formula), formula_id(loaded.formula)) == VECTORS[name]


@needs_shared
def test_the_tcase_files_state_the_hello_id() -> None:
    for case in ("hello-cached.tcase", "hello-uncached.tcase"):
        text = (FIXTURES / "repeatr" / "examples" / case).read_text()
        assert f'"formulaID": "{HELLO_ID}"' in text


def test_hello_cbor_is_byte_identical_to_the_reference() -> None:
    formula = parse(UPSTREAM["examples/hello.formula"])
    assert formula_cbor(apply_defaults(formula)).hex() == HELLO_CBOR_HEX


def test_clone_quirk_counter_check_gives_orN1KV() -> None:
    """§2.2: hashing example1 with ``filters: null`` (no Clone) instead of ``{}`` gives ``orN1KV…``."""
    defaulted = apply_defaults(parse(DOCS_EXAMPLE1))
    assert defaulted.outputs == {"/task/out": OutputSpec("tar", {})}
    without_clone = dataclasses.replace(defaulted, outputs={"/task/out": OutputSpec("tar", None)})
    assert raw_setup_hash(defaulted) == OUTPUT_ID
    assert raw_setup_hash(without_clone).startswith("orN1KV")


def test_absent_filters_hash_as_null_raw_and_as_empty_map_defaulted() -> None:
    formula = parse(DOCS_EXAMPLE1)
    assert b"\x67filters\xf6" in formula_cbor(formula)
    assert b"\x67filters\xa0" in formula_cbor(apply_defaults(formula))
    assert b"\x67outputs\xf6" in formula_cbor(parse(UPSTREAM["examples/hello.formula"]))


@pytest.mark.parametrize(("text", "raw", "defaulted"), DERIVED)
def test_derived_vectors_from_the_pinned_go_code(text: str, raw: str, defaulted: str) -> None:
    formula = parse(text)
    assert raw_setup_hash(formula) == raw
    assert formula_id(formula) == defaulted


def test_filter_values_are_hashed_in_repeatrs_canonical_form() -> None:
    # "0042" and "42" are the same filter to repeatr, so they hash the same.
    base = '{"formula":{"outputs":{"/o":{"packtype":"tar","filters":{"uid":"%s","mtime":"%s"}}}}}'
    a = parse(base % ("0042", "2010-01-01T01:00:00+01:00"))
    b = parse(base % ("42", "@1262304000"))
    assert a.outputs != b.outputs  # the model keeps what was written...
    assert formula_id(a) == formula_id(b) and raw_setup_hash(a) == raw_setup_hash(b)  # ...the hash does not


def test_defaulted_formula_is_a_fixed_point() -> None:
    for text in [*UPSTREAM.values(), *(d[0] for d in DERIVED)]:
        formula = parse(text)
        once = apply_defaults(formula)
        assert apply_defaults(once) == once
        assert raw_setup_hash(once) == formula_id(formula)


# -- properties -------------------------------------------------------------------------------

paths = st.sampled_from(["/", "/a", "/a/", "/task/out", "/é", "/z/y"])
wares = st.sampled_from([BUSYBASH, "tar:abc", "mount:ro:/tmp", "git:0123abcd"])
strings = st.text(alphabet="abcé/:- ", max_size=6)
filter_values = {
    "uid": st.sampled_from(["keep", "0", "1000", "0042", "-2"]),
    "gid": st.sampled_from(["keep", "0", "1000", "+5"]),
    "mtime": st.sampled_from(["keep", "@1262304000", "@0", "2010-01-01T00:00:00Z"]),
    "sticky": st.sampled_from(["keep", "ignore"]),
    "setid": st.sampled_from(["keep", "ignore", "reject"]),
    "dev": st.sampled_from(["keep", "ignore", "reject"]),
}


@st.composite
def formula_dicts(draw: st.DrawFn) -> dict:
    """A decoded ``formula`` object with each optional part present or not."""
    formula: dict = {}
    if draw(st.booleans()):
        formula["inputs"] = draw(st.dictionaries(paths, wares, max_size=3))
    action: dict = {}
    if draw(st.booleans()):
        action["exec"] = draw(st.lists(strings, max_size=3))
    for key in ("policy", "cwd", "cradle", "hostname"):
        if draw(st.integers(0, 3)) == 0:
            action[key] = draw(
                st.sampled_from(["", "/task", "/w"])
                if key == "cwd"
                else st.sampled_from(["", "disable", "enable"])
                if key == "cradle"
                else strings
            )
    if draw(st.booleans()):
        action["env"] = draw(st.dictionaries(st.sampled_from(["HOME", "USER", "PATH", "X"]), strings, max_size=3))
    if draw(st.booleans()):
        info: dict = {}
        for key in ("uid", "gid"):
            if draw(st.booleans()):
                info[key] = draw(st.sampled_from([0, 1, 1000, 4000]))
        if draw(st.booleans()):
            info["username"] = draw(st.sampled_from(["", "bob", "root"]))
        if draw(st.booleans()):
            info["homedir"] = draw(st.sampled_from(["", "/home/x", "/root"]))
        action["userinfo"] = info
    if draw(st.booleans()):
        formula["action"] = action
    if draw(st.booleans()):
        outputs = {}
        for path in draw(st.lists(paths, max_size=2, unique=True)):
            spec: dict = {"packtype": "tar"}
            if draw(st.booleans()):
                keys = draw(st.lists(st.sampled_from(sorted(filter_values)), unique=True))
                spec["filters"] = {k: draw(filter_values[k]) for k in keys}
            outputs[path] = spec
        formula["outputs"] = outputs
    return formula


def _needs_defaults(formula: Formula) -> bool:
    """Does FormulaDefaults (with its Clone) change what is hashed? Written from reference §1.6/§2.2."""
    action = formula.action
    info = action.userinfo
    if info is None or info.uid is None or info.gid is None or not action.cwd:
        return True
    # Filter *values* are canonicalised by both hashes; only an absent filter map differs (Clone).
    if any(spec.filters is None for spec in (formula.outputs or {}).values()):
        return True
    if action.cradle == "disable":
        return False
    env = action.env or {}
    return not info.username or not info.homedir or not {"HOME", "USER", "PATH"} <= env.keys()


@settings(max_examples=300)
@given(formula_dicts())
def test_raw_hash_differs_from_the_id_exactly_when_defaults_change_something(data: dict) -> None:
    formula, _ = parse_formula_document({"formula": data})
    assert (raw_setup_hash(formula) != formula_id(formula)) == _needs_defaults(formula)


@settings(max_examples=150)
@given(formula_dicts(), st.randoms(use_true_random=False))
def test_id_does_not_depend_on_key_order_or_syntax(data: dict, rnd: random.Random) -> None:
    reference = formula_id(parse_formula_document({"formula": data})[0])
    shuffled = _shuffle({"formula": data, "context": {}}, rnd)
    as_json = json.dumps(shuffled, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 1, "\t"]))
    as_yaml = yaml.safe_dump(shuffled, sort_keys=rnd.random() < 0.5, allow_unicode=True)
    for text in (as_json, as_yaml):
        loaded = load_formula_bytes(text.encode(), "f")
        assert formula_id(loaded.formula) == reference


@settings(max_examples=100)
@given(formula_dicts())
def test_a_fully_written_formula_hashes_the_same_raw_and_defaulted(data: dict) -> None:
    formula, _ = parse_formula_document({"formula": data})
    complete = apply_defaults(formula)
    assume(complete != formula)
    assert raw_setup_hash(complete) == formula_id(complete) == formula_id(formula)


def _shuffle(value: object, rnd: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffle(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffle(v, rnd) for v in value]
    return value


def test_go_ware_id_strings_in_the_hash() -> None:
    # WareID.String(): an empty hash prints as "-" (such IDs cannot come from a file, only from code).
    formula = Formula(inputs={"/": WareID("tar", "")}, action=Action(), outputs=None)
    assert cbor.encode_text("tar:-") in formula_cbor(formula)
    # uid 0 is a non-nil *int: kept. Absent inputs/outputs are null, the empty action is {}.
    assert formula_cbor(Formula(action=Action(userinfo=Userinfo(uid=0)))) == (
        b"\xa3" + b"\x66inputs\xf6" + b"\x66action\xa1" + b"\x68userinfo\xa1\x63uid\x00" + b"\x67outputs\xf6"
    )
    assert formula_cbor(Formula()) == b"\xa3\x66inputs\xf6\x66action\xa0\x67outputs\xf6"
