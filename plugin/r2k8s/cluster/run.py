"""``r2k8s run FORMULA`` on a cluster: plan, create the Job, follow its pod, talk to the agent, clean up.

Order of events, and what the user sees on stderr (repeatr's event lines):

1. the formula is loaded and planned (:mod:`.plan`); client-local inputs are
   opened and client-local save warehouses checked, so those failures happen
   before anything exists on the cluster, with a local run's messages and
   exit codes;
2. the agent's ConfigMap is created if this r2k8s version has none yet, then
   the Job (named ``r2k8s-run-<run id>``, so a create retried after a lost
   answer finds its own Job instead of making a second);
3. the pod is followed (:mod:`.podwatch`) until its container runs; an image
   that cannot be pulled, a pod the cluster refuses to create (e.g. Pod
   Security admission) or a failed Job end the run with the cluster's reason;
4. the client attaches and the conversation runs (:mod:`.conversation`);
5. if the cluster takes the pod away (a drain's eviction, preemption: the pod
   has the ``DisruptionTarget`` condition), the Job's ``podFailurePolicy``
   replaces it; the client waits for the new pod, opens its client-local
   inputs again and starts the conversation over, so the run record is the
   new pod's (and there is only one);
6. whatever happened -- success, failure, Ctrl-C, SIGTERM, SIGHUP, the
   ``--timeout`` -- the Job is deleted with ``propagationPolicy: Background``
   before exiting. If the client is killed outright the agent notices the
   closed stdin (or the missing heartbeats) and stops, and the Job's
   ``ttlSecondsAfterFinished`` removes the rest.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path
from typing import Any

from r2k8s.cluster.conversation import ConnectionLost, Conversation, close_all, open_inputs, read_result_message
from r2k8s.cluster.disruption import disruption_of, replacement_wait
from r2k8s.cluster.kube import Kube, Permission, connect
from r2k8s.cluster.manifests import CONTAINER, RUN_ID_LABEL, job_manifest
from r2k8s.cluster.plan import Plan, plan_run
from r2k8s.cluster.pod_settings import PodSettings
from r2k8s.cluster.podwatch import PodWatch
from r2k8s.core.agent.contract import DEFAULT_IMAGE
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.run.job import Monitor
from r2k8s.core.run.record import RunRecord, new_guid, to_json

__all__ = ["ClusterOptions", "job_body", "run_on_cluster"]

DEFAULT_TIMEOUT = 3600
DEFAULT_TTL = 60
HEARTBEAT_TIMEOUT = 20.0
FINAL_STATE_WAIT = 30.0
"""How long to wait for the pod's termination message when the stream broke before the result."""
STARTUP_WATCH_SECONDS = 5
SANDBOX_FAILURES = 3
"""The kubelet retries a pod sandbox forever; after this many failures the run gives up with the node's reason."""
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclasses.dataclass
class ClusterOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    image: str = DEFAULT_IMAGE
    timeout: int = DEFAULT_TIMEOUT
    ttl: int = DEFAULT_TTL
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT
    pod: PodSettings = dataclasses.field(default_factory=PodSettings)


def _failed(message: str) -> R2k8sError:
    return R2k8sError(Category.EXECUTOR_FAILED, message)


