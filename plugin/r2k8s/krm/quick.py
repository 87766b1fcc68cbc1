"""The cheapest answer: an input in which no ``image:`` can name a formula is returned as it came.

kustomize, kpt and helm start the function for every build, most often on inputs it will not
change, so this check runs before anything else is imported: one regular expression over the
text, then libyaml to make sure the input is a well-formed ResourceList (with ``items`` and no
function config to validate) or a stream of resources without Formula items (a plain stream goes
to a cluster: the function proper leaves them out). Anything else goes to the function proper,
which also produces every error message — including an input that might nest too deeply or use
YAML aliases (:func:`~r2k8s.krm.limits.might_be_hostile`): libyaml's composer recurses in C, and
only the function proper checks the shape of such an input before anything composes it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CANDIDATE", "maybe_formula_reference", "unchanged"]

CANDIDATE = re.compile(r"""["']?image["']?\s*:\s*["']?(?:\.\.?/|formula:)|r2k8s\.io/source""")
"""An ``image:`` that may name a formula, or the annotation of a resource expanded before (:mod:`.rerender`)."""
RESOURCE_LIST_VERSIONS = ("config.kubernetes.io/v1", "config.kubernetes.io/v1beta1")


def maybe_formula_reference(text: str) -> bool:
    """False when no ``image:`` value in ``text`` can be a formula reference, nor any resource be one the
    function expanded before (which it expands again with today's formulas)."""
    return CANDIDATE.search(text) is not None


def unchanged(text: str) -> bool:
    """True when the function would return ``text`` itself: valid input, nothing to expand, no config."""
    from r2k8s.krm.limits import might_be_hostile

    if not text.strip() or maybe_formula_reference(text) or might_be_hostile(text):
        return False
    import yaml

    try:
        documents: list[Any] = [
            d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d is not None
        ]
    except yaml.YAMLError:
        return False
    if len(documents) == 1 and isinstance(documents[0], dict) and documents[0].get("kind") == "ResourceList":
        document = documents[0]
        items = document.get("items")
        return (
            document.get("apiVersion", RESOURCE_LIST_VERSIONS[0]) in RESOURCE_LIST_VERSIONS
            and isinstance(items, list)
            and all(isinstance(item, dict) for item in items)
            and not document.get("functionConfig")
        )
    return bool(documents) and all(isinstance(document, dict) and not _formula(document) for document in documents)


def _formula(document: dict[str, Any]) -> bool:
    """A Formula resource (:mod:`.formula_items`): a plain stream goes to a cluster, so the function proper
    leaves it out."""
    return document.get("kind") == "Formula" and document.get("apiVersion") == "fn.r2k8s.io/v1alpha1"
