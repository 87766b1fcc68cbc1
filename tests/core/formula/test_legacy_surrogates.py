"""A legacy formula holding a UTF-16 surrogate escape is refused as a usage error naming where (issue 12).

repeatr v0.15 read legacy formulas with go-yaml, which refuses ``\\ud800``-``\\udfff``
escapes while scanning; Python's YAML reader lets them through, and the legacy
hash then could not encode the string (an internal error, found by the
formula fuzzer). Any field, key or value, hashed or ignored: go-yaml refuses
the file before it looks at fields.
"""

from __future__ import annotations

import pytest

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.formula_files import load_formula_bytes

HASH = "aLMH4qK1EdlPDavdhErOs0BP4DuUmnNM"


def legacy(hash_: str = HASH, env_key: str = "A", env_value: str = "b", extra: str = "") -> bytes:
    """A legacy formula in JSON, the strings written as they are: escapes stay escapes for the YAML reader."""
    inputs = f'"inputs": {{"/": {{"type": "tar", "hash": "{hash_}", "silo": "file://x"}}}}'
    action = f'"action": {{"command": ["/bin/true"], "env": {{"{env_key}": "{env_value}"}}}}'
    return f"{{{inputs}, {action}{extra}}}".encode()


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (legacy(hash_=HASH[:8] + "\\udc00\\ud800" + HASH[8:]), '$.inputs["/"].hash'),
        (legacy(env_value="\\ud800"), "$.action.env.A"),
        (legacy(env_key="A\\udfff"), '$.action.env["A\udfff"]'),  # json_path keeps the character itself
        (legacy(extra=', "unknown": ["\\ud83d"]'), "$.unknown[0]"),
    ],
    ids=["hash", "env-value", "env-key", "ignored-field"],
)
def test_a_surrogate_escape_is_a_usage_error_naming_where(data: bytes, where: str) -> None:
    with pytest.raises(R2k8sError) as caught:
        load_formula_bytes(data, "old.formula")
    assert caught.value.category is Category.USAGE
    assert "old.formula" in caught.value.message and where in caught.value.message
    assert "surrogate" in caught.value.message


def test_the_same_formula_without_one_loads_and_has_its_legacy_id() -> None:
    loaded = load_formula_bytes(legacy(), "old.formula")
    assert loaded.kind == "legacy" and loaded.formula_id
