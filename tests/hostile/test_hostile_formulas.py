"""Hostile formula files for ``r2k8s formula-id`` (issue 12), and every formula field with every wrong type.

``formula-id`` runs on each of ``hostile_inputs.HOSTILE_FORMULAS`` (deep nesting in JSON, YAML flow and block
style and legacy YAML; alias bombs; huge strings; invalid UTF-8, NUL bytes, overlong encodings, lone
surrogates in escapes, UTF-16 and UTF-8 BOMs, CRLF; wrong types, complex and non-string keys) as a
subprocess: the right exit code, the file named in the message, no hang, bounded memory. CRLF files must
give the same ID as their LF originals.

The field matrix runs in process (hundreds of cases, milliseconds each): each field of a modern formula
(``FORMULA_FIELDS``) and of a legacy one (``LEGACY_FIELDS``), given each wrong type, written as JSON and as
YAML, loads to a formula whose IDs can be computed or fails with a usage error naming the field's JSON path;
nothing else may escape (the command would report it as an internal error).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hostile_inputs import (
    FORMULA_FIELDS,
    HOSTILE_FORMULAS,
    LEGACY_FIELDS,
    Box,
    Case,
    HostileFormula,
    Ran,
    assert_no_problems,
    formula_doc,
    legacy_doc,
    params,
    value_at,
    with_value,
    wrong_types_of,
)

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.ids import raw_setup_hash
from r2k8s.core.jsonpath import json_path
from r2k8s.formula_files import load_formula_bytes


def formula_file(make: Callable[[], bytes], name: str = "job.formula") -> Callable[[Box], None]:
    def prepare(box: Box) -> None:
        box.write(name, make())

    return prepare


def same_id(expected_source: bytes | None) -> Callable[[Box, Ran], list[str]] | None:
    if expected_source is None:
        return None

    def check(box: Box, ran: Ran) -> list[str]:
        if ran.code != 0:
            return []
        expected = load_formula_bytes(expected_source, "original.formula").formula_id
        printed = ran.out.strip()
        return [] if printed == expected else [f"printed ID {printed}, but the LF original's is {expected}"]

    return check


def formula_id_case(name: str, hostile: HostileFormula, *extra: str) -> Case:
    return Case(
        f"formula-id{''.join(extra)}-{name}",
        ("formula-id", "job.formula", *extra),
        formula_file(hostile.make),
        hostile.codes,
        says=("job.formula", *hostile.says),
        check=same_id(hostile.same_id_as),
        max_rss_mib=600,
    )


RAW_TOO = ["lone-surrogate-json", "nul-escape-in-exec", "yaml-alias-bomb", "crlf-legacy"]

FORMULA_ID = [
    *(formula_id_case(name, hostile) for name, hostile in HOSTILE_FORMULAS.items()),
    *(formula_id_case(name, HOSTILE_FORMULAS[name], "--raw") for name in RAW_TOO),
    Case("formula-id-missing-file", ("formula-id", "nope.formula"), None, frozenset({1}), says=("nope.formula",)),
    Case("formula-id-a-directory", ("formula-id", "in"), None, frozenset({1}), says=("in",)),
    Case(
        "formula-id-path-with-invalid-utf8",
        ("formula-id", b"in/\xff.formula"),
        formula_file(HOSTILE_FORMULAS["crlf-json"].make, "in/\udcff.formula"),
        frozenset({0}),
    ),
    Case("formula-id-no-argument", ("formula-id",), None, frozenset({1})),
]


@pytest.mark.parametrize("case", params(FORMULA_ID))
def test_formula_id(case: Case, batch) -> None:
    assert_no_problems(batch.report(case))


# -- every field, every wrong type, in process -------------------------------------------------------------


def field_cases(fields: dict[str, tuple[str, ...]], document: dict[str, Any], kind: str) -> list[Any]:
    out = []
    for field, path in fields.items():
        for type_name, wrong in wrong_types_of(value_at(document, path)).items():
            for syntax in ("json", "yaml"):
                out.append(pytest.param(kind, path, wrong, syntax, id=f"{kind}-{field}-is-{type_name}-{syntax}"))
    return out


def encode(document: Any, syntax: str) -> bytes:
    return json.dumps(document).encode() if syntax == "json" else yaml.safe_dump(document).encode()


@pytest.mark.parametrize(
    ("kind", "path", "wrong", "syntax"),
    field_cases(FORMULA_FIELDS, formula_doc(), "modern") + field_cases(LEGACY_FIELDS, legacy_doc(), "legacy"),
)
def test_a_wrong_type_in_any_field_is_a_usage_error_naming_it(
    kind: str, path: tuple[str, ...], wrong: Any, syntax: str
) -> None:
    document = with_value(formula_doc() if kind == "modern" else legacy_doc(), path, wrong)
    try:
        loaded = load_formula_bytes(encode(document, syntax), "job.formula")
        ids = [loaded.formula_id, raw_setup_hash(loaded.formula)]
    except R2k8sError as error:
        assert error.category is Category.USAGE, error
        assert "job.formula" in error.message and json_path(path) in error.message, error.message
        return
    # go-yaml v2 reads any scalar into a string field, so a legacy file may load; a modern one never does
    assert kind == "legacy", f"a {type(wrong).__name__} at {json_path(path)} was accepted; IDs {ids}"
    assert all(isinstance(i, str) and i for i in ids)


def test_the_undamaged_documents_load() -> None:
    for kind, document in (("modern", formula_doc()), ("legacy", legacy_doc())):
        for syntax in ("json", "yaml"):
            assert load_formula_bytes(encode(document, syntax), f"{kind}.{syntax}").kind == kind
