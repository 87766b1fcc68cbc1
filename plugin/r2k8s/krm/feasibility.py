"""What a formula container's pod cannot do, found at render time instead of in the cluster.

The function expands a formula into a pod whose agent fetches the inputs, places them and runs the action.
Some formulas ask for what that pod cannot give; before this check they were expanded anyway and failed
minutes later in an init container (``Init:Error``), or silently did less than the formula says. Each
finding names the container and the field:

errors (the pod could never run it):

* an input whose packtype the agent does not unpack (it has ``tar``, ``zip`` and ``git``);
* a ``git:`` input that names no full commit hash, or a git remote the agent cannot fetch from
  (``ssh://``, ``git://``, a ``ca+`` warehouse URL): the fetch would refuse it;
* a ``mount:`` input: a host bind mount of the machine running the formula, which a pod has no way to make;
* an input with no warehouse URL after the function config's ``warehouses`` (the agent would have nowhere
  to fetch it from);

warnings (it runs, but not all of the formula happens):

* ``outputs``: a service's action runs for as long as the pod does and its outputs are never packed or
  saved (``r2k8s run`` does that);
* an input that only ``file://``/``ca+file://`` URLs name: the pod reads those paths in its own filesystem
  (a volume may put them there), never on the machine that rendered the manifest; ``warehouses.rewrite``
  maps them to a URL the pod can reach;
* ``action.hostname``: the pod's hostname is its name, which Kubernetes sets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from r2k8s.core.errors import R2k8sError
from r2k8s.core.formula.model import Formula
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import SUPPORTED_PACKTYPES
from r2k8s.core.warehouse.git.remotes import GitRemote, check_commit_ware
from r2k8s.krm.results import Severity

__all__ = ["Finding", "service_findings"]


def _git_problem(ware: WareID, urls: tuple[str, ...]) -> str | None:
    """Why the agent's git fetch would refuse ``ware`` or one of its URLs before reaching any (usage errors)."""
    try:
        check_commit_ware(ware)
        for url in urls:
            GitRemote.parse(url)
    except R2k8sError as exc:
        return exc.message
    return None


_LOCAL_SCHEMES = ("file://", "ca+file://", "file+ca://")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing the pod cannot do, and how bad it is."""

    severity: Severity
    message: str


def service_findings(formula: Formula, fetch_urls: Mapping[str, tuple[str, ...]]) -> Iterator[Finding]:
    """The findings for ``formula`` run by a service pod that fetches input ``path`` from ``fetch_urls[path]``
    (the URLs the pod gets, after the function config)."""
    for path, ware in sorted((formula.inputs or {}).items()):
        if ware.is_mount:
            yield Finding(
                Severity.ERROR,
                f"input {path!r} is a host mount ({ware}): a pod cannot bind-mount the paths of the machine that"
                " runs the formula; give it as a ware, or run the formula with `r2k8s run --local`",
            )
            continue
        if ware.packtype not in SUPPORTED_PACKTYPES:
            yield Finding(
                Severity.ERROR,
                f"input {path!r} ({ware}): the agent cannot unpack packtype {ware.packtype!r} (it unpacks"
                f" {', '.join(SUPPORTED_PACKTYPES)}); the pod would fail in its fetch init container",
            )
            continue
        urls = fetch_urls.get(path, ())
        if ware.packtype == "git":
            problem = _git_problem(ware, urls)
            if problem is not None:
                yield Finding(Severity.ERROR, f"input {path!r} ({ware}): {problem}")
                continue
        if not urls:
            yield Finding(
                Severity.ERROR,
                f"input {path!r} ({ware}) has no warehouse URL: the pod would have nowhere to fetch it from"
                " (give the formula's context.fetchUrls, or warehouses.mirrors/byWare in the function config)",
            )
        elif all(url.startswith(_LOCAL_SCHEMES) for url in urls):
            yield Finding(
                Severity.WARNING,
                f"input {path!r} ({ware}) is fetched only from file URLs ({', '.join(urls)}): the pod looks for"
                " them in its own filesystem, not on this machine; map them to a URL the pod can reach with"
                " warehouses.rewrite in the function config",
            )
    if formula.outputs:
        yield Finding(
            Severity.WARNING,
            f"the formula has outputs ({', '.join(sorted(formula.outputs))}), which a service never packs or saves;"
            " `r2k8s run` runs a formula as a build and saves its outputs",
        )
    if formula.action.hostname:
        yield Finding(
            Severity.WARNING,
            f"action.hostname {formula.action.hostname!r} is not applied: a pod's hostname is its name",
        )
