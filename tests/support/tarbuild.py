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
