"""A small fake Kubernetes API server for fault injection, with real "containers" behind it.

It speaks the HTTP the official ``kubernetes`` client speaks -- JSON
objects, label-selected lists, chunked watch streams from a
``resourceVersion``, ``Status`` errors, the pod ``attach`` websocket with
the ``v4.channel.k8s.io`` channel protocol -- for ConfigMaps, Jobs, Pods and
Events in namespaces. Behind it, a fake job controller and kubelet: creating
a Job creates its pod, and the pod's container *really runs* as a local
process (the command from the pod template, with volume mount paths mapped
to temporary directories: a ConfigMap volume holds the ConfigMap's files, an
emptyDir is an empty directory, the termination-message path is a file).
Attaching connects the websocket to that process's stdin and stdout;
``stdinOnce`` is honoured (stdin closes when the attach ends). Deleting a
Job with Background or Foreground propagation stops its pods (SIGTERM, then
SIGKILL after the grace period); ``ttlSecondsAfterFinished`` and
``activeDeadlineSeconds`` are enforced. :meth:`FakeCluster.evict` does what
the Eviction API does (the ``DisruptionTarget`` condition, then the pod's
deletion), and the fake job controller then honours a ``podFailurePolicy``
that ignores disruptions by making a new pod, as the real one does.

Faults are injected per request (:meth:`FakeCluster.inject`): an HTTP error
status (410, 429, 500, 403...), a watch that sends an ``ERROR`` 410 event, or a
watch that drops its connection in the middle of a chunk. Every request is
recorded (:attr:`FakeCluster.requests`) so tests can see what the client did.

This is a fault-injection harness, not a conformance suite: no auth, no
field validation, merge semantics only where the client needs them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import hashlib
import http.server
import json
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MISSING_IMAGE_PREFIX = "missing.invalid/"
"""Images named so fail to pull (``ErrImagePull``); any other image "runs" the command locally."""
NO_SANDBOX_IMAGE_PREFIX = "nosandbox.invalid/"
"""Pods with images named so never get a sandbox: ``ContainerCreating`` for ever, a ``FailedCreatePodSandBox``
event whose count grows every second (what a node whose runtime is broken does)."""
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_ROUTES = [
    (
        re.compile(
            r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>configmaps|pods|events)(?:/(?P<name>[^/]+))?(?:/(?P<sub>attach|log|status))?$"
        ),
        "",
    ),
    (
        re.compile(
            r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/(?P<res>jobs)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
        ),
        "batch",
    ),
]


@dataclasses.dataclass
class Fault:
    method: str
    path: str
    """Regular expression matched against the path (``re.search``)."""
    kind: str
    """``status`` (answer ``status``), ``gone-event`` (watch: an ERROR 410 event), ``drop`` (watch: cut mid-chunk)."""
    status: int = 500
    watch: bool | None = None
    """Only watch requests (True), only non-watch requests (False), or both (None)."""
    times: int | None = 1
    """How many requests it hits; ``None``: all of them."""
    after_events: int = 0
    """For ``drop`` and ``gone-event``: how many events to send first."""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    hits: int = 0


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any = None


@dataclasses.dataclass
class Container:
    """A pod's main container: a local process."""

    process: subprocess.Popen[bytes]
    root: Path
    termination_log: Path
    log: bytearray = dataclasses.field(default_factory=bytearray)
    attached: Any = None
    stdin_open: bool = True
    ever_attached: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    done: threading.Event = dataclasses.field(default_factory=threading.Event)


