"""Deterministic layer tars: the same files give the same bytes, whoever builds them and when.

A layer is written from a directory and the set of paths (relative, no leading ``/``) it holds.
Members come in sorted order with every parent directory first; owners are 0/0 with no names; every
time is :data:`MTIME` (a fixed constant, not the commit's time, so that a layer's digest depends on
its content only: the Debian layer keeps its digest from one r2k8s commit to the next and is stored
and pulled once); set-user-ID and set-group-ID bits are dropped (a function never needs them, and
the runtimes run it with no-new-privileges anyway); files hard-linked to each other are stored once
and linked. The format is POSIX pax, which adds an extended header only for what ustar cannot hold
(long names): no access or change times.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["MTIME", "with_parents", "write_layer"]

#: Every member's modification time: the Unix epoch. Bytecode is hash-checked (never by time) and
#: nothing in the image reads a file's time.
MTIME = 0


def with_parents(paths: Iterable[str]) -> set[str]:
    """``paths`` and all their parent directories."""
    found: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            found.add("/".join(parts[:end]))
    return found


def write_layer(root: Path, paths: Iterable[str], out: Path) -> None:
    """Write the uncompressed layer ``out`` holding ``paths`` (and their parents) from ``root``."""
    linked: dict[tuple[int, int], str] = {}
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as layer:
        for name in sorted(with_parents(paths)):
            source = root / name
            info = os.lstat(source)
            member = tarfile.TarInfo(name)
            member.mtime = MTIME
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.mode = stat.S_IMODE(info.st_mode) & ~(stat.S_ISUID | stat.S_ISGID)
            if stat.S_ISDIR(info.st_mode):
                member.type = tarfile.DIRTYPE
                layer.addfile(member)
            elif stat.S_ISLNK(info.st_mode):
                member.type = tarfile.SYMTYPE
                member.linkname = os.readlink(source)
                layer.addfile(member)
            elif stat.S_ISREG(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if info.st_nlink > 1 and key in linked:
                    member.type = tarfile.LNKTYPE
                    member.linkname = linked[key]
                    layer.addfile(member)
                    continue
                linked[key] = name
                member.size = info.st_size
                with open(source, "rb") as content:
                    layer.addfile(member, content)
            else:
                raise ValueError(f"{source}: not a file, directory or symbolic link; a layer cannot hold it")
