"""The Linux system calls Python 3.11's ``os`` module lacks, through ``ctypes``.

``os.unshare`` and ``os.setns`` only arrived in Python 3.12, and ``mount``,
``umount2``, ``pivot_root``, ``prctl`` and ``capset`` are not in the standard
library at all. The executors need all of them, and the core must stay
standard-library only (it is shipped into stock Python images), so they are
called from libc here. Every wrapper raises :class:`OSError` with the real
``errno`` on failure, like the ``os`` functions do, so callers can tell
``EPERM`` (no privilege) from ``EINVAL`` (kernel refuses) in their messages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

__all__ = [
    "CLONE_NEWIPC",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUTS",
    "MNT_DETACH",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "MS_STRICTATIME",
    "cap_last_cap",
    "capset",
    "drop_bounding_caps",
    "mount",
    "pivot_root",
    "prctl",
    "raise_ambient_caps",
    "umount2",
    "unshare",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# pivot_root has no glibc wrapper: call it by number.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(path: str | None) -> bytes | None:
    """``path`` as the C string libc takes; a NUL in it is refused, as the ``os`` functions refuse it.

    ``ctypes`` would pass the bytes as they are and libc would read only up to
    the NUL: ``mount`` would act on a different, shorter path than the one asked for.
    """
    if path is None:
        return None
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError(f"embedded null byte in {path!r}")
    return encoded


def unshare(flags: int) -> None:
    """``unshare(2)``: fails with ``EINVAL`` for ``CLONE_NEWNS`` in a multithreaded process."""
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    """``mount(2)``."""
    libc = _libc()
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _check(libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {fstype or 'bind'} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    """``umount2(2)``."""
    _check(_libc().umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)``; ``pivot_root(".", ".")`` stacks the old root on the new one (no put_old dir needed)."""
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(38, f"pivot_root: unknown system call number on {platform.machine()}")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    _check(libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old)), "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """``prctl(2)`` with integer arguments."""
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return _check(libc.prctl(option, arg2, arg3, arg4, arg5), "prctl")


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent exits (cleared by setuid, so call it last)."""
    prctl(PR_SET_PDEATHSIG, signum)


def set_keep_caps(keep: bool) -> None:
    prctl(PR_SET_KEEPCAPS, int(keep))


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


@functools.cache
def cap_last_cap() -> int:
    """The highest capability number this kernel knows (call once before leaving the host's root)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 40


def drop_bounding_caps(keep: frozenset[int]) -> None:
    """Remove every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(cap_last_cap() + 1):
        if cap not in keep:
            prctl(PR_CAPBSET_DROP, cap)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def capset(caps: frozenset[int]) -> None:
    """Set this thread's effective, permitted and inheritable sets to exactly ``caps``."""
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = word
    _check(_libc().capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def raise_ambient_caps(caps: frozenset[int]) -> None:
    """Add ``caps`` to the ambient set, so they survive ``execve`` for a non-root uid (as runc does)."""
    for cap in sorted(caps):
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
