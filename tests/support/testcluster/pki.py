"""The cluster's certificates and kubeconfigs, made with the openssl command.

One CA signs everything: the API server's serving certificate, the kubelet's serving
certificate, and a client certificate per user (the admin, each control-plane component, the
kubelet's node identity, and the API server's identity towards kubelets). The user and group of
a client certificate are its CN and O, which is how the API server's RBAC and Node authorizers
know who is calling. Keys are ECDSA P-256: quick to make, and accepted everywhere here,
including for signing service account tokens.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import settings

CLUSTER_NAME = "r2k8s"
DAYS = 3650


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate's file stem, user name and groups."""

    stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = ClientIdentity("admin", "r2k8s-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("scheduler", "system:kube-scheduler")
KUBELET = ClientIdentity("kubelet", f"system:node:{settings.NODE_NAME}", ("system:nodes",))
#: How the API server authenticates to the kubelet for logs, exec and attach.
APISERVER_KUBELET_CLIENT = ClientIdentity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
)


def write_pki(directory: Path) -> None:
    """Write the CA, every certificate and key, and the service account key pair into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _new_key(directory / "ca.key")
    _openssl(
        "req", "-x509", "-new", "-key", directory / "ca.key", "-subj", f"/CN={CLUSTER_NAME}-ca",
        "-days", DAYS, "-out", directory / "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _serving_certificate(
        directory,
        "apiserver",
        "kube-apiserver",
        ips=("127.0.0.1", settings.NODE_IP, settings.SERVICE_IP),
        names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
    )
    _serving_certificate(
        directory, "kubelet-serving", settings.NODE_NAME, ips=(settings.NODE_IP,), names=(settings.NODE_NAME,)
    )
    for identity in (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KUBELET, APISERVER_KUBELET_CLIENT):
        subject = f"/CN={identity.user}" + "".join(f"/O={group}" for group in identity.groups)
        _signed_certificate(directory, identity.stem, subject, "clientAuth", ())
    _new_key(directory / "service-account.key")
    _openssl("pkey", "-in", directory / "service-account.key", "-pubout", "-out", directory / "service-account.pub")


def write_kubeconfig(path: Path, pki: Path, identity: ClientIdentity, server: str) -> None:
    """A kubeconfig for ``identity`` with its certificates embedded, so the file stands alone."""

    def embedded(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": embedded("ca.crt")}}
        ],
        "users": [
            {
                "name": identity.user,
                "user": {
                    "client-certificate-data": embedded(f"{identity.stem}.crt"),
                    "client-key-data": embedded(f"{identity.stem}.key"),
                },
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": identity.user}}],
        "current-context": CLUSTER_NAME,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    # JSON is YAML, and every kubeconfig reader accepts it.
    path.write_text(json.dumps(config, indent=2) + "\n")


def _serving_certificate(
    directory: Path, stem: str, common_name: str, ips: tuple[str, ...], names: tuple[str, ...]
) -> None:
    alt_names = [f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in names]
    _signed_certificate(directory, stem, f"/CN={common_name}", "serverAuth", tuple(alt_names))


def _signed_certificate(directory: Path, stem: str, subject: str, usage: str, alt_names: tuple[str, ...]) -> None:
    key, certificate = directory / f"{stem}.key", directory / f"{stem}.crt"
    _new_key(key)
    extensions = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if alt_names:
        extensions.append("subjectAltName=" + ",".join(alt_names))
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=directory) as extfile:
        extfile.write("\n".join(extensions) + "\n")
        extfile.flush()
        request = _openssl("req", "-new", "-key", key, "-subj", subject).stdout
        _openssl(
            "x509", "-req", "-CA", directory / "ca.crt", "-CAkey", directory / "ca.key", "-set_serial",
            f"0x{os.urandom(16).hex()}", "-days", DAYS,
            "-extfile", extfile.name, "-out", certificate, stdin=request,
        )  # fmt: skip


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)


def _openssl(*arguments: object, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    command = ["openssl", *map(str, arguments)]
    result = subprocess.run(command, input=stdin, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result
