"""The formula lock: what expanded manifests run, written down so a later expansion can be held to it.

A ``FormulaLock`` (``schemas/formula-lock.schema.json``) is a KRM-style,
local-config document listing, per resource and container, the formula's
origin, its formula ID, every input ware and the warehouses the pod tries.
Entries are sorted by kind, namespace, name and container, keys are written
in one order and nothing in it depends on where the manifests were read
from (no file names, no times): the same manifests give the same bytes, so
a lock is reviewed as a diff and compared in CI.

:func:`lock_differences` is what a CI gate needs: every container whose
formula changed, appeared or went. Warehouse URLs are recorded (``r2k8s
mirror --lock`` copies from them) but a changed URL is no difference: a
mirror or rewrite moves where wares come from, never what runs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.expanded.entries import ExpandedContainer, Origin, ResourceId, WareInput
from r2k8s.expanded.origins import parse_origin

__all__ = [
    "LOCK_API_VERSION",
    "LOCK_KIND",
    "Lock",
    "lock_differences",
    "lock_document",
    "lock_text",
    "read_lock",
    "write_lock",
]

LOCK_API_VERSION = "fn.r2k8s.io/v1alpha1"
LOCK_KIND = "FormulaLock"
LOCK_NAME = "formula-lock"
LOCAL_CONFIG = "config.kubernetes.io/local-config"


@dataclasses.dataclass(frozen=True)
class Lock:
    """A lock as read: its file and its containers (each naming the lock's file and field in messages)."""

    source: str
    containers: tuple[ExpandedContainer, ...]


def _same(one: ExpandedContainer, other: ExpandedContainer) -> bool:
    return (one.formula_id, one.inputs, one.origin, one.legacy) == (
        other.formula_id,
        other.inputs,
        other.origin,
        other.legacy,
    )


def _keyed(entries: Iterable[ExpandedContainer]) -> dict[tuple[ResourceId, str], ExpandedContainer]:
    """Entries by resource and container. The same container twice (a base built into two overlays' output)
    is one entry when it runs the same; running different formulas, it is an error naming both."""
    keyed: dict[tuple[ResourceId, str], ExpandedContainer] = {}
    for entry in entries:
        earlier = keyed.setdefault(entry.key, entry)
        if earlier is not entry and not _same(earlier, entry):
            raise R2k8sError(
                Category.USAGE,
                f"{entry.resource.text()}: container {entry.container!r} is there twice, running formula"
                f" {earlier.formula_id} ({earlier.file}) and {entry.formula_id} ({entry.file}): a lock names each"
                " resource and container once; lock each build apart",
            )
    return keyed


def _locked(entry: ExpandedContainer) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": entry.resource.document(),
        "container": entry.container,
        "formulaID": entry.formula_id,
    }
    if entry.legacy:
        doc["legacy"] = True
    if entry.origin is not None:
        doc["origin"] = entry.origin.document()
    doc["inputs"] = [ware.document() for ware in entry.inputs]
    return doc


def lock_document(entries: Iterable[ExpandedContainer]) -> dict[str, Any]:
    """The ``FormulaLock`` for ``entries``, sorted by kind, namespace, name and container."""
    keyed = _keyed(entries)
    return {
        "apiVersion": LOCK_API_VERSION,
        "kind": LOCK_KIND,
        "metadata": {"name": LOCK_NAME, "annotations": {LOCAL_CONFIG: "true"}},
        "spec": {"containers": [_locked(keyed[key]) for key in sorted(keyed)]},
    }


def lock_text(entries: Iterable[ExpandedContainer]) -> str:
    """The lock as YAML: block style, keys in the document's order, no line folding (deterministic bytes)."""
    import yaml

    return yaml.safe_dump(lock_document(entries), sort_keys=False, width=1 << 16, allow_unicode=False)


def write_lock(path: str | os.PathLike[str], entries: Iterable[ExpandedContainer]) -> None:
    """Write the lock to ``path`` atomically (a reader sees the old lock or the new one, never half of one)."""
    text = lock_text(entries)
    target = Path(path)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, target)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise R2k8sError(Category.INOPERABLE_PATH, f"cannot write the lock {target}: {exc.strerror or exc}") from None


def read_lock(path: str | os.PathLike[str]) -> Lock:
    """The lock at ``path``, checked against ``schemas/formula-lock.schema.json``; every error names the file and
    the field (``formula.lock: spec.containers[0].formulaID: expected a string, got …``)."""
    import yaml

    from r2k8s.formula_files.schemas import schema_problems
    from r2k8s.krm.locate import dotted

    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise R2k8sError(Category.USAGE, f"{name}: cannot read the lock: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise R2k8sError(Category.USAGE, f"{name}: not UTF-8 text (offset {exc.start})") from None
    try:
        documents = [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f": line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise R2k8sError(Category.USAGE, f"{name}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if len(documents) != 1:
        raise R2k8sError(Category.USAGE, f"{name}: a lock is one FormulaLock document, found {len(documents)}")
    (value,) = documents
    problems = schema_problems(value, "formula-lock.schema.json")
    if problems:
        listed = "; ".join(f"{dotted(p.path) or '(the document)'}: {p.message}" for p in problems[:10])
        raise R2k8sError(Category.USAGE, f"{name}: not a valid {LOCK_KIND}: {listed}")
    containers = tuple(_container(doc, name, index) for index, doc in enumerate(value["spec"]["containers"]))
    seen: dict[tuple[ResourceId, str], int] = {}
    for index, entry in enumerate(containers):
        if entry.key in seen:
            raise R2k8sError(
                Category.USAGE,
                f"{name}: spec.containers[{index}]: {entry.resource.text()} container {entry.container!r} is"
                f" already spec.containers[{seen[entry.key]}]",
            )
        seen[entry.key] = index
    return Lock(name, containers)


def _container(doc: Mapping[str, Any], name: str, index: int) -> ExpandedContainer:
    field = f"spec.containers[{index}]"
    resource = doc["resource"]
    origin: Origin | None = None
    if "origin" in doc:
        origin = parse_origin({"formulaID": doc["formulaID"], **doc["origin"]}, f"{name}: {field}.origin")[1]
    inputs = tuple(
        WareInput(str(w["path"]), str(w["ware"]), tuple(w["warehouses"]), bool(w.get("legacy")))
        for w in sorted(doc["inputs"], key=lambda w: str(w["path"]))
    )
    return ExpandedContainer(
        ResourceId(resource["kind"], resource.get("namespace", ""), resource["name"]),
        doc["container"],
        name,
        field,
        doc["formulaID"],
        inputs,
        origin,
        bool(doc.get("legacy")),
    )


def lock_differences(lock: Lock, entries: Sequence[ExpandedContainer]) -> list[str]:
    """Every container whose formula changed, that the lock lacks, or that is gone, one sentence each naming the
    resource, the container and the IDs; empty when the manifests run what the lock says."""
    locked, now = _keyed(lock.containers), _keyed(entries)
    differences = []
    for key in sorted(set(locked) | set(now)):
        old, new = locked.get(key), now.get(key)
        if new is None:
            assert old is not None
            differences.append(
                f"{old.resource.text()}: container {old.container!r}: in the lock ({lock.source}, formula"
                f" {old.formula_id}) but not in the manifests"
            )
        elif old is None:
            differences.append(f"{new.where()}: runs formula {new.formula_id}, which the lock {lock.source} lacks")
        elif old.formula_id != new.formula_id:
            differences.append(
                f"{new.where()}: formula changed: the lock {lock.source} has {old.formula_id}, the manifests run"
                f" {new.formula_id}"
            )
    return differences
