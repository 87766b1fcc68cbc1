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

import contextlib
import io
import dataclasses
import ipaddress
import os
import posixpath
import re
import secrets
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, cast

from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.wareid import WareID

__all__ = [
    "HTTP_TIMEOUT_SECONDS",
    "LogFn",
    "WareSink",
    "WarehouseURL",
    "begin_save",
    "open_url",
    "open_ware",
]

LogFn = Callable[[str], None]
"""Receives one human-readable line, prefixed ``warn: `` or ``info: `` like rio's log levels."""

HTTP_TIMEOUT_SECONDS = 60.0
"""Per socket operation (connect, each read), not for the whole download.

rio uses Go's ``http.Get`` with no timeout at all; a bound keeps a silent server
from hanging a build forever while still allowing arbitrarily long downloads.
"""

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


def shard_dirs(hash_: str) -> tuple[str, str]:
    """The two shard directory names: ``H[0:3]`` and ``H[3:6]``, '-'-padded to 7 chars.

    The padding applies to the directory names only; the file keeps the real hash.
    """
    padded = hash_ + "-" * max(0, 7 - len(hash_))
    return padded[0:3], padded[3:6]


def _checked_hash(ware_id: WareID) -> str:
    """The ware's hash, refused if it could not be a single file name.

    rio joins the hash into the path unchecked; a hash such as ``../../x`` would
    then escape the warehouse, so it is refused here rather than copied.
    """
    hash_ = ware_id.hash
    if not hash_ or hash_ in (".", "..") or "/" in hash_ or "\0" in hash_:
        raise usage_error(f"ware ID {_q(ware_id)} has a hash that cannot name a file in a warehouse")
    return hash_


def _guid() -> str:
    return secrets.token_hex(12)


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
        if any(ord(c) < 0x20 or c == "\x7f" for c in text):
            # Go refuses these; urlsplit would silently drop tabs and newlines.
            raise usage_error(f"failed to parse URI {_q(text)}: invalid control character in URL")
        try:
            parts = urllib.parse.urlsplit(text)
        except ValueError as exc:
            raise usage_error(f"failed to parse URI {_q(text)}: {exc}") from None
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
        hash_ = _checked_hash(ware_id)
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
        hash_ = _checked_hash(ware_id)
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

    def _open(self, ware_id: WareID, timeout: float) -> tuple[BinaryIO, str]:
        """Open the ware for streaming. WARE_NOT_FOUND is the only error that falls back."""
        location = self.location_for(ware_id)
        if self.kind == "file":
            return _open_file(Path(location), f"ware {ware_id}", self.raw), location
        return _open_http(location, ware_id, self.raw, timeout), location


def _file_path(text: str, parts: urllib.parse.SplitResult, base_dir: Path | None) -> Path:
    """rio's ``filepath.Abs(filepath.Join(u.Host, u.Path))``, anchored at ``base_dir``."""
    if not text.split(":", 1)[1].startswith("/"):
        # Go would parse "file:x" as an opaque URL with an empty path, i.e. the cwd
        # itself; silently using the cwd is never what was meant.
        raise usage_error(f"file URL {_q(text)} must be written 'file://relative/path' or 'file:///absolute/path'")
    host = parts.netloc.rpartition("@")[2]  # Go's u.Host excludes any userinfo
    rel = _go_path_join(urllib.parse.unquote(host), urllib.parse.unquote(parts.path))
    anchor = os.fspath(base_dir) if base_dir is not None else os.getcwd()
    return Path(os.path.abspath(os.path.join(anchor, rel)))


def _http_base(text: str, parts: urllib.parse.SplitResult, kind: Kind) -> str:
    """The transport URL: scheme without ``ca``, path escaped like Go's ``u.String()``."""
    if _BAD_PERCENT.search(parts.path) or _BAD_PERCENT.search(parts.netloc):
        raise usage_error(f"failed to parse URI {_q(text)}: invalid URL escape")
    path = urllib.parse.quote(parts.path, safe=_GO_PATH_SAFE + "%")
    return urllib.parse.urlunsplit((kind, parts.netloc, path, parts.query, ""))


