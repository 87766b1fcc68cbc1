"""The Pod Security Standards *baseline* checks, for manifests (not a cluster's admission: that is the e2e test).

Written from https://kubernetes.io/docs/concepts/security/pod-security-standards (baseline):
no privileged containers, no host namespaces, no hostPath volumes, no host ports,
capabilities added only from baseline's list, procMount Default, no Unconfined
seccomp, only the safe sysctls, no custom SELinux user/role, AppArmor not unconfined.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ALLOWED_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)


def pod_specs(resource: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping with a ``containers`` list (a pod spec), with its path."""
    if isinstance(resource, dict):
        if isinstance(resource.get("containers"), list):
            yield path or ".", resource
        for key, value in resource.items():
            yield from pod_specs(value, f"{path}.{key}")
    elif isinstance(resource, list):
        for index, value in enumerate(resource):
            yield from pod_specs(value, f"{path}[{index}]")


def baseline_violations(resource: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for where, spec in pod_specs(resource):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                problems.append(f"{where}.{key}")
        for volume in spec.get("volumes") or []:
            if "hostPath" in volume:
                problems.append(f"{where}.volumes[{volume.get('name')}].hostPath")
        for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
            if sysctl.get("name") not in SAFE_SYSCTLS:
                problems.append(f"{where}.securityContext.sysctls[{sysctl.get('name')}]")
        problems += _context_problems(f"{where}.securityContext", spec.get("securityContext") or {})
        for field in ("containers", "initContainers", "ephemeralContainers"):
            for container in spec.get(field) or []:
                here = f"{where}.{field}[{container.get('name')}]"
                context = container.get("securityContext") or {}
                if context.get("privileged"):
                    problems.append(f"{here}.securityContext.privileged")
                for capability in (context.get("capabilities") or {}).get("add") or []:
                    if capability not in ALLOWED_CAPABILITIES:
                        problems.append(f"{here}.securityContext.capabilities.add[{capability}]")
                if context.get("procMount", "Default") != "Default":
                    problems.append(f"{here}.securityContext.procMount")
                problems += _context_problems(f"{here}.securityContext", context)
                for port in container.get("ports") or []:
                    if port.get("hostPort"):
                        problems.append(f"{here}.ports.hostPort")
    return problems


def _context_problems(where: str, context: dict[str, Any]) -> list[str]:
    problems = []
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{where}.seccompProfile")
    if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{where}.appArmorProfile")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("user") or selinux.get("role"):
        problems.append(f"{where}.seLinuxOptions")
    return problems
