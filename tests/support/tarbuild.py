"""Build tarballs for tests with Python's own ``tarfile`` (an implementation independent of ours)."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field

COMPRESSIONS = {"none": "w", "gzip": "w:gz", "bzip2": "w:bz2", "xz": "w:xz"}


@dataclass
class Entry:
    name: str
    type: bytes = tarfile.REGTYPE
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = 1262304000
    content: bytes = b""
    linkname: str = ""
    pax: dict[str, str] = field(default_factory=dict)


def make_tar(entries: list[Entry], compression: str = "none", fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=COMPRESSIONS[compression], format=fmt) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.mtime = entry.mtime
            info.linkname = entry.linkname
            info.pax_headers = dict(entry.pax)
            if entry.type == tarfile.REGTYPE:
                info.size = len(entry.content)
                archive.addfile(info, io.BytesIO(entry.content))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def D(name: str, mode: int = 0o755, **kw) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode, **kw)


def F(name: str, content: bytes = b"", mode: int = 0o644, **kw) -> Entry:
    return Entry(name, tarfile.REGTYPE, mode, content=content, **kw)


def L(name: str, target: str, **kw) -> Entry:
    return Entry(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw)


def deep_tar(depth: int, *, uid: int = 0, gid: int = 0) -> bytes:
    """``a/a/…/a/f`` (``depth`` directories, each listed, then the file ``f`` holding ``hi``), in PAX format for
    the long names: the deep ware of issue 12, owned by ``uid``/``gid``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        name = ""
        for _ in range(depth):
            name += "a/"
            entry = tarfile.TarInfo(name.rstrip("/"))
            entry.type, entry.mode, entry.uid, entry.gid = tarfile.DIRTYPE, 0o755, uid, gid
            archive.addfile(entry)
        entry = tarfile.TarInfo(name + "f")
        entry.size, entry.uid, entry.gid = 2, uid, gid
        archive.addfile(entry, io.BytesIO(b"hi"))
    return buffer.getvalue()
