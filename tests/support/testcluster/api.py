"""Just enough of the Kubernetes API for ``up`` to tell whether the cluster is ready, using the admin certificate.

The tests talk to the cluster with kubectl or the ``kubernetes`` client; ``up`` must not depend on
either, so it asks the few questions it has over plain HTTPS with the standard library.
"""

from __future__ import annotations

import http.client
import json
import ssl

from . import settings
from .settings import PORTS, StateLayout


def get(layout: StateLayout, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``path`` from the API server as the admin; (0, error text) when it cannot be reached."""
    context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    context.load_cert_chain(layout.pki / "admin.crt", layout.pki / "admin.key")
    connection = http.client.HTTPSConnection("127.0.0.1", PORTS.apiserver, context=context, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        return 0, str(error).encode()
    finally:
        connection.close()


def ready(layout: StateLayout) -> bool:
    """The API server answers /readyz with 200 (all its post-start hooks have run)."""
    return get(layout, "/readyz")[0] == 200


def node_ready(layout: StateLayout) -> bool:
    status, body = get(layout, f"/api/v1/nodes/{settings.NODE_NAME}")
    if status != 200:
        return False
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def default_service_account_exists(layout: StateLayout) -> bool:
    """Pods can be created in ``default`` only once the controller-manager has made its service account."""
    return get(layout, "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200
