"""``resolve``: manifests in files, folders, stdin or URLs in; one stream ready for ``kubectl apply`` out.

The expansion is the function's own (:class:`r2k8s.krm.function.Processor`), run once over the sources
joined into one plain stream (:mod:`.stream`), told where each resource came from (:mod:`r2k8s.krm.sourced`):
a relative formula path starts at the folder of the file naming it and must stay inside the root
(:mod:`.root`), messages name that file, and each expanded pod template gets the record
(:mod:`.record`). Everything else is the function's: the errors (file, resource, field), the agent
ConfigMap (one per namespace, across all files), Formula resources found by ``formula:NAME`` in any
source and left out of the stream, documents it does not change copied byte for byte.

A relative formula path in a manifest read from a URL is refused rather than fetched next to it: a
formula decides what runs, so it comes from files the user has, or from a Formula resource, whose content
is in the manifest stream itself (:data:`URL_REFUSAL`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.krm.config import API_VERSION, KIND
from r2k8s.krm.formula_items import LOCAL_CONFIG
from r2k8s.krm.manifests import Source
from r2k8s.krm.resource_list import annotations_of
from r2k8s.krm.results import Results
from r2k8s.krm.sourced import ItemSource, Sourcing
from r2k8s.resolve.record import recorder
from r2k8s.resolve.root import choose_root
from r2k8s.resolve.sources import read_sources
from r2k8s.resolve.stream import join

__all__ = ["URL_REFUSAL", "ResolveFailed", "Resolved", "resolve", "resolve_files"]

URL_REFUSAL = (
    "this manifest was read from {url}, and a relative formula path is not fetched from next to it: a formula"
    " decides what runs, so r2k8s reads it from files you have; download the package and resolve its files, or"
    " name a Formula resource (image: formula:NAME; 'r2k8s formula-resource' writes one), which any source,"
    " that URL too, may carry"
)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What a resolve gives: the stream, and the same documents as plain data (for a lock file)."""

    text: str
    """The multi-document YAML stream, for ``kubectl apply -f -``."""
    root: Path
    sources: tuple[str, ...]
    """The inputs read, as named in messages (files, ``stdin``, URLs), in order."""
    results: Results
    """Warnings and the summary of what changed (no errors: those raise :class:`ResolveFailed`)."""
    read: int
    """How many resources the sources held."""

    @functools.cached_property
    def documents(self) -> tuple[Any, ...]:
        """Each document of :attr:`text`, in order, as plain data (dicts, lists, strings, numbers); read on first
        use (the stream's agent ConfigMaps alone are megabytes: the command line never needs them)."""
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return tuple(d for d in yaml.load_all(self.text, Loader=loader) if d is not None)


class ResolveFailed(R2k8sError):
    """The function refused the input: every problem is in :attr:`results` (file, resource, field)."""

    def __init__(self, results: Results) -> None:
        super().__init__(Category.USAGE, "; ".join(results.messages()))
        self.results = results


def resolve(
    given: Sequence[str],
    *,
    recursive: bool = False,
    root: Path | None = None,
    config: Any = None,
    config_file: Path | None = None,
    record: bool = True,
) -> Resolved:
    """Resolve the files, folders, ``-`` and URLs ``given`` (``-R``: ``recursive``); ``root`` overrides the
    chosen one (:mod:`.root`); ``config`` is a function config document (``config_file``: its file, for the
    record); without ``record``, no ``r2k8s.io/formula-origins``."""
    files = read_sources(given, recursive=recursive)
    chosen = Path(root).absolute() if root is not None else choose_root(given)
    return resolve_files(files, chosen, config=config, config_file=config_file, record=record)


def resolve_files(
    files: Sequence[Source],
    root: Path,
    *,
    config: Any = None,
    config_file: Path | None = None,
    record: bool = True,
) -> Resolved:
    """Resolve sources already read (:func:`~.sources.read_sources`) under ``root``."""
    from r2k8s.krm.function import Processor

    joined = join(files)
    if not joined.files:
        names = ", ".join(file.name for file in files)
        raise R2k8sError(Category.USAGE, f"no resources in {names}: refusing to print nothing")
    items = [
        ItemSource(file.name, file.path, URL_REFUSAL.format(url=file.url) if file.url else "") for file in joined.files
    ]
    configs = [index for index, document in enumerate(joined.documents) if _is_function_config(document)]
    if config is None and configs:
        if len(configs) > 1:
            shown = " and ".join(joined.files[index].name for index in configs[:2])
            raise R2k8sError(
                Category.USAGE, f"two function configs (kind R2k8sFunction) among the sources, in {shown}: keep one"
            )
        config, config_file = joined.documents[configs[0]], joined.files[configs[0]].path
    left_out = frozenset(configs) | {i for i, d in enumerate(joined.documents) if _local_config(d)}
    if len(left_out) == len(joined.documents):
        raise R2k8sError(
            Category.USAGE,
            f"nothing to apply in {', '.join(file.name for file in files)}: every resource is local config (a"
            " Kptfile, a function config, a config.kubernetes.io/local-config resource): refusing to print nothing",
        )
    sourcing = Sourcing(items, root, recorder(root, joined.files, config_file) if record else None, left_out)
    outcome = Processor(config_override=config, origin=files[0].name, sourcing=sourcing).execute(joined.text)
    if outcome.exit_code:
        raise ResolveFailed(outcome.results)
    read = tuple(file.name for file in files)
    return Resolved(outcome.output, root, read, outcome.results, len(joined.documents))


def _is_function_config(document: Mapping[str, Any]) -> bool:
    return document.get("kind") == KIND and document.get("apiVersion") == API_VERSION


def _local_config(document: Mapping[str, Any]) -> bool:
    """What never goes to a cluster: a Kptfile, or a resource marked ``config.kubernetes.io/local-config`` (as
    kustomize leaves them out of its build; a Formula is one)."""
    return document.get("kind") == "Kptfile" or str(annotations_of(document).get(LOCAL_CONFIG, "")).lower() == "true"
