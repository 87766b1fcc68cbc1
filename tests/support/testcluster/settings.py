"""Where the test cluster keeps its parts, and the fixed names, ports and addresses it uses.

Everything the other modules need to agree on lives here, so that ``up``, ``down``, the pytest
fixture and the tests read one definition. Two directories matter:

* the *cache* (``$R2K8S_CI_CACHE/cluster``) holds what is slow to make and never changes for a
  given input: the Go build of Kubernetes and the image archives. It survives ``down``.
* the *state* directory (``$R2K8S_CLUSTER_DIR``) holds one running cluster: certificates,
  configuration, etcd's data, containerd's and the kubelet's directories, logs and pid files.
  ``down`` removes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The Kubernetes release, which must match go/go.mod (its comment says why this one).
KUBERNETES_VERSION = "v1.34.2"
#: Its date as the Go module proxy records it, stamped into the binaries as their build date.
KUBERNETES_RELEASE_DATE = "2025-11-11T19:00:37Z"

#: Image names the tests use. Their tags are not "latest", so the kubelet's default pull policy is
#: IfNotPresent and it never asks a registry; the images are imported into containerd instead.
PAUSE_IMAGE = "localhost/r2k8s/pause:1"
PYTHON_IMAGE = "localhost/r2k8s/python:3-debian"

NODE_NAME = "r2k8s-node"
BRIDGE = "r2k8s0"
#: The bridge's own MAC address, set explicitly (locally administered). A Linux bridge without one takes the
#: lowest MAC among its ports, so it changed whenever a pod's veth came or went, and every running pod's
#: cached neighbour entry for the node address (its gateway) pointed nowhere until it expired: pod-to-node
#: traffic stalled for 30-50 s, about once in five pod restarts (bench/pod_start.py's "stalls").
BRIDGE_MAC = "02:72:32:6b:38:73"
#: Pods get addresses on a bridge that the host owns as 10.217.0.1, which is also the node's
#: address: a pod reaches a server on the host there. Nothing routes pod traffic further (the host
#: does not forward, and there is no NAT), so pods can reach the host and each other only.
POD_SUBNET = "10.217.0.0/24"
NODE_IP = "10.217.0.1"
#: Services get addresses here; no kube-proxy runs, so they resolve to nothing but must exist.
SERVICE_SUBNET = "10.217.1.0/24"
SERVICE_IP = "10.217.1.1"


@dataclass(frozen=True)
class Ports:
    """Loopback ports, away from the upstream defaults so that they clash with nothing else."""

    etcd_client: int = 12379
    etcd_peer: int = 12380
    apiserver: int = 16443
    controller_manager: int = 11257
    scheduler: int = 11259
    kubelet: int = 11250
    kubelet_healthz: int = 11248
    containerd_streaming: int = 11010


PORTS = Ports()


def cache_dir() -> Path:
    """The build cache shared with the rest of CI's slow builds."""
    root = os.environ.get("R2K8S_CI_CACHE") or str(Path.home() / ".cache" / "r2k8s-ci")
    return Path(root) / "cluster"


def state_dir() -> Path:
    """The running cluster's directory (short, because containerd puts unix sockets in it)."""
    return Path(os.environ.get("R2K8S_CLUSTER_DIR") or "/var/lib/r2k8s-cluster")


@dataclass(frozen=True)
class StateLayout:
    """Paths inside the state directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.root / "containerd" / "runc"

    @property
    def cni_config(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def record(self) -> Path:
        """What is running here: the build and images it was started from (JSON)."""
        return self.root / "cluster.json"

    def kubeconfig(self, user: str) -> Path:
        return self.config / f"{user}.kubeconfig"


def layout() -> StateLayout:
    return StateLayout(state_dir())