def _open_file(path: Path, what: str, raw: str) -> BinaryIO:
    """Open a ware file; only ENOENT means "not here" (ENOTDIR, EISDIR, EACCES... abort)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise R2k8sError(_NOT_FOUND, f"{what} not found in warehouse {raw} ({path} does not exist)") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise R2k8sError(
            _UNAVAILABLE, f"{what} could not be retrieved from warehouse {raw}: {path}: {reason}"
        ) from None


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_http(url: str, ware_id: WareID | None, raw: str, timeout: float) -> BinaryIO:
    """GET ``url``; 200 streams, 404 is WARE_NOT_FOUND, everything else WAREHOUSE_UNAVAILABLE.

    Proxies come from the environment, except for loopback hosts, which Go's
    ``ProxyFromEnvironment`` never proxies either.
    """
    proxies: dict[str, str] | None = {} if _is_loopback(urllib.parse.urlsplit(url).hostname) else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
    request = urllib.request.Request(url, headers={"User-Agent": "r2k8s"})
    what = f"ware {ware_id}" if ware_id is not None else "ware"
    try:
        response = cast(HTTPResponse, opener.open(request, timeout=timeout))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise R2k8sError(_NOT_FOUND, f"{what} not found in warehouse {raw} (HTTP 404 from {url})") from None
        raise R2k8sError(
            _UNAVAILABLE, f"unexpected HTTP code from warehouse {raw}: {exc.code} {exc.reason} (GET {url})"
        ) from None
    except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise R2k8sError(_UNAVAILABLE, f"error connecting to warehouse {raw}: {reason} (GET {url})") from None
    if response.status != 200:  # rio accepts exactly 200, not any 2xx
        status = f"{response.status} {response.reason}"
        response.close()
        raise R2k8sError(_UNAVAILABLE, f"unexpected HTTP code from warehouse {raw}: {status} (GET {url})")
    return cast(BinaryIO, _TransferReader(response, raw))


class _TransferReader(io.RawIOBase):
    """An HTTP body whose mid-transfer failures say so.

    A dropped connection or a read timeout halfway through a download is the
    warehouse's fault, not the ware's: without this wrapper the tar reader
    would report it as a corrupt ware.
    """

    def __init__(self, response: HTTPResponse, raw: str) -> None:
        self._response = response
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._response.readinto(buffer)
        except (OSError, HTTPException) as exc:
            raise R2k8sError(
                _UNAVAILABLE, f"reading from warehouse {self._raw} failed mid-transfer: {exc or type(exc).__name__}"
            ) from None

    def close(self) -> None:
        self._response.close()
        super().close()


def open_ware(
    ware_id: WareID,
    urls: Sequence[str],
    base_dir: Path | None = None,
    log: LogFn | None = None,
    *,
    timeout: float = HTTP_TIMEOUT_SECONDS,
) -> tuple[BinaryIO, str]:
    """Open ``ware_id`` from the first warehouse in ``urls`` that has it.

    Returns a streaming binary reader (the caller closes it) and the location
    opened (a file path or http URL). Follows rio's ``PickReader``: a missing
    warehouse or a missing ware moves on to the next URL; any other error
    aborts. With nothing usable at all the error is WAREHOUSE_UNAVAILABLE (exit
    3), otherwise WARE_NOT_FOUND (exit 5). A bad URL aborts when it is reached.
    """
    emit = log or (lambda _line: None)
    any_available = False
    tried: list[str] = []
    for raw in urls:
        warehouse = WarehouseURL.parse(raw, base_dir)
        try:
            warehouse._dial("read")
        except R2k8sError as exc:
            emit(f"warn: {_UNAVAILABLE.wire_name} while dialing warehouse {_q(raw)} for read: {exc}")
            tried.append(f"{raw} (unavailable: {exc})")
            continue
        any_available = True
        try:
            reader, location = warehouse._open(ware_id, timeout)
        except R2k8sError as exc:
            if exc.category is not _NOT_FOUND:
                raise
            emit(f"info: {_NOT_FOUND.wire_name} from warehouse {_q(raw)} for ware {_q(ware_id)}")
            tried.append(f"{raw} (not found)")
            continue
        emit(f"info: read for ware {_q(ware_id)} opened from warehouse {_q(raw)}")
        return reader, location
    looked = f" (tried: {'; '.join(tried)})" if tried else " (no warehouse URLs were given)"
    if not any_available:
        raise R2k8sError(_UNAVAILABLE, f"no warehouses were available!{looked}")
    raise R2k8sError(_NOT_FOUND, f"none of the available warehouses have ware {_q(ware_id)}!{looked}")


def open_url(url: str, base_dir: Path | None = None, *, timeout: float = HTTP_TIMEOUT_SECONDS) -> BinaryIO:
    """Open the single ware a non-CA URL names (``rio scan``'s "mono" warehouse).

    CA URLs are a usage error: without a ware ID there is nothing to look up.
    """
    warehouse = WarehouseURL.parse(url, base_dir)
    if warehouse.content_addressed:
        raise usage_error(
            f"this operation doesn't support {_q(warehouse.scheme)} scheme"
            " (a single-ware warehouse is required, not CA-mode)"
        )
    warehouse._dial("read")
    if warehouse.kind == "file":
        assert warehouse.path is not None
        return _open_file(warehouse.path, "ware", url)
    assert warehouse.base_url is not None
    return _open_http(warehouse.base_url, None, url, timeout)


class WareSink:
    """A ware being saved: write to :attr:`file`, then :meth:`commit` or :meth:`abort`.

    The bytes go to ``.tmp.upload.*`` in the destination directory (same
    filesystem, so the final rename is atomic); the ware appears at its final
    path only on commit. As a context manager it aborts unless committed.
    """

    def __init__(self, url: str, warehouse: WarehouseURL | None, staging: Path | None, file: BinaryIO) -> None:
        self.url = url
        self.file = file
        self.staging_path = staging
        self._warehouse = warehouse
        self._done = False

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def commit(self, ware_id: WareID) -> str:
        """Flush and fsync, move the ware to its final path and return that path.

        CA warehouses get the two shard directories (0755) created as needed.
        Failures are WAREHOUSE_UNWRITABLE and leave no staging file behind. A sink
        for the empty URL (pack without saving) just discards and returns "".
        """
        if self._done:
            raise RuntimeError("this ware sink was already committed or aborted")
        if self._warehouse is None or self.staging_path is None:
            self._done = True
            self.file.close()
            return ""
        try:
            final = self._warehouse._file_location(ware_id)
        except R2k8sError:
            self.abort()
            raise
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            if self._warehouse.content_addressed and not self._warehouse.legacy_flat:
                for shard in (final.parent.parent, final.parent):
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(shard, 0o755)
            os.rename(self.staging_path, final)
        except OSError as exc:
            self.abort()
            raise R2k8sError(
                _UNWRITABLE, f"failed to commit ware {ware_id} to warehouse {self.url}: {exc.strerror or exc}"
            ) from None
        self._done = True
        _fsync_dir(final.parent)
        return str(final)

    def abort(self) -> None:
        """Drop the staged bytes. Safe to call more than once, and after a failed commit."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self.file.close()
        if self.staging_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.staging_path)

    def __enter__(self) -> WareSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; best effort, since the ware is already in place."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(warehouse: WarehouseURL, log: LogFn | None = None) -> None:
    """Dial a file warehouse for writing as rio does: WAREHOUSE_UNAVAILABLE (logged) if it is missing."""
    try:
        warehouse._dial("write")
    except R2k8sError as exc:
        if log is not None:
            log(f"warn: {exc.category.wire_name} while dialing warehouse {_q(warehouse.raw)} for write: {exc}")
        raise