class Stopper:
    """SIGINT, SIGTERM and SIGHUP end the run (once); the ``--timeout`` deadline too."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.armed = True
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if not self.armed:
            if self.reason is not None:  # a second signal while cleaning up: give up on the cleanup
                os.write(2, f"r2k8s: {name} again: exiting without waiting for the cleanup\n".encode())
                os._exit(Category.CANCELLED.exit_code)
            self.reason = f"received {name}"
            return
        self.armed = False
        self.reason = f"received {name}"
        raise R2k8sError(Category.CANCELLED, f"cancelled: {self.reason}")

    def check(self) -> None:
        if self.armed and time.monotonic() > self.deadline:
            self.armed = False
            raise R2k8sError(Category.CANCELLED, f"cancelled: the run took longer than --timeout {self.timeout:g} s")

    def disarm(self) -> None:
        self.armed = False


def run_on_cluster(formula_path: Path, options: ClusterOptions, monitor: Monitor) -> str:
    """Run the formula on the cluster; return the run record as repeatr prints it, or raise."""
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(formula_path, strict=False)  # what cannot run fails as in repeatr, in the pod
    for note in loaded.notes:
        monitor.log(f"warn: {note}")
    plan = plan_run(loaded, heartbeat_timeout=options.heartbeat_timeout, log=monitor.log)
    readers = open_inputs(plan, monitor.log)
    stopper = Stopper(options.timeout)
    stopper.install()
    kube: Kube | None = None
    job_name: str | None = None
    try:
        kube = connect(options.kubeconfig, options.context, options.namespace)
        kube.on_retry = monitor.log
        configmap = _ensure_agent_configmap(kube, monitor)
        run_id = new_guid()
        job_name = f"r2k8s-run-{run_id}"
        _create_job(kube, job_name, plan, run_id, configmap, options)
        monitor.log(f"info: created job {kube.namespace}/{job_name} (image {options.image}); waiting for its pod")
        replaced: set[str] = set()
        while True:
            pod = _wait_until_running(kube, job_name, run_id, stopper, monitor, replaced)
            try:
                return to_json(_converse(kube, pod, plan, readers, stopper, monitor))
            except R2k8sError as exc:
                if not stopper.armed or not (isinstance(exc, ConnectionLost) or exc.category is Category.CANCELLED):
                    raise
                why = replacement_wait(kube, pod, f"{RUN_ID_LABEL}={run_id}", replaced, stopper.check)
                if why is None:
                    raise
            replaced.add(pod)
            monitor.log(
                f"warn: the cluster took the build pod {pod} away ({why}); the Job replaces it: the run starts"
                " over in the new pod"
            )
            close_all(readers)
            readers = open_inputs(plan, monitor.log)
    finally:
        stopper.disarm()
        close_all(readers)
        if kube is not None and job_name is not None:
            _delete_job(kube, job_name, monitor)
        stopper.restore()


def _ensure_agent_configmap(kube: Kube, monitor: Monitor) -> str:
    from kubernetes.client.exceptions import ApiException

    from r2k8s.agent_bundle import agent_zipapp, configmap_manifest, configmap_name

    data = agent_zipapp()
    name = configmap_name(data)
    try:
        kube.call(
            f"read ConfigMap {name}",
            Permission("get", "configmaps"),
            kube.core.read_namespaced_config_map,
            name,
            kube.namespace,
            _preload_content=False,
        )
        return name
    except ApiException as exc:
        if exc.status != 404:
            raise
    try:
        kube.call(
            f"create ConfigMap {name}",
            Permission("create", "configmaps"),
            kube.core.create_namespaced_config_map,
            kube.namespace,
            configmap_manifest(name, data),
            _preload_content=False,
        )
        monitor.log(f"info: created ConfigMap {kube.namespace}/{name} holding the build agent ({len(data)} bytes)")
    except ApiException as exc:
        if exc.status != 409:  # created meanwhile by another run: the same bytes, by its name
            raise
    return name


def job_body(name: str, plan: Plan, run_id: str, configmap: str, options: ClusterOptions) -> dict[str, Any]:
    """The build Job named ``name``, as :func:`run_on_cluster` creates it (and ``--dry-run`` prints it)."""
    body = job_manifest(
        run_id=run_id,
        formula_id=plan.spec.formula_id,
        spec_json=plan.spec.to_json(),
        configmap=configmap,
        image=options.image,
        timeout=options.timeout,
        ttl=options.ttl,
        settings=options.pod,
    )
    body["metadata"]["name"] = name
    del body["metadata"]["generateName"]
    return body


def _create_job(kube: Kube, name: str, plan: Plan, run_id: str, configmap: str, options: ClusterOptions) -> None:
    from kubernetes.client.exceptions import ApiException

    body = job_body(name, plan, run_id, configmap, options)
    try:
        kube.call(
            "create the build job",
            Permission("create", "jobs.batch"),
            kube.batch.create_namespaced_job,
            kube.namespace,
            body,
            _preload_content=False,
        )
    except ApiException as exc:
        if exc.status != 409:  # a retried create whose first attempt did succeed
            raise _failed(f"failed to create the build job: {exc.status} {exc.reason}{_api_message(exc)}") from None


def _api_message(exc: Any) -> str:
    """The API server's own message in an error answer (e.g. which field it refused), if there is one."""
    import json

    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {message}" if message else ""


def _container_status(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, dict) and status.get("name") == CONTAINER:
            return status
    return {}


def _wait_until_running(
    kube: Kube, job_name: str, run_id: str, stopper: Stopper, monitor: Monitor, replaced: set[str]
) -> str:
    """The pod's name once its container runs; raise with the cluster's reason if it cannot start.

    Pods in ``replaced`` (disrupted earlier) are ignored; a pod disrupted before it ran joins them, and the
    wait goes on for the Job's replacement.
    """
    watch = PodWatch(kube, f"{RUN_ID_LABEL}={run_id}", monitor.log, watch_seconds=STARTUP_WATCH_SECONDS)
    said: set[str] = set()
    seen_pod: str | None = None
    for kind, pod in watch.events():
        stopper.check()
        if kind == "TICK":
            if seen_pod is None:
                _check_job(kube, job_name)
            else:
                _check_pod_events(kube, seen_pod)
            continue
        name = str((pod.get("metadata") or {}).get("name", "?"))
        if name in replaced:
            continue
        state = _container_status(pod).get("state") or {}
        if kind == "DELETED" or "terminated" in state:
            why = disruption_of(pod)
            if why is not None:
                replaced.add(name)
                seen_pod = None
                monitor.log(
                    f"warn: the cluster took the build pod {name} away before it ran ({why});"
                    " waiting for its replacement"
                )
                continue
        if kind == "DELETED":
            raise _failed(f"the build pod {name} was deleted before it started")
        seen_pod = name
        if "running" in state:
            monitor.log(f"info: pod {name} is running on node {(pod.get('spec') or {}).get('nodeName', '?')}")
            return name
        if "terminated" in state:
            raise _early_exit(name, state["terminated"])
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or (pod.get("status") or {}).get("phase") or ""
        if reason in FATAL_WAITING:
            raise _failed(
                f"the build pod {name} cannot start: {reason}: {waiting.get('message', '')}"
                " (is the image right? see --image)"
            )
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                note = f"warn: pod {name} is not scheduled yet: {condition.get('reason')}: {condition.get('message')}"
                if note not in said:
                    said.add(note)
                    monitor.log(note)
        if reason and reason not in said:
            said.add(reason)
            monitor.log(f"info: pod {name}: {reason}")
    raise AssertionError("unreachable: the pod watch never ends")


