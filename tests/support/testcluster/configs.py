"""Configuration files of containerd, the CNI network and the kubelet, written into the state directory.

All three point only into the state directory (or at the Debian packages' programs), so the
cluster shares nothing with another containerd or kubelet on the machine and ``down`` can remove
everything it made. JSON is written where YAML is read, because JSON is YAML.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import settings
from .settings import PORTS, StateLayout

#: cgroup under which the kubelet puts its kubepods tree, instead of the root.
CGROUP_ROOT = "/r2k8s"
CNI_PLUGINS = Path("/usr/lib/cni")
NETWORK_NAME = "r2k8s"


def write_containerd_config(layout: StateLayout) -> Path:
    """containerd 1.6 (config version 2): private root, state and socket; the cgroupfs driver;
    overlayfs snapshots; our pause image as the sandbox; our CNI network; network namespaces
    under the state directory rather than /run/netns.

    ``restrict_oom_score_adj``: no container gets an OOM score below containerd's own. Lowering a
    score needs CAP_SYS_RESOURCE, which some sandboxes (this CI's Firecracker VMs among them) do
    not give even to root; without the restriction the pod sandbox's -998 makes every ``runc
    create`` fail ("failed to update /proc/self/oom_score_adj: Permission denied" in runc's log,
    "can't get final child's PID from pipe: EOF" in the kubelet's events)."""
    runc = shutil.which("runc") or "runc"
    text = f"""\
version = 2
root = {_toml(layout.containerd_root)}
state = {_toml(layout.containerd_state)}
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = {_toml(layout.containerd_socket)}

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml(layout.root / "containerd" / "opt")}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {_toml(settings.PAUSE_IMAGE)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = {_toml(runc)}
        Root = {_toml(layout.runc_root)}
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {_toml(CNI_PLUGINS)}
    conf_dir = {_toml(layout.cni_config)}
    max_conf_num = 1
"""
    path = layout.config / "containerd.toml"
    _write(path, text)
    return path


def write_cni_config(layout: StateLayout) -> Path:
    """A bridge network whose gateway is the host's address on the bridge (made by ``network``).

    isGateway is off because the bridge plugin would then turn on IP forwarding for the whole
    host; the default route is given to the pods through host-local's routes instead.
    """
    config = {
        "cniVersion": "0.4.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": settings.BRIDGE,
                "isGateway": False,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_ipam),
                    "ranges": [[{"subnet": settings.POD_SUBNET, "gateway": settings.NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0", "gw": settings.NODE_IP}],
                },
            }
        ],
    }
    path = layout.cni_config / f"10-{NETWORK_NAME}.conflist"
    _write(path, json.dumps(config, indent=2) + "\n")
    return path


def write_kubelet_config(layout: StateLayout) -> Path:
    """The kubelet on cgroup v1 with cgroupfs, no swap check, and lenient disk thresholds.

    Its own OOM score stays 0 (upstream: -999), for the reason containerd's is restricted: the
    machine may not allow lowering it.

    Image garbage collection is off (high threshold 100%): the images were imported, not pulled,
    so a collected image could not come back. Eviction thresholds are low so that a nearly full
    development disk does not evict the tests' pods.
    """
    pki = layout.pki
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": settings.NODE_IP,
        "port": PORTS.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": PORTS.kubelet_healthz,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": CGROUP_ROOT,
        "failCgroupV1": False,
        "failSwapOn": False,
        "podLogsDir": str(layout.pod_logs),
        "resolvConf": "/etc/resolv.conf",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
        "makeIPTablesUtilChains": False,
        "rotateCertificates": False,
        "registerNode": True,
        "oomScoreAdj": 0,
    }
    path = layout.config / "kubelet.json"
    _write(path, json.dumps(config, indent=2) + "\n")
    return path


def _toml(value: object) -> str:
    """A TOML basic string; JSON's escaping is a subset of TOML's."""
    return json.dumps(str(value))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
