"""The pods' bridge on the host: made before the kubelet starts, removed with every pod's veth by ``down``.

``up`` makes the bridge itself, with the node's address on it, rather than letting the CNI bridge
plugin make it on the first pod: the kubelet needs the node address to exist when it starts, and
the plugin would otherwise also switch on IP forwarding for the whole host.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from . import settings


def ensure_bridge() -> None:
    """Create the bridge (if missing) with the node's address and a MAC address of its own, and bring it up."""
    if not interface_exists(settings.BRIDGE):
        _ip("link", "add", settings.BRIDGE, "type", "bridge")
    prefix = ipaddress.ip_network(settings.POD_SUBNET).prefixlen
    address = f"{settings.NODE_IP}/{prefix}"
    current = _ip("-j", "addr", "show", "dev", settings.BRIDGE).stdout
    assigned = {
        f"{a['local']}/{a['prefixlen']}" for link in json.loads(current or "[]") for a in link.get("addr_info", [])
    }
    if address not in assigned:
        _ip("addr", "add", address, "dev", settings.BRIDGE)
    _ip("link", "set", settings.BRIDGE, "address", settings.BRIDGE_MAC)  # never the lowest port's: see BRIDGE_MAC
    _ip("link", "set", settings.BRIDGE, "up")


def remove_bridge() -> None:
    """Delete every interface enslaved to the bridge (pods' veths), then the bridge."""
    for name in bridge_ports():
        _ip("link", "del", name, check=False)
    if interface_exists(settings.BRIDGE):
        _ip("link", "del", settings.BRIDGE)


def bridge_ports() -> list[str]:
    if not interface_exists(settings.BRIDGE):
        return []
    output = _ip("-j", "link", "show", "master", settings.BRIDGE).stdout
    return [link["ifname"].split("@")[0] for link in json.loads(output or "[]")]


def interfaces() -> set[str]:
    """Names of the host's network interfaces."""
    return {link["ifname"] for link in json.loads(_ip("-j", "link", "show").stdout or "[]")}


def interface_exists(name: str) -> bool:
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def _ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result
