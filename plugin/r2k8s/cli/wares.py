"""``r2k8s scan``, ``pack`` and ``unpack``: ware IDs and tar, zip and git wares as rio computes and writes them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from r2k8s.cli.console import Subparsers, log
from r2k8s.core.errors import Category, R2k8sError

if TYPE_CHECKING:
    from r2k8s.core.ware.filters import Filters
    from r2k8s.core.ware.wareid import WareID

__all__ = ["add_parsers", "cmd_pack", "cmd_scan", "cmd_unpack"]


_PACKTYPE_HELP = "tar (default) or zip; given explicitly, as rio's pack type argument is"


def add_parsers(sub: Subparsers) -> None:
    filters_help = "rio filter string, e.g. 'uid=1000,gid=1000,mtime=@1262304000' or a named set ('{}') with overrides"
    p = sub.add_parser(
        "scan", help="print the ware ID of a tarball (gzip, bzip2, xz or plain) or, with --packtype zip, a zip"
    )
    p.add_argument("source", help="a tarball path, or a file:// or http(s):// URL naming one ware")
    p.add_argument("--filters", help=filters_help.format("conservative (default), lossless, lowpriv"))
    p.add_argument("--legacy", action="store_true", help="print repeatr v0.15's legacy tree hash (base64url) instead")
    p.add_argument("--packtype", default="tar", choices=["tar", "zip"], help=_PACKTYPE_HELP)
    p.set_defaults(run=cmd_scan)

    p = sub.add_parser("pack", help="pack a directory (or one file) into a tar (or zip) ware and print its ID")
    p.add_argument("dir", metavar="PATH", help="a directory, or a regular file (packed as rio does: one entry '.')")
    p.add_argument("--filters", help=filters_help.format("conservative (default), flatten, lossless"))
    p.add_argument("--target", help="warehouse to save to: file://PATH or ca+file://DIR (default: hash only)")
    p.add_argument(
        "--compression",
        choices=["gzip", "none"],
        default="gzip",
        help="compression of the saved tar (default gzip, like rio)",
    )
    p.add_argument("--packtype", default="tar", choices=["tar", "zip"], help=_PACKTYPE_HELP)
    p.set_defaults(run=cmd_pack)

    p = sub.add_parser("unpack", help="fetch, verify and unpack a ware into a directory; print the resulting ware ID")
    p.add_argument("ware_id", metavar="WAREID")
    p.add_argument(
        "dir",
        help="target directory: must not exist or be empty; it is filled only if the ware verifies (a ware that is"
        " one file becomes the file DIR)",
    )
    p.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="URL",
        help="warehouse URL; repeat to give fallbacks, tried in order",
    )
    p.add_argument("--filters", help=filters_help.format("lowpriv (default), lossless, conservative"))
    p.set_defaults(run=cmd_unpack)


def cmd_scan(args: argparse.Namespace) -> str:
    from r2k8s.core.ware import filters as flt
    from r2k8s.core.ware.ingest import ingest_tar, ingest_zip
    from r2k8s.core.warehouse.fetch import open_url

    filters = _filters(flt.UNPACK, args.filters, flt.UNPACK_CONSERVATIVE)
    if args.packtype == "zip" and args.legacy:
        raise R2k8sError(Category.USAGE, "--legacy hashes exist only for tar wares")
    source = args.source if "://" in args.source else Path(args.source)
    stream: BinaryIO
    if isinstance(source, Path):
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed by the "with stream" below, with either kind
        except OSError as exc:
            raise R2k8sError(Category.WARE_NOT_FOUND, f"cannot read {args.source!r}: {exc.strerror}") from None
    else:
        stream = open_url(source, Path.cwd())
    with stream:
        if args.packtype == "zip":
            result = ingest_zip(stream, filters, log=log)
        else:
            result = ingest_tar(stream, filters, log=log, packtype=args.packtype, legacy=args.legacy)
    return str(result.filtered_id.hash if args.legacy else result.filtered_id)


def cmd_pack(args: argparse.Namespace) -> str:
    from r2k8s.core.ware import filters as flt
    from r2k8s.core.ware.pack import pack_tree
    from r2k8s.core.warehouse.save import begin_save

    filters = _filters(flt.PACK, args.filters, flt.PACK_CONSERVATIVE)
    root = Path(args.dir)
    if not args.target or not os.path.lexists(root):
        # rio: a missing path is tar:- before the target is opened
        return str(pack_tree(root, filters, None, packtype=args.packtype))
    with begin_save(args.target, Path.cwd(), log) as sink:
        ware_id = pack_tree(root, filters, sink.file, compression=args.compression, packtype=args.packtype)
        if not ware_id.hash:
            return str(ware_id)
        location = sink.commit(ware_id)
    log(f"saved {ware_id} to {location}")
    return str(ware_id)


def cmd_unpack(args: argparse.Namespace) -> str:
    from r2k8s.core.ware import filters as flt
    from r2k8s.core.ware.unpack import unpack_ware
    from r2k8s.core.ware.wareid import WareID
    from r2k8s.core.warehouse.fetch import open_ware

    ware_id = WareID.parse(args.ware_id)
    filters = _filters(flt.UNPACK, args.filters, flt.UNPACK_LOWPRIV)
    if ware_id.packtype == "git":
        return _unpack_git(ware_id, args.source, Path(args.dir), filters)
    stream, location = open_ware(ware_id, args.source, Path.cwd(), log)
    with stream:
        result = unpack_ware(ware_id, stream, Path(args.dir), filters, log)
    log(f"unpacked {ware_id} from {location} into {args.dir}")
    return str(result)


def _unpack_git(ware_id: WareID, sources: list[str], target: Path, filters: Filters) -> str:
    """rio's git transmat: the commit from the first repository that has it, objects kept per remote in the cache.

    The objects go under the ware cache's ``git/objs`` (``$R2K8S_CACHE``, as
    for runs), as rio keeps them under its cache base path, so a second
    commit of the same repository fetches only what is new. rio prints the
    ware ID it was asked for; so does this.
    """
    from r2k8s.core.warehouse.cache import default_root
    from r2k8s.core.warehouse.git.wares import fetch_git_tree

    fetch_git_tree(ware_id, sources, target, filters, default_root(), Path.cwd(), log)
    log(f"unpacked {ware_id} into {target}")
    return str(ware_id)


def _filters(mode: str, text: str | None, default: Filters) -> Filters:
    from r2k8s.core.ware.filters import Filters

    if text is None:
        return default
    return Filters.parse(mode, text).with_defaults(default)
