"""Which plain scalars YAML 1.1 readers take for something other than a string.

Kubernetes' readers (go-yaml v2, sigs.k8s.io/yaml) and PyYAML speak YAML 1.1, where ``yes``, ``0644`` and
``12:30:00`` are a boolean and numbers; ruamel.yaml speaks 1.2 and would write such strings plain. Kept
apart from :mod:`.yamlio` so that the paths which never load ruamel.yaml (:mod:`.textpatch`) can ask too.
"""

from __future__ import annotations

import functools
import re

__all__ = ["needs_quotes"]

_YAML11_SPECIAL = re.compile(
    r"""^(?:[yYnN~]|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL
    |[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    |[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+]?[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+
    |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?|=|<<)$""",
    re.VERBOSE,
)
"""Plain scalars a YAML 1.1 reader (go-yaml v2, sigs.k8s.io/yaml, PyYAML) would not read as a string."""


@functools.lru_cache(maxsize=4096)
def needs_quotes(text: str) -> bool:
    """Whether ``text`` written plain would be read back as something other than this string.

    Cached: writing 200 changed items asks this 61,000 times of some 400 strings (the keys and values every
    expanded pod gets), 43 ms of regular expressions uncached."""
    return text == "" or bool(_YAML11_SPECIAL.match(text)) or text != text.strip()
