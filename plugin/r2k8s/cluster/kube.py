"""Talking to the API server: configuration, retries, and errors a user can act on.

* **Configuration**, as kubectl finds it: ``--kubeconfig``, else
  ``$KUBECONFIG``, else ``~/.kube/config``; ``--context`` picks a context.
  With none of those files and inside a pod (``$KUBERNETES_SERVICE_HOST``),
  the in-cluster service account. The namespace is ``--namespace``, else the
  context's, else the service account's, else ``default``. A file that cannot
  be a kubeconfig (binary, not YAML, not a mapping, malformed sections) is a
  usage error naming it (exit 1), checked before the client library reads it.
* **Retries**: every call goes through :meth:`Kube.call`, which retries
  what the API server (or the network) means as "try again" -- 429 (honouring
  ``Retry-After``), 500, 502, 503, 504 and dropped or refused connections --
  with exponential backoff, :data:`RETRIES` times.
* **Errors**: 403 becomes a message naming the verb and resource the Role
  lacks (see "Permissions" in the README); 401 says the credentials were
  refused; anything else names the call and the server's message. They are
  ``repeatr-executor-failed`` (exit 42): the machinery that runs the formula
  failed, not the formula.

The ``kubernetes`` package is imported here only, on first use.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from r2k8s.core.errors import Category, R2k8sError, usage_error

__all__ = [
    "KUBECONFIG_MAX_BYTES",
    "RETRIES",
    "Kube",
    "Permission",
    "check_kubeconfig",
    "connect",
    "is_configured",
    "is_retryable",
    "kube_error",
]

T = TypeVar("T")

RETRIES = 6
"""Attempts after the first; the backoff doubles from 0.5 s up to 8 s (about 20 s in all)."""
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
KUBECONFIG_MAX_BYTES = 16 << 20
"""Larger than any kubeconfig (kubectl's are kilobytes): a bigger file is refused before it is read whole."""


@dataclasses.dataclass(frozen=True)
class Permission:
    """What a call needs, for the 403 message: ``create`` ``jobs.batch``."""

    verb: str
    resource: str

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}"


