"""What the KRM function hands the service agent in a pod: one formula to fetch and run as a service.

The function has already loaded and validated the formula file (YAML,
legacy formats, positions in errors: none of that is needed in the pod), so
the pod gets the parsed formula in repeatr's JSON shape (the same encoding
as :mod:`r2k8s.core.formula.document`, which round-trips the formula ID) plus:

* ``formulaID``, computed by the function (legacy formulas need the legacy
  document for it);
* ``context``: the fetch URLs the *pod* uses, after the function config's
  mirrors and rewrites;
* ``argv``: the container's own ``command``/``args`` when the user wrote
  them, which replace the formula's ``exec`` as ``command`` replaces an
  image's entrypoint (``None``: run the formula's ``exec``);
* ``cwd``: the container's ``workingDir``, which replaces the formula's cwd;
* ``keepEnv``/``dropEnv``: which variables of the container's environment the
  action inherits (see :func:`action_environment`);
* ``cache``: where the ware cache volume is mounted.

It travels as compact JSON in the ``R2K8S_FORMULA`` variable of the
containers. Standard library only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from r2k8s.core.agent.contract import AGENT_ENV_PREFIX, CACHE_DIR, PROTOCOL_VERSION, SERVICE_SPEC_ENV
from r2k8s.core.agent.spec import FormulaSpec, read_spec
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.document import context_document, formula_document

__all__ = ["ServiceSpec", "action_environment"]


def _spec_error(message: str) -> R2k8sError:
    return R2k8sError(Category.USAGE, f"r2k8s agent: invalid formula spec in ${SERVICE_SPEC_ENV}: {message}")


@dataclasses.dataclass(frozen=True)
class ServiceSpec(FormulaSpec):
    argv: tuple[str, ...] | None = None
    cwd: str | None = None
    keep_env: tuple[str, ...] = ()
    drop_env: tuple[str, ...] = ()
    cache: str = CACHE_DIR

    def to_json(self) -> str:
        doc: dict[str, object] = {
            "version": PROTOCOL_VERSION,
            "formulaID": self.formula_id,
            "formula": formula_document(self.formula),
            "context": context_document(self.context),
        }
        if self.legacy_inputs:
            doc["legacyInputs"] = list(self.legacy_inputs)
        if self.argv is not None:
            doc["argv"] = list(self.argv)
        if self.cwd is not None:
            doc["cwd"] = self.cwd
        doc["keepEnv"] = list(self.keep_env)
        doc["dropEnv"] = list(self.drop_env)
        doc["cache"] = self.cache
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ServiceSpec:
        return read_spec(text, _spec_error, "the manifests", cls._from_document)

    @classmethod
    def _from_document(cls, doc: dict[str, Any]) -> ServiceSpec:
        argv = doc.get("argv")
        return cls(
            *cls.formula_fields(doc),
            argv=None if argv is None else tuple(str(a) for a in argv),
            cwd=None if doc.get("cwd") is None else str(doc["cwd"]),
            keep_env=tuple(str(n) for n in doc.get("keepEnv") or ()),
            drop_env=tuple(str(n) for n in doc.get("dropEnv") or ()),
            cache=str(doc.get("cache") or CACHE_DIR),
        )


def action_environment(environ: Mapping[str, str], spec: ServiceSpec) -> dict[str, str]:
    """The action's environment: the container's, minus the agent image's own variables and r2k8s's.

    The container's environment is what Kubernetes built: the formula's env
    and the user's ``env``/``envFrom`` (written into the manifest by the
    function), service links, and the *agent image's* variables
    (``PYTHON_VERSION``, ``GPG_KEY``, ``LANG``…), which mean nothing once the
    image's files are gone. Those are dropped unless the manifest set them
    itself (``keepEnv``); r2k8s's own ``R2K8S_*`` variables always are.
    """
    keep, drop = set(spec.keep_env), set(spec.drop_env)
    return {
        name: value
        for name, value in environ.items()
        if not name.startswith(AGENT_ENV_PREFIX) and (name in keep or name not in drop)
    }
