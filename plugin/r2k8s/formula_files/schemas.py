"""Checking a decoded formula against the JSON Schemas in ``schemas/`` (the ones editors use).

Each problem the schema finds becomes a :class:`Problem`: the JSON path of the
offending value and a sentence a person can act on, not jsonschema's own
wording.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
from collections.abc import Iterator
from typing import Any

import jsonschema

from r2k8s.core.formula.parse import type_name
from r2k8s.core.jsonpath import JsonPath

__all__ = ["Problem", "schema_problems"]


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    text = importlib.resources.files("r2k8s").joinpath("schemas", name).read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@dataclasses.dataclass(frozen=True)
class Problem:
    path: JsonPath
    message: str
    at_key: bool = False


def schema_problems(value: Any, schema_name: str) -> list[Problem]:
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(value):
        problems.extend(_describe_schema_error(error))
    return problems


def _describe_schema_error(error: jsonschema.ValidationError) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        key = error.instance  # the instance a propertyNames subschema checks is a key: in JSON, a string
        yield Problem(path + (key,), f"key {key!r} {schema.get('patternErrorMessage', error.message)}", at_key=True)
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = schema.get("properties", {})
        for key in error.instance:
            if key not in known:
                yield Problem(path + (key,), f"unknown key {key!r} (allowed: {', '.join(known)})", at_key=True)
        return
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        wanted_text = " or ".join(_article(str(w)) for w in wanted)  # JSON type names: str() changes nothing
        yield Problem(path, f"expected {wanted_text}, got {_short(error.instance)}")
        return
    if error.validator == "pattern" and "patternErrorMessage" in schema:
        yield Problem(path, f"{error.instance!r} {schema['patternErrorMessage']}")
        return
    if error.validator == "enum" and isinstance(error.validator_value, list):
        choices = ", ".join("null" if c is None else repr(c) for c in error.validator_value)
        shown = repr(error.instance) if isinstance(error.instance, str) else _short(error.instance)
        yield Problem(path, f"{shown} is not one of {choices}")
        return
    if error.validator == "required":
        yield Problem(path, error.message.replace("is a required property", "is required"))
        return
    yield Problem(path, error.message)


def _article(json_type: str) -> str:
    return {"array": "an array", "object": "an object", "integer": "an integer", "null": "null"}.get(
        json_type, f"a {json_type}"
    )


def _short(value: Any) -> str:
    name = type_name(value)
    if value is None or isinstance(value, (dict, list)):
        return name
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return f"{name} {text[:40] + '...' if len(text) > 40 else text}"