def begin_save(url: str, base_dir: Path | None = None, log: LogFn | None = None) -> WareSink:
    """Reserve staging space in a file warehouse and return the sink to write the ware to.

    Like rio: a missing warehouse (CA base dir, or the target's parent dir) is
    WAREHOUSE_UNAVAILABLE and is never created; failing to create the staging
    file is WAREHOUSE_UNWRITABLE; http(s) warehouses are refused as
    WAREHOUSE_UNWRITABLE. The empty URL means "pack but don't save" (rio's null
    write controller): the sink discards everything.
    """
    if url == "":
        return WareSink(url, None, None, cast(BinaryIO, open(os.devnull, "wb")))
    warehouse = WarehouseURL.parse(url, base_dir)
    if warehouse.kind != "file":
        raise R2k8sError(
            _UNWRITABLE,
            f"cannot save to warehouse {url}: http warehouses are readonly!"
            " (only 'file://' and 'ca+file://' warehouses can be written)",
        )
    check_writable(warehouse, log)
    assert warehouse.path is not None
    if warehouse.content_addressed:
        staging = warehouse.path / f".tmp.upload.{_guid()}"
    else:
        staging = warehouse.path.parent / f".tmp.upload.{warehouse.path.name}.{_guid()}"
    try:
        fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise R2k8sError(
            _UNWRITABLE, f"failed to reserve temp space in warehouse {url}: {staging}: {exc.strerror or exc}"
        ) from None
    return WareSink(url, warehouse, staging, os.fdopen(fd, "wb"))