def _status(code: int, message: str, reason: str = "", details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason
        or {
            403: "Forbidden",
            404: "NotFound",
            409: "AlreadyExists",
            410: "Expired",
            429: "TooManyRequests",
            500: "InternalError",
        }.get(code, "Unknown"),
        "details": details or {},
        "code": code,
    }


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeCluster:
    """The API server's state, its controllers, and the HTTP server in front of them."""

    def __init__(
        self, workdir: Path, *, node: str = "fake-node", start_delay: float = 0.2, python: str = sys.executable
    ) -> None:
        self.workdir = workdir
        self.node = node
        self.start_delay = start_delay
        self.python = python
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pod_events: list[tuple[int, str, dict[str, Any]]] = []
        self.compacted_below = 0
        self.faults: list[Fault] = []
        self.forbidden: set[tuple[str, str]] = set()
        self.requests: list[Request] = []
        self.containers: dict[tuple[str, str], Container] = {}
        self.disrupted: set[tuple[str, str]] = set()
        self.server: http.server.ThreadingHTTPServer | None = None
        self._timers: list[threading.Timer] = []
        self.closed = False

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, namespace: str = "default") -> Path:
        path = self.workdir / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}
                    ],
                }
            )
        )
        return path

    def start(self) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.closed = True
        with self.changed:
            self.changed.notify_all()
        for timer in self._timers:
            timer.cancel()
        for container in list(self.containers.values()):
            _kill_group(container.process, signal.SIGKILL)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _later(self, delay: float, fn: Any, *args: Any) -> None:
        timer = threading.Timer(delay, fn, args=args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    # -- faults ----------------------------------------------------------------------------------

    def inject(self, method: str, path: str, kind: str = "status", **kw: Any) -> Fault:
        fault = Fault(method, path, kind, **kw)
        self.faults.append(fault)
        return fault

    def forbid(self, verb: str, resource: str) -> None:
        """Answer 403 to ``verb`` on ``resource`` (``jobs``, ``pods/attach``...) like RBAC does."""
        self.forbidden.add((verb, resource))

    def take_fault(self, method: str, path: str, watch: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method != method or not re.search(fault.path, path):
                    continue
                if fault.watch is not None and fault.watch != watch:
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                fault.hits += 1
                return fault
        return None

    # -- objects ---------------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def store(self, kind: str, ns: str, obj: dict[str, Any], event: str) -> dict[str, Any]:
        """Create or replace ``obj`` (a new resourceVersion) and tell watchers."""
        with self.changed:
            meta = obj.setdefault("metadata", {})
            meta["namespace"] = ns
            meta["resourceVersion"] = self._next_rv()
            meta.setdefault("uid", secrets.token_hex(8))
            meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self.objects[(kind, ns, meta["name"])] = obj
            if kind == "pods":
                self.pod_events.append((self.rv, event, copy.deepcopy(obj)))
            self.changed.notify_all()
            return obj

    def remove(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.changed:
            obj = self.objects.pop((kind, ns, name), None)
            if obj is not None and kind == "pods":
                obj = copy.deepcopy(obj)
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self.pod_events.append((self.rv, "DELETED", obj))
            self.changed.notify_all()
            return obj

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def items(self, kind: str, ns: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for (k, n, _), o in sorted(self.objects.items()) if k == kind and ns in (None, n)]

    def compact(self) -> None:
        """Forget the watch history (the next watch from an old version gets 410 Gone), as etcd compaction does."""
        with self.lock:
            self.compacted_below = self.rv + 1

    # -- the fake job controller and kubelet -----------------------------------------------------

    def create_job(self, ns: str, job: dict[str, Any]) -> dict[str, Any]:
        job.setdefault("status", {})
        job = self.store("jobs", ns, job, "ADDED")
        self._create_pod(ns, job)
        deadline = job["spec"].get("activeDeadlineSeconds")
        if deadline:
            self._later(float(deadline), self._deadline, ns, job["metadata"]["name"])
        return job

    def _create_pod(self, ns: str, job: dict[str, Any]) -> None:
        job_name = job["metadata"]["name"]
        template = copy.deepcopy(job["spec"]["template"])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job_name}-{secrets.token_hex(3)[:5]}",
                "labels": {**template.get("metadata", {}).get("labels", {}), "job-name": job_name},
                "ownerReferences": [{"kind": "Job", "name": job_name, "uid": job["metadata"]["uid"]}],
            },
            "spec": {**template["spec"], "nodeName": self.node},
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [
                    {"name": c["name"], "state": {"waiting": {"reason": "ContainerCreating"}}}
                    for c in template["spec"]["containers"]
                ],
            },
        }
        pod = self.store("pods", ns, pod, "ADDED")
        self._later(self.start_delay, self._start_container, ns, pod["metadata"]["name"], job_name)

    def evict(self, ns: str, pod_name: str, *, vanish: bool = False) -> None:
        """The Eviction API: mark the pod ``DisruptionTarget``, then delete it (SIGTERM, grace, SIGKILL).

        ``vanish``: the pod object is gone at once, before its process has even stopped (a client reading it
        gets 404), as when the kubelet and the Job controller finish with it before the client looks.
        """
        with self.changed:
            pod = self.objects[("pods", ns, pod_name)]
            pod["status"].setdefault("conditions", []).append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                }
            )
            self.disrupted.add((ns, pod_name))
            self.store("pods", ns, pod, "MODIFIED")
        if vanish:
            self.remove("pods", ns, pod_name)
        threading.Thread(target=self._stop_pod, args=(ns, pod_name), daemon=True).start()

    def _ignores_disruption(self, ns: str, pod_name: str, job: dict[str, Any]) -> bool:
        rules = (job["spec"].get("podFailurePolicy") or {}).get("rules") or []
        return (ns, pod_name) in self.disrupted and any(
            rule.get("action") == "Ignore"
            and any(c.get("type") == "DisruptionTarget" for c in rule.get("onPodConditions") or [])
            for rule in rules
        )

    def _start_container(self, ns: str, pod_name: str, job_name: str) -> None:
        pod = self.get("pods", ns, pod_name)
        if pod is None or self.closed:
            return
        spec = pod["spec"]
        container = spec["containers"][0]
        if container["image"].startswith(MISSING_IMAGE_PREFIX):
            self._fail_start(ns, pod_name, "ErrImagePull", f'failed to pull image "{container["image"]}": not found')
            return
        if container["image"].startswith(NO_SANDBOX_IMAGE_PREFIX):
            self._sandbox_failure(ns, pod_name, 1)
            return
        root = Path(tempfile.mkdtemp(prefix=f"{pod_name}.", dir=self.workdir))
        mapping: dict[str, str] = {}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            local = root / "volumes" / mount["name"]
            local.mkdir(parents=True)
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                cm = self.get("configmaps", ns, volume["configMap"]["name"])
                if cm is None:
                    self._fail_start(
                        ns,
                        pod_name,
                        "CreateContainerConfigError",
                        f"configmap {volume['configMap']['name']!r} not found",
                    )
                    return
                for key, data in (cm.get("binaryData") or {}).items():
                    (local / key).write_bytes(base64.b64decode(data))
                for key, text in (cm.get("data") or {}).items():
                    (local / key).write_text(text)
            mapping[mount["mountPath"]] = str(local)
        termination = root / "termination-log"
        termination.touch()
        mapping[container.get("terminationMessagePath", "/dev/termination-log")] = str(termination)

        def local_path(arg: str) -> str:
            for inside, outside in sorted(mapping.items(), key=lambda item: -len(item[0])):
                if arg == inside or arg.startswith(inside + "/"):
                    return outside + arg[len(inside) :]
            return arg

        argv = [local_path(a) for a in container["command"] + container.get("args", [])]
        if argv[0] in ("python3", "python"):
            argv[0] = self.python
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": pod_name}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
                env[item["name"]] = self.node
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=root,
            start_new_session=True,
        )
        running = Container(process, root, termination)
        self.containers[(ns, pod_name)] = running
        threading.Thread(target=self._pump, args=(running, process.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(running, process.stderr, False), daemon=True).start()
        threading.Thread(
            target=self._await_exit, args=(ns, pod_name, job_name, running, container), daemon=True
        ).start()
        with self.changed:
            pod = self.objects.get(("pods", ns, pod_name))
            if pod is None:
                return
            pod["status"]["phase"] = "Running"
            pod["status"]["containerStatuses"] = [
                {"name": container["name"], "ready": True, "state": {"running": {"startedAt": "now"}}}
            ]
            self.store("pods", ns, pod, "MODIFIED")

    def _sandbox_failure(self, ns: str, pod_name: str, count: int) -> None:
        if self.closed or self.get("pods", ns, pod_name) is None:
            return
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod_name}.sandbox", "namespace": ns},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": ns},
            "reason": "FailedCreatePodSandBox",
            "type": "Warning",
            "count": count,
            "message": "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create"
            " containerd task: can't get final child's PID from pipe: EOF",
        }
        self.store("events", ns, event, "MODIFIED" if count > 1 else "ADDED")
        self._later(1.0, self._sandbox_failure, ns, pod_name, count + 1)

    def _fail_start(self, ns: str, pod_name: str, reason: str, message: str) -> None:
        with self.changed:
            pod = self.objects.get(("pods", ns, pod_name))
            if pod is not None:
                pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": reason, "message": message}}
                self.store("pods", ns, pod, "MODIFIED")

    def _pump(self, container: Container, stream: Any, to_attach: bool) -> None:
        fd = stream.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                return
            with container.lock:
                container.log += data
                if to_attach and container.attached is not None:
                    try:
                        container.attached.send(1, data)
                    except OSError:
                        container.attached = None

    def _await_exit(self, ns: str, pod_name: str, job_name: str, running: Container, spec: dict[str, Any]) -> None:
        code = running.process.wait()
        time.sleep(0.05)  # let the pumps drain
        message = running.termination_log.read_text(errors="replace")
        if not message and code != 0 and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = running.log[-2048:].decode("utf-8", "replace")
        with running.lock:
            if running.attached is not None:
                running.attached.close()
                running.attached = None
        running.done.set()
        reason = "Completed" if code == 0 else "Error"
        if code < 0:
            code = 128 - code
        with self.changed:
            pod = self.objects.get(("pods", ns, pod_name))
            if pod is not None:
                pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
                pod["status"]["containerStatuses"] = [
                    {
                        "name": spec["name"],
                        "ready": False,
                        "state": {"terminated": {"exitCode": code, "reason": reason, "message": message}},
                    }
                ]
                self.store("pods", ns, pod, "MODIFIED")
            job = self.objects.get(("jobs", ns, job_name))
            if job is not None and self._ignores_disruption(ns, pod_name, job):
                self._create_pod(ns, job)  # an ignored failure: not counted, the pod replaced
            elif job is not None and not job.get("status", {}).get("conditions"):
                kind = "Complete" if code == 0 else "Failed"
                job["status"] = {
                    "conditions": [{"type": kind, "status": "True", "reason": reason}],
                    "succeeded" if code == 0 else "failed": 1,
                }
                self.store("jobs", ns, job, "MODIFIED")
                ttl = job["spec"].get("ttlSecondsAfterFinished")
                if ttl is not None:
                    self._later(float(ttl), self.delete_job, ns, job_name, "Background")

    def _deadline(self, ns: str, job_name: str) -> None:
        job = self.get("jobs", ns, job_name)
        if job is None or job.get("status", {}).get("conditions"):
            return
        with self.changed:
            stored = self.objects.get(("jobs", ns, job_name))
            if stored is not None:
                stored["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}
                self.store("jobs", ns, stored, "MODIFIED")
        for pod in self.items("pods", ns):
            if pod["metadata"]["labels"].get("job-name") == job_name:
                self._stop_pod(ns, pod["metadata"]["name"], delete=False)

    def delete_job(self, ns: str, name: str, propagation: str | None) -> dict[str, Any] | None:
        job = self.remove("jobs", ns, name)
        if job is None:
            return None
        if propagation in ("Background", "Foreground"):
            for pod in self.items("pods", ns):
                if pod["metadata"]["labels"].get("job-name") == name:
                    threading.Thread(target=self._stop_pod, args=(ns, pod["metadata"]["name"]), daemon=True).start()
        return job

    def _stop_pod(self, ns: str, pod_name: str, delete: bool = True) -> None:
        pod = self.get("pods", ns, pod_name)
        container = self.containers.get((ns, pod_name))
        if container is not None and container.process.poll() is None:
            grace = float((pod or {}).get("spec", {}).get("terminationGracePeriodSeconds", 30))
            _kill_group(container.process, signal.SIGTERM, leader_only=True)
            if not container.done.wait(grace):
                _kill_group(container.process, signal.SIGKILL)
                container.done.wait(10)
        if delete:
            self.remove("pods", ns, pod_name)

    def live_processes(self) -> list[int]:
        return [c.process.pid for c in self.containers.values() if c.process.poll() is None]


class _QuietServer(http.server.ThreadingHTTPServer):
    """Clients hanging up (a dropped watch, a killed client) are part of the tests, not errors to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _kill_group(process: subprocess.Popen[bytes], signum: int, leader_only: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if leader_only:
            process.send_signal(signum)  # the runtime signals the container's pid 1
        else:
            os.killpg(process.pid, signum)


# -- websocket (RFC 6455), server side ---------------------------------------------------------------


class WebSocketChannel:
    """The server end of a k8s channel websocket: ``send(channel, data)``, frames read by the handler."""

    def __init__(self, sock: socket.socket, rfile: Any) -> None:
        self.sock = sock
        self.rfile = rfile
        self.lock = threading.Lock()
        self.closed = False

    def _frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 1 << 16:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with self.lock:
            if self.closed:
                raise OSError("closed")
            self.sock.sendall(header + payload)

    def send(self, channel: int, data: bytes) -> None:
        self._frame(0x2, bytes([channel]) + data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._frame(0x8, struct.pack("!H", 1000))
        self.closed = True

    def read(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next message, ``None`` when the peer is gone."""
        try:
            head = self.rfile.read(2)
            if len(head) < 2:
                return None
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytearray(self.rfile.read(length))
            if len(payload) < length:
                return None
            for i in range(length):
                payload[i] ^= mask[i % 4]
            return opcode, bytes(payload)
        except (OSError, struct.error):
            return None


# -- HTTP ------------------------------------------------------------------------------------------


def _handler_for(cluster: FakeCluster) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            return json.loads(data) if data else None

        def _send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            body = self._body() if method in ("POST", "DELETE") else None
            cluster.requests.append(Request(method, parts.path, query, body))
            watch = query.get("watch", [""])[0] in ("true", "1")
            routed = next(((m, group) for pattern, group in _ROUTES if (m := pattern.match(parts.path))), None)
            if routed is None:
                self._send_json(404, _status(404, f"the server could not find the requested resource {parts.path}"))
                return
            match, group = routed
            ns, res, name, sub = match["ns"], match["res"], match["name"], match["sub"]
            resource = f"{res}/{sub}" if sub and sub != "status" else res
            verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create", "DELETE": "delete"}[
                method
            ]
            if sub == "attach":
                verb = (
                    "create"
                    if (verb, resource) not in cluster.forbidden and ("get", resource) not in cluster.forbidden
                    else "get"
                )
            if (verb, resource) in cluster.forbidden:
                who = f"{res}.{group}" if group else res
                self._send_json(
                    403,
                    _status(
                        403,
                        f'{who} is forbidden: User "tester" cannot {verb} resource'
                        f' "{resource}" in API group "{group}" in the namespace "{ns}"',
                        details={"group": group, "kind": res},
                    ),
                )
                return
            fault = cluster.take_fault(method, parts.path, watch)
            if fault is not None and fault.kind == "status":
                self._send_json(fault.status, _status(fault.status, f"injected {fault.status}"), fault.headers)
                return
            if sub == "attach":
                self._attach(ns, name)
            elif watch:
                self._watch(ns, query, fault)
            elif method == "GET" and sub == "log":
                self._log(ns, name)
            elif method == "GET" and name:
                obj = cluster.get(res, ns, name)
                if obj is None:
                    self._send_json(404, _status(404, f'{res} "{name}" not found'))
                else:
                    self._send_json(200, obj)
            elif method == "GET":
                selector = query.get("labelSelector", [""])[0]
                field = query.get("fieldSelector", [""])[0]
                items = [o for o in cluster.items(res, ns) if _matches(o["metadata"].get("labels", {}), selector)]
                if field.startswith("involvedObject.name="):
                    wanted = field.split("=", 1)[1]
                    items = [o for o in items if o.get("involvedObject", {}).get("name") == wanted]
                self._send_json(
                    200,
                    {
                        "kind": "List",
                        "apiVersion": "v1",
                        "items": items,
                        "metadata": {"resourceVersion": str(cluster.rv)},
                    },
                )
            elif method == "POST":
                self._create(ns, res, body or {})
            elif method == "DELETE":
                propagation = (body or {}).get("propagationPolicy") or query.get("propagationPolicy", [None])[0]
                obj = cluster.delete_job(ns, name, propagation) if res == "jobs" else cluster.remove(res, ns, name)
                if obj is None:
                    self._send_json(404, _status(404, f'{res} "{name}" not found'))
                else:
                    self._send_json(200, obj)

        def _create(self, ns: str, res: str, obj: dict[str, Any]) -> None:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
            if cluster.get(res, ns, meta["name"]) is not None:
                self._send_json(409, _status(409, f'{res} "{meta["name"]}" already exists'))
                return
            created = cluster.create_job(ns, obj) if res == "jobs" else cluster.store(res, ns, obj, "ADDED")
            self._send_json(201, created)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _watch(self, ns: str, query: dict[str, list[str]], fault: Fault | None) -> None:
            selector = query.get("labelSelector", [""])[0]
            since = int(query.get("resourceVersion", ["0"])[0] or 0)
            timeout = float(query.get("timeoutSeconds", ["60"])[0])
            if since and since < cluster.compacted_below:
                self._send_json(410, _status(410, f"too old resource version: {since} ({cluster.compacted_below})"))
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            until = time.monotonic() + timeout
            cursor = since
            try:
                if fault is not None and fault.after_events == 0 and self._break_watch(fault, None):
                    return
                while not cluster.closed:
                    with cluster.changed:
                        pending = [
                            (rv, kind, obj)
                            for rv, kind, obj in cluster.pod_events
                            if rv > cursor
                            and obj["metadata"]["namespace"] == ns
                            and _matches(obj["metadata"].get("labels", {}), selector)
                        ]
                        if not pending:
                            left = until - time.monotonic()
                            if left <= 0:
                                break
                            cluster.changed.wait(min(left, 0.5))
                            continue
                    for rv, kind, obj in pending:
                        cursor = rv
                        if fault is not None and sent >= fault.after_events and self._break_watch(fault, (kind, obj)):
                            return
                        self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                        sent += 1
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True

        def _break_watch(self, fault: Fault, event: tuple[str, Any] | None) -> bool:
            """Carry out a watch fault; True when the response is over."""
            if fault.kind == "gone-event":
                self._chunk(
                    json.dumps({"type": "ERROR", "object": _status(410, "too old resource version")}).encode() + b"\n"
                )
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return True
            if fault.kind == "drop":
                kind, obj = event or ("ADDED", {"metadata": {"name": "half", "resourceVersion": "1"}})
                line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line[: len(line) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return True
            return False

        def _log(self, ns: str, name: str) -> None:
            container = cluster.containers.get((ns, name))
            data = bytes(container.log) if container is not None else b""
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _attach(self, ns: str, name: str) -> None:
            container = cluster.containers.get((ns, name))
            key = self.headers.get("Sec-WebSocket-Key")
            if container is None or key is None or container.ever_attached:
                self._send_json(400, _status(400, f"pod {name} has no running container to attach to"))
                return
            offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            if "v4.channel.k8s.io" in offered:
                self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
            self.end_headers()
            self.wfile.flush()
            channel = WebSocketChannel(self.connection, self.rfile)
            with container.lock:
                container.ever_attached = True
                if container.done.is_set():
                    channel.close()
                    return
                container.attached = channel
            stdin = container.process.stdin
            assert stdin is not None
            while True:
                message = channel.read()
                if message is None or message[0] == 0x8:
                    break
                opcode, payload = message
                if opcode == 0x9:
                    with contextlib.suppress(OSError):
                        channel._frame(0xA, payload)
                    continue
                if opcode in (0x1, 0x2) and payload and payload[0] == 0:
                    with contextlib.suppress(OSError):
                        stdin.write(payload[1:])
                        stdin.flush()
            with container.lock:
                container.attached = None
            with contextlib.suppress(OSError):
                stdin.close()  # stdinOnce: the container's stdin closes with the first attach
            channel.close()
            self.close_connection = True

    return Handler


@contextlib.contextmanager
def fake_cluster(workdir: Path, **kw: Any) -> Iterator[FakeCluster]:
    cluster = FakeCluster(workdir, **kw)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
