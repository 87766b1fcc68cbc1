"""Which capabilities a formula's ``policy`` grants (repeatr ``executor/policy/capabilities.go``).

The sets are repeatr's, by name; the numbers are Linux's (``linux/capability.h``).
``""`` means ``routine``; an unknown policy is a usage error, as in repeatr.
"""

from __future__ import annotations

from r2k8s.core.errors import quote, usage_error

__all__ = ["CAPABILITY_NUMBERS", "POLICIES", "capabilities_for"]

CAPABILITY_NUMBERS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
}

_ROUTINE = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
_GOVERNOR = _ROUTINE + (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_SYS_CHROOT",
)
# repeatr's sysad list is every capability its library knew, which is all of the above.
_SYSAD = tuple(CAPABILITY_NUMBERS)

POLICIES: dict[str, tuple[str, ...]] = {"routine": _ROUTINE, "governor": _GOVERNOR, "sysad": _SYSAD}


def capabilities_for(policy: str) -> frozenset[int]:
    """The capability numbers granted to an action with this policy."""
    names = POLICIES.get(policy or "routine")
    if names is None:
        raise usage_error(f"invalid policy {quote(policy)} (use one of: {', '.join(POLICIES)})")
    return frozenset(CAPABILITY_NUMBERS[name] for name in names)
