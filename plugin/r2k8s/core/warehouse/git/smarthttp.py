"""A git smart HTTP client for fetching one commit (``Documentation/gitprotocol-http.txt``, ``-v2.txt``).

Two requests, through the warehouses' one HTTP stack
(:func:`r2k8s.core.warehouse.fetch.http_exchange`: paced reads, timeouts,
proxies except loopback, cut by a stop signal):

1. ``GET <url>/info/refs?service=git-upload-pack`` with ``Git-Protocol:
   version=2``. A server that speaks protocol v2 answers ``version 2`` and
   its capabilities; an older one (or one that ignores the header) answers
   with the v0 ref advertisement. This request is also rio's "is the
   warehouse there" ping (``NewController``'s ``ls-remote``): a refused
   connection, a 404 (no such repository), a 5xx or a dumb-HTTP server make
   the warehouse *unavailable*, and ``pick`` moves on.
2. ``POST <url>/git-upload-pack`` asking for a pack, ``done`` at once (one
   round: the haves are only commits the cache holds complete, so no
   negotiation is needed to stay honest):

   * v2: ``command=fetch`` with ``want <commit>`` -- v2 serves any object
     the repository has, so exactly the commit is asked for -- ``ofs-delta``,
     ``no-progress``; a server refusing the want ("not our ref") means the
     commit is not in this repository: *ware not found*;
   * v0: like a clone, as rio does: ``want`` every advertised tip, with
     ``side-band-64k ofs-delta no-progress`` (no ``multi_ack``: with ``done``
     sent there is nothing to negotiate); whether the commit came is for the
     caller to see in what arrived.

   Never ``thin-pack``: the pack must be complete on its own, so it can be
   indexed and verified before anything joins the cache.

The pack is handed to the caller's ``consume`` as a stream
(:class:`~r2k8s.core.warehouse.git.pktline.SidebandReader`), never buffered.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO, TypeVar, cast

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.warehouse.fetch import HTTP_TIMEOUT_SECONDS, ProgressRule, http_exchange
from r2k8s.core.warehouse.git.pktline import DELIM, FLUSH, PktReader, SidebandReader, encode_lines

__all__ = ["Advertisement", "discover", "fetch_pack"]

_T = TypeVar("_T")

_UNAVAILABLE = Category.WAREHOUSE_UNAVAILABLE
_NOT_FOUND = Category.WARE_NOT_FOUND

_SERVICE = "git-upload-pack"
_ADVERTISEMENT_TYPE = "application/x-git-upload-pack-advertisement"
_REQUEST_TYPE = "application/x-git-upload-pack-request"
_RESULT_TYPE = "application/x-git-upload-pack-result"
_ZERO_ID = "0" * 40
_AGENT = "r2k8s"


@dataclasses.dataclass
class Advertisement:
    """What ``info/refs`` said: the protocol version, capabilities, and (v0) the refs."""

    base_url: str
    """The repository URL requests go to (after a redirect of ``info/refs``, the redirected one, as git does)."""
    version: int
    """2, or 0 for the original protocol (v1 is v0 with a version line)."""
    capabilities: dict[str, str]
    refs: dict[str, str]
    """v0 only: ref name to object ID, peeled ``^{}`` entries left out."""
    received: int = 0
    """Bytes received for the advertisement."""

    @property
    def tips(self) -> list[str]:
        """The distinct object IDs the refs point at, in advertisement order."""
        return list(dict.fromkeys(oid for oid in self.refs.values() if oid != _ZERO_ID))


def _where(raw: str) -> str:
    return f"git warehouse {_q(raw)}"


def discover(
    url: str,
    raw: str,
    *,
    protocol_v2: bool = True,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
) -> Advertisement:
    """Ask ``url`` (a sanitised https/http remote) what it speaks; see the module docstring, step 1."""
    base = url.rstrip("/")
    where = _where(raw)

    def missing() -> R2k8sError:
        return R2k8sError(_UNAVAILABLE, f"warehouse unavailable: {where}: repository not found (HTTP 404)")

    headers = {"Git-Protocol": "version=2"} if protocol_v2 else {}
    body = http_exchange(
        f"{base}/info/refs?service={_SERVICE}", raw, headers=headers, not_found=missing, timeout=timeout,
        progress=progress,
    )  # fmt: skip
    with body.reader:
        if body.content_type.split(";")[0].strip() != _ADVERTISEMENT_TYPE:
            raise R2k8sError(
                _UNAVAILABLE,
                f"warehouse unavailable: {where} is not a smart git HTTP server (info/refs came back as"
                f" {_q(body.content_type or 'no content type')}; the dumb HTTP protocol is not supported)",
            )
        final = body.url.split("?", 1)[0]
        suffix = "/info/refs"
        base = final[: -len(suffix)] if final.endswith(suffix) else base
        advert = _parse_advertisement(PktReader(body.reader, where), base, where)
        advert.received = body.received
    return advert


def _parse_advertisement(packets: PktReader, base: str, where: str) -> Advertisement:
    first = packets.read_text()
    if first is not None and first.startswith("# service="):
        if first != f"# service={_SERVICE}":
            raise R2k8sError(_UNAVAILABLE, f"{where}: the server announced {_q(first)} for {_SERVICE}")
        if packets.read() is not None:
            raise R2k8sError(_UNAVAILABLE, f"{where}: no flush after the service announcement")
        first = packets.read_text(eof_ok=True)
    if first == "version 2":
        caps: dict[str, str] = {}
        while (line := packets.read_text()) is not None:
            key, _, value = line.partition("=")
            caps[key] = value
        if "fetch" not in caps:
            raise R2k8sError(_UNAVAILABLE, f"{where}: the server speaks protocol v2 but offers no fetch command")
        return Advertisement(base, 2, caps, {})
    if first == "version 1":
        first = packets.read_text(eof_ok=True)
    refs: dict[str, str] = {}
    caps = {}
    line = first
    index = 0
    while line is not None:
        if index == 0:
            line, _, cap_text = line.partition("\0")
            for cap in cap_text.split():
                key, _, value = cap.partition("=")
                caps[key] = value
        oid, _, name = line.partition(" ")
        if len(oid) != 40 or not name:
            raise R2k8sError(_UNAVAILABLE, f"{where}: a malformed ref advertisement line {_q(line)}")
        if not name.endswith("^{}") and name != "capabilities^{}":
            refs[name] = oid.lower()
        index += 1
        line = packets.read_text()
    return Advertisement(base, 0, caps, refs)


def _v2_request(advert: Advertisement, want: str, haves: Sequence[str]) -> bytes:
    args = ["ofs-delta", "no-progress", f"want {want}", *(f"have {h}" for h in haves), "done"]
    head = ["command=fetch"]
    if "agent" in advert.capabilities:
        head.append(f"agent={_AGENT}")
    if "object-format" in advert.capabilities:
        head.append("object-format=sha1")
    return encode_lines(head) + DELIM + encode_lines(args) + FLUSH


def _v0_request(advert: Advertisement, haves: Sequence[str], where: str) -> bytes:
    caps: list[str] = [c for c in ("side-band-64k", "ofs-delta", "no-progress") if c in advert.capabilities]
    if "side-band-64k" not in caps:
        raise R2k8sError(_UNAVAILABLE, f"{where}: the server does not offer side-band-64k, which r2k8s needs")
    if "agent" in advert.capabilities:
        caps.append(f"agent={_AGENT}")
    tips = advert.tips
    lines = [f"want {tips[0]} {' '.join(caps)}", *(f"want {t}" for t in tips[1:])]
    return encode_lines(lines) + FLUSH + encode_lines([*(f"have {h}" for h in haves), "done"])


def fetch_pack(
    advert: Advertisement,
    raw: str,
    want: str,
    haves: Sequence[str],
    consume: Callable[[BinaryIO], _T],
    *,
    log: LogFn | None = None,
    cancel: threading.Event | None = None,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    progress: ProgressRule | None = None,
) -> tuple[_T, int]:
    """Fetch a pack holding ``want`` (v2) or every tip (v0), minus what ``haves`` reach; see the module docstring.

    ``consume`` reads the pack stream (it must read it to its end) and its
    result is returned with the bytes received for this request. Raises
    WARE_NOT_FOUND when a v2 server refuses the want, and WAREHOUSE_UNAVAILABLE
    for a v0 repository with no refs (nothing to fetch) and any protocol failure.
    """
    where = _where(raw)
    if advert.version == 2:
        payload = _v2_request(advert, want, haves)
        extra = {"Git-Protocol": "version=2"}
    else:
        if not advert.tips:
            raise R2k8sError(_NOT_FOUND, f"{where} has no refs at all, so no commit {want} to fetch")
        payload = _v0_request(advert, haves, where)
        extra = {}
    body = http_exchange(
        f"{advert.base_url}/{_SERVICE}", raw, method="POST", body=payload,
        headers={"Content-Type": _REQUEST_TYPE, "Accept": _RESULT_TYPE, **extra}, timeout=timeout, progress=progress,
    )  # fmt: skip
    with body.reader:
        if body.content_type.split(";")[0].strip() != _RESULT_TYPE:
            raise R2k8sError(
                _UNAVAILABLE, f"{where}: the fetch came back as {_q(body.content_type or 'no content type')}"
            )
        packets = PktReader(body.reader, where)
        _skip_to_pack(packets, advert.version, want, where)
        stream = SidebandReader(packets, where, log, cancel)
        value = consume(cast(BinaryIO, stream))
        _drain(stream, where)
    return value, body.received


def _refusal(line: str, want: str, where: str) -> R2k8sError:
    message = line.removeprefix("ERR ").strip()
    if "not our ref" in message or "not found" in message or "no such" in message.lower():
        return R2k8sError(_NOT_FOUND, f"commit {want} is not in {where} (the server said: {message})")
    return R2k8sError(_UNAVAILABLE, f"{where}: the server failed: {message}")


def _skip_to_pack(packets: PktReader, version: int, want: str, where: str) -> None:
    """Read up to the pack: v2's section headers, v0's ACK/NAK lines; an ``ERR`` line is the server's refusal."""
    while True:
        data = packets.read(eof_ok=True)
        if data is None:
            if packets.last_special == b"":
                raise R2k8sError(
                    _NOT_FOUND if version == 2 else _UNAVAILABLE,
                    f"{where}: the server ended the fetch without sending a pack"
                    + (f" (it does not have commit {want})" if version == 2 else ""),
                )
            continue
        text = data.decode("utf-8", "replace").removesuffix("\n")
        if text.startswith("ERR "):
            raise _refusal(text, want, where)
        if version == 2:
            if text == "packfile":
                return
            if text in ("acknowledgments", "shallow-info", "wanted-refs", "packfile-uris"):
                continue
            if data[:1] in (b"\x01", b"\x02", b"\x03") or any(
                text.startswith(p) for p in ("ACK ", "NAK", "ready", "shallow ", "unshallow ")
            ):
                continue
            raise R2k8sError(_UNAVAILABLE, f"{where}: an unexpected line {_q(text[:80])} before the pack")
        if text.startswith("ACK ") or text == "NAK" or text.startswith("shallow ") or text.startswith("unshallow "):
            continue
        if data[:1] in (b"\x01", b"\x02", b"\x03"):
            packets.push_back(data)
            return
        raise R2k8sError(_UNAVAILABLE, f"{where}: an unexpected line {_q(text[:80])} before the pack")


def _drain(stream: SidebandReader, where: str) -> None:
    """Whatever the indexer left must be nothing: bytes after the pack's checksum are a broken server."""
    extra = stream.read(1)
    if extra:
        raise R2k8sError(_UNAVAILABLE, f"{where}: the server sent data after the end of the pack")
