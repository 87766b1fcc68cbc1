"""How busy the machine is: what every benchmark here prints beside its figures, so noise shows."""

from __future__ import annotations

import os


def busy_cpu_seconds() -> float:
    """System-wide non-idle CPU time (including steal) from /proc/stat, in seconds."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
