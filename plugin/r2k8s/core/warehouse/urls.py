"""Warehouses: where wares are fetched from and saved to, exactly as rio does it.

A warehouse is named by a URL. Its scheme says how to reach it and whether it
is content-addressed (CA):

=================================  ======================================  =========
scheme                             where ``tar:H`` lives                   writable
=================================  ======================================  =========
``file://P``                       the file ``P`` itself                   yes
``ca+file://B``                    ``B/H[0:3]/H[3:6]/H``                   yes
``http(s)://U``                    the URL ``U`` itself                    no
``ca+http(s)://U``                 ``U/H[0:3]/H[3:6]/H``                   no
``file+ca://B`` (legacy, flat)     ``B/H``                                 yes
``http(s)+ca://U`` (legacy, flat)  ``U/H``                                 no
=================================  ======================================  =========

The rules copied from rio (``transmat/util/warehouse.go`` ``PickReader``,
``warehouse/impl/kvfs``, ``kvhttp``, ``warehouse/util``) and why they matter:

* A file URL's path is ``Join(host, path)``: ``file://./x`` is the relative path
  ``x``, ``file://../x`` is ``../x``, ``file:///x`` is ``/x``. Relative paths are
  resolved against the formula's folder when the caller gives one.
* Fetching tries the URLs strictly in order and moves on *only* when the
  warehouse is missing ("unavailable at dial": for files, the CA base dir or the
  non-CA file's parent dir does not exist; http never fails at dial) or the ware
  is missing (no such file, or HTTP 404). Anything else -- a 403 from S3, a 500,
  a refused connection -- stops the fetch, because quietly trying elsewhere would
  hide a broken mirror.
* Saving stages the bytes in the warehouse directory and renames them into
  place, so a reader never sees a partial ware at its final path.

Only the standard library is used: this module runs inside stock Python images.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import posixpath
import re
import stat
import urllib.parse
from pathlib import Path
from typing import Literal

from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.ware.wareid import WareID

__all__ = ["WarehouseURL", "hash_file_name", "shard_dirs", "split_url", "without_userinfo"]


Kind = Literal["file", "http", "https"]


# scheme -> (transport kind, content-addressed, legacy flat layout)
_SCHEMES: dict[str, tuple[Kind, bool, bool]] = {
    "file": ("file", False, False),
    "ca+file": ("file", True, False),
    "http": ("http", False, False),
    "ca+http": ("http", True, False),
    "https": ("https", False, False),
    "ca+https": ("https", True, False),
    # repeatr <= 0.15 silos: "+ca" suffix, and the ware sits directly under the base.
    "file+ca": ("file", True, True),
    "http+ca": ("http", True, True),
    "https+ca": ("https", True, True),
}


_VALID_SCHEMES_TEXT = (
    "valid options are 'file', 'ca+file', 'http', 'ca+http', 'https', or 'ca+https';"
    " the legacy 'file+ca', 'http+ca' and 'https+ca' are also accepted"
)


# Characters Go's url.URL.EscapedPath leaves alone in a path (encodePath mode).
_GO_PATH_SAFE = "/$&+,:;=@"


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE


_UNWRITABLE = Category.WAREHOUSE_UNWRITABLE


_NOT_FOUND = Category.WARE_NOT_FOUND


def _go_path_join(*elems: str) -> str:
    """Go's ``path.Join``/``filepath.Join`` on POSIX: skip empty parts, then clean.

    ``os.path.join`` would restart at an absolute part (``join('..', '/x')`` is
    ``/x``) while Go gives ``../x``; file URLs depend on Go's answer.
    """
    parts = [e for e in elems if e]
    if not parts:
        return ""
    cleaned = posixpath.normpath("/".join(parts))
    if cleaned.startswith("//"):  # POSIX keeps a leading '//', Go does not.
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def split_url(text: str) -> urllib.parse.SplitResult:
    """``text`` split as a URL, refused (a usage error) where Go's ``url.Parse`` refuses it.

    Control characters are refused first: Go refuses them, and ``urlsplit``
    would silently drop tabs and newlines.
    """
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise usage_error(f"failed to parse URI {_q(text)}: invalid control character in URL")
    try:
        return urllib.parse.urlsplit(text)
    except ValueError as exc:
        raise usage_error(f"failed to parse URI {_q(text)}: {exc}") from None


def without_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@``, and the HTTP basic ``Authorization`` value they make (or ``None``).

    Go's HTTP client sends a URL's userinfo as basic auth (``req.SetBasicAuth``
    with the unescaped user name and password; no password is an empty one),
    which is how rio reaches a warehouse or git remote that needs a login;
    urllib would take ``user:password@host`` for a host name. The URL that is
    left is what requests, redirects and messages use.
    """
    parts = split_url(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), "Basic " + base64.b64encode(token).decode("ascii")