def _events_of(kube: Kube, name: str, what: str) -> list[dict[str, Any]]:
    """The events about object ``name``; none when they cannot be read (they are a courtesy: wait on)."""
    try:
        events = kube.call_json(
            f"list {what}'s events",
            None,
            kube.core.list_namespaced_event,
            kube.namespace,
            field_selector=f"involvedObject.name={name}",
            retries=0,
        )
    except Exception:
        return []
    return list(events.get("items") or [])


def _check_job(kube: Kube, job_name: str) -> None:
    """No pod yet: has the Job failed, or did the cluster refuse to create its pod (e.g. Pod Security)?"""
    job = kube.call_json(
        "read the build job",
        Permission("get", "jobs.batch"),
        kube.batch.read_namespaced_job,
        job_name,
        kube.namespace,
    )
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            raise _failed(
                f"the build job failed before its pod started: {condition.get('reason')}: {condition.get('message')}"
            )
    for event in _events_of(kube, job_name, "the build job"):
        if event.get("reason") == "FailedCreate":
            message = str(event.get("message"))
            hint = (
                " (a --cache-volume hostPath: needs a namespace whose Pod Security level is privileged;"
                " pvc:CLAIM works under baseline)"
                if "hostPath" in message
                else ""
            )
            raise _failed(f"the cluster refused to create the build pod: {message}{hint}")


def _check_pod_events(kube: Kube, pod: str) -> None:
    """A pod the node cannot even create (its sandbox fails) stays ``ContainerCreating`` until ``--timeout``;
    its events say why, so give up once the node has failed :data:`SANDBOX_FAILURES` times."""
    for event in _events_of(kube, pod, "the build pod"):
        count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
        if event.get("reason") == "FailedCreatePodSandBox" and count >= SANDBOX_FAILURES:
            raise _failed(
                f"the node cannot create the build pod {pod} ({count} tries):"
                f" {str(event.get('message') or '').strip()[-1500:]}"
            )


def _early_exit(pod: str, terminated: dict[str, Any]) -> R2k8sError:
    message = terminated.get("message") or ""
    outcome = read_result_message(message)
    if isinstance(outcome, R2k8sError):
        return outcome
    detail = f": {message.strip()[-2000:]}" if message.strip() else ""
    return _failed(
        f"the build agent in pod {pod} exited before the client attached (exit code"
        f" {terminated.get('exitCode')}, {terminated.get('reason', '')}){detail}"
    )


def _converse(
    kube: Kube, pod: str, plan: Plan, readers: dict[str, Any], stopper: Stopper, monitor: Monitor
) -> RunRecord:
    from r2k8s.cluster.attach import attach

    transport = attach(kube, pod)
    try:
        return Conversation(plan, transport, monitor, readers, should_stop=stopper.check).run()
    except ConnectionLost as lost:
        monitor.log(f"warn: {lost.message}; reading the pod's termination message")
        outcome = _final_outcome(kube, pod, stopper)
        if isinstance(outcome, RunRecord):
            return outcome
        if isinstance(outcome, R2k8sError) and not outcome.message.startswith("cancelled: "):
            raise outcome from None
        raise
    finally:
        transport.close()


def _final_outcome(kube: Kube, pod: str, stopper: Stopper) -> RunRecord | R2k8sError | None:
    from kubernetes.client.exceptions import ApiException

    until = time.monotonic() + FINAL_STATE_WAIT
    while time.monotonic() < until:
        stopper.check()
        try:
            pod_doc = kube.call_json(
                f"read pod {pod}",
                Permission("get", "pods"),
                kube.core.read_namespaced_pod,
                pod,
                kube.namespace,
            )
        except ApiException:
            return None
        terminated = (_container_status(pod_doc).get("state") or {}).get("terminated")
        if terminated:
            return read_result_message(terminated.get("message") or "")
        kube.sleep(1.0)
    return None


def _delete_job(kube: Kube, name: str, monitor: Monitor) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        kube.call(
            f"delete job {name}",
            Permission("delete", "jobs.batch"),
            kube.batch.delete_namespaced_job,
            name,
            kube.namespace,
            propagation_policy="Background",
            _preload_content=False,
            retries=3,
        )
    except ApiException as exc:
        if exc.status != 404:
            monitor.log(f"warn: could not delete job {name}: {exc.status} {exc.reason}")
    except R2k8sError as exc:
        monitor.log(
            f"warn: could not delete job {name} ({exc.message}); its ttlSecondsAfterFinished removes it"
            " once it has finished"
        )
