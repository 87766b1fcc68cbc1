"""``r2k8s cache verify [--repair] [--cache DIR]``: re-hash the ware cache's entries; remove the bad ones.

stdout lists the bad entries, one per line (the ware ID, or the path of
something that is no entry); stderr says what is wrong with each and sums
up. Exit 0 when every entry verifies (or, with ``--repair``, when every bad
one was removed), 7 (``rio-hash-mismatch``) when bad entries were found and
left in place, 9 when the cache itself cannot be read or an entry cannot be
removed.
"""

from __future__ import annotations

import argparse
import sys

from r2k8s.cli.console import Parser, Subparsers, log
from r2k8s.core.errors import Category, R2k8sError, usage_error

__all__ = ["add_parsers", "cmd_verify"]


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("cache", help="look after the ware cache (verify)")
    p.set_defaults(run=_no_action)
    actions = p.add_subparsers(dest="cache_action", metavar="ACTION", parser_class=Parser)
    v = actions.add_parser(
        "verify",
        help="re-hash every cache entry against its ware ID; with --repair, remove the bad ones",
        description="Re-hash every entry of the ware cache and compare it with the ware ID it is stored under. "
        "Run it after a host compromise or disk errors, and before trusting a cache shared between machines or "
        "pods (a hostPath cache). Bad entries are listed on stdout; --repair removes them (each in one step, "
        "so no half-removed entry is ever looked up), and the next run fetches them again. "
        "Exit 0: all good (or all bad ones removed); 7: bad entries left in place; 9: the cache is unusable.",
    )
    v.add_argument("--repair", action="store_true", help="remove the bad entries")
    v.add_argument("--cache", metavar="DIR", help="the ware cache (default $R2K8S_CACHE or ~/.cache/r2k8s/wares)")
    v.set_defaults(run=cmd_verify)


def _no_action(_args: argparse.Namespace) -> None:
    raise usage_error("'r2k8s cache' needs an action: verify (see 'r2k8s cache verify --help')")


def cmd_verify(args: argparse.Namespace) -> None:
    from r2k8s.core.warehouse.cache import WareCache
    from r2k8s.core.warehouse.verify import verify_cache

    cache = WareCache(args.cache)
    checked = bad = removed = skipped = 0
    for verdict in verify_cache(cache, repair=args.repair, log=log):
        checked += 1
        entry = verdict.entry
        at_its_key = entry.ware is not None and cache.path_for(entry.ware, entry.legacy) == entry.path
        name = str(entry.ware) if at_its_key else str(entry.path)
        legacy = " (legacy hash)" if entry.legacy else ""
        if verdict.skipped is not None:
            skipped += 1
            log(f"warn: cannot verify {name}{legacy} at {entry.path}: {verdict.skipped}; left as it is")
        if not verdict.bad:
            continue
        bad += 1
        print(name, flush=True)
        log(f"bad entry: {name}{legacy} at {entry.path}: {verdict.problem}")
        if verdict.removed:
            removed += 1
            log(f"removed {name} from the cache; the next run that needs it fetches it again")
    if checked == 0:
        log(f"no entries in the ware cache at {cache.root}")
        return
    summary = f"verified {checked} entr{'y' if checked == 1 else 'ies'} in {cache.root}: {bad} bad"
    summary += f", {skipped} not verifiable" if skipped else ""
    if bad and not args.repair:
        sys.stdout.flush()
        raise R2k8sError(
            Category.HASH_MISMATCH,
            f"{summary}; they were left in place: 'r2k8s cache verify --repair' removes them",
        )
    log(f"{summary}{f', {removed} removed' if removed else ''}")