def _failed(message: str) -> R2k8sError:
    return R2k8sError(Category.EXECUTOR_FAILED, message)


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            status = json.loads(body)
            if isinstance(status, dict) and status.get("message"):
                return str(status["message"])
        except (TypeError, ValueError):
            pass
    return str(getattr(exc, "reason", "") or exc).strip()


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API failure (also for websocket handshakes, reported as status 0)."""
    from kubernetes.client.exceptions import ApiException

    if not isinstance(exc, ApiException):
        return None
    if exc.status:
        return int(exc.status)
    reason = str(exc.reason or "")
    marker = "Handshake status "
    if marker in reason:
        digits = reason.split(marker, 1)[1][:3]
        if digits.isdigit():
            return int(digits)
    return 0


def is_retryable(exc: BaseException) -> bool:
    """Worth another try: the server said so (429, 5xx), or the connection failed or dropped."""
    import urllib3.exceptions

    status = status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUS or status == 0
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After")
        return min(float(value), 30.0) if value is not None else None
    except (TypeError, ValueError):
        return None


def kube_error(exc: BaseException, what: str, permission: Permission | None, namespace: str) -> R2k8sError:
    """The user-facing error for a failed call (after retries)."""
    status = status_of(exc)
    message = _server_message(exc)
    if status == 403:
        needed = f"permission to {permission}" if permission else "a permission it lacks"
        return _failed(
            f"the cluster refused to {what}: r2k8s needs {needed} in namespace {namespace!r}"
            f' (server: {message}); grant the Role described under "Permissions" in the README'
        )
    if status == 401:
        return _failed(
            f"the cluster refused the credentials while trying to {what} (401 Unauthorized: {message});"
            " check the kubeconfig's user or log in again"
        )
    if status:
        return _failed(f"failed to {what}: {status} {message}")
    return _failed(f"failed to {what}: cannot reach the API server ({message or type(exc).__name__})")


class Kube:
    """API clients bound to a namespace, with retrying calls."""

    def __init__(self, api_client: Any, namespace: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.sleep = sleep
        self.on_retry: Callable[[str], None] = lambda _line: None

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    def call(
        self,
        what: str,
        permission: Permission | None,
        fn: Callable[..., T],
        *args: Any,
        retries: int = RETRIES,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, **kwargs)``, retried on transient failures; ``R2k8sError`` when it cannot succeed.

        ``ApiException`` 404 and 409 are re-raised unchanged: callers give them meaning.
        """
        from kubernetes.client.exceptions import ApiException

        delay = 0.5
        for attempt in range(retries + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if isinstance(exc, ApiException) and exc.status in (404, 409, 410):
                    raise
                if attempt < retries and is_retryable(exc):
                    wait = _retry_after(exc) or delay
                    self.on_retry(f"warn: {what}: {_brief(exc)}; retrying in {wait:g} s")
                    self.sleep(wait)
                    delay = min(delay * 2, 8.0)
                    continue
                if isinstance(exc, ApiException) or is_retryable(exc):
                    raise kube_error(exc, what, permission, self.namespace) from None
                raise
        raise AssertionError("unreachable")

    def call_json(
        self,
        what: str,
        permission: Permission | None,
        fn: Callable[..., object],
        *args: Any,
        retries: int = RETRIES,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:meth:`call` with ``_preload_content=False``: the server's JSON object itself, not the client's model.

        Without preloading, the client returns the raw HTTP response whatever
        its annotations say; its body is read here, once for every caller.
        """
        response: Any = self.call(what, permission, fn, *args, retries=retries, _preload_content=False, **kwargs)
        doc = json.loads(response.data)
        if not isinstance(doc, dict):
            raise _failed(f"failed to {what}: the API server did not answer with a JSON object")
        return doc


def _brief(exc: BaseException) -> str:
    status = status_of(exc)
    if status:
        return f"{status} {_server_message(exc)}"
    return f"{type(exc).__name__}: {exc}"[:200]


def _kubeconfig_path(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def is_configured(kubeconfig: str | None = None) -> bool:
    """Whether :func:`connect` has a cluster to read: a kubeconfig file named or found, or a pod's service account."""
    return _kubeconfig_path(kubeconfig) is not None or bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None) -> Kube:
    """Load the configuration as kubectl would (see the module docstring) and return a :class:`Kube`."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry warnings would clutter stderr
    path = _kubeconfig_path(kubeconfig)
    try:
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
            chosen = namespace or _service_account_namespace()
        else:
            if path is None:
                raise _failed(
                    "no cluster configured: no --kubeconfig, no $KUBECONFIG, no ~/.kube/config,"
                    " and not running in a pod (or use 'r2k8s run --local')"
                )
            if not Path(path).is_file():
                raise _failed(f"kubeconfig {path} does not exist")
            check_kubeconfig(path)
            configuration = client.Configuration()
            try:
                config.load_kube_config(  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
                    config_file=path, context=context, client_configuration=configuration
                )
                chosen = namespace or _context_namespace(path, context) or "default"
            except (TypeError, AttributeError, KeyError, ValueError) as exc:  # the loader trusts the file's shape
                raise usage_error(f"kubeconfig {path} is malformed: {type(exc).__name__}: {exc}") from None
    except ConfigException as exc:
        raise _failed(f"cannot use the cluster configuration{f' {path}' if path else ''}: {exc}") from None
    configuration.retries = False  # retries are Kube.call's, with backoff and a message
    return Kube(client.ApiClient(configuration), chosen)


def check_kubeconfig(path: str) -> None:
    """Refuse, naming ``path``, a file that cannot be a kubeconfig: a usage error (exit 1), not a crash.

    It must be UTF-8 YAML text (no NUL bytes) of at most
    :data:`KUBECONFIG_MAX_BYTES`, holding a mapping whose ``clusters``,
    ``contexts`` and ``users`` (where present) are lists of mappings.
    """
    import yaml

    def refuse(why: str) -> R2k8sError:
        return usage_error(f"kubeconfig {path} is not a kubeconfig file: {why}")

    try:
        with open(path, "rb") as file:
            data = file.read(KUBECONFIG_MAX_BYTES + 1)
    except OSError as exc:
        raise usage_error(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    if len(data) > KUBECONFIG_MAX_BYTES:
        raise refuse(f"it is larger than {KUBECONFIG_MAX_BYTES >> 20} MiB")
    nul = data.find(b"\0")
    if nul >= 0:
        raise refuse(f"it holds a NUL byte at offset {nul} (a binary file, not YAML text)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(
            f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}; a binary file, not YAML)"
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise refuse(f"it is not valid YAML{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise refuse(f"it is not valid YAML: {exc}") from None
    except RecursionError:
        raise refuse("it is YAML nested too deeply to read") from None
    if doc is None:
        raise refuse("it is empty")
    if not isinstance(doc, dict):
        raise refuse(f"it holds a YAML {type(doc).__name__}, not a mapping (apiVersion, clusters, contexts, users)")
    for section in ("clusters", "contexts", "users"):
        items = doc.get(section)
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            raise refuse(f"its {section!r} must be a list of mappings")


def _context_namespace(path: str, context: str | None) -> str | None:
    from kubernetes import config

    contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
        config_file=path
    )
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    return ((chosen or {}).get("context") or {}).get("namespace")


def _service_account_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
