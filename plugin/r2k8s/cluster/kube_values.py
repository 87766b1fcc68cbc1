"""Kubernetes' value syntaxes, checked here so a bad flag fails before anything reaches the cluster.

The API server would refuse the same values, but only when the Job is
created (after the agent ConfigMap exists) and with a message about
``spec.template.spec.containers[0].resources``, not about the flag the user
typed. The rules are apimachinery's: quantities (``resource.ParseQuantity``),
qualified names and label values (``validation.IsQualifiedName``,
``IsValidLabelValue``) and DNS-1123 subdomains (``IsDNS1123Subdomain``).
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "dns_subdomain_problem",
    "label_value_problem",
    "parse_quantity",
    "qualified_name_problem",
]

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")


def parse_quantity(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity (``500m``, ``2Gi``, ``1e3``), or None if ``text`` is none."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    if suffix:
        return number.scaleb(int(suffix[1:]))
    return number


def dns_subdomain_problem(text: str) -> str | None:
    """Why ``text`` is no DNS-1123 subdomain (the names of service accounts and priority classes), or None."""
    if not text:
        return "it is empty"
    if len(text) > 253:
        return "it is longer than 253 characters"
    if not _DNS_SUBDOMAIN.fullmatch(text):
        return "it must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    return None


def qualified_name_problem(text: str) -> str | None:
    """Why ``text`` is no qualified name (label, annotation and node-selector keys: ``[prefix/]name``), or None."""
    prefix, slash, name = text.rpartition("/")
    if slash:
        if not prefix:
            return "the prefix before '/' is empty"
        problem = dns_subdomain_problem(prefix)
        if problem:
            return f"its prefix {prefix!r} is no DNS subdomain: {problem}"
    if not name:
        return "the name is empty"
    if len(name) > 63:
        return f"the name {name!r} is longer than 63 characters"
    if not _NAME.fullmatch(name):
        return (
            f"the name {name!r} must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return None


def label_value_problem(text: str) -> str | None:
    """Why ``text`` is no label value (empty, or up to 63 name characters), or None."""
    if not text:
        return None
    if len(text) > 63:
        return "it is longer than 63 characters"
    if not _NAME.fullmatch(text):
        return "it must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    return None
