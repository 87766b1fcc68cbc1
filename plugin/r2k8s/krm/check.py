"""``r2k8s check``: the formula references left in manifests the function never expanded.

When the function does not run (``kubectl kustomize`` and ``kubectl apply -k``
silently skip exec functions; a pipeline forgets a step), ``image:
./web.formula`` reaches the cluster as an image name nothing can pull, and
the pod waits in ``ErrImagePull`` with no word about why. This finds such
images before ``kubectl apply``, in files, folders or stdin: a ResourceList
(kpt, kustomize), a plain multi-document stream (``kustomize build``, ``helm
template``) or a ``kind: List`` (``kubectl get -o yaml``), YAML or JSON.

It finds containers exactly as the function does (:func:`.locate.find_containers`,
by shape, not by kind), and also every other named ``image`` the function
would refuse to leave as it is (:func:`.locate.images_named`): either would
reach the cluster unexpanded. Inputs are read by :mod:`.manifests`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from r2k8s.core.jsonpath import value_at
from r2k8s.krm.locate import ContainerSite, dotted, find_containers, images_named
from r2k8s.krm.manifests import Source, resources
from r2k8s.krm.references import is_reference
from r2k8s.krm.resource_list import display_file, resource_name

__all__ = ["Finding", "findings"]

_POD_LISTS = {
    "containers": "container",
    "initContainers": "init container",
    "ephemeralContainers": "ephemeral container",
}
_STANDALONE = {
    "container": "container",
    "script": "script",
    "containers": "container",
    "initContainers": "init container",
    "sidecars": "sidecar",
    "steps": "step",
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """An image that is still a formula reference: where it is and what holds it."""

    file: str
    """The file read (``stdin`` for standard input), with the resource's own file after it where an
    orchestrator's annotation names another (kpt's path, kustomize's origin, helm's ``# Source:``)."""
    resource: str
    """``Kind/namespace/name``, as kubectl writes it."""
    field: str
    """The ``image`` field's dotted path: it names the list (``spec.template.spec.initContainers[0].image``)."""
    holder: str
    """What holds the image, in words: ``init container "fetch"``, ``step "build"``."""
    image: str

    def text(self) -> str:
        """``file: Kind/namespace/name: field: what``, the shape of the function's own messages."""
        where = f"{self.file}: {self.resource}: {self.field}"
        return f"{where}: {self.holder} has image {self.image!r}: a formula, not expanded"


def findings(source: Source) -> tuple[int, list[Finding]]:
    """How many resources ``source`` holds, and every image in them that is still a formula reference."""
    count = 0
    found: list[Finding] = []
    for resource, helm_source in resources(source):
        count += 1
        own = display_file(resource, helm_source)
        file = source.name if own in (None, source.name) else f"{source.name} ({own})"
        sites = find_containers(resource)
        for site in sites:
            image = value_at(resource, site.exact).get("image")
            if isinstance(image, str) and is_reference(image):
                found.append(_finding(resource, file, site, image))
        containers = {site.path for site in sites}
        for path in images_named(resource, is_reference):
            if path not in containers:  # the function refuses these: no pod could run them either
                entry = _at(resource, path)
                found.append(
                    Finding(
                        file,
                        resource_name(resource),
                        dotted((*path, "image")),
                        f"{entry.get('name')!r}, which r2k8s does not know as a container,",
                        str(entry.get("image")),
                    )
                )
    return count, found


def _finding(resource: Mapping[str, Any], file: str, site: ContainerSite, image: str) -> Finding:
    container = value_at(resource, site.exact)
    where = site.path[-2] if isinstance(site.path[-1], int) else site.path[-1]
    words = (_POD_LISTS if site.pod_spec is not None else _STANDALONE).get(str(where), "container")
    name = container.get("name")
    holder = f"{words} {name!r}" if isinstance(name, str) else f"an unnamed {words}"
    return Finding(file, resource_name(resource), dotted((*site.path, "image")), holder, image)


def _at(resource: Any, path: tuple[str | int, ...]) -> Mapping[str, Any]:
    """The mapping at ``path``, whose keys :func:`.locate.images_named` wrote as strings (``0:`` is ``"0"``)."""
    node = resource
    for part in path:
        node = node[part] if isinstance(part, int) else next(v for k, v in node.items() if str(k) == part)
    assert isinstance(node, Mapping)  # images_named found a mapping there
    return node
