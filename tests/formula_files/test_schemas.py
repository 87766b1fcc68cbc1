"""The JSON Schemas in schemas/: valid, editor-friendly, and consistent with the parsers."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from repo import REPO_ROOT
from upstream_formulas import BASE, DOCS_EXAMPLE1, RELEASE_V014, UPSTREAM

from r2k8s.core.errors import R2k8sError
from r2k8s.core.formula.legacy import parse_legacy_formula
from r2k8s.core.formula.lenient_json import loads
from r2k8s.core.formula.parse import parse_formula_document
from r2k8s.formula_files import load_formula_bytes

SCHEMAS = REPO_ROOT / "schemas"
NAMES = (
    "formula.schema.json",
    "formula-legacy.schema.json",
    "formula-resource.schema.json",
    "formula-lock.schema.json",
)


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft_2020_12_with_an_r2k8s_id(name: str) -> None:
    document = schema(name)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://r2k8s.dev/schemas/{name}"
    assert document["title"] and document["description"]


@pytest.mark.parametrize("name", NAMES)
def test_the_package_ships_the_same_schema(name: str) -> None:
    shipped = importlib.resources.files("r2k8s").joinpath("schemas", name).read_text("utf-8")
    assert json.loads(shipped) == schema(name)


def test_every_object_in_the_modern_schema_is_closed_and_described() -> None:
    """repeatr rejects unknown keys everywhere in a modern formula file, so must the schema."""
    document = schema("formula.schema.json")
    objects = [document] + [d for d in document["$defs"].values() if "object" in _types(d)]
    assert len(objects) >= 7
    for definition in objects:
        # packFilters alone is open: refmt's filter transform reads six keys of a map[string]string and ignores
        # the rest, so repeatr hashes (without them) and runs a formula with other string-valued keys there.
        open_ = definition is document["$defs"]["packFilters"] and definition["additionalProperties"] == {
            "type": "string",
            "description": definition["additionalProperties"]["description"],
        }
        assert definition.get("additionalProperties") is False or "propertyNames" in definition or open_
        assert definition.get("description") or definition.get("title")


def test_the_legacy_schema_leaves_objects_open_as_repeatr_ignored_unknown_keys() -> None:
    document = schema("formula-legacy.schema.json")
    assert "additionalProperties" not in document
    assert validator("formula-legacy.schema.json").is_valid({"inputs": {}, "whatever": 1})


def _types(definition: dict) -> list:
    kind = definition.get("type", [])
    return kind if isinstance(kind, list) else [kind]


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_upstream_formulas_are_valid(name: str) -> None:
    assert not list(validator("formula.schema.json").iter_errors(loads(UPSTREAM[name]).value))


def test_docs_example_and_legacy_release_formula_are_valid() -> None:
    assert validator("formula.schema.json").is_valid(loads(DOCS_EXAMPLE1).value)
    legacy = load_formula_bytes(RELEASE_V014.encode(), "old.frm")
    assert legacy.kind == "legacy"


@pytest.mark.parametrize(
    "document",
    [
        {"formula": {}, "bogus": 1},
        {"formula": {"bogus": 1}},
        {"formula": {"action": {"script": "x"}}},
        {"formula": {"action": {"userinfo": {"name": "x"}}}},
        {"formula": {"outputs": {"/o": {"packtype": "tar", "filter": {}}}}},
        {"formula": {}, "context": {"fetchURLs": {}}},
    ],
)
def test_unknown_keys_are_refused_by_schema_and_model_alike(document: dict) -> None:
    assert not validator("formula.schema.json").is_valid(document)
    with pytest.raises(R2k8sError):
        parse_formula_document(document)


@pytest.mark.parametrize(
    "document",
    [
        {"formula": {"inputs": {"/": "tarx"}}},
        {"formula": {"action": {"userinfo": {"uid": "0"}}}},
        {"formula": {"action": {"exec": "/bin/true"}}},
        {"formula": {"outputs": {"/o": {"filters": {"uid": 0}}}}},
        {"formula": {"outputs": {"/o": {"filters": {"setid": "follow"}}}}},
        {"formula": {"outputs": {"/o": {"filters": {"mtime": "yesterday"}}}}},
        {"formula": {}, "context": {"saveUrls": {"/o": ["a"]}}},
    ],
)
def test_schema_refuses_the_usual_mistakes(document: dict) -> None:
    assert not validator("formula.schema.json").is_valid(document)


@pytest.mark.parametrize(
    "document",
    [
        {"formula": {"inputs": {"rel": "tar:x", "": "tar:"}}},
        {"formula": {"inputs": {"/": ""}, "outputs": {"o": {}}}},
        {"formula": {"inputs": {"/": ":x"}, "action": {"cwd": "rel", "userinfo": {"homedir": "h"}}}},
        {"formula": {"outputs": {"/o": {"filters": {"mtim": "keep"}}}}},
        {"formula": {"outputs": {"/o": {"filters": {"mtime": "2010-01-01T4:05:06,5+24:00"}}}}},
        {},
        {"context": {}},
    ],
)
def test_schema_accepts_what_repeatr_hashes_but_cannot_run(document: dict) -> None:
    """repeatr parses these (r2k8s lint and the KRM function say why they cannot run), so editors must not flag
    them as syntax errors."""
    assert validator("formula.schema.json").is_valid(document)
    parse_formula_document(document)


# -- the model never accepts what the schema refuses --------------------------------------------------

path_keys = st.sampled_from(["/", "/o", "rel", "", "/a b"])
scalar = (
    st.none()
    | st.booleans()
    | st.integers(-3, 70000)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        ["", "keep", "ignore", "reject", "0042", "-2", "@5", "2010-01-01T00:00:00Z", "tar:x", "x", "/x", "disable"]
    )
)
filters = (
    st.dictionaries(st.sampled_from(["uid", "gid", "mtime", "sticky", "setid", "dev", "bogus"]), scalar, max_size=3)
    | scalar
)
documents = st.fixed_dictionaries(
    {
        "formula": st.fixed_dictionaries(
            {},
            optional={
                "inputs": st.dictionaries(path_keys, scalar, max_size=2) | scalar,
                "action": st.fixed_dictionaries(
                    {},
                    optional={
                        "exec": st.lists(scalar, max_size=2) | scalar,
                        "noop": scalar,
                        "policy": scalar,
                        "cwd": scalar,
                        "cradle": scalar,
                        "hostname": scalar,
                        "env": st.dictionaries(st.sampled_from(["A", "HOME"]), scalar, max_size=2) | scalar,
                        "userinfo": st.fixed_dictionaries(
                            {}, optional={"uid": scalar, "gid": scalar, "username": scalar, "homedir": scalar}
                        )
                        | scalar,
                    },
                )
                | scalar,
                "outputs": st.dictionaries(
                    path_keys,
                    st.fixed_dictionaries({}, optional={"packtype": scalar, "filters": filters}) | scalar,
                    max_size=2,
                )
                | scalar,
            },
        )
        | scalar
    },
    optional={
        "context": st.fixed_dictionaries(
            {},
            optional={
                "fetchUrls": st.dictionaries(path_keys, st.lists(scalar, max_size=2) | scalar, max_size=2) | scalar,
                "saveUrls": st.dictionaries(path_keys, scalar, max_size=2) | scalar,
            },
        )
        | scalar
    },
)


@settings(max_examples=500)
@given(documents)
def test_whatever_the_model_accepts_the_schema_accepts(document: dict) -> None:
    try:
        parse_formula_document(document)
    except R2k8sError:
        return
    errors = list(validator("formula.schema.json").iter_errors(document))
    assert not errors, [e.message for e in errors]


legacy_documents = st.fixed_dictionaries(
    {},
    optional={
        "inputs": st.dictionaries(
            path_keys,
            st.fixed_dictionaries(
                {},
                optional={
                    "type": scalar,
                    "hash": scalar,
                    "mount": scalar,
                    "silo": st.lists(scalar, max_size=2) | scalar,
                },
            )
            | scalar,
            max_size=2,
        )
        | scalar,
        "action": st.fixed_dictionaries(
            {},
            optional={
                "command": st.lists(scalar, max_size=2) | scalar,
                "cwd": scalar,
                "policy": scalar,
                "cradle": scalar,
                "env": st.dictionaries(st.sampled_from(["A"]), scalar, max_size=1) | scalar,
                "escapes": st.fixed_dictionaries(
                    {}, optional={"mounts": st.dictionaries(path_keys, scalar, max_size=1) | scalar}
                )
                | scalar,
            },
        )
        | scalar,
        "outputs": st.dictionaries(
            path_keys,
            st.fixed_dictionaries({}, optional={"type": scalar, "filters": st.lists(scalar, max_size=2) | scalar})
            | scalar,
            max_size=2,
        )
        | scalar,
    },
)


@settings(max_examples=500)
@given(legacy_documents)
def test_whatever_the_legacy_parser_accepts_the_legacy_schema_accepts(document: dict) -> None:
    try:
        parse_legacy_formula(document)
    except R2k8sError:
        return
    errors = list(validator("formula-legacy.schema.json").iter_errors(document))
    assert not errors, [e.message for e in errors]


def test_schema_errors_become_positioned_messages() -> None:
    text = BASE + "  policy: root\n  cradle: 'no'\n"
    with pytest.raises(R2k8sError) as info:
        load_formula_bytes(text.encode(), "old.frm")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("old.frm:7:11: $.action.policy: 'root' is not one of 'routine'")
    assert lines[1].startswith("old.frm:8:11: $.action.cradle: expected a boolean or null, got string 'no'")


def test_schemas_are_where_editors_find_them() -> None:
    assert (REPO_ROOT / "plugin" / "r2k8s" / "schemas").resolve() == SCHEMAS.resolve()
    assert {p.name for p in SCHEMAS.glob("formula*.schema.json")} == set(NAMES)
    assert isinstance(SCHEMAS, Path)