def shard_dirs(hash_: str) -> tuple[str, str]:
    """The two shard directory names: ``H[0:3]`` and ``H[3:6]``, '-'-padded to 7 chars.

    The padding applies to the directory names only; the file keeps the real hash.
    """
    padded = hash_ + "-" * max(0, 7 - len(hash_))
    return padded[0:3], padded[3:6]


def hash_file_name(ware_id: WareID, what: str = "a file in a warehouse") -> str:
    """The ware's hash, to be used as one file name; a usage error (it ``cannot name`` ``what``) otherwise.

    The one check wherever a hash becomes a file name (a warehouse's wares,
    the ware cache's entries). Refused: the empty hash; one holding ``/`` or
    NUL; and one starting with ``.``. rio joins the hash into the path
    unchecked, so ``../../x`` would escape the warehouse. A leading dot is
    refused as a whole, not just ``.`` and ``..``: dot names are where this
    code stages and locks (a warehouse's ``.tmp.upload.*`` files sit right
    beside the wares of a flat legacy warehouse, and the cache keeps its
    ``.tmp`` and ``.locks``), so a ware named ``.tmp.upload.…`` could read or
    replace another save's half-written file. No real ware is refused: rio's
    hashes are base58 and repeatr v0.15's legacy ones base64url, and neither
    alphabet has a ``.``.
    """
    hash_ = ware_id.hash
    if not hash_ or hash_.startswith(".") or "/" in hash_ or "\0" in hash_:
        raise usage_error(f"ware ID {_q(ware_id)} has a hash that cannot name {what}")
    return hash_


