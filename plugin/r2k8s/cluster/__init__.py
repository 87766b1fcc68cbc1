"""``r2k8s run`` on a cluster: the build path.

:mod:`.plan` decides who moves which ware, :mod:`.conversation` talks to the
build agent (:mod:`r2k8s.core.agent.build`) over any byte transport,
:mod:`.manifests` writes the Job, :mod:`.kube` wraps the API (config,
retries, permission errors), :mod:`.podwatch` follows the pod, :mod:`.attach`
is the transport over the pod's attach stream, and :mod:`.run` puts them
together. The ``kubernetes`` package is imported only here, lazily.
"""

__all__: list[str] = []
