"""Find and undo the mounts the cluster made below its state directory.

containerd mounts each container's root filesystem and each pod's /dev/shm, binds each pod's
network namespace to a file, and the kubelet mounts pod volumes (service account tokens on tmpfs);
all of them below the state directory, which is what makes this sweep complete.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_below(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, in the order they were mounted."""
    prefix = str(directory.resolve()).rstrip("/")
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = _unescape(line.split(" ")[4])
        if mount_point == prefix or mount_point.startswith(prefix + "/"):
            found.append(Path(mount_point))
    return found


def unmount_below(directory: Path) -> None:
    """Unmount everything below ``directory``, newest first; detach what is still busy."""
    for _ in range(5):
        remaining = mounts_below(directory)
        if not remaining:
            return
        for mount_point in reversed(remaining):
            if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True)
    remaining = mounts_below(directory)
    if remaining:
        raise RuntimeError(f"cannot unmount {', '.join(map(str, remaining))}")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