@dataclasses.dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL.

    ``path`` is set for file warehouses (absolute: the CA base dir, or the ware
    file itself for non-CA); ``base_url`` is set for http(s) warehouses (the
    transport URL, with ``ca+``/``+ca`` removed from the scheme).
    """

    raw: str
    scheme: str
    kind: Kind
    content_addressed: bool
    legacy_flat: bool
    path: Path | None = None
    base_url: str | None = None

    @classmethod
    def parse(cls, text: str, base_dir: Path | None = None) -> WarehouseURL:
        """Parse ``text``; relative file paths resolve against ``base_dir`` (else the cwd).

        Raises a usage error for unparsable URLs and unknown schemes.
        """
        if not isinstance(text, str):
            raise usage_error(f"warehouse URL must be a string, not {type(text).__name__}")
        parts = split_url(text)
        scheme = parts.scheme.lower()
        if not scheme:
            raise usage_error(
                f"warehouse URL {_q(text)} has no scheme; urls must always have a scheme"
                " (e.g. start with 'file://', 'ca+file://', or similar)"
            )
        if scheme not in _SCHEMES:
            raise usage_error(f"unsupported scheme {_q(scheme)} in warehouse URL {_q(text)} ({_VALID_SCHEMES_TEXT})")
        kind, ca, flat = _SCHEMES[scheme]
        path = _file_path(text, parts, base_dir) if kind == "file" else None
        base_url = _http_base(text, parts, kind) if kind != "file" else None
        return cls(text, scheme, kind, ca, flat, path=path, base_url=base_url)

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    def location_for(self, ware_id: WareID) -> str:
        """The file path or http URL where this warehouse keeps ``ware_id``.

        For non-CA URLs that is the URL's own target, whatever the ware.
        """
        if self.kind == "file":
            assert self.path is not None
            return str(self._file_location(ware_id))
        assert self.base_url is not None
        if not self.content_addressed:
            return self.base_url
        hash_ = hash_file_name(ware_id)
        parts = urllib.parse.urlsplit(self.base_url)
        base_path = urllib.parse.unquote(parts.path)
        if self.legacy_flat:
            joined = _go_path_join(base_path, hash_)
        else:
            joined = _go_path_join(base_path, *shard_dirs(hash_), hash_)
        if not joined.startswith("/"):
            joined = "/" + joined
        path = urllib.parse.quote(joined, safe=_GO_PATH_SAFE)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    def _file_location(self, ware_id: WareID) -> Path:
        assert self.path is not None
        if not self.content_addressed:
            return self.path
        hash_ = hash_file_name(ware_id)
        if self.legacy_flat:
            return self.path / hash_
        first, second = shard_dirs(hash_)
        return self.path / first / second / hash_

    def _dial(self, mode: str) -> None:
        """Check the warehouse exists, as rio's controller constructors do.

        Raises WAREHOUSE_UNAVAILABLE, the one error that falls back to the next URL
        at this stage. http warehouses are never checked: rio considers that as
        costly as starting the download.
        """
        if self.kind != "file":
            return
        assert self.path is not None
        # Non-CA: the URL names the ware itself, which may legitimately not exist
        # yet (a save), so the warehouse is its parent directory.
        check = self.path if self.content_addressed else self.path.parent
        try:
            is_dir = stat.S_ISDIR(os.stat(check).st_mode)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise R2k8sError(
                _UNAVAILABLE, f"warehouse {_q(self.raw)} does not exist ({check}: {exc.strerror})"
            ) from None
        except OSError as exc:
            raise R2k8sError(
                _UNAVAILABLE, f"warehouse {_q(self.raw)} unavailable for {mode} ({check}: {exc.strerror or exc})"
            ) from None
        if not is_dir:
            raise R2k8sError(_UNAVAILABLE, f"warehouse {_q(self.raw)} does not exist ({check} is not a dir)")


def _file_path(text: str, parts: urllib.parse.SplitResult, base_dir: Path | None) -> Path:
    """rio's ``filepath.Abs(filepath.Join(u.Host, u.Path))``, anchored at ``base_dir``."""
    if not text.split(":", 1)[1].startswith("/"):
        # Go would parse "file:x" as an opaque URL with an empty path, i.e. the cwd
        # itself; silently using the cwd is never what was meant.
        raise usage_error(f"file URL {_q(text)} must be written 'file://relative/path' or 'file:///absolute/path'")
    host = parts.netloc.rpartition("@")[2]  # Go's u.Host excludes any userinfo
    rel = _go_path_join(urllib.parse.unquote(host), urllib.parse.unquote(parts.path))
    if "\0" in rel:  # "%00": Go builds the path, and the open fails; here it would be a bare ValueError
        raise usage_error(f"file URL {_q(text)} holds an escaped NUL byte (%00), which no file path can")
    anchor = os.fspath(base_dir) if base_dir is not None else os.getcwd()
    return Path(os.path.abspath(os.path.join(anchor, rel)))


def _http_base(text: str, parts: urllib.parse.SplitResult, kind: Kind) -> str:
    """The transport URL: scheme without ``ca``, path escaped like Go's ``u.String()``."""
    if _BAD_PERCENT.search(parts.path) or _BAD_PERCENT.search(parts.netloc):
        raise usage_error(f"failed to parse URI {_q(text)}: invalid URL escape")
    path = urllib.parse.quote(parts.path, safe=_GO_PATH_SAFE + "%")
    return urllib.parse.urlunsplit((kind, parts.netloc, path, parts.query, ""))
