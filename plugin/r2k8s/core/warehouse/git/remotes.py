"""Git warehouse URLs, as rio's ``pick`` and ``SanitizeRemote`` read them.

rio (``transmat/git/git_warehouse.go`` ``pick``) switches on Go's
``url.Parse(addr).Scheme``: ``git``, ``ssh``, ``http``, ``https`` and ``file``
reach a controller, anything else -- including a bare path, whose scheme is
empty -- is a usage error. r2k8s fetches without a git binary, so it speaks
only what it can implement with the standard library: smart HTTP(S) and local
repositories. ``git://`` and ``ssh://`` are refused with a usage error saying
so, rather than silently skipped: a formula naming them would work under rio.

``SanitizeRemote`` (``warehouse/impl/git/git.go``) then:

* trims surrounding whitespace;
* for ``file://``, strips the prefix literally (no percent-decoding, no host)
  and makes the rest absolute -- rio against its cwd, r2k8s against the
  formula's folder when it has one, as :mod:`r2k8s.core.warehouse.urls` does;
* for ``http://`` to a host ending in ``github.com``, switches to ``https``
  (github answers plain http with a redirect go-git would not follow);
* refuses an empty host+path and one starting with ``-`` (an option to a git
  subprocess, were one ever involved).

The object cache of a remote lives at ``<cache root>/git/objs/<slug>``, where
the slug is Go's ``url.QueryEscape`` of the sanitised URL (``SlugifyRemote``).

Submodule URLs are used as ``.gitmodules`` writes them. rio passes them to
``pick`` unchanged, so a relative one (``../other.git``) has no scheme and is a
usage error under rio; r2k8s resolves it against the superproject's remote as
``git submodule`` does (:func:`resolve_submodule_url`), since that is what the
author of such a repository meant and no rio user can depend on the failure.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from pathlib import Path
from typing import Literal

from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import split_url

__all__ = ["GitRemote", "check_commit_ware", "resolve_submodule_url", "slugify_remote"]

RemoteKind = Literal["http", "https", "file"]

_COMMIT = re.compile(r"[0-9a-f]{40}")

_RIO_ONLY_SCHEMES = ("git", "ssh")

_GITHUB = "github.com"


def check_commit_ware(ware: WareID) -> str:
    """The commit hash of a ``git:`` ware; anything but 40 lowercase hex digits is not found (exit 5).

    rio's ``mustBeFullHash`` accepts 40 hex digits in either case; r2k8s wants
    the one spelling git prints, so one commit has one cache entry. A branch,
    a tag or an abbreviated hash names different commits over time: a formula
    pinning it would not be reproducible. rio looks such a name up as a hash
    and finds nothing (``rio-ware-not-found``, exit 5); r2k8s gives the same
    category at once, without asking any warehouse, and says why.
    """
    if not _COMMIT.fullmatch(ware.hash):
        raise R2k8sError(
            Category.WARE_NOT_FOUND,
            f"ware {_q(ware)}: only commit hashes are ware IDs (40 lowercase hex digits, e.g. the output of"
            f" 'git rev-parse HEAD'); {_q(ware.hash)} is not one: branch, tag and abbreviated names move",
        )
    return ware.hash


def slugify_remote(sanitized: str) -> str:
    """Go's ``url.QueryEscape``: only ``[A-Za-z0-9_.~-]`` kept, space as ``+``, the rest ``%XX``."""
    return urllib.parse.quote_plus(sanitized, safe="")


@dataclasses.dataclass(frozen=True)
class GitRemote:
    """A git warehouse: ``raw`` as the formula wrote it, ``url`` as rio sanitises it.

    ``path`` is set for local repositories (absolute); ``url`` is then that path.
    """

    raw: str
    url: str
    kind: RemoteKind
    path: Path | None = None

    @property
    def slug(self) -> str:
        return slugify_remote(self.url)

    @classmethod
    def parse(cls, text: str, base_dir: Path | None = None) -> GitRemote:
        if not isinstance(text, str):
            raise usage_error(f"git warehouse URL must be a string, not {type(text).__name__}")
        remote = text.strip()
        if not remote:
            raise usage_error("empty git remote")
        parts = split_url(remote)
        scheme = parts.scheme.lower()
        if scheme in _RIO_ONLY_SCHEMES:
            raise usage_error(
                f"git warehouse {_q(text)}: the {scheme}:// scheme is not supported by r2k8s (rio supports it,"
                " through a git binary r2k8s does not use); use an https:// or file:// URL of the repository"
            )
        if scheme == "file":
            return cls._local(text, remote, base_dir)
        if scheme in ("http", "https"):
            return cls._http(text, remote, parts, scheme)
        shown = scheme or "(none: a plain path or an scp-style address)"
        raise usage_error(
            f"this fetch operation doesn't support {_q(scheme)} scheme in git warehouse {_q(text)} (scheme {shown};"
            " valid options are 'http', 'https' or 'file'; rio also takes 'git' and 'ssh', which r2k8s does not)"
        )

    @classmethod
    def _local(cls, text: str, remote: str, base_dir: Path | None) -> GitRemote:
        rest = remote[len("file://") :] if remote[:7].lower() == "file://" else ""
        if not rest:
            raise usage_error(
                f"git warehouse {_q(text)}: empty git remote (write file:///absolute/path or file://relative/path)"
            )
        if rest.startswith("-"):
            raise usage_error(f"git warehouse {_q(text)}: warehouse host cannot start with '-'")
        if "\0" in rest:
            raise usage_error(f"git warehouse {_q(text)}: a path cannot hold a NUL byte")
        anchor = os.fspath(base_dir) if base_dir is not None else os.getcwd()
        path = Path(os.path.abspath(os.path.join(anchor, rest)))
        return cls(text, str(path), "file", path)

    @classmethod
    def _http(cls, text: str, remote: str, parts: urllib.parse.SplitResult, scheme: str) -> GitRemote:
        host = parts.hostname or ""
        if not host:
            raise usage_error(f"git warehouse {_q(text)}: warehouse has empty host")
        if host.startswith("-"):
            raise usage_error(f"git warehouse {_q(text)}: warehouse host cannot start with '-'")
        if scheme == "http" and host.lower().endswith(_GITHUB):
            remote = urllib.parse.urlunsplit(("https", *parts[1:]))
            scheme = "https"
        kind: RemoteKind = "https" if scheme == "https" else "http"
        return cls(text, remote, kind)


def resolve_submodule_url(super_remote: str, url: str) -> str:
    """A ``.gitmodules`` URL, made absolute against the superproject's remote as git does.

    git (``builtin/submodule--helper.c`` ``relative_url``): only URLs starting
    with ``./`` or ``../`` are relative. The remote loses trailing slashes; each
    ``../`` then drops its last path component, ``./`` drops nothing, and the
    rest is appended after a ``/``. So ``../lib.git`` of
    ``https://host/team/app.git`` is ``https://host/team/lib.git``. Climbing
    past the host is refused: git would splice the rest in as a new host
    (``../../x`` of ``https://h/app.git`` is ``https://x``), which no one means.
    """
    if not (url.startswith("./") or url.startswith("../")):
        return url
    base = super_remote.strip().rstrip("/")
    rest = url
    while True:
        if rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("../"):
            rest = rest[3:]
            cut = base.rfind("/")
            if cut < 0 or base[:cut].endswith(":/") or base[:cut].endswith(":"):
                raise usage_error(f"submodule URL {_q(url)} climbs above the superproject's remote {_q(super_remote)}")
            base = base[:cut]
        else:
            break
    return f"{base}/{rest}" if rest else base
