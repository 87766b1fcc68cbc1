"""Reading wares from warehouses with rio's fallback order (``PickReader``).

:func:`open_ware` tries a ware's URLs strictly in order and moves on *only*
when the warehouse is missing or the ware is not there; any other failure
stops the fetch, because quietly trying elsewhere would hide a broken mirror.
:func:`open_url` opens the single ware a non-CA URL names (``rio scan``).
Standard library only.
"""

from __future__ import annotations

import io
import ipaddress
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any, BinaryIO, cast

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError, usage_error
from r2k8s.core.errors import quote as _q
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.urls import WarehouseURL

__all__ = ["HTTP_TIMEOUT_SECONDS", "open_url", "open_ware"]


HTTP_TIMEOUT_SECONDS = 60.0
"""Per socket operation (connect, each read), not for the whole download.

rio uses Go's ``http.Get`` with no timeout at all; a bound keeps a silent server
from hanging a build forever while still allowing arbitrarily long downloads.
"""


_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE


_UNWRITABLE = Category.WAREHOUSE_UNWRITABLE


_NOT_FOUND = Category.WARE_NOT_FOUND


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


def _open_ware_at(warehouse: WarehouseURL, ware_id: WareID, timeout: float) -> tuple[BinaryIO, str]:
    """Open the ware in one warehouse for streaming. WARE_NOT_FOUND is the only error that falls back."""
    location = warehouse.location_for(ware_id)
    if warehouse.kind == "file":
        return _open_file(Path(location), f"ware {ware_id}", warehouse.raw), location
    return _open_http(location, ware_id, warehouse.raw, timeout), location


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
            reader, location = _open_ware_at(warehouse, ware_id, timeout)
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
