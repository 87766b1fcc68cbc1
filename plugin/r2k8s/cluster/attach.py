"""The transport to the build agent: the pod's attach stream (stdin in, stdout out) over a websocket.

The container has ``stdinOnce``: its stdin opens with the first attach and
closes when that client disconnects, which is what tells the agent the client
is gone. So there is one attach per run; a handshake that fails before the
stream opens (a 5xx, a refused connection) is retried, a stream that breaks
later is not.

Writes go out in pieces of at most :data:`PIECE` bytes, under a lock held for
the whole of one frame, so the heartbeat thread never splits a ware chunk.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from r2k8s.cluster.kube import Kube, Permission

__all__ = ["AttachTransport", "attach"]

PIECE = 64 * 1024
STDOUT = 1


class AttachTransport:
    """:class:`r2k8s.cluster.conversation.Transport` over a ``kubernetes.stream`` websocket client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        import websocket

        with self._lock:
            if not self.client.is_open():
                raise OSError("the attach stream is closed")
            try:
                for start in range(0, len(data), PIECE):
                    self.client.write_stdin(data[start : start + PIECE])
            except (websocket.WebSocketException, OSError) as exc:
                raise OSError(f"writing to the attach stream failed: {exc}") from None

    def receive(self, timeout: float) -> bytes | None:
        import websocket

        try:
            if not self.client.peek_channel(STDOUT):
                self.client.update(timeout=timeout)
        except (websocket.WebSocketException, OSError, ValueError):
            self.client._connected = False  # treated as the end of the stream below
        data = self.client.read_channel(STDOUT)
        if data:
            return bytes(data)
        if not self.client.is_open():
            return b""
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead websocket may raise anything; it is closed either way
            self.client.close()


def attach(kube: Kube, pod: str, container: str = "main") -> AttachTransport:
    """Attach to ``container``'s stdin and stdout (retried while the handshake fails transiently)."""
    from kubernetes.stream import stream

    def connect() -> Any:
        return stream(
            kube.core.connect_get_namespaced_pod_attach,
            pod,
            kube.namespace,
            container=container,
            stdin=True,
            stdout=True,
            stderr=False,
            tty=False,
            _preload_content=False,
            binary=True,
        )

    client = kube.call(f"attach to pod {pod}", Permission("create", "pods/attach"), connect)
    if hasattr(client, "_all"):
        from kubernetes.stream.ws_client import _IgnoredIO

        client._all = _IgnoredIO()  # the client keeps a copy of all output by default: unbounded memory
    return AttachTransport(client)
