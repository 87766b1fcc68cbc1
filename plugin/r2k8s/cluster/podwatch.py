"""Follow the build pod through the API server's habits: list, then watch, and start over when told to.

The pattern (reference §2.4): LIST to learn the pods and the collection's
``resourceVersion``; WATCH from it with a server-side timeout; when a watch
ends normally, WATCH again from the last version seen (``BOOKMARK`` events
advance it too); when the server answers **410 Gone** (the version is too
old: etcd compacted it), either as the HTTP status or as an ``ERROR`` event,
LIST again. Requests that fail with 429 or 5xx, connections refused, and
watches that drop mid-stream are retried with backoff by
:meth:`r2k8s.cluster.kube.Kube.call` and here; too many consecutive failures
without a single event in between end it with an error naming the last one.

Pods are handled as plain JSON dicts, as the server sends them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from r2k8s.cluster.kube import RETRIES, Kube, Permission, is_retryable, kube_error, status_of

__all__ = ["PodWatch"]

WATCH_SECONDS = 30
"""Server-side timeout of one watch request; then it is renewed from the last version seen."""

_LIST = Permission("list", "pods")
_WATCH = Permission("watch", "pods")


class _Gone(Exception):
    """The watch's resourceVersion expired: list again."""


class PodWatch:
    """Events about the pods matching ``selector`` in the namespace."""

    def __init__(
        self, kube: Kube, selector: str, log: Callable[[str], None], *, watch_seconds: int = WATCH_SECONDS
    ) -> None:
        self.kube = kube
        self.watch_seconds = watch_seconds
        self.selector = selector
        self.log = log
        self.relists = 0
        self.rewatches = 0

    def _list(self) -> tuple[list[dict[str, Any]], str]:
        doc = self.kube.call_json(
            "list the build pod",
            _LIST,
            self.kube.core.list_namespaced_pod,
            self.kube.namespace,
            label_selector=self.selector,
            _request_timeout=30,
        )
        return list(doc.get("items") or []), str((doc.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> Iterator[dict[str, Any]]:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.watch.watch import iter_resp_lines

        try:
            # Not preloaded: the raw HTTP response (whatever the client's annotations say), read line by line.
            response: Any = self.kube.call(
                "watch the build pod",
                _WATCH,
                self.kube.core.list_namespaced_pod,
                self.kube.namespace,
                label_selector=self.selector,
                watch=True,
                resource_version=version,
                timeout_seconds=self.watch_seconds,
                allow_watch_bookmarks=True,
                _preload_content=False,
                _request_timeout=(15, self.watch_seconds + 30),
            )
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from None
            raise
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]  # kubernetes.watch is unannotated
                if not line.strip():
                    continue
                yield json.loads(line)
        finally:
            response.release_conn()

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(type, pod)`` forever: ``ADDED``/``MODIFIED``/``DELETED``, ``LISTED`` for each pod of a (re)list,
        and ``TICK`` (with an empty dict) each time a watch ends, so the caller can look at the clock."""
        failures = 0
        known: dict[str, dict[str, Any]] = {}
        version = ""
        listed = False
        while True:
            try:
                if not listed:
                    items, version = self._list()
                    current = {pod["metadata"]["name"]: pod for pod in items}
                    for name, pod in known.items():
                        if name not in current:
                            yield "DELETED", pod
                    known = current
                    for pod in items:
                        yield "LISTED", pod
                    listed = True
                for event in self._watch(version):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise _Gone
                        raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    failures = 0
                    if kind == "BOOKMARK":
                        continue
                    name = (obj.get("metadata") or {}).get("name", "")
                    if kind == "DELETED":
                        known.pop(name, None)
                    else:
                        known[name] = obj
                    yield str(kind), obj
                self.rewatches += 1  # the server ended the watch: renew it from the last version
                yield "TICK", {}
            except _Gone:
                self.relists += 1
                self.log("info: the pod watch's resourceVersion expired (410 Gone); listing again")
                listed = False
            except Exception as exc:
                if not (is_retryable(exc) or isinstance(exc, (RuntimeError, ValueError))) or status_of(exc) == 403:
                    raise
                failures += 1
                if failures > RETRIES:
                    raise kube_error(exc, "watch the build pod", _WATCH, self.kube.namespace) from None
                delay = min(0.5 * 2 ** (failures - 1), 8.0)
                self.log(
                    f"warn: the pod watch failed ({type(exc).__name__}: {str(exc)[:160]}); retrying in {delay:g} s"
                )
                self.kube.sleep(delay)
